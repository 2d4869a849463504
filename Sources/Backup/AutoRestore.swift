import Foundation
import SQLiteDB

/// Start-up restore from the configured backup, only onto a node with no data that is not joining a cluster.
public enum AutoRestore {
    /// Downloads the backup into a new file in `temporaryDirectory` (default: the system's), gunzipped if
    /// needed and checked to be a valid SQLite database, and returns its path; the caller loads it and
    /// deletes it. Returns nil, without contacting the storage, when the node has data or is joining.
    /// Throws on any failure, leaving no file behind; the caller applies `continueOnFailure`.
    /// `downloaded` hears how the transfer itself went: the bytes fetched, or nil when it failed (rqlite's
    /// `downloader` counters); the checks of the data come after it.
    public static func downloadIfNeeded(
        _ config: AutoRestoreConfig, hasExistingData: Bool, isJoining: Bool, storage: BackupStorage? = nil,
        temporaryDirectory: String? = nil, log: @Sendable (String) -> Void = { _ in },
        downloaded report: @Sendable (_ bytes: Int64?) -> Void = { _ in }
    ) throws -> String? {
        if hasExistingData {
            log("auto-restore: data already exists, skipping")
            return nil
        }
        if isJoining {
            log("auto-restore: node is joining a cluster, skipping")
            return nil
        }
        let store = storage ?? makeStorage(config.storage)
        let dir = temporaryDirectory ?? NSTemporaryDirectory()
        let base = dir + (dir.hasSuffix("/") ? "" : "/") + "raftlite-restore-\(UInt64.random(in: 0...UInt64.max))"
        let downloaded = base + ".download"
        let database = base + ".sqlite"
        let started = Date()
        log("auto-restore: downloading \(store.destination)")
        do {
            do {
                try store.download(to: downloaded, timeout: config.timeout)
                if Date().timeIntervalSince(started) > config.timeout {
                    throw StorageError("download of \(store.destination) took longer than the \(config.timeout)s timeout")
                }
            } catch {
                report(nil)
                throw error
            }
            report(((try? FileManager.default.attributesOfItem(atPath: downloaded))?[.size] as? NSNumber)?.int64Value ?? 0)
            if Gzip.isGzipFile(downloaded) {
                try Gzip.decompress(downloaded, to: database)
                try? FileManager.default.removeItem(atPath: downloaded)
            } else {
                try FileManager.default.moveItem(atPath: downloaded, toPath: database)
            }
            guard Connection.isValidSQLiteFile(database) else {
                throw StorageError("backup \(store.destination) is not a valid SQLite database")
            }
            // The check may leave (empty) WAL companions of a WAL-mode file: the caller owns only one path.
            for path in [database + "-wal", database + "-shm"] { try? FileManager.default.removeItem(atPath: path) }
        } catch {
            for path in [downloaded, database, database + "-wal", database + "-shm"] {
                try? FileManager.default.removeItem(atPath: path)
            }
            throw StorageError("auto-restore from \(store.destination) failed: \(error)")
        }
        log("auto-restore: downloaded \(store.destination) in \(Date().timeIntervalSince(started))s")
        return database
    }
}
