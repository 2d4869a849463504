import Common
import Foundation
import JSON

/// What the uploader needs from the node.
public struct AutoBackupHooks: Sendable {
    /// Whether this node is the Raft leader now.
    public var isLeader: @Sendable () -> Bool
    /// The Raft index of the last log entry that changed the database.
    public var dbIndex: @Sendable () -> UInt64
    /// Writes a consistent binary SQLite backup (VACUUMed when asked) to a new temp file and returns its
    /// path; the uploader deletes the file.
    public var makeBackup: @Sendable (_ vacuum: Bool) throws -> String

    public init(
        isLeader: @escaping @Sendable () -> Bool, dbIndex: @escaping @Sendable () -> UInt64,
        makeBackup: @escaping @Sendable (_ vacuum: Bool) throws -> String
    ) {
        self.isLeader = isLeader
        self.dbIndex = dbIndex
        self.makeBackup = makeBackup
    }
}

/// Periodic upload of the database to the configured storage, by the leader only, and only when the
/// database changed since the last upload — by this process, or (read back from the storage after start
/// and after each gain of leadership) by any process.
public final class AutoBackupUploader: @unchecked Sendable {
    public enum TickOutcome: Sendable, Equatable {
        case notLeader
        /// The database index is not past the last upload's.
        case skippedUnchanged
        /// The storage already holds a backup of this index.
        case skippedSameID
        case uploaded(index: UInt64)
        case failed(String)
    }

    public let config: AutoBackupConfig
    public let storage: BackupStorage
    private let hooks: AutoBackupHooks
    private let log: @Sendable (String) -> Void
    private let scratchDirectory: String

    private let lock = NSLock()  // guards the state below
    private var lastUploadedIndex: UInt64 = 0
    private var mustCheckStoredID = true
    private var lastUploadTime: Date?
    private var lastUploadDuration: Double = 0
    private var uploadsOK: Int64 = 0
    private var uploadsFailed: Int64 = 0
    private var uploadsSkipped: Int64 = 0
    private var uploadsSkippedID: Int64 = 0
    private var idReadFailures: Int64 = 0
    private var totalUploadBytes: Int64 = 0
    private var lastUploadBytes: Int64 = 0

    private let tickLock = NSLock()  // one tick at a time
    private let wake = NSCondition()  // guards `stopping`, `thread`
    private var stopping = false
    private var running = false
    private let finished = DispatchSemaphore(value: 0)

    /// `storage` defaults to the one `config` names; `scratchDirectory` holds the compressed copy.
    public init(
        config: AutoBackupConfig, hooks: AutoBackupHooks, storage: BackupStorage? = nil,
        scratchDirectory: String = NSTemporaryDirectory(), log: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.config = config
        self.hooks = hooks
        self.storage = storage ?? makeStorage(config.storage, timestamp: config.timestamp)
        self.scratchDirectory = scratchDirectory
        self.log = log
    }

    /// Starts ticking every `config.interval` on a thread of its own (the first tick after one interval).
    public func start() {
        wake.lock()
        defer { wake.unlock() }
        guard !running, !stopping else { return }
        running = true
        let thread = Thread { [self] in
            run()
            finished.signal()
        }
        thread.name = "auto-backup"
        thread.start()
    }

    /// Stops the ticker and waits for an upload in progress to end. Idempotent.
    public func stop() {
        wake.lock()
        let wasRunning = running && !stopping
        stopping = true
        wake.broadcast()
        wake.unlock()
        if wasRunning { finished.wait() }
    }

    private func run() {
        while true {
            wake.lock()
            let deadline = Date().addingTimeInterval(config.interval)
            while !stopping, Date() < deadline { _ = wake.wait(until: deadline) }
            let stop = stopping
            wake.unlock()
            if stop { return }
            let outcome = tick()
            if case .failed(let why) = outcome { log("auto-backup: upload failed: \(why)") }
        }
    }

    /// One scheduler step, run on the ticker thread; public so the node (or a test) can drive it directly.
    @discardableResult
    public func tick() -> TickOutcome {
        tickLock.lock()
        defer { tickLock.unlock() }
        guard hooks.isLeader() else {
            // A later leadership may follow another leader's uploads: check the storage again then.
            lock.withLock { mustCheckStoredID = true }
            return .notLeader
        }
        let index = hooks.dbIndex()
        let (last, checkID) = lock.withLock { (lastUploadedIndex, mustCheckStoredID) }
        if index <= last {
            lock.withLock { uploadsSkipped += 1 }
            return .skippedUnchanged
        }
        if checkID {
            do {
                let stored = try storage.currentID()
                lock.withLock { mustCheckStoredID = false }
                if stored == String(index) {
                    lock.withLock {
                        lastUploadedIndex = index
                        uploadsSkippedID += 1
                    }
                    log("auto-backup: \(storage.destination) already holds index \(index), skipping upload")
                    return .skippedSameID
                }
            } catch {
                lock.withLock { idReadFailures += 1 }
                log("auto-backup: cannot read the stored backup id (\(error)); uploading")
            }
        }
        let started = Date()
        let bytes: Int64
        do {
            bytes = try upload(index: index)
        } catch {
            lock.withLock { uploadsFailed += 1 }
            return .failed("\(error)")
        }
        let duration = Date().timeIntervalSince(started)
        lock.withLock {
            lastUploadedIndex = index
            mustCheckStoredID = false  // the storage now holds what this process stored
            lastUploadTime = Date()
            lastUploadDuration = duration
            uploadsOK += 1
            totalUploadBytes += bytes
            lastUploadBytes = bytes
        }
        log("auto-backup: uploaded index \(index) to \(storage.destination) in \(GoDuration.format(seconds: duration))")
        return .uploaded(index: index)
    }

    /// Uploads a fresh backup recorded as `index`; returns the number of bytes stored.
    private func upload(index: UInt64) throws -> Int64 {
        let backup = try hooks.makeBackup(config.vacuum)
        defer { try? FileManager.default.removeItem(atPath: backup) }
        if config.noCompress {
            try storage.put(file: backup, id: String(index))
            return Self.size(of: backup)
        }
        let dir = scratchDirectory.hasSuffix("/") ? scratchDirectory : scratchDirectory + "/"
        let compressed = dir + "raftlite-auto-backup-\(UInt64.random(in: 0...UInt64.max)).gz"
        defer { try? FileManager.default.removeItem(atPath: compressed) }
        try Gzip.compress(backup, to: compressed)
        try storage.put(file: compressed, id: String(index))
        return Self.size(of: compressed)
    }

    private static func size(of path: String) -> Int64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.int64Value ?? 0
    }

    /// Counters for tests and metrics.
    public struct Counters: Sendable, Equatable {
        public var ok: Int64
        public var failed: Int64
        /// Ticks that found the database unchanged since the last upload.
        public var skipped: Int64
        /// Ticks that found the destination already holding this index.
        public var skippedID: Int64
        /// Failed reads of the destination's stored index (the upload then goes ahead).
        public var idReadFailures: Int64

        public init(ok: Int64, failed: Int64, skipped: Int64, skippedID: Int64, idReadFailures: Int64 = 0) {
            self.ok = ok
            self.failed = failed
            self.skipped = skipped
            self.skippedID = skippedID
            self.idReadFailures = idReadFailures
        }

        public static let zero = Counters(ok: 0, failed: 0, skipped: 0, skippedID: 0)

        /// The upload counters under rqlite's expvar names, as both `/debug/vars` and `/status` show them.
        var uploadFields: [(String, JSONValue)] {
            [
                ("num_uploads_ok", .integer(ok)),
                ("num_uploads_fail", .integer(failed)),
                ("num_uploads_skipped", .integer(skipped)),
                ("num_uploads_skipped_id", .integer(skippedID)),
            ]
        }
    }

    public var counters: Counters { lock.withLock { countersLocked } }

    /// The counters; the caller holds `lock`.
    private var countersLocked: Counters {
        Counters(
            ok: uploadsOK, failed: uploadsFailed, skipped: uploadsSkipped, skippedID: uploadsSkippedID,
            idReadFailures: idReadFailures)
    }

    /// Bytes stored by all successful uploads, and by the latest one.
    public var uploadedBytes: (total: Int64, last: Int64) { lock.withLock { (totalUploadBytes, lastUploadBytes) } }

    /// `/debug/vars` → `uploader`, under rqlite's expvar names. Also the shape a node without an uploader
    /// reports (`uploader: nil`): rqlite registers these counters whether or not auto-backup is configured.
    public static func expvarJSON(_ uploader: AutoBackupUploader?) -> JSONValue {
        let c = uploader?.counters ?? .zero
        let bytes = uploader?.uploadedBytes ?? (total: 0, last: 0)
        return .object(
            c.uploadFields + [
                ("num_sum_get_fail", .integer(c.idReadFailures)),
                ("total_upload_bytes", .integer(bytes.total)),
                ("last_upload_bytes", .integer(bytes.last)),
            ])
    }

    /// `/status` → `auto_backups`: rqlite's fields, with its formats (`last_index` a decimal string, Go's
    /// zero time and `0s` before the first upload), followed by the upload counters.
    public func statusJSON() -> JSONValue {
        let (time, duration, index, c) = lock.withLock {
            (lastUploadTime, lastUploadDuration, lastUploadedIndex, countersLocked)
        }
        return .object(
            [
                ("upload_destination", .string(storage.destination)),
                ("upload_interval", .string(GoDuration.format(seconds: config.interval))),
                ("last_upload_time", .string(time.map { GoTime.rfc3339($0) } ?? GoTime.zeroRFC3339)),
                ("last_upload_duration", .string(GoDuration.format(seconds: duration))),
                ("last_index", .string(String(index))),
            ] + c.uploadFields)
    }
}
