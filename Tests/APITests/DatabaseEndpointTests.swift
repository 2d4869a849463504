import API
import HTTPServer
import JSON
import SQLiteDB
import Testing

@Suite struct ExecuteTests {
    @Test func referenceExampleCompactBytes() {
        let h = Harness()
        h.node.executeResult = .success(
            DatabaseResponse(results: [
                .write(ExecuteResult()),
                .write(ExecuteResult(lastInsertID: 1, rowsAffected: 1)),
                .write(ExecuteResult(lastInsertID: 2, rowsAffected: 1)),
                .error("no such table: nope", time: 0),
            ]))
        let body = #"""
            ["CREATE TABLE foo (id INTEGER NOT NULL PRIMARY KEY, name TEXT, age INTEGER)",
             ["INSERT INTO foo(name, age) VALUES(?, ?)", "fiona", 20],
             ["INSERT INTO foo(name, age) VALUES(:name, :age)", {"name": "declan", "age": 3}],
             "INSERT INTO nope VALUES(1)"]
            """#
        let r = h.call("POST", "/db/execute", json: body)
        #expect(r.status == 200)
        #expect(
            r.text
                == #"{"results":[{},{"last_insert_id":1,"rows_affected":1},{"last_insert_id":2,"rows_affected":1},{"error":"no such table: nope"}]}"#
        )
        #expect(r.header("Content-Type") == "application/json; charset=utf-8")
        #expect(r.header("X-RQLITE-SERVED-BY") == "localhost:4001")
        #expect(r.header("X-RQLITE-VERSION") == "v10.3.0")
        let sent = h.node.executes[0].statements
        #expect(sent.count == 4)
        #expect(sent[1].parameters == [Parameter(value: .text("fiona")), Parameter(value: .integer(20))])
        #expect(sent[2].parameters == [Parameter(name: "name", value: .text("declan")), Parameter(name: "age", value: .integer(3))])
        #expect(sent.allSatisfy { !$0.forceQuery })
    }

    @Test func timingsAndPretty() {
        let clock = Counter(values: [0, 0.0021])
        let h = Harness { $0.clock = { clock.next() } }
        h.node.executeResult = .success(
            DatabaseResponse(results: [
                .write(ExecuteResult(time: 0.0001)),
                .write(ExecuteResult(lastInsertID: 1, rowsAffected: 1, time: 0.00003)),
                .error("no such table: nope", time: 0.00002),
            ]))
        let r = h.call("POST", "/db/execute", query: "pretty&timings", json: #"["a","b","c"]"#)
        let expected = """
            {
                "results": [
                    {
                        "time": 0.0001
                    },
                    {
                        "last_insert_id": 1,
                        "rows_affected": 1,
                        "time": 0.00003
                    },
                    {
                        "error": "no such table: nope",
                        "time": 0.00002
                    }
                ],
                "time": 0.0021
            }
            """
        #expect(r.text == expected)
        #expect(h.node.executes[0].timings)
    }

    @Test func withoutTimingsNoTimeFields() {
        let h = Harness()
        h.node.executeResult = .success(DatabaseResponse(results: [.write(ExecuteResult(rowsAffected: 2, time: 0.5))]))
        #expect(h.call("POST", "/db/execute", json: #"["x"]"#).text == #"{"results":[{"rows_affected":2}]}"#)
    }

    @Test func requestOptionsArePassedThrough() {
        let h = Harness()
        _ = h.call("POST", "/db/execute", query: "transaction&db_timeout=2s&timeout=5s&redirect", headers: [basic("bob", "pw")], json: #"["x"]"#)
        let e = h.node.executes[0]
        #expect(e.transaction)
        #expect(e.dbTimeout == 2)
        #expect(e.timeout == 5)
        #expect(e.redirect)
        #expect(e.credentials == Credentials(username: "bob", password: "pw"))
        _ = h.call("POST", "/db/execute", json: #"["x"]"#)
        #expect(!h.node.executes[1].transaction)
        #expect(h.node.executes[1].dbTimeout == nil)
        #expect(h.node.executes[1].timeout == 30)
    }

    @Test func plainTextBody() {
        let h = Harness()
        let sql = "CREATE TABLE t(x); INSERT INTO t VALUES(1)"
        _ = h.call("POST", "/db/execute", headers: [("Content-Type", "text/plain; charset=utf-8")], body: Array(sql.utf8))
        #expect(h.node.executes[0].statements == [Statement(sql: sql)])
    }

    @Test func returningForcesQueryUnlessNoparse() {
        let h = Harness()
        let body = #"["INSERT INTO t VALUES(1) RETURNING *", "INSERT INTO t VALUES('returning')", "INSERT INTO \"returning\" VALUES(1) -- returning"]"#
        _ = h.call("POST", "/db/execute", json: body)
        #expect(h.node.executes[0].statements.map(\.forceQuery) == [true, false, false])
        _ = h.call("POST", "/db/execute", query: "noparse", json: body)
        #expect(h.node.executes[1].statements.map(\.forceQuery) == [false, false, false])
    }

    @Test func emptyStatementsSkipped() {
        let h = Harness()
        _ = h.call("POST", "/db/execute", json: #"["", "INSERT 1", ""]"#)
        #expect(h.node.executes[0].statements == [Statement(sql: "INSERT 1")])
        let r = h.call("POST", "/db/execute", json: #"[""]"#)
        #expect(r.text == #"{"results":[]}"#)
        #expect(h.node.executes.count == 1)
    }

    @Test(arguments: [
        "PRAGMA journal_mode=DELETE", "pragma main.journal_mode = wal", "  PRAGMA wal_autocheckpoint=0",
        "PRAGMA wal_checkpoint", "PRAGMA wal_checkpoint(TRUNCATE)", "PRAGMA main.wal_checkpoint",
        "PRAGMA synchronous=OFF", "PRAGMA query_only = 1", "PRAGMA  schema.synchronous\n=\n0",
    ])
    func disallowedPragmas(sql: String) {
        let h = Harness()
        let body = String(decoding: JSONValue.array([.string("SELECT 1"), .string(sql)]).encoded(), as: UTF8.self)
        for path in ["/db/execute", "/db/query", "/db/request"] {
            let r = h.call("POST", path, json: body)
            #expect(r.status == 200)
            #expect(r.text == #"{"results":[],"error":"disallowed pragma"}"#)
        }
        #expect(h.node.executes.isEmpty && h.node.queries.isEmpty && h.node.requests.isEmpty)
    }

    @Test(arguments: ["PRAGMA journal_mode", "PRAGMA synchronous", "PRAGMA foreign_keys=ON", "SELECT 'PRAGMA synchronous=0'",
                      "PRAGMA table_info(t)"])
    func allowedPragmas(sql: String) {
        #expect(!SQLAnalysis.isDisallowedPragma(sql))
    }
}

@Suite struct QueryTests {
    static let fooRows = QueryRows(
        columns: ["id", "name", "age"], types: ["integer", "text", "integer"],
        values: [[.integer(1), .text("fiona"), .integer(20)], [.integer(2), .text("declan"), .integer(3)]])

    @Test func getWithQ() {
        let h = Harness()
        h.node.queryResult = .success(DatabaseResponse(results: [.rows(QueryTests.fooRows)]))
        let r = h.call("GET", "/db/query", query: "level=weak&q=SELECT%20*%20FROM+foo")
        #expect(
            r.text
                == #"{"results":[{"columns":["id","name","age"],"types":["integer","text","integer"],"values":[[1,"fiona",20],[2,"declan",3]]}]}"#
        )
        #expect(h.node.queries[0].statements == [Statement(sql: "SELECT * FROM foo")])
        #expect(h.node.queries[0].level == .weak)
        #expect(r.header("X-RQLITE-SERVED-BY") == "localhost:4001")
    }

    @Test func emptyResultOmitsValues() {
        let h = Harness()
        h.node.queryResult = .success(
            DatabaseResponse(results: [.rows(QueryRows(columns: ["id", "name"], types: ["integer", "text"]))]))
        #expect(h.call("GET", "/db/query", query: "q=x").text == #"{"results":[{"columns":["id","name"],"types":["integer","text"]}]}"#)
    }

    @Test func missingQMeansNoStatements() {
        let h = Harness()
        let r = h.call("GET", "/db/query")
        #expect(r.status == 200)
        #expect(r.text == #"{"results":[]}"#)
        #expect(h.node.queries.isEmpty)
    }

    @Test func levelsAndFreshness() {
        let h = Harness()
        _ = h.call("GET", "/db/query", query: "q=x&level=NONE&freshness=1s&freshness_strict")
        var q = h.node.queries[0]
        #expect(q.level == .none)
        #expect(q.freshness == 1)
        #expect(q.freshnessStrict)
        #expect(q.linearizableTimeout == 10)
        _ = h.call("GET", "/db/query", query: "q=x&level=linearizable&linearizable_timeout=250ms")
        q = h.node.queries[1]
        #expect(q.level == .linearizable)
        #expect(q.linearizableTimeout == 0.25)
        _ = h.call("GET", "/db/query", query: "q=x&level=bogus")
        #expect(h.node.queries[2].level == .weak)
        _ = h.call("GET", "/db/query", query: "q=x&level=strong&level=none")
        #expect(h.node.queries[3].level == .strong)
        _ = h.call("GET", "/db/query", query: "q=x&level=auto")
        #expect(h.node.queries[4].level == .auto)
    }

    @Test func postJSONWithParameters() {
        let h = Harness()
        _ = h.call("POST", "/db/query", json: #"[["SELECT * FROM foo WHERE id=? AND name=:n", 1, {"n": "x"}]]"#)
        #expect(
            h.node.queries[0].statements[0].parameters
                == [Parameter(value: .integer(1)), Parameter(name: "n", value: .text("x"))])
    }

    @Test func valueEncodings() {
        let h = Harness()
        let rows = QueryRows(
            columns: ["i", "r", "t", "n", "b", "y", "big", "tiny"], types: ["integer", "real", "text", "", "boolean", "blob", "real", "real"],
            values: [[.integer(-7), .real(1.5), .text("<é>\n"), .null, .bool(true), .blob([0, 1, 2, 255]), .real(1e21), .real(1e-7)]])
        h.node.queryResult = .success(DatabaseResponse(results: [.rows(rows)]))
        #expect(
            h.call("GET", "/db/query", query: "q=x").text
                == #"{"results":[{"columns":["i","r","t","n","b","y","big","tiny"],"types":["integer","real","text","","boolean","blob","real","real"],"values":[[-7,1.5,"\u003cé\u003e\n",null,true,"AAEC/w==",1e+21,1e-7]]}]}"#
        )
        #expect(
            h.call("GET", "/db/query", query: "q=x&blob_array").text
                == #"{"results":[{"columns":["i","r","t","n","b","y","big","tiny"],"types":["integer","real","text","","boolean","blob","real","real"],"values":[[-7,1.5,"\u003cé\u003e\n",null,true,[0,1,2,255],1e+21,1e-7]]}]}"#
        )
    }

    @Test func associativeRows() {
        let h = Harness()
        h.node.queryResult = .success(
            DatabaseResponse(results: [
                .rows(QueryTests.fooRows),
                .rows(QueryRows(columns: ["z", "a"], types: ["text", "integer"])),
                .error("no such table: bar", time: 0),
            ]))
        let r = h.call("GET", "/db/query", query: "q=x&associative")
        #expect(
            r.text
                == #"{"results":[{"types":{"age":"integer","id":"integer","name":"text"},"rows":[{"age":20,"id":1,"name":"fiona"},{"age":3,"id":2,"name":"declan"}]},{"types":{"a":"integer","z":"text"},"rows":[]},{"error":"no such table: bar"}]}"#
        )
    }

    @Test func rawIndexOnlyWhenRequestedAndNonZero() {
        let h = Harness()
        h.node.queryResult = .success(DatabaseResponse(results: [], raftIndex: 42))
        #expect(h.call("GET", "/db/query", query: "q=x").text == #"{"results":[]}"#)
        #expect(h.call("GET", "/db/query", query: "q=x&raft_index").text == #"{"results":[],"raft_index":42}"#)
        h.node.queryResult = .success(DatabaseResponse(results: [], raftIndex: 0))
        #expect(h.call("GET", "/db/query", query: "q=x&raft_index").text == #"{"results":[]}"#)
    }

    @Test func forwardedServedBy() {
        let h = Harness()
        var resp = DatabaseResponse(results: [])
        resp.servedBy = "leader:4002"
        h.node.queryResult = .success(resp)
        #expect(h.call("GET", "/db/query", query: "q=x").header("X-RQLITE-SERVED-BY") == "leader:4002")
    }
}

@Suite struct UnifiedRequestTests {
    @Test func referenceExample() {
        let h = Harness()
        h.node.requestResult = .success(
            DatabaseResponse(results: [
                .write(ExecuteResult(lastInsertID: 3, rowsAffected: 1)),
                .rows(QueryRows(columns: ["COUNT(*)"], types: ["integer"], values: [[.integer(3)]])),
                .error("no such table: bar", time: 0),
            ]))
        let r = h.call(
            "POST", "/db/request",
            json: #"["INSERT INTO foo(name) VALUES(\"erin\")", "SELECT COUNT(*) FROM foo", "SELECT * FROM bar"]"#)
        #expect(
            r.text
                == #"{"results":[{"last_insert_id":3,"rows_affected":1},{"columns":["COUNT(*)"],"types":["integer"],"values":[[3]]},{"error":"no such table: bar"}]}"#
        )
        #expect(h.node.requests[0].statements.count == 3)
        #expect(h.node.requests[0].linearizableTimeout == nil)
    }

    @Test func associativeWritesCarryRowsNull() {
        let h = Harness()
        h.node.requestResult = .success(
            DatabaseResponse(results: [
                .write(ExecuteResult(lastInsertID: 99, rowsAffected: 1)),
                .rows(QueryRows(columns: ["n"], types: ["integer"], values: [[.integer(3)]])),
                .error("boom", time: 0),
            ]))
        let r = h.call("POST", "/db/request", query: "associative", json: #"["a","b","c"]"#)
        #expect(
            r.text
                == #"{"results":[{"last_insert_id":99,"rows_affected":1,"rows":null},{"types":{"n":"integer"},"rows":[{"n":3}]},{"error":"boom"}]}"#
        )
        h.node.executeResult = .success(DatabaseResponse(results: [.write(ExecuteResult(lastInsertID: 99, rowsAffected: 1))]))
        #expect(
            h.call("POST", "/db/execute", query: "associative", json: #"["a"]"#).text
                == #"{"results":[{"last_insert_id":99,"rows_affected":1,"rows":null}]}"#)
    }

    @Test func plainTextIsNotAcceptedAsSQL() {
        let h = Harness()
        let r = h.call("POST", "/db/request", headers: [("Content-Type", "text/plain")], body: Array("SELECT 1".utf8))
        #expect(r.status == 400)
        #expect(r.text == "invalid JSON body\n")
    }
}

@Suite struct ErrorMappingTests {
    @Test func redirectToLeader() {
        let h = Harness()
        h.node.executeResult = .failure(.notLeader(leaderAPIURL: "http://leader:4001"))
        let r = h.call("POST", "/db/execute", query: "redirect&pretty", json: #"["x"]"#)
        #expect(r.status == 301)
        #expect(r.header("Location") == "http://leader:4001/db/execute?redirect&pretty")
        #expect(r.bytes.isEmpty)
        h.node.queryResult = .failure(.notLeader(leaderAPIURL: "https://l:4001"))
        let g = h.call("GET", "/db/query", query: "q=SELECT+1&redirect")
        #expect(g.status == 301)
        #expect(g.header("Location") == "https://l:4001/db/query?q=SELECT+1&redirect")
    }

    @Test func redirectWithUnknownLeader() {
        let h = Harness()
        h.node.executeResult = .failure(.notLeader(leaderAPIURL: nil))
        let r = h.call("POST", "/db/execute", query: "redirect", json: #"["x"]"#)
        #expect(r.status == 500)
        #expect(r.text == "leader not found\n")
        #expect(r.header("Content-Type") == "text/plain; charset=utf-8")
        #expect(r.header("X-Content-Type-Options") == "nosniff")
    }

    @Test func leaderNotFound() {
        let h = Harness()
        h.node.requestResult = .failure(.leaderNotFound)
        let r = h.call("POST", "/db/request", json: #"["x"]"#)
        #expect(r.status == 503)
        #expect(r.text == "leader not found\n")
        #expect(r.headerCount("Content-Type") == 1)
    }

    @Test func messageBecomesEnvelope() {
        let h = Harness()
        h.node.queryResult = .failure(.message("stale read"))
        let r = h.call("GET", "/db/query", query: "q=x&level=none&freshness=1ns")
        #expect(r.status == 200)
        #expect(r.text == #"{"results":[],"error":"stale read"}"#)
        #expect(r.header("X-RQLITE-SERVED-BY") == nil)
    }
}

final class Counter: @unchecked Sendable {
    private var values: [Double]
    init(values: [Double]) { self.values = values }
    func next() -> Double { values.count > 1 ? values.removeFirst() : values[0] }
}
