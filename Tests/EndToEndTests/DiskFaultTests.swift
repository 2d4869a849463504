import Foundation
import Testing
import TestSupport

/// Disk faults on real processes and real file systems: a full disk (a small tmpfs holding the data
/// directory) and failing fsyncs (strace injecting EIO into a running node). Every fault must stop the
/// node from accepting writes (fail-stop) with a clear error and log line, without crashing and without
/// writing corrupt state; once the cause is gone, a restart brings back every acknowledged write.
@Suite(.serialized) struct DiskFaultTests {
    static let args = ["-raft-log-level", "INFO"]

    /// A row whose text is carried in the Raft log entry itself (a parameter), so both the log and the
    /// database grow by about `padding` bytes per write.
    static func insert(_ port: Int, _ id: Int, padding: Int = 8000) throws -> RawHTTPResponse {
        try HTTP.post(port, "/db/execute", json: "[[\"INSERT INTO t(id, pad) VALUES(?, ?)\", \(id), \"\(String(repeating: "x", count: padding))\"]]")
    }

    static func ids(_ port: Int) throws -> Set<Int> {
        let text = try HTTP.get(port, "/db/query?level=none&q=" + percentEncode("SELECT id FROM t")).text
        let results = try #require(
            (try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["results"] as? [[String: Any]], "\(text)")
        let values = results.first?["values"] as? [[Any]] ?? []
        return Set(values.compactMap { ($0.first as? NSNumber)?.intValue })
    }

    static func integrityCheck(_ port: Int) throws -> String {
        try HTTP.get(port, "/db/query?level=none&q=" + percentEncode("PRAGMA integrity_check")).text
    }

    /// What a fail-stopped node must show: writes refused with the clear error, the failure in /status and
    /// in the log, not ready, still serving local reads, and no crash on bad input.
    static func expectFailStopped(_ node: RaftliteProcess, reason: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let port = node.httpPort
        let refused = try insert(port, 999_999_999, padding: 10)
        #expect(refused.text.contains("node stopped accepting writes after a storage failure"), "\(refused.text)", sourceLocation: sourceLocation)
        #expect(refused.text.contains(reason), "\(refused.text)", sourceLocation: sourceLocation)
        #expect(refused.text.hasPrefix("{\"results\":[],\"error\":"), "rqlite's error envelope: \(refused.text)", sourceLocation: sourceLocation)
        let status = try HTTP.get(port, "/status?key=store.raft.error").text
        #expect(status.contains(reason), "/status: \(status)", sourceLocation: sourceLocation)
        #expect(try HTTP.get(port, "/readyz").status != 200, sourceLocation: sourceLocation)
        #expect(node.log.contains("this node stops accepting writes, restart it once the cause is fixed"), "\(node.log)", sourceLocation: sourceLocation)
        let garbage = try HTTP.post(port, "/db/execute", json: "[[\"INSERT INTO t VALUES(\", {]")
        #expect(garbage.text.contains("error") || garbage.status >= 400, sourceLocation: sourceLocation)
        #expect(node.process.isRunning, "the node must not crash", sourceLocation: sourceLocation)
    }

    // MARK: ENOSPC

    @Test(.enabled(if: DiskFaults.tmpfsAvailable, "\(DiskFaults.tmpfsUnavailableReason ?? "")"))
    func fullDiskStopsWritesAndARestartWithSpaceKeepsEveryAcknowledgedWrite() throws {
        let data = try DiskFaults.makeTmpfsDataDirectory("raftlite-enospc", bytes: 3 << 20)
        defer { DiskFaults.removeTmpfsDataDirectory(data) }
        var node = try RaftliteProcess(dataDirectory: data, extraArguments: Self.args)
        defer { node.stop() }
        #expect(node.waitUntilReady(), "\(node.log)")
        _ = try HTTP.post(node.httpPort, "/db/execute", json: #"["CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)"]"#)

        // Write until the disk is full; every write answered with success is acknowledged.
        var acknowledged: [Int] = []
        var failure: String?
        let deadline = Date().addingTimeInterval(60)
        for id in 1...2000 where failure == nil && Date() < deadline {
            let r = try Self.insert(node.httpPort, id)
            if r.text.contains("rows_affected") {
                acknowledged.append(id)
            } else {
                failure = r.text
            }
        }
        let error = try #require(failure, "the 3 MiB disk never filled")
        #expect(acknowledged.count > 10)
        #expect(error.contains("node stopped accepting writes after a storage failure"), "\(error)")
        #expect(error.contains("No space left on device") || error.contains("disk is full"), "\(error)")
        let reason = error.contains("No space left on device") ? "No space left on device" : "disk is full"
        try Self.expectFailStopped(node, reason: reason)
        // Local reads still work on the full disk, and hold every acknowledged write.
        #expect(try Self.ids(node.httpPort).isSuperset(of: acknowledged))

        // Space comes back: the node stays stopped (a failed write is never retried behind the client's
        // back) until it is restarted.
        try DiskFaults.resizeTmpfs(data, bytes: 64 << 20)
        #expect(try Self.insert(node.httpPort, 1_000_000, padding: 10).text.contains("storage failure"))
        node = try node.restarted()
        #expect(node.waitUntilReady(), "\(node.log)")
        let present = try Self.ids(node.httpPort)
        #expect(present.isSuperset(of: acknowledged), "lost acknowledged writes: \(Set(acknowledged).subtracting(present).sorted())")
        #expect(try Self.integrityCheck(node.httpPort).contains(#"[["ok"]]"#))
        #expect(try Self.insert(node.httpPort, 1_000_001).text.contains("rows_affected"))
    }

    /// A crash rebuild on a disk with room for the snapshot's copy only once the crashed database's files
    /// are gone: the rebuild deletes those in the background, and a copy that runs out of space waits for
    /// that and retries, so the node comes back with every row.
    @Test(.enabled(if: DiskFaults.tmpfsAvailable, "\(DiskFaults.tmpfsUnavailableReason ?? "")"))
    func crashRebuildOnANearlyFullDiskUsesTheRoomOfTheDiscardedDatabase() throws {
        let data = try DiskFaults.makeTmpfsDataDirectory("raftlite-enospc-rebuild", bytes: 96 << 20)
        defer { DiskFaults.removeTmpfsDataDirectory(data) }
        var node = try RaftliteProcess(dataDirectory: data, extraArguments: Self.args + ["-raft-snap", "1000000"])
        defer { node.stop() }
        #expect(node.waitUntilReady(), "\(node.log)")
        _ = try HTTP.post(node.httpPort, "/db/execute", json: #"["CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)"]"#)
        for first in stride(from: 1, to: 3000, by: 500) {  // ~12 MiB of rows
            let r = try HTTP.post(node.httpPort, "/db/execute", json: """
                [["WITH RECURSIVE c(x) AS (SELECT ? UNION ALL SELECT x + 1 FROM c WHERE x < ?) \
                INSERT INTO t(id, pad) SELECT x, hex(zeroblob(2000)) FROM c", \(first), \(first + 499)]]
                """)
            try #require(r.text.contains("\"rows_affected\":500"), "\(r.text)")
        }
        #expect(try HTTP.request(node.httpPort, "POST", "/snapshot").status == 200)
        let snapshotBytes = (try FileManager.default.subpathsOfDirectory(atPath: data + "/raft/snapshots"))
            .filter { $0.hasSuffix("/db.sqlite") }
            .compactMap { try? FileManager.default.attributesOfItem(atPath: data + "/raft/snapshots/" + $0)[.size] as? Int }.max() ?? 0
        #expect(snapshotBytes > 10 << 20)
        node.kill9()
        // Less room than the copy needs; enough once the old db.sqlite (and its WAL) are deleted.
        try DiskFaults.fill(data + "/filler", leaving: snapshotBytes / 2)
        #expect(DiskFaults.freeBytes(data) < snapshotBytes)
        node = try node.restarted(extraArguments: Self.args)
        #expect(node.waitUntilReady(), "\(node.log)")
        #expect(node.log.contains("rebuilding it from the snapshot and the log"), "\(node.log)")
        #expect(try Self.ids(node.httpPort).count == 3000)
        #expect(try Self.integrityCheck(node.httpPort).contains(#"[["ok"]]"#))
    }

    /// The disk filled by something else: the next write's log append is the one that fails.
    @Test(.enabled(if: DiskFaults.tmpfsAvailable, "\(DiskFaults.tmpfsUnavailableReason ?? "")"))
    func fullDiskOnTheLogAppendStopsWritesAndARestartWithSpaceKeepsEveryAcknowledgedWrite() throws {
        let data = try DiskFaults.makeTmpfsDataDirectory("raftlite-enospc-log", bytes: 8 << 20)
        defer { DiskFaults.removeTmpfsDataDirectory(data) }
        var node = try RaftliteProcess(dataDirectory: data, extraArguments: Self.args)
        defer { node.stop() }
        #expect(node.waitUntilReady(), "\(node.log)")
        _ = try HTTP.post(node.httpPort, "/db/execute", json: #"["CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)"]"#)
        for id in 1...20 {
            try #require(try Self.insert(node.httpPort, id).text.contains("rows_affected"))
        }
        let filler = data + "/filler"
        try DiskFaults.fill(filler, leaving: 0)
        let failed = try Self.insert(node.httpPort, 21).text
        #expect(failed.contains("failed to write the Raft log") && failed.contains("No space left on device"), "\(failed)")
        try Self.expectFailStopped(node, reason: "No space left on device")

        try FileManager.default.removeItem(atPath: filler)
        #expect(try Self.insert(node.httpPort, 22).text.contains("storage failure"))
        node = try node.restarted()
        #expect(node.waitUntilReady(), "\(node.log)")
        let present = try Self.ids(node.httpPort)
        #expect(present.isSuperset(of: 1...20))
        #expect(!present.contains(21) && !present.contains(22), "a write that failed on a full disk was applied")
        #expect(try Self.integrityCheck(node.httpPort).contains(#"[["ok"]]"#))
        #expect(try Self.insert(node.httpPort, 23).text.contains("rows_affected"))
    }

    @Test(.enabled(if: DiskFaults.tmpfsAvailable, "\(DiskFaults.tmpfsUnavailableReason ?? "")"))
    func fullDiskDuringASnapshotLeavesNoSnapshotToLoad() throws {
        let data = try DiskFaults.makeTmpfsDataDirectory("raftlite-enospc-snap", bytes: 16 << 20)
        defer { DiskFaults.removeTmpfsDataDirectory(data) }
        // No automatic snapshot: the forced one below is the one that meets the full disk.
        let args = Self.args + ["-raft-snap", "100000"]
        var node = try RaftliteProcess(dataDirectory: data, extraArguments: args)
        defer { node.stop() }
        #expect(node.waitUntilReady(), "\(node.log)")
        _ = try HTTP.post(node.httpPort, "/db/execute", json: #"["CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)"]"#)
        for id in 1...250 {
            try #require(try Self.insert(node.httpPort, id).text.contains("rows_affected"))
        }
        // Leave far less room than the ~2 MB database image the snapshot copies.
        let filler = data + "/filler"
        try DiskFaults.fill(filler, leaving: 256 << 10)
        let response = try HTTP.request(node.httpPort, "POST", "/snapshot")
        #expect(response.status != 200 && response.status != 204, "\(response.status) \(response.text)")
        #expect(response.text.contains("failed to write snapshot"), "\(response.text)")
        try Self.expectFailStopped(node, reason: "failed to write snapshot")
        let snapshots = data + "/raft/snapshots"
        #expect(try FileManager.default.contentsOfDirectory(atPath: snapshots).isEmpty, "a partial snapshot was left behind")

        try FileManager.default.removeItem(atPath: filler)
        node = try node.restarted()
        #expect(node.waitUntilReady(), "\(node.log)")
        #expect(try Self.ids(node.httpPort).isSuperset(of: 1...250))
        #expect(try Self.integrityCheck(node.httpPort).contains(#"[["ok"]]"#))
        // With space, the same snapshot now succeeds, and a restart loads it.
        #expect(try HTTP.request(node.httpPort, "POST", "/snapshot").status == 200)
        #expect(try FileManager.default.contentsOfDirectory(atPath: snapshots).count == 1)
        node = try node.restarted()
        #expect(node.waitUntilReady(), "\(node.log)")
        #expect(try Self.ids(node.httpPort).count == 250)
    }

    /// A node that joins a compacted cluster needs a snapshot first, and its disk has no room for it: it
    /// stops (the leader must not stream forever to a disk that cannot take it), the cluster carries on,
    /// and once the disk is bigger a restart catches it up.
    @Test(.enabled(if: DiskFaults.tmpfsAvailable, "\(DiskFaults.tmpfsUnavailableReason ?? "")"))
    func aJoiningNodeWithNoRoomForTheSnapshotStopsAndCatchesUpAfterARestart() throws {
        let args = ["-raft-heartbeat-timeout", "500ms", "-raft-election-timeout", "500ms", "-raft-snap", "50", "-raft-log-level", "INFO"]
        let cluster = try RaftliteCluster(count: 3, extraArguments: args)
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady())
        let leader = try #require(cluster.leader())
        let port = cluster.httpPorts[leader]
        _ = try HTTP.post(port, "/db/execute", json: #"["CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)"]"#)
        for id in 1...200 {
            try #require(try Self.insert(port, id).text.contains("rows_affected"))
        }
        #expect(try HTTP.request(port, "POST", "/snapshot?trailing_logs=1").status == 200)

        // About 1.6 MB of database to receive, on a 1 MiB disk.
        let dir = cluster.directory + "/small"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        try DiskFaults.mountTmpfs(dir, bytes: 1 << 20)
        var node = try RaftliteProcess(
            dataDirectory: dir, nodeID: "small", extraArguments: args + ["-join", "127.0.0.1:\(cluster.raftPorts[leader])"])
        defer {
            node.stop()
            DiskFaults.unmount(dir)
        }
        #expect(eventually(timeout: 30) { node.log.contains("failed to store a snapshot received from the leader") }, "\(node.log)")
        try Self.expectFailStopped(node, reason: "failed to store a snapshot received from the leader")
        #expect(node.log.contains("No space left on device"), "\(node.log)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/raft/snapshots")
        #expect(leftovers.isEmpty, "a partial snapshot was left behind: \(leftovers)")
        // The cluster goes on without it.
        #expect(try Self.insert(port, 201).text.contains("rows_affected"))

        try DiskFaults.resizeTmpfs(dir, bytes: 64 << 20)
        node = try node.restarted()
        #expect(node.waitUntilReady(), "\(node.log)")
        let expected = try Self.ids(port)
        #expect(expected.isSuperset(of: 1...201))
        #expect(eventually(timeout: 30) { try Self.ids(node.httpPort) == expected })
        #expect(try Self.integrityCheck(node.httpPort).contains(#"[["ok"]]"#))
    }

    // MARK: EIO

    @Test(.enabled(if: DiskFaults.straceAvailable, "\(DiskFaults.straceUnavailableReason ?? "")"))
    func failingLogFsyncStopsWritesAndARestartKeepsEveryAcknowledgedWrite() throws {
        let data = makeTemporaryDirectory("raftlite-eio") + "/data"
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: data).deletingLastPathComponent().path) }
        var node = try RaftliteProcess(dataDirectory: data, extraArguments: Self.args)
        defer { node.stop() }
        #expect(node.waitUntilReady(), "\(node.log)")
        _ = try HTTP.post(node.httpPort, "/db/execute", json: #"["CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)"]"#)
        for id in 1...20 {
            try #require(try Self.insert(node.httpPort, id, padding: 100).text.contains("rows_affected"))
        }

        let strace = try FaultInjector(pid: node.pid, syscalls: "fdatasync", errno: "EIO")
        let failed = try Self.insert(node.httpPort, 21, padding: 100).text
        #expect(failed.contains("failed to sync the Raft log") && failed.contains("Input/output error"), "\(failed)")
        try Self.expectFailStopped(node, reason: "Input/output error")
        // fsync works again, but the node must not trust what it wrote before: still stopped.
        strace.detach()
        #expect(try Self.insert(node.httpPort, 22, padding: 100).text.contains("storage failure"))
        #expect(try HTTP.request(node.httpPort, "POST", "/snapshot").text.contains("storage failure"))

        node = try node.restarted()
        #expect(node.waitUntilReady(), "\(node.log)")
        let present = try Self.ids(node.httpPort)
        #expect(present.isSuperset(of: 1...20))
        #expect(!present.contains(22), "a write refused by the stopped node was applied")
        #expect(try Self.integrityCheck(node.httpPort).contains(#"[["ok"]]"#))
        #expect(try Self.insert(node.httpPort, 23, padding: 100).text.contains("rows_affected"))
    }

    @Test(.enabled(if: DiskFaults.straceAvailable, "\(DiskFaults.straceUnavailableReason ?? "")"))
    func failingSnapshotFsyncStopsTheNodeAndLeavesNoSnapshotToLoad() throws {
        let data = makeTemporaryDirectory("raftlite-eio-snap") + "/data"
        defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: data).deletingLastPathComponent().path) }
        let args = Self.args + ["-raft-snap", "100000"]
        var node = try RaftliteProcess(dataDirectory: data, extraArguments: args)
        defer { node.stop() }
        #expect(node.waitUntilReady(), "\(node.log)")
        _ = try HTTP.post(node.httpPort, "/db/execute", json: #"["CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)"]"#)
        for id in 1...50 {
            try #require(try Self.insert(node.httpPort, id, padding: 100).text.contains("rows_affected"))
        }
        // The snapshot is sealed with fsync (the log uses fdatasync, so writes are untouched).
        let strace = try FaultInjector(pid: node.pid, syscalls: "fsync", errno: "EIO")
        let response = try HTTP.request(node.httpPort, "POST", "/snapshot")
        #expect(response.text.contains("failed to write snapshot") && response.text.contains("Input/output error"), "\(response.text)")
        strace.detach()
        try Self.expectFailStopped(node, reason: "failed to write snapshot")
        let snapshots = data + "/raft/snapshots"
        #expect(try FileManager.default.contentsOfDirectory(atPath: snapshots).isEmpty, "a partial snapshot was left behind")

        node = try node.restarted()
        #expect(node.waitUntilReady(), "\(node.log)")
        #expect(try Self.ids(node.httpPort).isSuperset(of: 1...50))
        #expect(try Self.integrityCheck(node.httpPort).contains(#"[["ok"]]"#))
        #expect(try HTTP.request(node.httpPort, "POST", "/snapshot").status == 200)
    }

    /// A leader whose disk fails falls silent: the others elect a new leader and go on accepting writes;
    /// once restarted, the failed node catches up with everything.
    @Test(.enabled(if: DiskFaults.straceAvailable, "\(DiskFaults.straceUnavailableReason ?? "")"))
    func aLeaderWithAFailingDiskGivesWayAndRejoinsAfterARestart() throws {
        let cluster = try RaftliteCluster(
            count: 3, extraArguments: ["-raft-heartbeat-timeout", "500ms", "-raft-election-timeout", "500ms", "-raft-log-level", "INFO"])
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady())
        let leader = try #require(cluster.leader())
        _ = try HTTP.post(cluster.httpPorts[leader], "/db/execute", json: #"["CREATE TABLE t (id INTEGER PRIMARY KEY, pad TEXT)"]"#)
        for id in 1...20 {
            try #require(try Self.insert(cluster.httpPorts[leader], id, padding: 100).text.contains("rows_affected"))
        }
        let strace = try FaultInjector(pid: cluster.node(leader).pid, syscalls: "fdatasync", errno: "EIO")
        defer { strace.detach() }
        let failed = try Self.insert(cluster.httpPorts[leader], 21, padding: 100).text
        #expect(failed.contains("storage failure"), "\(failed)")
        try Self.expectFailStopped(cluster.node(leader), reason: "Input/output error")

        // The other two elect a leader among themselves and accept writes.
        let others = [0, 1, 2].filter { $0 != leader }
        var next: Int?
        #expect(eventually(timeout: 20) {
            for i in others where try HTTP.get(cluster.httpPorts[i], "/status?key=store.raft.state").text.contains("Leader") {
                next = i
                return true
            }
            return false
        }, "no new leader: the failed leader must fall silent")
        let newLeader = try #require(next)
        for id in 22...40 {
            #expect(try Self.insert(cluster.httpPorts[newLeader], id, padding: 100).text.contains("rows_affected"))
        }
        strace.detach()
        cluster.stop(leader)
        try cluster.start(leader)
        #expect(cluster.waitUntilReady())
        let expected = try Self.ids(cluster.httpPorts[newLeader])
        #expect(expected.isSuperset(of: Array(1...20) + Array(22...40)))
        #expect(eventually(timeout: 20) { try Self.ids(cluster.httpPorts[leader]) == expected })
        #expect(try Self.integrityCheck(cluster.httpPorts[leader]).contains(#"[["ok"]]"#))
    }
}
