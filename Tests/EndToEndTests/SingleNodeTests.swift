import Foundation
import Testing
import TestSupport

/// A real raftlited on 127.0.0.1, driven over real HTTP.
@Suite struct SingleNodeTests {
    /// Starts a node in a fresh directory, runs `body`, and always stops the node and removes the data.
    func withNode(_ extra: [String] = [], _ body: (RaftliteProcess) throws -> Void) throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = try RaftliteProcess(dataDirectory: dir + "/data", nodeID: "1", extraArguments: extra)
        defer { node.stop() }
        try #require(node.waitUntilReady(), "node never became ready; log:\n\(node.log)")
        try body(node)
    }

    @Test func createInsertQueryExactBytes() throws {
        try withNode { node in
            var r = try HTTP.post(
                node.httpPort, "/db/execute",
                json: #"["CREATE TABLE foo (id INTEGER NOT NULL PRIMARY KEY, name TEXT, age INTEGER)"]"#)
            #expect(r.status == 200)
            #expect(r.text == #"{"results":[{}]}"#)
            #expect(r.header("content-type") == "application/json; charset=utf-8")
            #expect(r.header("x-rqlite-version") != nil)

            r = try HTTP.post(
                node.httpPort, "/db/execute",
                json: #"[["INSERT INTO foo(name, age) VALUES(?, ?)", "fiona", 20], ["INSERT INTO foo(name, age) VALUES(:name, :age)", {"name": "declan", "age": 3}], "INSERT INTO nope VALUES(1)"]"#
            )
            #expect(
                r.text
                    == #"{"results":[{"last_insert_id":1,"rows_affected":1},{"last_insert_id":2,"rows_affected":1},{"error":"no such table: nope"}]}"#
            )

            r = try HTTP.get(node.httpPort, "/db/query?q=SELECT%20*%20FROM%20foo")
            #expect(
                r.text
                    == #"{"results":[{"columns":["id","name","age"],"types":["integer","text","integer"],"values":[[1,"fiona",20],[2,"declan",3]]}]}"#
            )

            r = try HTTP.post(
                node.httpPort, "/db/request",
                json: #"["INSERT INTO foo(name) VALUES('erin')", "SELECT COUNT(*) FROM foo", "SELECT * FROM bar"]"#)
            #expect(
                r.text
                    == #"{"results":[{"last_insert_id":3,"rows_affected":1},{"columns":["COUNT(*)"],"types":["integer"],"values":[[3]]},{"error":"no such table: bar"}]}"#
            )

            // Every read level answers on a single node, after the writes before it.
            for level in ["none", "weak", "strong", "linearizable", "auto"] {
                r = try HTTP.get(node.httpPort, "/db/query?level=\(level)&q=SELECT%20COUNT(*)%20FROM%20foo")
                #expect(r.text == #"{"results":[{"columns":["COUNT(*)"],"types":["integer"],"values":[[3]]}]}"#, "level \(level)")
            }
        }
    }

    @Test func textPlainBodyAndPrettyOutput() throws {
        try withNode { node in
            var r = try HTTP.request(
                node.httpPort, "POST", "/db/execute", headers: [("Content-Type", "text/plain")],
                body: Array("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7)".utf8))
            #expect(r.status == 200)
            r = try HTTP.get(node.httpPort, "/db/query?pretty&q=SELECT%20x%20FROM%20t")
            #expect(
                r.text == """
                    {
                        "results": [
                            {
                                "columns": [
                                    "x"
                                ],
                                "types": [
                                    "integer"
                                ],
                                "values": [
                                    [
                                        7
                                    ]
                                ]
                            }
                        ]
                    }
                    """)
        }
    }

    @Test func sixtyFourConcurrentWritersAllAcknowledgedAndPresent() throws {
        try withNode { node in
            _ = try HTTP.post(node.httpPort, "/db/execute", json: #"["CREATE TABLE w (writer INTEGER, seq INTEGER)"]"#)
            let writers = 64
            let perWriter = 20
            let failures = Failures()
            let port = node.httpPort
            DispatchQueue.concurrentPerform(iterations: writers) { w in
                do {
                    let connection = try HTTPConnection(port: port)
                    for i in 0..<perWriter {
                        let r = try connection.request(
                            "POST", "/db/execute", headers: [("Content-Type", "application/json")],
                            body: Array(#"[["INSERT INTO w VALUES(?, ?)", \#(w), \#(i)]]"#.utf8))
                        if r.status != 200 || !r.text.contains(#""rows_affected":1"#) || r.text.contains("error") {
                            failures.add("writer \(w) #\(i): \(r.status) \(r.text)")
                        }
                    }
                } catch {
                    failures.add("writer \(w): \(error)")
                }
            }
            #expect(failures.all.isEmpty, "\(failures.all.prefix(5))")
            let r = try HTTP.get(
                node.httpPort, "/db/query?q=" + "SELECT COUNT(*), COUNT(DISTINCT writer * 1000 + seq) FROM w".urlQueryEncoded)
            #expect(r.text.contains("[[\(writers * perWriter),\(writers * perWriter)]]"), "\(r.text)")
        }
    }

    @Test func acknowledgedWritesSurviveRestartAndCrash() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = dir + "/data"
        var node = try RaftliteProcess(dataDirectory: data, nodeID: "1")
        try #require(node.waitUntilReady(), "\(node.log)")
        _ = try HTTP.post(node.httpPort, "/db/execute", json: #"["CREATE TABLE k (v INTEGER)"]"#)
        for i in 0..<50 {
            let r = try HTTP.post(node.httpPort, "/db/execute", json: "[[\"INSERT INTO k VALUES(?)\", \(i)]]")
            try #require(r.status == 200 && r.text.contains("rows_affected"))
        }
        #expect(node.stop() == 0, "graceful stop must exit 0; log:\n\(node.log)")

        node = try RaftliteProcess(dataDirectory: data, nodeID: "1")
        try #require(node.waitUntilReady(), "\(node.log)")
        var r = try HTTP.get(node.httpPort, "/db/query?q=SELECT%20COUNT(*)%20FROM%20k")
        #expect(r.text.contains("[[50]]"), "after graceful restart: \(r.text)")
        for i in 50..<100 {
            _ = try HTTP.post(node.httpPort, "/db/execute", json: "[[\"INSERT INTO k VALUES(?)\", \(i)]]")
        }
        node.kill9()  // acknowledged writes must be durable without a clean shutdown

        node = try RaftliteProcess(dataDirectory: data, nodeID: "1")
        defer { node.stop() }
        try #require(node.waitUntilReady(), "\(node.log)")
        r = try HTTP.get(node.httpPort, "/db/query?q=SELECT%20COUNT(*),%20SUM(v)%20FROM%20k")
        #expect(r.text.contains("[[100,4950]]"), "after crash: \(r.text)")
    }

    @Test func badInputGetsErrorsAndChangesNothing() throws {
        try withNode { node in
            let port = node.httpPort
            _ = try HTTP.post(port, "/db/execute", json: #"["CREATE TABLE b (v)"]"#)
            let bad: [(String, Int, String)] = [
                ("[\"INSERT INTO b VALUES(1)\"", 400, "invalid JSON body\n"),
                ("{\"sql\": \"INSERT INTO b VALUES(1)\"}", 400, "invalid request\n"),
                ("[]", 400, "no statements\n"),
                ("[[]]", 400, "invalid request\n"),
                ("[[1, 2]]", 400, "invalid request\n"),
                ("[42]", 400, "invalid request\n"),
                ("[[\"INSERT INTO b VALUES(?)\", {\"a\": {\"nested\": 1}}]]", 400, ""),
                ("\u{01}\u{02}garbage", 400, "invalid JSON body\n"),
            ]
            for (body, status, text) in bad {
                let r = try HTTP.post(port, "/db/execute", json: body)
                #expect(r.status == status, "body \(body): \(r.status) \(r.text)")
                if !text.isEmpty { #expect(r.text == text, "body \(body)") }
            }
            var r = try HTTP.get(port, "/db/query?timeout=soon&q=SELECT%201")
            #expect(r.status == 400)
            #expect(r.text == "timeout is not a valid duration\n")
            r = try HTTP.request(port, "PUT", "/db/execute")
            #expect(r.status == 405)
            r = try HTTP.get(port, "/no/such/endpoint")
            #expect(r.status == 404)
            r = try HTTP.post(port, "/db/execute", json: #"["PRAGMA journal_mode=DELETE"]"#)
            #expect(r.text == #"{"results":[],"error":"disallowed pragma"}"#)
            r = try HTTP.get(port, "/db/query?q=" + "INSERT INTO b VALUES(9)".urlQueryEncoded)
            #expect(r.text.contains("attempt to change database via query operation"), "\(r.text)")

            // Garbage and half-sent requests on the socket: the connection ends, the node keeps serving.
            let garbage = try HTTPConnection(port: port, timeout: 5)
            try garbage.send(Array("\u{16}\u{03}\u{01}\u{00}\u{a5}\u{01}NOT HTTP AT ALL\r\n\r\n".utf8))
            _ = garbage.readToEnd()
            let half = try HTTPConnection(port: port, timeout: 5)
            try half.send(Array("POST /db/execute HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n[\"INSERT".utf8))

            // Nothing was written by any of it.
            r = try HTTP.get(port, "/db/query?q=SELECT%20COUNT(*)%20FROM%20b")
            #expect(r.text == #"{"results":[{"columns":["COUNT(*)"],"types":["integer"],"values":[[0]]}]}"#)
        }
    }

    @Test func oversizedBodyIsRefusedWith413() throws {
        try withNode { node in
            let huge = [UInt8](repeating: UInt8(ascii: " "), count: 80 << 20)
            let r = try HTTP.request(
                node.httpPort, "POST", "/db/execute", headers: [("Content-Type", "application/json")], body: huge)
            #expect(r.status == 413)
            #expect(try HTTP.get(node.httpPort, "/readyz").status == 200)
        }
    }

    @Test func statusNodesReadyzLeaderAnswer() throws {
        try withNode { node in
            let port = node.httpPort
            var r = try HTTP.get(port, "/readyz")
            #expect(r.status == 200)
            #expect(r.text == "[+]node ok\n[+]leader ok\n[+]store ok\n[+]db ok")
            r = try HTTP.get(port, "/status")
            #expect(r.status == 200)
            #expect(r.text.contains(#""store":{"open":true"#))
            r = try HTTP.get(port, "/nodes")
            // rqlite's legacy format is a map keyed by ID whose values still carry the ID (http/nodes.go).
            #expect(
                r.text.hasPrefix(#"{"1":{"id":"1","api_addr":"http://127.0.0.1:\#(port)","addr":"127.0.0.1:\#(node.raftPort)","version":"v"#),
                "\(r.text)")
            #expect(r.text.contains(#""voter":true,"reachable":true,"leader":true,"time":"#), "\(r.text)")
            r = try HTTP.get(port, "/nodes?ver=2")
            #expect(r.text.hasPrefix(#"{"nodes":[{"id":"1","api_addr":"#), "\(r.text)")
            r = try HTTP.get(port, "/leader")
            #expect(r.text.hasPrefix(#"{"id":"1","api_addr":"#), "\(r.text)")
            r = try HTTP.get(port, "/")
            #expect(r.status == 302)
            #expect(r.header("location") == "/console/")
            r = try HTTP.request(port, "OPTIONS", "/db/execute")
            #expect(r.status == 200)
        }
    }
}

final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.withLock { items.append(s) } }
    var all: [String] { lock.withLock { items } }
}

extension String {
    var urlQueryEncoded: String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return addingPercentEncoding(withAllowedCharacters: allowed) ?? self
    }
}
