import Foundation
import Testing
import TestSupport

/// MISSION.md item 5: start 3 voters in parallel with -bootstrap-expect 3, wait for /readyz?sync on all,
/// stop all gracefully, write a peers.json (same membership) on each, restart all, and /readyz must be ok
/// again on all — with the data intact — every time.
@Suite(.serialized) struct PeersRecoveryTests {
    static var cycles: Int { Int(ProcessInfo.processInfo.environment["RAFTLITE_PEERS_CYCLES"] ?? "") ?? 5 }

    @Test func restartCycleAfterPeersJSONAlwaysBecomesReady() throws {
        let cluster = try RaftliteCluster(count: 3, bootstrapExpect: true)
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady(timeout: 40))
        #expect(eventually(timeout: 30) {
            try (0..<3).allSatisfy { try HTTP.get(cluster.httpPorts[$0], "/readyz?sync").status == 200 }
        })
        let leader = try #require(cluster.leader())
        _ = try HTTP.post(cluster.httpPorts[leader], "/db/execute", json: #"["CREATE TABLE t (v INTEGER)"]"#)
        let peers = "[" + (0..<3).map { #"{"id":"\#($0 + 1)","address":"127.0.0.1:\#(cluster.raftPorts[$0])","non_voter":false}"# }
            .joined(separator: ",") + "]"
        for cycle in 1...Self.cycles {
            let port = cluster.httpPorts[try #require(cluster.leader())]
            #expect(try HTTP.post(port, "/db/execute", json: "[\"INSERT INTO t VALUES(\(cycle))\"]").text.contains("rows_affected"))
            for i in 0..<3 { cluster.stop(i) }
            for i in 0..<3 {
                try peers.write(toFile: cluster.directory + "/node\(i + 1)/raft/peers.json", atomically: true, encoding: .utf8)
            }
            for i in 0..<3 { try cluster.start(i) }
            #expect(cluster.waitUntilReady(timeout: 40), "cycle \(cycle): not ready:\n\(cluster.node(0).log.suffix(2000))")
            for i in 0..<3 {
                let dir = cluster.directory + "/node\(i + 1)/raft"
                #expect(FileManager.default.fileExists(atPath: dir + "/peers.info") && !FileManager.default.fileExists(atPath: dir + "/peers.json"))
                let log = cluster.node(i).log
                #expect(!log.contains("failed to install snapshot") && !log.contains("fatal"), "cycle \(cycle) node \(i + 1)")
            }
            let expected = "[" + (1...cycle).map { "[\($0)]" }.joined(separator: ",") + "]"
            #expect(eventually(timeout: 20) {
                try (0..<3).allSatisfy { try cluster.localQuery($0, "SELECT v FROM t ORDER BY v").contains(expected) }
            }, "cycle \(cycle): data not intact")
        }
    }

    @Test func malformedPeersFileStopsStartupWithAClearError() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = try RaftliteProcess(dataDirectory: dir + "/data", nodeID: "1")
        #expect(node.waitUntilReady())
        node.stop()
        for bad in [#"{"id":"1"}"#, #"[{"id":"","address":"127.0.0.1:1"}]"#, #"[{"id":"1","address":"nope"}]"#,
            #"[{"id":"1","address":"127.0.0.1:1","non_voter":true}]"#, "[", #"[{"id":"1","address":"a:1"},{"id":"1","address":"b:1"}]"#]
        {
            try bad.write(toFile: dir + "/data/raft/peers.json", atomically: true, encoding: .utf8)
            let (status, output) = try runRaftlited(
                ["-node-id", "1", "-http-addr", "127.0.0.1:\(freePort())", "-raft-addr", "127.0.0.1:\(freePort())", dir + "/data"])
            #expect(status == 1, "\(bad): \(output)")
            #expect(output.contains("failed to read peers file"), "\(bad): \(output)")
        }
    }
}
