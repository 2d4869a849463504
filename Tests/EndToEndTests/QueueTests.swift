import Foundation
import Testing
import TestSupport

/// Queued writes (`/db/execute?queue`, REFERENCE §4) against a real raftlited.
@Suite(.serialized) struct QueuedWriteTests {
    @Test func queuedWritesAreBatchedAndWaitFlushes() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = try RaftliteProcess(
            dataDirectory: dir + "/data", nodeID: "1",
            extraArguments: ["-write-queue-batch-size", "16", "-write-queue-timeout", "100ms", "-write-queue-tx"])
        defer { node.stop() }
        try #require(node.waitUntilReady(), "node never became ready; log:\n\(node.log)")
        #expect(try HTTP.post(node.httpPort, "/db/execute", json: #"["CREATE TABLE q (v INTEGER)"]"#).status == 200)

        var last: Int64 = 0
        for k in 0..<40 {
            let r = try HTTP.post(node.httpPort, "/db/execute?queue", json: "[\"INSERT INTO q VALUES(\(k))\"]")
            #expect(r.status == 200)
            let seq = try #require(sequenceNumber(r.text), "\(r.text)")
            #expect(seq > last)
            last = seq
        }
        let w = try HTTP.post(node.httpPort, "/db/execute?queue&wait", json: #"["INSERT INTO q VALUES(40)"]"#)
        #expect(w.status == 200, "\(w.text)")
        let waited = try #require(sequenceNumber(w.text))
        #expect(waited == last + 1)
        // `wait` answered after the batch was written: every row is there, and status says so.
        #expect(try HTTP.get(node.httpPort, "/db/query?q=SELECT%20COUNT(*)%20FROM%20q").text.contains("[[41]]"))
        let status = try HTTP.get(node.httpPort, "/status?key=http.queue._default").text
        #expect(status.contains(#""batch_size":16"#) && status.contains(#""timeout":"100ms""#), "\(status)")
        #expect(try HTTP.post(node.httpPort, "/db/execute?queue", json: "[]").status == 400)
    }

    @Test func queuedWritesAreWrittenOnShutdown() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (http, raft) = (freePort(), freePort())
        let args = ["-write-queue-timeout", "1h"]
        var node = try RaftliteProcess(dataDirectory: dir + "/data", httpPort: http, raftPort: raft, nodeID: "1", extraArguments: args)
        try #require(node.waitUntilReady(), "node never became ready; log:\n\(node.log)")
        #expect(try HTTP.post(node.httpPort, "/db/execute", json: #"["CREATE TABLE q (v INTEGER)"]"#).status == 200)
        for k in 0..<5 {
            #expect(try HTTP.post(node.httpPort, "/db/execute?queue", json: "[\"INSERT INTO q VALUES(\(k))\"]").status == 200)
        }
        // Not written yet: the batch waits for its (hour-long) timeout.
        #expect(try HTTP.get(node.httpPort, "/db/query?level=strong&q=SELECT%20COUNT(*)%20FROM%20q").text.contains("[[0]]"))
        #expect(node.stop() == 0)
        node = try RaftliteProcess(dataDirectory: dir + "/data", httpPort: http, raftPort: raft, nodeID: "1", extraArguments: args)
        defer { node.stop() }
        try #require(node.waitUntilReady(), "node never restarted; log:\n\(node.log)")
        #expect(
            eventually(timeout: 10) {
                try HTTP.get(node.httpPort, "/db/query?q=SELECT%20COUNT(*)%20FROM%20q").text.contains("[[5]]")
            })
    }

    @Test func queuedWritesOnAFollowerReachEveryReplica() throws {
        let cluster = try RaftliteCluster(count: 3)
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady(), "cluster never became ready")
        let leader = try #require(cluster.leader())
        #expect(try HTTP.post(cluster.httpPorts[leader], "/db/execute", json: #"["CREATE TABLE q (v INTEGER, r INTEGER)"]"#).status == 200)
        let follower = cluster.httpPorts[(leader + 1) % 3]
        for k in 0..<10 {
            let r = try HTTP.post(follower, "/db/execute?queue", json: "[\"INSERT INTO q VALUES(\(k), random())\"]")
            #expect(r.status == 200, "\(r.text)")
        }
        // An empty array with `wait` is a flush marker: answered once everything before it is written.
        let marker = try HTTP.post(follower, "/db/execute?queue&wait", json: "[]")
        #expect(marker.status == 200, "\(marker.text)")
        #expect(try HTTP.get(follower, "/db/query?level=strong&q=SELECT%20COUNT(*)%20FROM%20q").text.contains("[[10]]"))
        var answers: [String] = []
        #expect(
            eventually(timeout: 20) {
                answers = try cluster.running.map { try cluster.localQuery($0, "SELECT v, r FROM q ORDER BY v") }
                return Set(answers).count == 1 && answers[0].contains("[9,")
            }, "replicas differ:\n\(answers.joined(separator: "\n"))")
    }

    func sequenceNumber(_ text: String) -> Int64? {
        guard let range = text.range(of: #""sequence_number":"#) else { return nil }
        return Int64(text[range.upperBound...].prefix { $0.isNumber })
    }
}
