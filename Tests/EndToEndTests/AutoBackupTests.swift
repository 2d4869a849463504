import Foundation
import JSON
import Testing
import TestSupport

/// MISSION.md item 2 with real processes: automatic backups (uploaded once, not again after a restart
/// or a leader change with nothing new, again after a change) and automatic restore (only onto an
/// empty node, not ready until the data is there, identical on every node of a new cluster).
@Suite(.serialized) struct AutoBackupTests {
    static let fast = ["-raft-heartbeat-timeout", "500ms", "-raft-election-timeout", "500ms"]

    func writeConfig(_ dir: String, _ name: String, _ json: String) throws -> String {
        let path = dir + "/" + name
        try json.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func autoBackups(_ port: Int) throws -> String { try HTTP.get(port, "/status?key=auto_backups").text }

    @Test func uploadsOnlyWhenTheDatabaseChanged() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try writeConfig(
            dir, "backup.json",
            #"{"version":1,"type":"file","interval":"200ms","sub":{"dir":"\#(dir)/store","name":"db.sqlite.gz"}}"#)
        let cluster = try RaftliteCluster(count: 3, extraArguments: Self.fast + ["-auto-backup", config])
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady())
        let leader = try #require(cluster.leader())
        _ = try HTTP.post(cluster.httpPorts[leader], "/db/execute", json: #"["CREATE TABLE t (v)", "INSERT INTO t VALUES(1)"]"#)
        let metadata = dir + "/store/METADATA.json"
        #expect(eventually(timeout: 10) { FileManager.default.fileExists(atPath: metadata) })
        #expect(eventually(timeout: 10) { try statusCounter(cluster.httpPorts[leader], "num_uploads_ok") == 1 })
        let firstUpload = try String(contentsOfFile: metadata, encoding: .utf8)
        // Several more intervals with no change (three more skipped ticks): still one upload.
        let skipped = try #require(try statusCounter(cluster.httpPorts[leader], "num_uploads_skipped"))
        #expect(eventually(timeout: 10) {
            try statusCounter(cluster.httpPorts[leader], "num_uploads_skipped") ?? 0 >= skipped + 3
        })
        #expect(try statusCounter(cluster.httpPorts[leader], "num_uploads_ok") == 1)

        // A leader change with nothing new: the new leader reads the stored index and uploads nothing.
        let target = (leader + 1) % 3
        _ = try HTTP.request(
            cluster.httpPorts[leader], "POST", "/leader?wait", headers: [("Content-Type", "application/json")],
            body: Array("{\"id\":\"\(target + 1)\"}".utf8))
        #expect(eventually(timeout: 10) { cluster.leader() == target })
        #expect(eventually(timeout: 10) { try autoBackups(cluster.httpPorts[target]).contains(#""num_uploads_skipped_id":1"#) })
        #expect(try String(contentsOfFile: metadata, encoding: .utf8) == firstUpload, "no redundant upload")

        // A restart of the whole cluster with nothing new: still nothing uploaded.
        for i in 0..<3 { cluster.stop(i) }
        for i in 0..<3 { try cluster.start(i) }
        #expect(cluster.waitUntilReady())
        let newLeader = try #require(cluster.leader())
        #expect(eventually(timeout: 10) { try autoBackups(cluster.httpPorts[newLeader]).contains(#""num_uploads_skipped_id":1"#) })
        #expect(try String(contentsOfFile: metadata, encoding: .utf8) == firstUpload, "no upload after a restart")

        // A change: uploaded again.
        _ = try HTTP.post(cluster.httpPorts[newLeader], "/db/execute", json: #"["INSERT INTO t VALUES(2)"]"#)
        #expect(eventually(timeout: 10) { try String(contentsOfFile: metadata, encoding: .utf8) != firstUpload })
    }

    /// One counter of `/debug/vars` (`section.name`) and, for the uploader, the same one in `/status`.
    func counter(_ port: Int, _ section: String, _ name: String) throws -> Int64? {
        guard case .integer(let n)? = try JSONValue.parse(HTTP.get(port, "/debug/vars").body)[section]?[name] else { return nil }
        return n
    }

    func statusCounter(_ port: Int, _ name: String) throws -> Int64? {
        guard case .integer(let n)? = try JSONValue.parse(HTTP.get(port, "/status").body)["auto_backups"]?[name] else { return nil }
        return n
    }

    /// The counters rqlite's own tooling polls (`/debug/vars` → `uploader`) move as uploads happen, are
    /// skipped or fail, and `/status` → `auto_backups` reports the same numbers.
    @Test func uploadCountersInDebugVarsAndStatus() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Without -auto-backup the uploader section is there, all zeros, and /status has no auto_backups.
        do {
            let plain = try RaftliteProcess(dataDirectory: dir + "/plain")
            defer { plain.stop() }
            #expect(plain.waitUntilReady())
            for name in ["num_uploads_ok", "num_uploads_fail", "num_uploads_skipped", "num_uploads_skipped_id"] {
                #expect(try counter(plain.httpPort, "uploader", name) == 0, "\(name)")
            }
            #expect(try counter(plain.httpPort, "downloader", "num_downloads_ok") == 0)
            #expect(try counter(plain.httpPort, "store", "num_auto_restores") == 0)
            #expect(try HTTP.get(plain.httpPort, "/status?key=auto_backups").text == "{}")
        }

        let config = try writeConfig(
            dir, "backup.json",
            #"{"version":1,"type":"file","interval":"100ms","no_compress":true,"sub":{"dir":"\#(dir)/store","name":"db.sqlite"}}"#)
        do {
            let node = try RaftliteProcess(dataDirectory: dir + "/data", nodeID: "1", extraArguments: ["-auto-backup", config])
            defer { node.stop() }
            #expect(node.waitUntilReady())
            // Nothing written yet: every tick is a skip, never an upload.
            #expect(eventually(timeout: 10) { try counter(node.httpPort, "uploader", "num_uploads_skipped") ?? 0 >= 3 })
            #expect(try counter(node.httpPort, "uploader", "num_uploads_ok") == 0)
            _ = try HTTP.post(node.httpPort, "/db/execute", json: #"["CREATE TABLE t (v)", "INSERT INTO t VALUES(1)"]"#)
            #expect(eventually(timeout: 10) { try counter(node.httpPort, "uploader", "num_uploads_ok") == 1 }, "\(node.log)")
            #expect(try statusCounter(node.httpPort, "num_uploads_ok") == 1)
            let size = try #require(try counter(node.httpPort, "uploader", "last_upload_bytes"))
            #expect(size == Int64(try Data(contentsOf: URL(fileURLWithPath: dir + "/store/db.sqlite")).count))
            #expect(try counter(node.httpPort, "uploader", "total_upload_bytes") == size)
            // Unchanged: skips keep counting, uploads do not.
            let skipped = try #require(try counter(node.httpPort, "uploader", "num_uploads_skipped"))
            #expect(eventually(timeout: 10) { try counter(node.httpPort, "uploader", "num_uploads_skipped") ?? 0 >= skipped + 3 })
            #expect(try counter(node.httpPort, "uploader", "num_uploads_ok") == 1)
            #expect(try statusCounter(node.httpPort, "num_uploads_skipped") ?? 0 >= skipped + 3)
            let status = try JSONValue.parse(HTTP.get(node.httpPort, "/status").body)["auto_backups"]
            guard case .string(let lastIndex)? = status?["last_index"] else { Issue.record("last_index is not a string"); return }
            #expect((UInt64(lastIndex) ?? 0) > 0)
            #expect(status?["upload_destination"] == .string("dir:\(dir)/store, file:db.sqlite"))
        }

        // A restart with nothing new: the stored index matches, counted as skipped_id; nothing uploaded.
        let node = try RaftliteProcess(dataDirectory: dir + "/data", nodeID: "1", extraArguments: ["-auto-backup", config])
        defer { node.stop() }
        #expect(node.waitUntilReady())
        #expect(eventually(timeout: 10) { try counter(node.httpPort, "uploader", "num_uploads_skipped_id") == 1 })
        #expect(try statusCounter(node.httpPort, "num_uploads_skipped_id") == 1)
        #expect(try counter(node.httpPort, "uploader", "num_uploads_ok") == 0)
        _ = try HTTP.post(node.httpPort, "/db/execute", json: #"["INSERT INTO t VALUES(2)"]"#)
        #expect(eventually(timeout: 10) { try counter(node.httpPort, "uploader", "num_uploads_ok") == 1 })

        // A destination that refuses every connection: failures are counted (and the stored index unreadable).
        let dead = try writeConfig(
            dir, "dead.json",
            #"{"version":1,"type":"s3","interval":"100ms","sub":{"access_key_id":"k","secret_access_key":"s","endpoint":"http://127.0.0.1:\#(freePort())","bucket":"b","path":"p"}}"#)
        let failing = try RaftliteProcess(dataDirectory: dir + "/failing", extraArguments: ["-auto-backup", dead])
        defer { failing.stop() }
        #expect(failing.waitUntilReady())
        _ = try HTTP.post(failing.httpPort, "/db/execute", json: #"["CREATE TABLE t (v)"]"#)
        #expect(eventually(timeout: 10) { try counter(failing.httpPort, "uploader", "num_uploads_fail") ?? 0 >= 2 })
        #expect(try counter(failing.httpPort, "uploader", "num_sum_get_fail") ?? 0 >= 2)
        #expect(try counter(failing.httpPort, "uploader", "num_uploads_ok") == 0)
        #expect(try statusCounter(failing.httpPort, "num_uploads_fail") ?? 0 >= 2)
    }

    /// `"vacuum": true` uploads a VACUUMed copy (the backup is taken from a read-only connection).
    @Test func vacuumedBackupsAreUploaded() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let config = try writeConfig(
            dir, "backup.json",
            #"{"version":1,"type":"file","interval":"100ms","no_compress":true,"vacuum":true,"sub":{"dir":"\#(dir)/store","name":"db.sqlite"}}"#)
        let node = try RaftliteProcess(dataDirectory: dir + "/data", extraArguments: ["-auto-backup", config])
        defer { node.stop() }
        #expect(node.waitUntilReady())
        _ = try HTTP.post(node.httpPort, "/db/execute", json: #"["CREATE TABLE t (v)", "INSERT INTO t VALUES('kept')"]"#)
        #expect(eventually(timeout: 10) { try counter(node.httpPort, "uploader", "num_uploads_ok") == 1 }, "\(node.log)")
        #expect(try counter(node.httpPort, "uploader", "num_uploads_fail") == 0)
        let header = try Data(contentsOf: URL(fileURLWithPath: dir + "/store/db.sqlite")).prefix(16)
        #expect(Array(header) == Array("SQLite format 3\0".utf8))
        let (status, output) = runProgram("/usr/bin/env", ["sqlite3", dir + "/store/db.sqlite", "SELECT v FROM t"])
        if status == 0 { #expect(output.contains("kept")) }
        // The same path serves GET /db/backup?vacuum.
        let backup = try HTTP.get(node.httpPort, "/db/backup?vacuum")
        #expect(backup.status == 200)
        #expect(Array(backup.body.prefix(16)) == Array("SQLite format 3\0".utf8))
    }

    @Test func emptyNodesRestoreAndNodesWithDataNeverDo() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Produce a backup with a node of its own.
        let backupConfig = try writeConfig(
            dir, "backup.json", #"{"version":1,"type":"file","interval":"200ms","sub":{"dir":"\#(dir)/store","name":"db.gz"}}"#)
        do {
            let source = try RaftliteProcess(dataDirectory: dir + "/source", nodeID: "s", extraArguments: ["-auto-backup", backupConfig])
            defer { source.stop() }
            #expect(source.waitUntilReady())
            _ = try HTTP.post(source.httpPort, "/db/execute", json: #"["CREATE TABLE t (v)", "INSERT INTO t VALUES(42)"]"#)
            #expect(eventually(timeout: 10) { try statusCounter(source.httpPort, "num_uploads_ok") == 1 })
        }
        let restoreConfig = try writeConfig(
            dir, "restore.json", #"{"version":1,"type":"file","timeout":"10s","sub":{"dir":"\#(dir)/store","name":"db.gz"}}"#)

        // A new 3-node cluster started in parallel: the first leader loads the backup through the log.
        let cluster = try RaftliteCluster(count: 3, bootstrapExpect: true, extraArguments: Self.fast + ["-auto-restore", restoreConfig])
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady(timeout: 40))
        #expect(eventually(timeout: 15) {
            try (0..<3).allSatisfy { try cluster.localQuery($0, "SELECT v FROM t") .contains("[[42]]") }
        }, "every node holds the restored data")
        // Every node downloaded the backup; the leader restored it, the others skipped (rqlite's counters).
        for i in 0..<3 {
            #expect(try counter(cluster.httpPorts[i], "downloader", "num_downloads_ok") == 1)
            #expect(try counter(cluster.httpPorts[i], "downloader", "download_bytes") ?? 0 > 0)
        }
        #expect(eventually(timeout: 10) {
            let restored = try (0..<3).map { try counter(cluster.httpPorts[$0], "store", "num_auto_restores") ?? -1 }
            let skipped = try (0..<3).map { try counter(cluster.httpPorts[$0], "store", "num_auto_restores_skipped") ?? -1 }
            return restored.sorted() == [0, 0, 1] && skipped.sorted() == [0, 1, 1] && zip(restored, skipped).allSatisfy { $0 + $1 == 1 }
        })

        // A node that has data never restores over it.
        let leader = try #require(cluster.leader())
        _ = try HTTP.post(cluster.httpPorts[leader], "/db/execute", json: #"["INSERT INTO t VALUES(43)"]"#)
        for i in 0..<3 { cluster.stop(i) }
        for i in 0..<3 { try cluster.start(i) }
        #expect(cluster.waitUntilReady(timeout: 40))
        #expect(eventually(timeout: 15) { try cluster.localQuery(0, "SELECT v FROM t ORDER BY v").contains("[[42],[43]]") })
        #expect(cluster.node(0).log.contains("data already exists, skipping"))
    }

    @Test func corruptOrMissingBackupsStopTheNodeWithAClearError() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/store", withIntermediateDirectories: true)
        try Data("not a database".utf8).write(to: URL(fileURLWithPath: dir + "/store/db.gz"))
        for name in ["db.gz", "missing.gz"] {
            let config = try writeConfig(
                dir, "restore-\(name).json", #"{"version":1,"type":"file","sub":{"dir":"\#(dir)/store","name":"\#(name)"}}"#)
            let data = dir + "/node-\(name)"
            let (status, output) = try runRaftlited([
                "-http-addr", "127.0.0.1:\(freePort())", "-raft-addr", "127.0.0.1:\(freePort())", "-auto-restore", config, data,
            ])
            #expect(status == 1, "\(name): \(output)")
            #expect(output.contains("auto-restore failed"), "\(name): \(output)")
            let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: data))?.filter { $0.hasPrefix("raftlite-restore") } ?? []
            #expect(leftovers.isEmpty, "no partial download left: \(leftovers)")
        }
    }

    /// A configuration file that is missing (rqlite's flag check), unreadable or invalid stops the start,
    /// naming the file: a node told to back up (or restore) never runs without doing so.
    @Test func unusableConfigFilesStopTheStart() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let invalid = try writeConfig(dir, "invalid.json", #"{"version":1,"type":"file","sub":{"dir":"\#(dir)/store","name":"db"}}"#)
        let cases: [(flag: String, path: String, message: String)] = [
            ("-auto-backup", dir + "/missing.json", "\(dir)/missing.json does not exist"),
            ("-auto-restore", dir + "/missing.json", "\(dir)/missing.json does not exist"),
            ("-auto-restore", dir, "failed to read auto-restore file \(dir)"),
            ("-auto-backup", dir, "failed to read auto-backup file \(dir)"),
            ("-auto-backup", invalid, "auto-backup file \(invalid): interval must be set"),
        ]
        for (i, c) in cases.enumerated() {
            let data = dir + "/node\(i)"
            let (status, output) = try runRaftlited([
                "-http-addr", "127.0.0.1:\(freePort())", "-raft-addr", "127.0.0.1:\(freePort())", c.flag, c.path, data,
            ])
            #expect(status == 1, "\(c.flag) \(c.path): \(output)")
            #expect(output.contains(c.message), "\(c.flag) \(c.path): \(output)")
        }
    }

    @Test func s3RoundTripThroughAnS3CompatibleServer() throws {
        guard runProgram("/usr/bin/env", ["python3", "-c", "import moto"]).status == 0 else {
            Issue.record("moto is not installed (pip install moto[server]); scripts/setup installs it")
            return
        }
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = freePort()
        let moto = Process()
        moto.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        moto.arguments = ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)]
        moto.standardOutput = FileHandle.nullDevice
        moto.standardError = FileHandle.nullDevice
        try moto.run()
        defer {
            // moto's server does not always exit on SIGTERM: bounded wait, then SIGKILL.
            kill(moto.processIdentifier, SIGTERM)
            if !eventually(timeout: 5, { !moto.isRunning }) { kill(moto.processIdentifier, SIGKILL) }
            moto.waitUntilExit()
        }
        #expect(eventually(timeout: 20) { (try? HTTP.get(port, "/")) != nil })
        // Create the bucket (moto accepts unsigned requests).
        #expect(try HTTP.request(port, "PUT", "/backups").status == 200)
        let s3 = #""sub":{"access_key_id":"test","secret_access_key":"test","endpoint":"http://127.0.0.1:\#(port)","region":"us-east-1","bucket":"backups","path":"raftlite/db.sqlite.gz","force_path_style":true}"#
        let backupConfig = try writeConfig(dir, "b.json", #"{"version":1,"type":"s3","interval":"200ms",\#(s3)}"#)
        let restoreConfig = try writeConfig(dir, "r.json", #"{"version":1,"type":"s3","timeout":"10s",\#(s3)}"#)
        do {
            let source = try RaftliteProcess(dataDirectory: dir + "/source", nodeID: "s", extraArguments: ["-auto-backup", backupConfig])
            defer { source.stop() }
            #expect(source.waitUntilReady())
            _ = try HTTP.post(source.httpPort, "/db/execute", json: #"["CREATE TABLE t (v)", "INSERT INTO t VALUES('from s3')"]"#)
            #expect(eventually(timeout: 15) { try statusCounter(source.httpPort, "num_uploads_ok") == 1 }, "\(source.log)")
        }
        let restored = try RaftliteProcess(dataDirectory: dir + "/restored", nodeID: "r", extraArguments: ["-auto-restore", restoreConfig])
        defer { restored.stop() }
        #expect(restored.waitUntilReady(), "\(restored.log)")
        #expect(eventually(timeout: 10) {
            try HTTP.get(restored.httpPort, "/db/query?q=SELECT%20v%20FROM%20t").text.contains("from s3")
        })
    }
}
