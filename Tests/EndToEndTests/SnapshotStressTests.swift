import Foundation
import Synchronization
import Testing
import TestSupport

/// Snapshots under stress on a real cluster: while one node is down, the leader snapshots over and over
/// (automatic snapshots every 50 entries, forced ones with almost no trailing log) under a steady stream
/// of writes, and keeps streaming snapshots to a follower whose inbound traffic crawls through a
/// bandwidth-limited proxy — so transfers of old snapshots overlap the creation of new ones and the
/// pruning of the ones being sent. Afterwards every node, the one that was down included, must converge
/// to the same data, none may be in an error state, and the snapshot files on disk must stay bounded.
///
/// `RAFTLITE_SNAPSHOT_SOAK_SECONDS` sets the length of the stress phase (default 20 s) for a longer soak.
@Suite(.serialized) struct SnapshotStressTests {
    static let base = [
        "-raft-heartbeat-timeout", "500ms", "-raft-election-timeout", "500ms", "-raft-log-level", "INFO", "-raft-snap", "50",
    ]

    static var stressSeconds: Double {
        ProcessInfo.processInfo.environment["RAFTLITE_SNAPSHOT_SOAK_SECONDS"].flatMap(Double.init) ?? 20
    }

    /// Rows carry random text (so snapshot chunks do not compress away), sent as a parameter so every
    /// node stores the same bytes.
    static func randomPad(_ bytes: Int) -> String {
        Data((0..<bytes).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    }

    /// Writes overwrite a small set of keys: the log (and so the traffic to a follower) grows faster
    /// than the throttle lets through, while the database — what a snapshot carries — stays small enough
    /// to cross it in seconds.
    static let keys = 20

    static let digest = "SELECT COUNT(*), SUM(seq), SUM(length(pad)), SUM(unicode(substr(pad, 1 + seq % 50, 1)) * id) FROM t"

    static func query(_ port: Int, _ sql: String) throws -> String {
        try HTTP.get(port, "/db/query?level=none&q=" + percentEncode(sql)).text
    }

    /// Each key's sequence number on a node.
    static func sequences(_ port: Int) throws -> [Int: Int] {
        let text = try query(port, "SELECT id, seq FROM t")
        let results = try #require(
            (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["results"] as? [[String: Any]], "\(text)")
        var out: [Int: Int] = [:]
        for row in results.first?["values"] as? [[Any]] ?? [] {
            if let id = (row[0] as? NSNumber)?.intValue, let seq = (row[1] as? NSNumber)?.intValue { out[id] = seq }
        }
        return out
    }

    /// The `store.raft` section of `/status`.
    static func raftStatus(_ port: Int) throws -> [String: Any] {
        let text = try HTTP.get(port, "/status").text
        let status = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
        return try #require((status["store"] as? [String: Any])?["raft"] as? [String: Any], "\(text)")
    }

    static func count(_ needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    @Test func snapshotsKeepFlowingToASlowFollowerWhileAnotherIsDownAndAllConverge() throws {
        let directory = makeTemporaryDirectory("raftlite-snapshot-stress")
        defer { try? FileManager.default.removeItem(atPath: directory) }

        var nodes: [String: RaftliteProcess] = [:]
        defer { for id in ["1", "2", "3", "4"] { nodes[id]?.stop() } }
        func start(_ id: String, raftPort: Int = freePort(), httpPort: Int = freePort(), _ extra: [String] = []) throws -> RaftliteProcess {
            let join = id == "1" ? [] : ["-join", "127.0.0.1:\(nodes["1"]!.raftPort)"]
            let node = try RaftliteProcess(
                dataDirectory: "\(directory)/node\(id)", httpPort: httpPort, raftPort: raftPort, nodeID: id,
                extraArguments: Self.base + extra + join)
            nodes[id] = node
            return node
        }
        let leader = try start("1")
        try #require(leader.waitUntilReady(), "\(leader.log)")
        let fast = try start("2")
        // The slow follower advertises the proxy, so all traffic to it goes through the throttle. (Its port
        // is picked just before use: other suites pick free ports in parallel.)
        let slowRaftPort = freePort()
        let proxy = try ThrottledProxy(targetPort: slowRaftPort, bytesPerSecond: 0)
        defer { proxy.stop() }
        let slow = try start("3", raftPort: slowRaftPort, ["-raft-adv-addr", "127.0.0.1:\(proxy.port)"])
        // A non-voter, so the voters (leader, fast, slow) keep a quorum without it while it is down.
        var down = try start("4", ["-raft-non-voter"])
        for node in [fast, slow, down] { try #require(node.waitUntilReady(), "node at \(node.httpPort) not ready: \(node.log)") }
        let created = try HTTP.post(leader.httpPort, "/db/execute", json: #"["CREATE TABLE t (id INTEGER PRIMARY KEY, seq INTEGER, pad TEXT)"]"#)
        #expect(!created.text.contains("error"), "\(created.text)")

        // Writes flow all along from one background thread: write number `seq` sets key `seq % keys`. The
        // ones answered with success are acknowledged: each key must end with at least its last
        // acknowledged sequence number.
        let acknowledged = Mutex<(count: Int, last: [Int: Int])>((0, [:]))
        let stopWriting = Atomic<Bool>(false)
        let writerDone = DispatchSemaphore(value: 0)
        let leaderPort = leader.httpPort
        Thread.detachNewThread {
            defer { writerDone.signal() }
            var seq = 0
            while !stopWriting.load(ordering: .relaxed) && seq < 1_000_000 {
                seq += 1
                let key = seq % Self.keys
                let body = "[[\"INSERT OR REPLACE INTO t(id, seq, pad) VALUES(?, ?, ?)\", \(key), \(seq), \"\(Self.randomPad(2048))\"]]"
                if let r = try? HTTP.post(leaderPort, "/db/execute", json: body), r.text.contains("rows_affected") {
                    acknowledged.withLock {
                        $0.count += 1
                        $0.last[key] = seq
                    }
                }
            }
        }
        var writerJoined = false
        defer {
            stopWriting.store(true, ordering: .relaxed)
            if !writerJoined { writerDone.wait() }
        }
        #expect(eventually(timeout: 60) { acknowledged.withLock { $0.last.count } == Self.keys })
        down.kill9()
        // The writes (some 100-250 KB/s of log) outrun the link at once, so the follower falls behind the
        // leader's compacted log; a snapshot (~100 KB of database) takes seconds to cross, during which the
        // leader snapshots, compacts and prunes many times over, so the follower needs another snapshot as
        // soon as it installs one.
        proxy.bytesPerSecond = 48 << 10

        // Stress: forced snapshots back to back (each keeps almost no log), on top of the automatic ones,
        // in turn on every voter — whichever leads (leadership may move under this load), and the slow
        // follower too, which so snapshots while it receives snapshots.
        let stressEnd = Date().addingTimeInterval(Self.stressSeconds)
        var forced = 0
        var refused: [String] = []
        let voters = [leader, fast, slow]
        while Date() < stressEnd && forced < 10_000 {
            let r = try HTTP.request(voters[forced % voters.count].httpPort, "POST", "/snapshot?trailing_logs=5")
            if r.status == 200 || r.status == 204 {
                forced += 1
            } else {
                refused.append("\(r.status) \(r.text)")
            }
        }
        stopWriting.store(true, ordering: .relaxed)
        writerDone.wait()
        writerJoined = true
        let slowInstallsUnderThrottle = Self.count("installed snapshot", in: slow.log)
        let sentUnderThrottle = [leader, fast].map { Self.count("snapshot sent", in: $0.log) }.reduce(0, +)
        let throttledBytes = proxy.forwardedBytes
        #expect(forced > 5, "forced snapshots: \(forced); refused: \(refused.prefix(3))")
        #expect(refused.isEmpty, "\(refused.prefix(3))")

        // The down node comes back; the slow one gets full speed; everyone must converge.
        proxy.bytesPerSecond = 0
        down = try start("4", raftPort: down.raftPort, httpPort: down.httpPort, ["-raft-non-voter"])
        #expect(down.waitUntilReady(), "\(down.log)")
        let all = nodes.values.sorted { $0.httpPort < $1.httpPort }
        var digests: [String] = []
        let converged = eventually(timeout: 60, interval: 0.2) {
            digests = try all.map { try Self.query($0.httpPort, Self.digest) }
            return Set(digests).count == 1
        }
        #expect(converged, "digests: \(digests)")
        let (ackedCount, lastAcked) = acknowledged.withLock { ($0.count, $0.last) }
        for node in all {
            let present = try Self.sequences(node.httpPort)
            let missing = lastAcked.filter { key, seq in (present[key] ?? 0) < seq }
            #expect(missing.isEmpty, "node at \(node.httpPort) lacks acknowledged writes: \(missing.prefix(5))")
        }

        // No node in an error state; snapshot files bounded (pruned, no leftovers of transfers).
        for node in all {
            #expect(try HTTP.get(node.httpPort, "/readyz").status == 200)
            let raft = try Self.raftStatus(node.httpPort)
            #expect(raft["error"] == nil, "\(raft)")
            #expect(!node.log.contains("stops accepting writes"), "\(node.log)")
        }
        for node in all {
            let dir = node.dataDirectory + "/raft/snapshots"
            #expect(eventually(timeout: 20, interval: 0.2) {
                let names = try FileManager.default.contentsOfDirectory(atPath: dir)
                return names.filter { !$0.hasSuffix(".tmp") }.count <= 2 && !names.contains { $0.hasSuffix(".tmp") }
            }, "\(dir): \((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])")
        }
        // The stress really happened: many snapshots on the leader, several streamed to the slow node
        // through the throttle while newer ones were being taken.
        let taken = all.map { Self.count("snapshot taken", in: $0.log) }.reduce(0, +)
        let elections = all.map { Self.count("became leader", in: $0.log) }.reduce(0, +)
        print("snapshot stress: \(ackedCount) writes acknowledged, \(taken) snapshots taken on all nodes (\(forced) forced), "
            + "\(sentUnderThrottle) sent under the throttle, \(slowInstallsUnderThrottle) installed by the slow follower "
            + "(\(throttledBytes >> 10) KiB through the throttle), \(Self.count("installed snapshot", in: down.log)) by the restarted one, "
            + "\(elections) leader elections")
        #expect(taken > 10)
        #expect(slowInstallsUnderThrottle >= 2, "the slow follower should have needed several snapshots")
    }
}
