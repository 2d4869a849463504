import API
import HTTPServer
import JSON
import SQLiteDB
import Testing

@Suite struct QueryParameterTests {
    @Test func presenceFlagsAndFirstValue() throws {
        let p = try QueryParameters(rawQuery: "pretty=false&timings=0&level=none&level=strong&Key=x")
        #expect(p.pretty && p.timings)
        #expect(p.level == .none)
        #expect(p["Key"] == "x" && p["key"] == nil)
        #expect(!p.associative)
    }

    @Test func goDecoding() throws {
        let p = try QueryParameters(rawQuery: "q=SELECT+*+FROM%20t%3B&&a&b=&c=%E2%82%AC&%71x=1")
        #expect(p["q"] == "SELECT * FROM t;")
        #expect(p["a"] == "" && p["b"] == "")
        #expect(p["c"] == "€")
        #expect(p["qx"] == "1")
    }

    @Test(arguments: [
        ("timeout=abc", "timeout is not a valid duration"), ("freshness=1", "freshness is not a valid duration"),
        ("db_timeout=5x", "db_timeout is not a valid duration"),
        ("linearizable_timeout=", "linearizable_timeout is not a valid duration"),
        ("retries=x", "retries is not a valid integer"), ("trailing_logs=1.5", "trailing_logs is not a valid integer"),
        ("freshness_strict", "freshness_strict requires freshness"), ("q=", "query parameter not set"),
        ("a=%zz", "invalid URL escape \"%zz\""), ("a=%4", "invalid URL escape \"%4\""),
        ("a=1;b=2", "invalid semicolon separator in query"),
    ])
    func validationMessages(query: String, message: String) {
        let h = Harness()
        for (method, path) in [("GET", "/db/query"), ("POST", "/db/execute"), ("GET", "/status"), ("GET", "/nope")] {
            let r = h.call(method, path, query: query)
            #expect(r.status == 400)
            #expect(r.text == message + "\n")
            #expect(r.header("Content-Type") == "text/plain; charset=utf-8")
            #expect(r.header("X-Content-Type-Options") == "nosniff")
        }
        #expect(h.node.queries.isEmpty && h.node.executes.isEmpty)
    }

    @Test func validValuesPass() throws {
        let p = try QueryParameters(rawQuery: "timeout=1m30s&freshness=500ms&retries=3&trailing_logs=-1&freshness_strict")
        #expect(p.timeout() == 90)
        #expect(p.seconds("freshness") == 0.5)
        #expect(p.integer("retries") == 3)
    }
}

@Suite struct BodyParsingTests {
    func parse(_ s: String) throws(RequestParser.Invalid) -> [Statement] {
        try RequestParser.parse(body: Array(s.utf8), plainText: false)
    }

    @Test func typing() throws {
        let s = try parse(
            #"[["q", 1, -9223372036854775808, 9223372036854775808, 1.5, 1e2, true, false, null, "s", " x'0aFF' ", "x'0g'", "X''", [0, 255, 16], []]]"#)
        #expect(
            s[0].parameters.map(\.value) == [
                .integer(1), .integer(.min), .real(9223372036854775808.0), .real(1.5), .real(100), .bool(true), .bool(false),
                .null, .text("s"), .blob([0x0A, 0xFF]), .text("x'0g'"), .blob([]), .blob([0, 255, 16]), .blob([]),
            ])
    }

    @Test func namedAndMixed() throws {
        let s = try parse(#"[["q", {"b": 2, "a": "x"}, 7, {"c": null}]]"#)
        #expect(
            s[0].parameters == [
                Parameter(name: "b", value: .integer(2)), Parameter(name: "a", value: .text("x")), Parameter(value: .integer(7)),
                Parameter(name: "c", value: .null),
            ])
    }

    @Test(arguments: [
        ("not json", "invalid JSON body"), ("", "invalid JSON body"), ("[", "invalid JSON body"),
        (#"["a",]"#, "invalid JSON body"), (#"["a"] x"#, "invalid JSON body"), ("[1e999]", "invalid JSON body"),
        (#"{"a":1}"#, "invalid request"), (#"{"#, "invalid request"), (#""SELECT 1""#, "invalid request"), ("1", "invalid request"),
        ("[1]", "invalid request"), ("[null]", "invalid request"), (#"[{"a":1}]"#, "invalid request"),
        ("[[]]", "invalid request"), ("[[1, 2]]", "invalid request"), (#"[[null]]"#, "invalid request"),
        ("[]", "no statements"), (" [ ] ", "no statements"),
        (#"[["q", {"a": {"b": 1}}]]"#, "unsupported type map[string]interface {}"),
        (#"[["q", [1, 256]]]"#, "unsupported type []interface {}"),
        (#"[["q", [1, "a"]]]"#, "unsupported type []interface {}"),
        (#"[["q", [1.5]]]"#, "unsupported type []interface {}"),
        (#"[["q", [-1]]]"#, "unsupported type []interface {}"),
        (#"[["q", {"a": [[1]]}]]"#, "unsupported type []interface {}"),
    ])
    func badBodies(body: String, message: String) {
        let h = Harness()
        for path in ["/db/execute", "/db/query", "/db/request"] {
            let r = h.call("POST", path, json: body)
            #expect(r.status == 400, "\(path) \(body)")
            #expect(r.text == message + "\n", "\(path) \(body)")
        }
        #expect(h.node.executes.isEmpty && h.node.queries.isEmpty && h.node.requests.isEmpty)
    }

    @Test func invalidUTF8Body() {
        let h = Harness()
        // Inside a string: replaced by U+FFFD, as Go's decoder does.
        var r = h.call("POST", "/db/execute", headers: [("Content-Type", "application/json")], body: [0x5B, 0x22, 0xFF, 0x22, 0x5D])
        #expect(r.status == 200)
        #expect(h.node.executes.last?.statements == [Statement(sql: "\u{FFFD}")])
        // Outside a string: a syntax error.
        r = h.call("POST", "/db/execute", headers: [("Content-Type", "application/json")], body: [0x5B, 0xFF, 0x5D])
        #expect(r.status == 400)
        #expect(r.text == "invalid JSON body\n")
    }

    @Test func deeplyNestedBodyDoesNotCrash() {
        let h = Harness()
        let body = String(repeating: "[", count: 200_000)
        let r = h.call("POST", "/db/execute", json: body)
        #expect(r.status == 400)
    }

    @Test func hugeNumbersBecomeFloats() throws {
        let s = try parse(#"[["q", 123456789012345678901234567890, -1e308]]"#)
        #expect(s[0].parameters.map(\.value) == [.real(1.2345678901234568e29), .real(-1e308)])
    }

    @Test func unicodeSQL() throws {
        #expect(try parse(#"["SELECT '\u00e9🎉'"]"#) == [Statement(sql: "SELECT 'é🎉'")])
    }

    @Test func hexBlobLiteral() {
        #expect(RequestParser.hexBlobLiteral("x'00ff'") == [0, 255])
        #expect(RequestParser.hexBlobLiteral("\tX'AB'\n") == [0xAB])
        #expect(RequestParser.hexBlobLiteral("x'abc'") == nil)
        #expect(RequestParser.hexBlobLiteral("x'ab") == nil)
        #expect(RequestParser.hexBlobLiteral("y'ab'") == nil)
        #expect(RequestParser.hexBlobLiteral("'ab'") == nil)
    }
}

@Suite struct SQLAnalysisTests {
    @Test func returningDetection() {
        #expect(SQLAnalysis.hasReturning("INSERT INTO t VALUES(1) RETURNING id"))
        #expect(SQLAnalysis.hasReturning("delete from t returning *"))
        #expect(SQLAnalysis.hasReturning("UPDATE t SET a=1\nRETURNING\t*"))
        #expect(!SQLAnalysis.hasReturning("INSERT INTO t VALUES('x RETURNING y')"))
        #expect(!SQLAnalysis.hasReturning("INSERT INTO \"returning\" VALUES(1)"))
        #expect(!SQLAnalysis.hasReturning("INSERT INTO [returning] VALUES(1)"))
        #expect(!SQLAnalysis.hasReturning("INSERT INTO `returning` VALUES(1)"))
        #expect(!SQLAnalysis.hasReturning("INSERT INTO t VALUES(1) -- RETURNING id"))
        #expect(!SQLAnalysis.hasReturning("INSERT INTO t VALUES(1) /* RETURNING id */"))
        #expect(!SQLAnalysis.hasReturning("INSERT INTO t(returning_x) VALUES(1)"))
        #expect(!SQLAnalysis.hasReturning("SELECT 'it''s returning'"))
    }
}
