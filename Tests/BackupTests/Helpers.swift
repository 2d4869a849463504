import Backup
import Foundation
import SQLiteDB
import TestSupport

/// A fresh directory under the system temp dir.
func scratchDirectory() -> String { makeTemporaryDirectory("raftlite-backup-test") }

/// A valid SQLite database at `path` holding one row with `value`.
func makeDatabase(_ path: String, value: String) throws {
    let c = try Connection.open(path: path)
    try c.run("CREATE TABLE t (v TEXT)")
    try c.run("INSERT INTO t VALUES ('\(value)')")
    c.close()
}

/// The single value stored by `makeDatabase`.
func readValue(_ path: String) throws -> String? {
    let c = try Connection.open(path: path, mode: .readOnly)
    defer { c.close() }
    guard case .text(let v)? = try c.rawQuery("SELECT v FROM t").first?.first else { return nil }
    return v
}

func contents(_ dir: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
}

/// A node stand-in: leadership and DB index the test sets; backups are copies of a database file.
final class FakeNode: @unchecked Sendable {
    private let lock = NSLock()
    private var _leader = true
    private var _index: UInt64 = 0
    private var _backups = 0
    private var _vacuumRequests = 0
    let database: String
    let scratch: String

    init(database: String, scratch: String) {
        self.database = database
        self.scratch = scratch
    }

    var leader: Bool {
        get { lock.withLock { _leader } }
        set { lock.withLock { _leader = newValue } }
    }
    var index: UInt64 {
        get { lock.withLock { _index } }
        set { lock.withLock { _index = newValue } }
    }
    var backupsMade: Int { lock.withLock { _backups } }
    var vacuumRequests: Int { lock.withLock { _vacuumRequests } }

    var hooks: AutoBackupHooks {
        AutoBackupHooks(
            isLeader: { self.leader }, dbIndex: { self.index },
            makeBackup: { vacuum in
                let path = self.scratch + "/backup-\(UUID().uuidString).sqlite"
                try FileManager.default.copyItem(atPath: self.database, toPath: path)
                self.lock.withLock {
                    self._backups += 1
                    if vacuum { self._vacuumRequests += 1 }
                }
                return path
            })
    }
}

/// Records every call; keeps the uploaded bytes in memory.
final class RecordingStorage: BackupStorage, @unchecked Sendable {
    private let lock = NSLock()
    private var _calls: [String] = []
    private var _id: String?
    private var _data: Data?
    var failPuts = false
    var failIDReads = false

    var calls: [String] { lock.withLock { _calls } }
    var data: Data? { lock.withLock { _data } }
    var storedID: String? {
        get { lock.withLock { _id } }
        set { lock.withLock { _id = newValue } }
    }

    var destination: String { "memory://backup" }

    func put(file: String, id: String) throws {
        let fail = lock.withLock {
            _calls.append("put \(id)")
            return failPuts
        }
        if fail { throw StorageError("injected failure") }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        lock.withLock {
            _id = id
            _data = bytes
        }
    }

    func currentID() throws -> String? {
        let (id, fail) = lock.withLock {
            _calls.append("currentID")
            return (_id, failIDReads)
        }
        if fail { throw StorageError("injected id read failure") }
        return id
    }

    func download(to path: String, timeout: Double) throws {
        let bytes = lock.withLock {
            _calls.append("download")
            return _data
        }
        guard let bytes else { throw StorageError("no backup") }
        try bytes.write(to: URL(fileURLWithPath: path))
    }
}

/// Removes a database file and any WAL companions a reader left.
func removeDatabase(_ path: String) {
    for p in [path, path + "-wal", path + "-shm"] { try? FileManager.default.removeItem(atPath: p) }
}
