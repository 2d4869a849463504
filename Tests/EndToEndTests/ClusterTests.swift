import Foundation
import Testing
import TestSupport

/// Real multi-node clusters of raftlited processes on 127.0.0.1, with crashes (SIGKILL) and partitions
/// (SIGSTOP). Serialized: elections are timing-sensitive, and the machine has few cores.
@Suite(.serialized) struct ClusterTests {
    func execute(_ port: Int, _ json: String, timeout: Double = 10) throws -> RawHTTPResponse {
        try HTTPConnection(port: port, timeout: timeout).request(
            "POST", "/db/execute", headers: [("Content-Type", "application/json")], body: Array(json.utf8))
    }

    /// The same ordered dump of table `t` on every running node, eventually.
    func replicasConverge(_ cluster: RaftliteCluster, _ sql: String = "SELECT v FROM t ORDER BY v") -> Bool {
        eventually(timeout: 20) {
            let answers = try cluster.running.map { try cluster.localQuery($0, sql) }
            return Set(answers).count == 1
        }
    }

    @Test func formationByJoinReplicatesToEveryNode() throws {
        let cluster = try RaftliteCluster(count: 3)
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady(), "cluster never became ready")
        let leader = try #require(cluster.leader())
        #expect(try execute(cluster.httpPorts[leader], #"["CREATE TABLE t (v INTEGER)", "INSERT INTO t VALUES(1)"]"#).status == 200)
        // A follower forwards writes to the leader.
        let follower = (leader + 1) % 3
        let r = try execute(cluster.httpPorts[follower], #"["INSERT INTO t VALUES(2)"]"#)
        #expect(r.text == #"{"results":[{"last_insert_id":2,"rows_affected":1}]}"#, "\(r.text)")
        #expect(replicasConverge(cluster))
        #expect(try cluster.localQuery(follower, "SELECT v FROM t ORDER BY v").contains("[[1],[2]]"))
        let nodes = try HTTP.get(cluster.httpPorts[follower], "/nodes?ver=2").text
        #expect(nodes.components(separatedBy: #""reachable":true"#).count == 4, "\(nodes)")
        #expect(nodes.components(separatedBy: #""leader":true"#).count == 2, "\(nodes)")
    }

    @Test func formationByBootstrapExpectInParallel() throws {
        let cluster = try RaftliteCluster(count: 3, bootstrapExpect: true)
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady(timeout: 40), "nodes never became ready:\n\(cluster.node(0).log)")
        #expect(eventually(timeout: 20) { try HTTP.get(cluster.httpPorts[2], "/readyz?sync").status == 200 })
        let leader = try #require(cluster.leader())
        #expect(try execute(cluster.httpPorts[leader], #"["CREATE TABLE t (v INTEGER)", "INSERT INTO t VALUES(7)"]"#).status == 200)
        #expect(replicasConverge(cluster))
    }

    @Test func leaderKilledUnderWriteLoadLosesNoAcknowledgedWrite() throws {
        let cluster = try RaftliteCluster(count: 3)
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady())
        let first = try #require(cluster.leader())
        _ = try execute(cluster.httpPorts[first], #"["CREATE TABLE t (v INTEGER PRIMARY KEY)"]"#)

        let acknowledged = Acknowledged()
        let stop = Flag()
        let writers = DispatchGroup()
        let ports = cluster.httpPorts
        for w in 0..<4 {
            DispatchQueue.global().async(group: writers) {
                var n = 0
                while !stop.isSet && n < 100_000 {
                    let value = w * 1_000_000 + n
                    n += 1
                    // Any node: followers forward to whoever leads now.
                    for port in ports.shuffled() {
                        guard let r = try? self.execute(port, "[\"INSERT INTO t VALUES(\(value))\"]", timeout: 3) else { continue }
                        if r.status == 200 && r.text.contains("rows_affected") {
                            acknowledged.add(value)
                            break
                        }
                        if r.text.contains("UNIQUE") { break }  // applied by an earlier attempt whose answer was lost
                    }
                }
            }
        }
        #expect(eventually(timeout: 10) { acknowledged.count >= 50 })
        let killedAt = Date()
        cluster.kill(first)
        let countAtKill = acknowledged.count
        // Writes go through a survivor again within twice the election timeout plus detection slack.
        #expect(eventually(timeout: 10) { acknowledged.count > countAtKill + 20 })
        let recovery = Date().timeIntervalSince(killedAt)
        stop.set()
        writers.wait()
        #expect(recovery < 6, "writes resumed only after \(recovery)s")

        try cluster.start(first)  // the killed node restarts on its own data and catches up
        #expect(cluster.waitUntilReady())
        #expect(replicasConverge(cluster), "replicas differ after the restart")
        let rows = try cluster.localQuery(first, "SELECT v FROM t ORDER BY v")
        let missing = acknowledged.all.filter { !rows.contains("[\($0)]") }
        #expect(missing.isEmpty, "acknowledged but lost: \(missing.prefix(10)) of \(acknowledged.count)")
    }

    @Test func twoNodeClusterWithoutMajorityRefusesWritesButServesLevelNone() throws {
        let cluster = try RaftliteCluster(count: 2)
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady())
        let leader = try #require(cluster.leader())
        _ = try execute(cluster.httpPorts[leader], #"["CREATE TABLE t (v INTEGER)", "INSERT INTO t VALUES(1)"]"#)
        #expect(replicasConverge(cluster))
        let survivor = 1 - leader
        cluster.kill(leader)
        let port = cluster.httpPorts[survivor]
        // No majority: no leader, so no write and no weak/strong/linearizable read — never stale data.
        #expect(eventually(timeout: 10) {
            let r = try execute(port, #"["INSERT INTO t VALUES(2)"]"#, timeout: 15)
            return r.status == 503 && r.text == "leader not found\n"
        })
        for level in ["weak", "strong", "linearizable"] {
            let r = try HTTP.get(port, "/db/query?level=\(level)&q=SELECT%20*%20FROM%20t")
            #expect(r.status == 503 && r.text == "leader not found\n", "level \(level): \(r.status) \(r.text)")
        }
        let none = try HTTP.get(port, "/db/query?level=none&q=SELECT%20*%20FROM%20t")
        #expect(none.text == #"{"results":[{"columns":["v"],"types":["integer"],"values":[[1]]}]}"#)
        #expect(try HTTP.get(port, "/readyz").status == 503)
    }

    /// Every node crashes before any snapshot: each database is rebuilt from an empty file, so the peers'
    /// addresses exist only in log entries not yet applied. The restarted nodes must still reach each
    /// other, elect a leader and keep every acknowledged write.
    @Test func wholeClusterCrashBeforeAnySnapshotRecovers() throws {
        let cluster = try RaftliteCluster(count: 3)
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady())
        let leader = try #require(cluster.leader())
        _ = try execute(cluster.httpPorts[leader], #"["CREATE TABLE t (v INTEGER)", "INSERT INTO t VALUES(1)"]"#)
        for i in 0..<3 { cluster.kill(i) }
        for i in 0..<3 { try cluster.start(i) }
        #expect(cluster.waitUntilReady(timeout: 20), "cluster never became ready after a full crash")
        let newLeader = try #require(cluster.leader())
        #expect(try execute(cluster.httpPorts[newLeader], #"["INSERT INTO t VALUES(2)"]"#).text.contains("rows_affected"))
        #expect(replicasConverge(cluster))
        #expect(try cluster.localQuery(newLeader, "SELECT v FROM t ORDER BY v").contains("[[1],[2]]"))
    }

    @Test func fiveNodeClusterSurvivesTwoFailures() throws {
        let cluster = try RaftliteCluster(count: 5)
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady(timeout: 40))
        let leader = try #require(cluster.leader())
        _ = try execute(cluster.httpPorts[leader], #"["CREATE TABLE t (v INTEGER)"]"#)
        cluster.kill(leader)
        cluster.kill((leader + 1) % 5)
        let survivor = cluster.running[0]
        #expect(eventually(timeout: 15) {
            try execute(cluster.httpPorts[survivor], #"["INSERT INTO t VALUES(5)"]"#).text.contains("rows_affected")
        })
        #expect(replicasConverge(cluster))
    }

    @Test func partitionedMinorityCannotWriteAndHealedReplicasConverge() throws {
        let cluster = try RaftliteCluster(count: 3)
        defer {
            for i in cluster.running { kill(cluster.node(i).pid, SIGCONT) }
            cluster.stopAll()
        }
        #expect(cluster.waitUntilReady())
        let leader = try #require(cluster.leader())
        _ = try execute(cluster.httpPorts[leader], #"["CREATE TABLE t (v INTEGER)", "INSERT INTO t VALUES(1)"]"#)
        #expect(replicasConverge(cluster))

        // Cut the leader off from both followers: it is the minority and must stop accepting writes.
        let followers = cluster.running.filter { $0 != leader }
        for f in followers { kill(cluster.node(f).pid, SIGSTOP) }
        #expect(eventually(timeout: 10) {
            let r = try execute(cluster.httpPorts[leader], #"["INSERT INTO t VALUES(99)"]"#, timeout: 15)
            return !r.text.contains("rows_affected")
        })
        for f in followers { kill(cluster.node(f).pid, SIGCONT) }

        // Now isolate the old leader instead: the majority elects a leader and keeps writing.
        kill(cluster.node(leader).pid, SIGSTOP)
        #expect(eventually(timeout: 15) {
            try execute(cluster.httpPorts[followers[0]], #"["INSERT INTO t VALUES(2)"]"#, timeout: 5).text.contains("rows_affected")
        })
        kill(cluster.node(leader).pid, SIGCONT)
        #expect(replicasConverge(cluster), "replicas differ after healing")
        let rows = try cluster.localQuery(leader, "SELECT v FROM t ORDER BY v")
        #expect(rows.contains("[2]"), "\(rows)")
    }

    @Test func aCrashedClusterRestartingOneNodeAtATimeSaysItWaitsForPeers() throws {
        let cluster = try RaftliteCluster(count: 3)
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady())
        let leader = try #require(cluster.leader())
        #expect(try execute(cluster.httpPorts[leader], #"["CREATE TABLE t (v INTEGER)", "INSERT INTO t VALUES(1)", "INSERT INTO t VALUES(2)"]"#).status == 200)
        #expect(replicasConverge(cluster))
        for i in 0..<3 { cluster.kill(i) }

        // Alone, node 1 applies what it knows to be committed and then needs a leader for the rest of its
        // log: it says so, is not ready, and answers as a node without a leader.
        try cluster.start(0)
        let port = cluster.httpPorts[0]
        #expect(eventually(timeout: 20) {
            let status = try HTTP.get(port, "/status").text
            return status.contains(#""phase":"waiting for peers""#) && status.contains(#""phase_detail":"waiting for a leader"#)
        }, "phase never became 'waiting for peers':\n\(cluster.node(0).log)")
        #expect(try HTTP.get(port, "/readyz").status == 503)
        let query = try HTTP.get(port, "/db/query?q=" + percentEncode("SELECT COUNT(*) FROM t"))
        #expect(query.status == 503 && query.text == "leader not found\n", "\(query.status) \(query.text)")

        // With a majority back, a leader commits the log, and every node holds every row again.
        try cluster.start(1)
        try cluster.start(2)
        #expect(cluster.waitUntilReady(timeout: 40), "cluster never became ready again")
        #expect(eventually(timeout: 20) { try HTTP.get(port, "/status").text.contains(#""phase":"ready""#) })
        #expect(replicasConverge(cluster))
        #expect(try cluster.localQuery(0, "SELECT v FROM t ORDER BY v").contains("[[1],[2]]"))
    }
}

final class Acknowledged: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Int] = []
    func add(_ v: Int) { lock.withLock { values.append(v) } }
    var count: Int { lock.withLock { values.count } }
    var all: [Int] { lock.withLock { values } }
}

final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
