import Foundation
import Testing
import TestSupport

/// Non-deterministic SQL is rewritten by the node that receives it, so every replica stores the same
/// values (REFERENCE §3). Real raftlited processes on 127.0.0.1.
@Suite(.serialized) struct RewriteTests {
    @Test func randomAndNowAreIdenticalOnEveryReplica() throws {
        let cluster = try RaftliteCluster(count: 3)
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady(), "cluster never became ready")
        let leader = try #require(cluster.leader())
        let create = try HTTP.post(cluster.httpPorts[leader], "/db/execute", json: #"["CREATE TABLE t (n INTEGER, r INTEGER, b BLOB, d TEXT, j REAL)"]"#)
        #expect(create.status == 200, "\(create.text)")
        // Through every node: followers rewrite before forwarding, the leader before proposing.
        for i in 0..<3 {
            let r = try HTTP.post(
                cluster.httpPorts[i], "/db/execute",
                json: "[\"INSERT INTO t VALUES(\(i), RANDOM(), RANDOMBLOB(8), datetime('now'), julianday('now'))\"]")
            #expect(r.text.contains(#""rows_affected":1"#), "node \(i + 1): \(r.text)")
        }
        // A unified request and a text/plain body are rewritten too.
        let u = try HTTP.post(cluster.httpPorts[(leader + 1) % 3], "/db/request", json: #"["INSERT INTO t VALUES(3, random(), randomblob(4), date('now'), 0)"]"#)
        #expect(u.text.contains(#""rows_affected":1"#), "\(u.text)")
        let p = try HTTP.request(
            cluster.httpPorts[(leader + 2) % 3], "POST", "/db/execute", headers: [("Content-Type", "text/plain")],
            body: Array("INSERT INTO t VALUES(4, random(), randomblob(2), time('now'), 0)".utf8))
        #expect(p.text.contains(#""rows_affected":1"#), "\(p.text)")

        let sql = "SELECT n, r, hex(b), d, j FROM t ORDER BY n"
        var answers: [String] = []
        let converged = eventually(timeout: 20) {
            answers = try cluster.running.map { try cluster.localQuery($0, sql) }
            return Set(answers).count == 1 && answers[0].contains("[4,")
        }
        #expect(converged, "replicas differ:\n\(answers.joined(separator: "\n"))")
        // The values are real: random blobs of the asked size, today's date.
        let today = ISO8601DateFormatter.string(from: Date(), timeZone: TimeZone(identifier: "UTC")!, formatOptions: [.withFullDate])
        #expect(answers.first?.contains(today) == true, "\(answers.first ?? "")")
        let lengths = try cluster.localQuery(leader, "SELECT length(b) FROM t ORDER BY n")
        #expect(lengths.contains("[[8],[8],[8],[4],[2]]"), "\(lengths)")
    }

    @Test func previewOnARealNode() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = try RaftliteProcess(dataDirectory: dir + "/data", nodeID: "1")
        defer { node.stop() }
        try #require(node.waitUntilReady(), "node never became ready; log:\n\(node.log)")
        let r = try HTTP.get(node.httpPort, "/db/sql?norwtime&q=" + percentEncode("SELECT random(), date('now')"))
        #expect(r.status == 200)
        #expect(r.text.hasPrefix(#"{"results":[{"original":"SELECT random(), date('now')","rewritten":"SELECT "#), "\(r.text)")
        #expect(r.text.hasSuffix(#", date('now')"}]}"#), "\(r.text)")
        #expect(!r.text.contains("random()\""), "\(r.text)")
    }
}
