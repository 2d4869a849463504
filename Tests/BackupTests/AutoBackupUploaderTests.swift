import Backup
import Foundation
import JSON
import Testing
import TestSupport

@Suite struct AutoBackupUploaderTests {
    func setup(noCompress: Bool = false, vacuum: Bool = false) throws -> (String, FakeNode, AutoBackupConfig) {
        let dir = scratchDirectory()
        try makeDatabase(dir + "/db.sqlite", value: "one")
        let node = FakeNode(database: dir + "/db.sqlite", scratch: dir)
        let config = AutoBackupConfig(
            storage: .file(FileConfig(dir: dir + "/unused", name: "x")), interval: 3600, noCompress: noCompress,
            vacuum: vacuum)
        return (dir, node, config)
    }

    @Test func uploadsOnlyWhenLeaderAndChanged() throws {
        let (dir, node, config) = try setup()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let storage = RecordingStorage()
        let uploader = AutoBackupUploader(config: config, hooks: node.hooks, storage: storage, scratchDirectory: dir)

        node.index = 0
        #expect(uploader.tick() == .skippedUnchanged)  // an empty, never-written database is never uploaded
        node.index = 5
        node.leader = false
        #expect(uploader.tick() == .notLeader)
        #expect(storage.calls.isEmpty)
        node.leader = true
        #expect(uploader.tick() == .uploaded(index: 5))
        #expect(storage.calls == ["currentID", "put 5"])
        #expect(uploader.tick() == .skippedUnchanged)
        #expect(storage.calls == ["currentID", "put 5"])
        node.index = 7
        #expect(uploader.tick() == .uploaded(index: 7))
        #expect(storage.calls == ["currentID", "put 5", "put 7"])  // the stored id is read once, not per upload
        #expect(uploader.counters == .init(ok: 2, failed: 0, skipped: 2, skippedID: 0))
        #expect(node.backupsMade == 2)
        // Temp files (backup copies and their gzip) are gone; only the source database remains.
        #expect(contents(dir).filter { $0.hasPrefix("backup-") || $0.hasSuffix(".gz") }.isEmpty)

        // Compressed by default: the stored bytes are gzip of a SQLite file.
        let stored = try #require(storage.data)
        #expect(Array(stored.prefix(3)) == [0x1f, 0x8b, 0x08])
        try stored.write(to: URL(fileURLWithPath: dir + "/stored.gz"))
        try Gzip.decompress(dir + "/stored.gz", to: dir + "/stored.sqlite")
        #expect(try readValue(dir + "/stored.sqlite") == "one")
    }

    @Test func newInstanceWithSameIndexUploadsNothing() throws {
        let (dir, node, config) = try setup()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let storage = RecordingStorage()
        node.index = 9
        let first = AutoBackupUploader(config: config, hooks: node.hooks, storage: storage, scratchDirectory: dir)
        #expect(first.tick() == .uploaded(index: 9))
        // A restart, or another node becoming leader: no memory of the upload, but the storage has the id.
        let second = AutoBackupUploader(config: config, hooks: node.hooks, storage: storage, scratchDirectory: dir)
        #expect(second.tick() == .skippedSameID)
        #expect(second.tick() == .skippedUnchanged)
        #expect(storage.calls == ["currentID", "put 9", "currentID"])
        #expect(second.counters == .init(ok: 0, failed: 0, skipped: 1, skippedID: 1))
        node.index = 10
        #expect(second.tick() == .uploaded(index: 10))
    }

    @Test func regainingLeadershipRereadsTheStoredID() throws {
        let (dir, node, config) = try setup()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let storage = RecordingStorage()
        node.index = 3
        let uploader = AutoBackupUploader(config: config, hooks: node.hooks, storage: storage, scratchDirectory: dir)
        #expect(uploader.tick() == .uploaded(index: 3))
        node.leader = false
        #expect(uploader.tick() == .notLeader)
        // Meanwhile another leader uploaded index 8.
        storage.storedID = "8"
        node.index = 8
        node.leader = true
        #expect(uploader.tick() == .skippedSameID)
        #expect(storage.calls == ["currentID", "put 3", "currentID"])
    }

    @Test func failuresAreCountedAndRetried() throws {
        let (dir, node, config) = try setup(noCompress: true, vacuum: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let storage = RecordingStorage()
        storage.failPuts = true
        node.index = 4
        let uploader = AutoBackupUploader(config: config, hooks: node.hooks, storage: storage, scratchDirectory: dir)
        guard case .failed(let why) = uploader.tick() else { Issue.record("expected a failure"); return }
        #expect(why.contains("injected failure"))
        storage.failPuts = false
        #expect(uploader.tick() == .uploaded(index: 4))
        #expect(uploader.counters == .init(ok: 1, failed: 1, skipped: 0, skippedID: 0))
        #expect(node.vacuumRequests == 2)
        // no_compress: the raw SQLite file.
        #expect(Array(try #require(storage.data).prefix(15)) == Array("SQLite format 3".utf8))
    }

    @Test func statusJSON() throws {
        let (dir, node, config) = try setup()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let uploader = AutoBackupUploader(
            config: config, hooks: node.hooks, storage: RecordingStorage(), scratchDirectory: dir)
        let before = uploader.statusJSON()
        #expect(before["upload_destination"] == .string("memory://backup"))
        #expect(before["upload_interval"] == .string("1h0m0s"))
        // rqlite's formats: Go's zero time and duration before any upload, the index as a decimal string.
        #expect(before["last_upload_time"] == .string("0001-01-01T00:00:00Z"))
        #expect(before["last_upload_duration"] == .string("0s"))
        #expect(before["last_index"] == .string("0"))
        #expect(before["num_uploads_ok"] == .integer(0))
        node.index = 12
        uploader.tick()
        uploader.tick()
        let after = uploader.statusJSON()
        #expect(after["last_index"] == .string("12"))
        #expect(after["num_uploads_ok"] == .integer(1))
        #expect(after["num_uploads_skipped"] == .integer(1))
        #expect(after["num_uploads_fail"] == .integer(0))
        #expect(after["num_uploads_skipped_id"] == .integer(0))
        guard case .string(let time)? = after["last_upload_time"] else { Issue.record("no last_upload_time"); return }
        #expect(time.count == 20 && time.hasSuffix("Z"))
        guard case .string(let duration)? = after["last_upload_duration"] else { Issue.record("no duration"); return }
        #expect(duration.hasSuffix("s"))
    }

    @Test func expvarCountersUseRqliteNames() throws {
        let (dir, node, config) = try setup(noCompress: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let names = [
            "num_uploads_ok", "num_uploads_fail", "num_uploads_skipped", "num_uploads_skipped_id", "num_sum_get_fail",
            "total_upload_bytes", "last_upload_bytes",
        ]
        // No uploader (auto-backup off): the same keys, all zero, as rqlite's always-registered map.
        guard case .object(let off) = AutoBackupUploader.expvarJSON(nil) else { Issue.record("not an object"); return }
        #expect(off.map(\.0) == names)
        #expect(off.allSatisfy { $0.1 == .integer(0) })

        let storage = RecordingStorage()
        storage.failIDReads = true
        let uploader = AutoBackupUploader(config: config, hooks: node.hooks, storage: storage, scratchDirectory: dir)
        node.index = 3
        #expect(uploader.tick() == .uploaded(index: 3))  // a failed id read does not stop the upload
        #expect(uploader.tick() == .skippedUnchanged)
        storage.failPuts = true
        node.index = 4
        _ = uploader.tick()
        let vars = AutoBackupUploader.expvarJSON(uploader)
        let size = Int64(try #require(storage.data).count)
        #expect(size > 0)
        #expect(vars["num_uploads_ok"] == .integer(1))
        #expect(vars["num_uploads_fail"] == .integer(1))
        #expect(vars["num_uploads_skipped"] == .integer(1))
        #expect(vars["num_uploads_skipped_id"] == .integer(0))
        #expect(vars["num_sum_get_fail"] == .integer(1))
        #expect(vars["total_upload_bytes"] == .integer(size))
        #expect(vars["last_upload_bytes"] == .integer(size))
    }

    @Test func schedulerTicksAndStops() throws {
        let (dir, node, base) = try setup()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = base
        config.interval = 0.05
        let storage = RecordingStorage()
        node.index = 2
        let uploader = AutoBackupUploader(config: config, hooks: node.hooks, storage: storage, scratchDirectory: dir)
        uploader.start()
        #expect(eventually(timeout: 10) { storage.calls.contains("put 2") })
        node.index = 3
        #expect(eventually(timeout: 10) { storage.calls.contains("put 3") })
        #expect(eventually(timeout: 10) { uploader.counters.skipped >= 2 })
        uploader.stop()
        let frozen = storage.calls
        let skipped = uploader.counters.skipped
        node.index = 4
        // After stop() returns, no tick runs: give the former ticker several intervals to prove it.
        #expect(!eventually(timeout: 0.5) { uploader.counters.skipped != skipped || storage.calls != frozen })
        uploader.stop()  // idempotent
    }
}

@Suite struct FileBackupStorageTests {
    @Test func roundTripWithMetadata() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeDatabase(dir + "/db.sqlite", value: "alpha")
        let storage = FileStorage(config: FileConfig(dir: dir + "/backups", name: "db.sqlite"))
        try FileManager.default.createDirectory(atPath: dir + "/backups", withIntermediateDirectories: true)
        #expect(try storage.currentID() == nil)
        try storage.put(file: dir + "/db.sqlite", id: "42")
        #expect(try storage.currentID() == "42")
        let meta = try JSONValue.parse([UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/backups/METADATA.json"))))
        #expect(meta["id"] == .string("42"))
        #expect(meta["name"] == .string(dir + "/backups/db.sqlite"))
        guard case .integer(let ms)? = meta["timestamp"] else { Issue.record("timestamp"); return }
        #expect(abs(Double(ms) / 1000 - Date().timeIntervalSince1970) < 60)
        #expect(contents(dir + "/backups") == ["METADATA.json", "db.sqlite"])  // no temp files left
        try storage.download(to: dir + "/copy.sqlite", timeout: 5)
        #expect(try readValue(dir + "/copy.sqlite") == "alpha")
        #expect(storage.destination == "dir:\(dir)/backups, file:db.sqlite")  // rqlite's form
    }

    @Test func timestampedNamesAndLatestDownload() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeDatabase(dir + "/a.sqlite", value: "a")
        try makeDatabase(dir + "/b.sqlite", value: "b")
        let clock = Clock(Date(timeIntervalSince1970: 1_767_268_800))
        let storage = FileStorage(
            config: FileConfig(dir: dir + "/b", name: "db.sqlite"), timestamp: true, now: { clock.now })
        try storage.put(file: dir + "/a.sqlite", id: "1")
        clock.now = Date(timeIntervalSince1970: 1_767_268_801)
        try storage.put(file: dir + "/b.sqlite", id: "2")
        #expect(
            contents(dir + "/b") == ["20260101120000_db.sqlite", "20260101120001_db.sqlite", "METADATA.json"])
        #expect(try storage.currentID() == "2")
        try storage.download(to: dir + "/latest.sqlite", timeout: 5)
        #expect(try readValue(dir + "/latest.sqlite") == "b")
    }

    @Test func corruptMetadataIsAnError() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = FileManager.default.createFile(atPath: dir + "/METADATA.json", contents: Data("{oops".utf8))
        let storage = FileStorage(config: FileConfig(dir: dir, name: "db"))
        #expect(throws: StorageError.self) { try storage.currentID() }
    }

    @Test func gzipRoundTripOfALargeFile() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var bytes = [UInt8](repeating: 0, count: 3 << 20)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: (i * 7919) >> 5) }
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/in"))
        try Gzip.compress(dir + "/in", to: dir + "/in.gz")
        #expect(Gzip.isGzipFile(dir + "/in.gz"))
        #expect(!Gzip.isGzipFile(dir + "/in"))
        try Gzip.decompress(dir + "/in.gz", to: dir + "/out")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/out")) == Data(bytes))
        // Truncated input is an error, not a short file silently accepted.
        let gz = try Data(contentsOf: URL(fileURLWithPath: dir + "/in.gz"))
        try gz.prefix(gz.count / 2).write(to: URL(fileURLWithPath: dir + "/half.gz"))
        #expect(throws: StorageError.self) { try Gzip.decompress(dir + "/half.gz", to: dir + "/half") }
    }
}

final class Clock: @unchecked Sendable {
    private let lock = NSLock()
    private var _now: Date
    init(_ now: Date) { _now = now }
    var now: Date {
        get { lock.withLock { _now } }
        set { lock.withLock { _now = newValue } }
    }
}

@Suite struct AutoRestoreTests {
    let fileConfig = AutoRestoreConfig(storage: .file(FileConfig(dir: "/nonexistent", name: "x")))

    @Test func existingDataOrJoiningNeverTouchesStorage() throws {
        let storage = RecordingStorage()
        let messages = Messages()
        #expect(
            try AutoRestore.downloadIfNeeded(
                fileConfig, hasExistingData: true, isJoining: false, storage: storage, log: { messages.append($0) }) == nil)
        #expect(
            try AutoRestore.downloadIfNeeded(
                fileConfig, hasExistingData: false, isJoining: true, storage: storage, log: { messages.append($0) }) == nil)
        #expect(storage.calls.isEmpty)
        #expect(messages.all.first?.contains("data already exists, skipping") == true)
    }

    @Test func restoresGzippedAndPlainBackups() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeDatabase(dir + "/db.sqlite", value: "restored")
        try Gzip.compress(dir + "/db.sqlite", to: dir + "/db.gz")
        for source in ["db.gz", "db.sqlite"] {
            let storage = RecordingStorage()
            try storage.put(file: dir + "/" + source, id: "1")
            let out = try #require(
                try AutoRestore.downloadIfNeeded(
                    fileConfig, hasExistingData: false, isJoining: false, storage: storage,
                    temporaryDirectory: dir + "/"))
            // Only the returned file: no WAL companions left by the validity check (the source is WAL-mode).
            #expect(!FileManager.default.fileExists(atPath: out + "-wal"))
            #expect(!FileManager.default.fileExists(atPath: out + "-shm"))
            #expect(try readValue(out) == "restored")
            #expect(storage.calls.last == "download")
            removeDatabase(out)
        }
    }

    @Test func corruptBackupsThrowAndLeaveNoFile() throws {
        let dir = scratchDirectory()
        let tmp = dir + "/tmp"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let garbageGzip = [0x1f, 0x8b, 0x08] + [UInt8](repeating: 0x41, count: 100)
        try Data(garbageGzip).write(to: URL(fileURLWithPath: dir + "/bad.gz"))
        try Data("not a database at all".utf8).write(to: URL(fileURLWithPath: dir + "/bad.txt"))
        try makeDatabase(dir + "/db.sqlite", value: "x")
        try Gzip.compress(dir + "/db.sqlite", to: dir + "/good.gz")
        let good = try Data(contentsOf: URL(fileURLWithPath: dir + "/good.gz"))
        try good.prefix(good.count - 12).write(to: URL(fileURLWithPath: dir + "/truncated.gz"))
        for (file, expected) in [
            ("bad.gz", "gzip data is corrupt"), ("bad.txt", "not a valid SQLite database"),
            ("truncated.gz", "truncated"),
        ] {
            let storage = RecordingStorage()
            try storage.put(file: dir + "/" + file, id: "1")
            do {
                _ = try AutoRestore.downloadIfNeeded(
                    fileConfig, hasExistingData: false, isJoining: false, storage: storage, temporaryDirectory: tmp)
                Issue.record("\(file) restored")
            } catch {
                #expect("\(error)".contains(expected), "\(file): \(error)")
            }
            #expect(contents(tmp).isEmpty, "\(file) left \(contents(tmp))")
        }
        // Nothing stored at all.
        #expect(throws: StorageError.self) {
            try AutoRestore.downloadIfNeeded(
                fileConfig, hasExistingData: false, isJoining: false, storage: RecordingStorage(),
                temporaryDirectory: tmp)
        }
        #expect(contents(tmp).isEmpty)
    }

    @Test func restoresFromFileStorageConfig() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeDatabase(dir + "/db.sqlite", value: "from-file")
        try Gzip.compress(dir + "/db.sqlite", to: dir + "/backup.gz")
        let config = AutoRestoreConfig(storage: .file(FileConfig(dir: dir, name: "backup.gz")), timeout: 10)
        let out = try #require(try AutoRestore.downloadIfNeeded(config, hasExistingData: false, isJoining: false))
        defer { removeDatabase(out) }
        #expect(try readValue(out) == "from-file")
        let missing = AutoRestoreConfig(storage: .file(FileConfig(dir: dir, name: "nope.gz")))
        #expect(throws: StorageError.self) {
            try AutoRestore.downloadIfNeeded(missing, hasExistingData: false, isJoining: false)
        }
    }
}

final class Messages: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    var all: [String] { lock.withLock { items } }
    func append(_ s: String) { lock.withLock { items.append(s) } }
}
