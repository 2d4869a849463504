import Backup
import Foundation
import Synchronization
import Testing
import TestSupport

/// moto's S3 server on 127.0.0.1, one per test, stopped by its PID.
final class MotoServer {
    let process = Process()
    let port: Int
    let logPath: String

    static var available: Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import moto.server"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0
    }

    init() throws {
        port = freePort()
        logPath = NSTemporaryDirectory() + "raftlite-moto-\(port).log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = FileHandle(forWritingAtPath: logPath)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)]
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let ready = eventually(timeout: 60, interval: 0.1) {
            guard process.isRunning else { return false }
            let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(s) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            return withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
        }
        guard ready else {
            stop()
            throw StorageError("moto did not start: \((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")")
        }
    }

    var endpoint: String { "http://127.0.0.1:\(port)" }

    func config(bucket: String = "backups", path: String = "raftlite/db.sqlite.gz") -> S3Config {
        S3Config(
            accessKeyID: "testing", secretAccessKey: "testing", endpoint: endpoint, region: "us-east-1",
            bucket: bucket, path: path, forcePathStyle: true)
    }

    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            if !eventually(timeout: 10, { !process.isRunning }) { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: logPath)
    }

    deinit { if process.isRunning { stop() } }
}

@Suite(.serialized, .enabled(if: MotoServer.available, "moto is not installed (pip install 'moto[server]')"))
struct S3ClientTests {
    @Test func uploadSkipRestartChangeAndRestore() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s3 = moto.config()
        try S3Client(config: s3).createBucket()

        let storage = S3Storage(config: s3)
        #expect(try storage.currentID() == nil)
        try makeDatabase(dir + "/db.sqlite", value: "first")
        let node = FakeNode(database: dir + "/db.sqlite", scratch: dir)
        node.index = 17
        let config = AutoBackupConfig(storage: .s3(s3), interval: 3600)
        let uploader = AutoBackupUploader(config: config, hooks: node.hooks, scratchDirectory: dir)
        #expect(uploader.tick() == .uploaded(index: 17))
        #expect(try storage.currentID() == "17")
        // Not AWS: rqlite names the object by its endpoint.
        #expect(uploader.statusJSON()["upload_destination"] == .string("\(s3.endpoint)/backups/raftlite/db.sqlite.gz"))

        // A second tick with no change uploads nothing.
        #expect(uploader.tick() == .skippedUnchanged)
        // A new uploader (restart, or a new leader) with the same index reads the stored id, uploads nothing.
        let restarted = AutoBackupUploader(config: config, hooks: node.hooks, scratchDirectory: dir)
        #expect(restarted.tick() == .skippedSameID)
        #expect(node.backupsMade == 1)

        // A change uploads again, and a restore brings back the new contents.
        try FileManager.default.removeItem(atPath: dir + "/db.sqlite")
        try makeDatabase(dir + "/db.sqlite", value: "second")
        node.index = 18
        #expect(restarted.tick() == .uploaded(index: 18))
        #expect(try storage.currentID() == "18")
        #expect(node.backupsMade == 2)

        let restoreDir = dir + "/restore"
        try FileManager.default.createDirectory(atPath: restoreDir, withIntermediateDirectories: true)
        let restored = try #require(
            try AutoRestore.downloadIfNeeded(
                AutoRestoreConfig(storage: .s3(s3), timeout: 30), hasExistingData: false, isJoining: false,
                temporaryDirectory: restoreDir))
        #expect(contents(restoreDir) == [(restored as NSString).lastPathComponent])  // one file, nothing else
        #expect(try readValue(restored) == "second")
        removeDatabase(restored)

        // Uncompressed uploads restore too.
        let raw = AutoBackupUploader(
            config: AutoBackupConfig(storage: .s3(s3), interval: 3600, noCompress: true), hooks: node.hooks,
            scratchDirectory: dir)
        node.index = 19
        #expect(raw.tick() == .uploaded(index: 19))
        let plain = try #require(
            try AutoRestore.downloadIfNeeded(
                AutoRestoreConfig(storage: .s3(s3)), hasExistingData: false, isJoining: false,
                temporaryDirectory: restoreDir))
        #expect(contents(restoreDir) == [(plain as NSString).lastPathComponent])
        #expect(try readValue(plain) == "second")
        removeDatabase(plain)
        #expect(contents(restoreDir).isEmpty)
    }

    @Test func endpointFromTheEnvironmentWithoutPathStyle() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // As a file that names no endpoint, run with AWS_ENDPOINT_URL set: an IP endpoint, so path style.
        var s3 = moto.config(bucket: "env-bucket")
        s3.environmentEndpoint = s3.endpoint
        s3.endpoint = ""
        s3.forcePathStyle = false
        try S3Client(config: s3).createBucket()
        try makeDatabase(dir + "/db.sqlite", value: "via env")
        let storage = S3Storage(config: s3)
        try storage.put(file: dir + "/db.sqlite", id: "7")
        #expect(try storage.currentID() == "7")
        #expect(storage.destination == "s3://env-bucket/raftlite/db.sqlite.gz")
        let size = Int64(try Data(contentsOf: URL(fileURLWithPath: dir + "/db.sqlite")).count)
        let reported = Mutex<[Int64?]>([])
        let restored = try #require(
            try AutoRestore.downloadIfNeeded(
                AutoRestoreConfig(storage: .s3(s3)), hasExistingData: false, isJoining: false, temporaryDirectory: dir,
                downloaded: { bytes in reported.withLock { $0.append(bytes) } }))
        #expect(try readValue(restored) == "via env")
        #expect(reported.withLock { $0 } == [size])
        removeDatabase(restored)
        // A missing object: the download itself failed.
        var missing = s3
        missing.path = "nothing/here"
        #expect(throws: StorageError.self) {
            try AutoRestore.downloadIfNeeded(
                AutoRestoreConfig(storage: .s3(missing)), hasExistingData: false, isJoining: false, temporaryDirectory: dir,
                downloaded: { bytes in reported.withLock { $0.append(bytes) } })
        }
        #expect(reported.withLock { $0 } == [size, nil])
    }

    @Test func timestampedKeysUseTheCurrentTime() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s3 = moto.config(path: "backups/db.sqlite.gz")
        let client = S3Client(config: s3)
        try client.createBucket()
        try makeDatabase(dir + "/db.sqlite", value: "v")
        let clock = Clock(Date(timeIntervalSince1970: 1_767_268_800))
        let storage = S3Storage(config: s3, timestamp: true, now: { clock.now })
        try storage.put(file: dir + "/db.sqlite", id: "5")
        clock.now = Date(timeIntervalSince1970: 1_767_268_800 + 61)
        try storage.put(file: dir + "/db.sqlite", id: "6")
        let first = try #require(try client.headObject(key: "backups/20260101120000_db.sqlite.gz"))
        #expect(first["x-amz-meta-x-rqlite-auto-backup-id"] == "5")
        let second = try #require(try client.headObject(key: "backups/20260101120101_db.sqlite.gz"))
        #expect(second["x-amz-meta-x-rqlite-auto-backup-id"] == "6")
        #expect(try client.headObject(key: "backups/db.sqlite.gz") == nil)

        // Through the uploader with the real clock: the key carries the time of the upload.
        let node = FakeNode(database: dir + "/db.sqlite", scratch: dir)
        node.index = 7
        let before = Date()
        let uploader = AutoBackupUploader(
            config: AutoBackupConfig(storage: .s3(s3), interval: 3600, timestamp: true), hooks: node.hooks,
            scratchDirectory: dir)
        #expect(uploader.tick() == .uploaded(index: 7))
        let after = Date()
        let candidates = Set([before, after].map { timestampedKey("backups/db.sqlite.gz", at: $0) })
        let found = try candidates.filter { try client.headObject(key: $0) != nil }
        #expect(found.count == 1, "none of \(candidates) exists")
    }

    @Test func corruptOrMissingObjectsFailRestoreCleanly() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tmp = dir + "/tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let s3 = moto.config(path: "db.gz")
        let client = S3Client(config: s3)
        try client.createBucket()
        let restore = AutoRestoreConfig(storage: .s3(s3), timeout: 30)

        do {
            _ = try AutoRestore.downloadIfNeeded(
                restore, hasExistingData: false, isJoining: false, temporaryDirectory: tmp)
            Issue.record("restored a missing object")
        } catch {
            #expect("\(error)".contains("does not exist"), "\(error)")
        }
        #expect(contents(tmp).isEmpty)

        try Data([0x1f, 0x8b, 0x08] + [UInt8](repeating: 0x55, count: 500)).write(
            to: URL(fileURLWithPath: dir + "/garbage.gz"))
        try Data("SQLite format 3 but not really".utf8).write(to: URL(fileURLWithPath: dir + "/garbage.db"))
        for (file, expected) in [("garbage.gz", "gzip data is corrupt"), ("garbage.db", "not a valid SQLite")] {
            try client.putObject(key: "db.gz", file: dir + "/" + file, metadata: [])
            do {
                _ = try AutoRestore.downloadIfNeeded(
                    restore, hasExistingData: false, isJoining: false, temporaryDirectory: tmp)
                Issue.record("restored \(file)")
            } catch {
                #expect("\(error)".contains(expected), "\(file): \(error)")
            }
            #expect(contents(tmp).isEmpty)
        }

        // With existing data, the (corrupt) object is never fetched: a server that is gone proves it.
        moto.stop()
        #expect(
            try AutoRestore.downloadIfNeeded(restore, hasExistingData: true, isJoining: false, temporaryDirectory: tmp)
                == nil)
    }

    @Test func missingBucketIsReported() throws {
        let moto = try MotoServer()
        defer { moto.stop() }
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var s3 = moto.config()
        try S3Client(config: s3).createBucket()
        s3.bucket = "no-such-bucket"
        try makeDatabase(dir + "/db.sqlite", value: "v")
        #expect {
            try S3Storage(config: s3).put(file: dir + "/db.sqlite", id: "1")
        } throws: { error in
            "\(error)".contains("HTTP 404") && "\(error)".contains("NoSuchBucket")
        }
    }
}
