import CSQLite
import Foundation
import SQLiteDB
import Storage

/// The clean-shutdown marker `<data>/raft/clean_shutdown`, which lets a restart reuse `db.sqlite` as it is.
///
/// After a clean shutdown the node checkpoints the WAL into the database file, closes every connection,
/// and records the file's size and modification time. On start the marker is read and removed (durably)
/// before anything opens the database: if it matches the file and there is no WAL, the file is reused and
/// only log entries after its recorded index are applied (normally none). Otherwise — a crash, a kill, a
/// failed shutdown, a file touched from outside — the database files are deleted and rebuilt from the
/// newest snapshot plus the log (REFERENCE §10.4), exactly as on a node that lost its disk.
enum CleanShutdown {
    static func markerPath(raftDir: String) -> String { raftDir + "/clean_shutdown" }

    struct Fingerprint: Equatable {
        var size: Int64
        var mtimeNanoseconds: Int64
    }

    static func fingerprint(_ path: String) -> Fingerprint? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Fingerprint(size: Int64(st.st_size), mtimeNanoseconds: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec))
    }

    /// Checkpoints the WAL into `dbPath` and writes the marker. Call only once every other connection to
    /// the database is closed; throws (and writes nothing) if the WAL cannot be emptied.
    static func mark(raftDir: String, dbPath: String, appliedIndex: UInt64) throws {
        let connection = try Connection.open(path: dbPath, mode: .readWrite, synchronous: .full)
        let result = try connection.checkpoint(mode: .truncate)
        connection.close()  // the last connection: SQLite deletes the WAL
        guard !result.busy, (fingerprint(dbPath + "-wal")?.size ?? 0) == 0 else {
            throw NodeError.openFailed("the WAL of \(dbPath) could not be emptied")
        }
        guard let f = fingerprint(dbPath) else { throw NodeError.openFailed("cannot stat \(dbPath)") }
        try DurableFile.write(Array("\(f.size) \(f.mtimeNanoseconds) \(appliedIndex)\n".utf8), to: markerPath(raftDir: raftDir))
    }

    /// Reads and durably removes the marker; true when `dbPath` is exactly as the last clean shutdown
    /// left it (so it may be reused).
    static func consume(raftDir: String, dbPath: String) throws -> Bool {
        let path = markerPath(raftDir: raftDir)
        guard let data = FileManager.default.contents(atPath: path) else { return false }
        try DurableFile.remove(path)
        let fields = String(decoding: data, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count >= 2, let size = Int64(fields[0]), let mtime = Int64(fields[1]) else { return false }
        guard (fingerprint(dbPath + "-wal")?.size ?? 0) == 0 else { return false }
        return fingerprint(dbPath) == Fingerprint(size: size, mtimeNanoseconds: mtime)
    }

    /// Copies `source` to `destination` through a temporary file renamed into place, reporting bytes
    /// done of total. Not synced: a database without a clean-shutdown marker is rebuilt anyway. The copy
    /// is written back as it goes and its pages dropped from the cache once on disk
    /// (`raftlite_write_back`): fresh page-cache pages for gigabytes cost more than the disk writes
    /// (measured 3.3-4.5 s against 0.7-1.0 s for 1 GiB here), and the first fsync of the database (its
    /// switch to WAL mode) then finds nothing left to write.
    static func copyFile(_ source: String, to destination: String, progress: (Int64, Int64) -> Void) throws {
        let tmp = destination + ".restore.tmp"
        func failure(_ what: String, _ path: String) -> NodeError {
            NodeError.openFailed("cannot \(what) \(path): \(String(cString: strerror(errno)))")
        }
        let input = open(source, O_RDONLY)
        guard input >= 0 else { throw failure("open", source) }
        defer { close(input) }
        let output = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard output >= 0 else { throw failure("create", tmp) }
        var st = stat()
        let total = fstat(input, &st) == 0 ? Int64(st.st_size) : 0
        var done: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 8 << 20)
        do {
            while true {
                let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw failure("read", source) }
                if n == 0 { break }
                var written = 0
                while written < n {
                    let w = buffer.withUnsafeBytes { write(output, $0.baseAddress! + written, n - written) }
                    if w < 0 && errno == EINTR { continue }
                    guard w > 0 else { throw failure("write", tmp) }
                    written += w
                }
                done += Int64(n)
                _ = raftlite_write_back(output, 1)  // only a hint: the data is written either way
                progress(done, max(total, done))
            }
        } catch {
            close(output)
            unlink(tmp)
            throw error
        }
        close(output)
        guard rename(tmp, destination) == 0 else { throw failure("rename", tmp) }
    }

    /// Removes the database and its WAL files, so the node rebuilds it from the snapshot and the log.
    /// They are renamed aside at once (`<db>.discarded*`) and deleted by a background thread, a slice at a
    /// time: unlinking gigabytes took ~0.8 s of a 1 GiB restart, which can copy the snapshot meanwhile.
    /// Returns a function that waits until they are gone (a copy that ran out of space retries after it).
    @discardableResult
    static func discardDatabase(_ dbPath: String) throws -> @Sendable () -> Void {
        var doomed: [String] = []
        for suffix in ["", "-wal", "-shm", "-journal", ".restore.tmp"] {
            let aside = dbPath + ".discarded" + suffix
            if rename(dbPath + suffix, aside) == 0 {
                doomed.append(aside)
            } else if errno != ENOENT {
                throw NodeError.openFailed("cannot remove \(dbPath + suffix): \(String(cString: strerror(errno)))")
            }
        }
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread { [doomed] in
            for path in doomed { SnapshotStore.removeGradually(path) }
            done.signal()
        }
        return {
            done.wait()
            done.signal()
        }
    }

    /// Deletes what an earlier `discardDatabase` left behind (the process stopped before its deletion
    /// ended), in the background.
    static func sweepDiscarded(_ dbPath: String) {
        let leftovers = ["", "-wal", "-shm", "-journal", ".restore.tmp"].map { dbPath + ".discarded" + $0 }
            .filter { FileManager.default.fileExists(atPath: $0) }
        if !leftovers.isEmpty { Thread.detachNewThread { for path in leftovers { SnapshotStore.removeGradually(path) } } }
    }
}
