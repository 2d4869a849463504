import Foundation
import Testing
import TestSupport

/// Snapshots and log compaction on a real cluster: automatic snapshots, InstallSnapshot to a node that
/// joins after the log was compacted, and a node rebuilt from a snapshot after losing its database.
@Suite(.serialized) struct SnapshotTests {
    /// INFO: the tests read the worker's log lines about snapshots (the default level is WARN, as rqlite's).
    static let fast = ["-raft-heartbeat-timeout", "500ms", "-raft-election-timeout", "500ms", "-raft-snap", "40", "-raft-log-level", "INFO"]

    func insertRows(_ port: Int, _ range: ClosedRange<Int>) throws {
        for i in range {
            let r = try HTTP.post(port, "/db/execute", json: "[[\"INSERT INTO t VALUES(?, printf('%064d', ?))\", \(i), \(i)]]")
            try #require(r.text.contains("rows_affected"), "\(r.text)")
        }
    }

    let digest = "SELECT COUNT(*), SUM(v), group_concat(pad) FROM (SELECT * FROM t ORDER BY v)"

    @Test func lateJoinerCatchesUpThroughAStreamedSnapshot() throws {
        let cluster = try RaftliteCluster(count: 3, extraArguments: Self.fast)
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady())
        let leader = try #require(cluster.leader())
        let port = cluster.httpPorts[leader]
        _ = try HTTP.post(port, "/db/execute", json: #"["CREATE TABLE t (v INTEGER PRIMARY KEY, pad TEXT)"]"#)
        try insertRows(port, 1...150)
        #expect(eventually(timeout: 10) {
            try HTTP.get(port, "/status?key=store.raft.last_snapshot_index").text != "0"
        })
        // A forced snapshot compacts everything applied so far; then nothing is left to snapshot.
        #expect(try HTTP.request(port, "POST", "/snapshot").status == 200)
        #expect(try HTTP.request(port, "POST", "/snapshot").status == 204)
        // Older snapshots are deleted (in the background, once the new one is sealed): one is left.
        let snapshotDir = cluster.directory + "/node\(leader + 1)/raft/snapshots"
        #expect(eventually(timeout: 10) { ((try? FileManager.default.contentsOfDirectory(atPath: snapshotDir)) ?? []).count == 1 },
            "\((try? FileManager.default.contentsOfDirectory(atPath: snapshotDir)) ?? [])")

        let late = try RaftliteProcess(
            dataDirectory: cluster.directory + "/late", nodeID: "late",
            extraArguments: Self.fast + ["-join", "127.0.0.1:\(cluster.raftPorts[leader])"])
        defer { late.stop() }
        #expect(late.waitUntilReady(), "\(late.log)")
        let expected = try HTTP.get(port, "/db/query?level=none&q=" + percentEncode(digest)).text
        #expect(eventually(timeout: 20) { try HTTP.get(late.httpPort, "/db/query?level=none&q=" + percentEncode(digest)).text == expected })
        #expect(late.log.contains("installed snapshot"), "the late node should have been sent a snapshot")
    }

    @Test func nodeThatLostItsDatabaseIsRebuiltFromSnapshotAndLog() throws {
        let cluster = try RaftliteCluster(count: 3, extraArguments: Self.fast)
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady())
        let leader = try #require(cluster.leader())
        let port = cluster.httpPorts[leader]
        _ = try HTTP.post(port, "/db/execute", json: #"["CREATE TABLE t (v INTEGER PRIMARY KEY, pad TEXT)"]"#)
        try insertRows(port, 1...100)
        let victim = (leader + 1) % 3
        let snapshotDir = cluster.directory + "/node\(victim + 1)/raft/snapshots"
        #expect(eventually(timeout: 10) {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: snapshotDir)) ?? []
            return names.contains { !$0.hasSuffix(".tmp") }
        })
        cluster.kill(victim)
        for suffix in ["", "-wal", "-shm"] {
            try? FileManager.default.removeItem(atPath: cluster.directory + "/node\(victim + 1)/db.sqlite" + suffix)
        }
        try insertRows(port, 101...120)  // written while it was down
        try cluster.start(victim)
        #expect(cluster.waitUntilReady())
        let expected = try HTTP.get(port, "/db/query?level=none&q=" + percentEncode(digest)).text
        #expect(eventually(timeout: 20) { try cluster.localQuery(victim, digest) == expected })
        #expect(cluster.node(victim).log.contains("restoring the database from snapshot"))
    }
}
