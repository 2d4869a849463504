import API
import HTTPServer
import JSON
import SQLiteDB
import Testing

/// Rewriting on the receiving node (REFERENCE §3) and the `/db/sql` preview (§1.9), with a fixed random
/// source (42) and clock (2023-11-14T22:13:20Z, Julian day 2460263.425926).
@Suite struct RewriteEndpointTests {
    static let jd = "2460263.425926"

    static func harness() -> Harness {
        Harness {
            $0.randomSource = { 42 }
            $0.wallClock = { 1_700_000_000 }
        }
    }

    @Test func executeIsRewrittenBeforeTheNodeSeesIt() {
        let h = RewriteEndpointTests.harness()
        _ = h.call(
            "POST", "/db/execute",
            json: #"["INSERT INTO t VALUES(random(), randomblob(2), datetime('now'))", ["INSERT INTO t VALUES(?, random())", 1]]"#)
        let sent = h.node.executes[0].statements
        #expect(sent[0].sql == "INSERT INTO t VALUES(42, X'2A00', datetime(\(RewriteEndpointTests.jd)))")
        #expect(sent[1].sql == "INSERT INTO t VALUES(?, 42)")
        #expect(sent[1].parameters == [Parameter(value: .integer(1))])
    }

    @Test func plainTextBodyIsRewrittenToo() {
        let h = RewriteEndpointTests.harness()
        _ = h.call(
            "POST", "/db/execute", headers: [("Content-Type", "text/plain")],
            body: Array("INSERT INTO t VALUES(random()); INSERT INTO t VALUES(date('now'))".utf8))
        #expect(h.node.executes[0].statements[0].sql == "INSERT INTO t VALUES(42); INSERT INTO t VALUES(date(\(RewriteEndpointTests.jd)))")
    }

    @Test func switches() {
        let h = RewriteEndpointTests.harness()
        let body = #"["INSERT INTO t VALUES(random(), datetime('now')) RETURNING *"]"#
        _ = h.call("POST", "/db/execute", query: "norwrandom", json: body)
        _ = h.call("POST", "/db/execute", query: "norwtime", json: body)
        _ = h.call("POST", "/db/execute", query: "noparse", json: body)
        let e = h.node.executes
        #expect(e[0].statements[0].sql == "INSERT INTO t VALUES(random(), datetime(\(RewriteEndpointTests.jd))) RETURNING *")
        #expect(e[1].statements[0].sql == "INSERT INTO t VALUES(42, datetime('now')) RETURNING *")
        #expect(e[2].statements[0].sql == "INSERT INTO t VALUES(random(), datetime('now')) RETURNING *")
        #expect(e[0].statements[0].forceQuery && e[1].statements[0].forceQuery)
        #expect(!e[2].statements[0].forceQuery)  // noparse: RETURNING rows are not returned
    }

    @Test func requestEndpointIsRewritten() {
        let h = RewriteEndpointTests.harness()
        _ = h.call("POST", "/db/request", json: #"["INSERT INTO t VALUES(random()) RETURNING id", "SELECT random()"]"#)
        let s = h.node.requests[0].statements
        #expect(s.map(\.sql) == ["INSERT INTO t VALUES(42) RETURNING id", "SELECT 42"])
        #expect(s.map(\.forceQuery) == [true, false])
    }

    @Test func queriesOnlyWhenStrong() {
        let h = RewriteEndpointTests.harness()
        for level in ["none", "weak", "linearizable", "auto", "strong", "STRONG"] {
            _ = h.call("GET", "/db/query", query: "level=\(level)&q=SELECT%20random()")
        }
        #expect(h.node.queries.map { $0.statements[0].sql } == [
            "SELECT random()", "SELECT random()", "SELECT random()", "SELECT random()", "SELECT 42", "SELECT 42",
        ])
        _ = h.call("POST", "/db/query", query: "level=strong&norwrandom", json: #"["SELECT random(), time('now')"]"#)
        #expect(h.node.queries.last!.statements[0].sql == "SELECT random(), time(\(RewriteEndpointTests.jd))")
    }

    @Test func previewGet() {
        let h = RewriteEndpointTests.harness()
        let r = h.call("GET", "/db/sql", query: "q=INSERT%20INTO%20t%20VALUES(random())")
        #expect(r.status == 200)
        #expect(r.header("Content-Type") == "application/json; charset=utf-8")
        #expect(r.text == #"{"results":[{"original":"INSERT INTO t VALUES(random())","rewritten":"INSERT INTO t VALUES(42)"}]}"#)
        #expect(h.node.executes.isEmpty && h.node.queries.isEmpty && h.node.requests.isEmpty)
    }

    @Test func previewPostWithErrorsAndSwitches() {
        let h = RewriteEndpointTests.harness()
        let r = h.call(
            "POST", "/db/sql", query: "norwtime",
            json: #"["SELECT random(), date('now')", "SELEKT 1", ["SELECT ?", 1], "SELECT 'abc"]"#)
        #expect(
            r.text
                == #"{"results":[{"original":"SELECT random(), date('now')","rewritten":"SELECT 42, date('now')"},{"original":"SELEKT 1","error":"near \"SELEKT\": syntax error"},{"original":"SELECT ?","rewritten":"SELECT ?"},{"original":"SELECT 'abc","error":"unrecognized token: \"'abc\""}]}"#
        )
        let p = h.call("GET", "/db/sql", query: "q=SELECT+1&pretty")
        #expect(
            p.text == """
                {
                    "results": [
                        {
                            "original": "SELECT 1",
                            "rewritten": "SELECT 1"
                        }
                    ]
                }
                """)
    }

    @Test func previewTimingsAndBadBodies() {
        let clock = Counter(values: [0, 0.5, 0.75, 1])
        let h = Harness { $0.clock = { clock.next() } }
        #expect(
            h.call("GET", "/db/sql", query: "q=SELECT+1&timings").text
                == #"{"results":[{"original":"SELECT 1","rewritten":"SELECT 1","time":0.25}],"time":1}"#)
        #expect(h.call("POST", "/db/sql", json: "{").status == 400)
        #expect(h.call("POST", "/db/sql", json: "[]").text == "no statements\n")
        #expect(h.call("PUT", "/db/sql", json: "[]").status == 405)
    }
}
