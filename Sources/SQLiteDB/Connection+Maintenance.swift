import CSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Checkpointing, copies of the database (serialize, backup API, SQL dump) and facts for `/status`.
extension Connection {
    /// `sqlite3_wal_checkpoint_v2` modes.
    public enum CheckpointMode: Sendable, Hashable {
        case passive, full, restart, truncate

        var raw: Int32 {
            switch self {
            case .passive: return SQLITE_CHECKPOINT_PASSIVE
            case .full: return SQLITE_CHECKPOINT_FULL
            case .restart: return SQLITE_CHECKPOINT_RESTART
            case .truncate: return SQLITE_CHECKPOINT_TRUNCATE
            }
        }
    }

    public struct CheckpointResult: Sendable, Hashable {
        /// The checkpoint could not complete (readers or a writer held it up: SQLITE_BUSY). rqlite treats
        /// this as "failed to completely checkpoint WAL" and retries later.
        public var busy: Bool
        /// Frames in the WAL (-1 if not in WAL mode).
        public var walFrames: Int
        /// Frames checkpointed into the database file (-1 if not in WAL mode).
        public var checkpointedFrames: Int
    }

    /// Checkpoints the WAL of the main database. Throws for errors other than SQLITE_BUSY.
    @discardableResult
    public func checkpoint(mode: CheckpointMode = .truncate) throws -> CheckpointResult {
        let db = try db()
        var log: Int32 = 0
        var done: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(db, "main", mode.raw, &log, &done)
        if rc != SQLITE_OK && rc != SQLITE_BUSY { throw DatabaseError.last(db) }
        return CheckpointResult(busy: rc == SQLITE_BUSY, walFrames: Int(log), checkpointedFrames: Int(done))
    }

    // MARK: - Copies

    /// The database as a byte image (`sqlite3_serialize` of "main"): includes committed WAL content; bytes
    /// 18–19 of the header keep saying WAL for a WAL-mode database.
    public func serialize() throws -> [UInt8] {
        let db = try db()
        var size: sqlite3_int64 = 0
        guard let data = sqlite3_serialize(db, "main", &size, 0) else {
            if size == 0, try pragmaInt("PRAGMA page_count") == 0 { return [] }
            throw DatabaseError(resultCode: SQLITE_NOMEM, message: "cannot serialize database")
        }
        defer { sqlite3_free(data) }
        return Array(UnsafeRawBufferPointer(start: data, count: Int(size)))
    }

    /// Replaces this connection's main database with an in-memory copy of `bytes` (`sqlite3_deserialize`).
    /// A WAL-mode image is switched to rollback journal in the copy (an in-memory database cannot use WAL).
    /// The file this connection was opened on is not touched.
    public func deserialize(_ bytes: [UInt8]) throws {
        let db = try db()
        guard Self.isValidSQLiteData(bytes) else {
            throw DatabaseError(resultCode: SQLITE_NOTADB, message: "invalid SQLite data")
        }
        cache.removeAll()
        guard let buffer = sqlite3_malloc64(sqlite3_uint64(bytes.count))?.assumingMemoryBound(to: UInt8.self) else {
            throw DatabaseError(resultCode: SQLITE_NOMEM, message: "out of memory")
        }
        bytes.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: bytes.count) }
        if bytes.count >= 20 && buffer[18] == 2 && buffer[19] == 2 {
            buffer[18] = 1
            buffer[19] = 1
        }
        let flags = UInt32(SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE)
        let rc = sqlite3_deserialize(
            db, "main", buffer, sqlite3_int64(bytes.count), sqlite3_int64(bytes.count), flags)
        if rc != SQLITE_OK { throw DatabaseError.last(db) }
    }

    /// Opens an in-memory connection holding a copy of `bytes`.
    public static func openInMemory(deserializing bytes: [UInt8], foreignKeys: Bool = false) throws -> Connection {
        let connection = try openInMemory(foreignKeys: foreignKeys)
        try connection.deserialize(bytes)
        return connection
    }

    /// Copies the database to a new file at `path` with SQLite's online backup API (consistent even while
    /// this connection writes between steps), then switches the copy to rollback-journal (DELETE) mode, as
    /// rqlite's `Backup` does. An existing file at `path` is overwritten. With `vacuum`, the copy is
    /// VACUUMed afterwards.
    ///
    /// `writeBackBytes` is for large copies taken while the disk serves latency-sensitive writes (the Raft
    /// log's fdatasync): the copy goes in steps of about that many bytes, and after each step the pages
    /// written so far are sent to disk (`sync_file_range`, waiting only for the previous step's writeback).
    /// Dirty pages of the copy then stay at about two steps, so neither the kernel's dirty-page throttling
    /// nor one final fsync of the whole file (which an ext4 journal commit of another file would queue
    /// behind) ever has gigabytes to write. The copy is a scratch file in that mode: written with
    /// `journal_mode=OFF` and `synchronous=OFF`, and NOT durable on return — the caller fsyncs it (and
    /// deletes it if this throws). The copy reads one consistent view: the connection's open read
    /// transaction if it has one, else one this call holds from the first step to the last.
    public func backup(to path: String, vacuum: Bool = false, writeBackBytes: Int? = nil) throws {
        let db = try db()
        unlink(path)
        unlink(path + "-wal")
        unlink(path + "-shm")
        unlink(path + "-journal")
        var destination: OpaquePointer?
        var rc = sqlite3_open_v2(path, &destination, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil)
        guard rc == SQLITE_OK, let destination else {
            let error = destination.map { DatabaseError.last($0) } ?? DatabaseError.code(rc)
            sqlite3_close_v2(destination)
            throw error
        }
        defer { sqlite3_close_v2(destination) }
        var pagesPerStep: Int32 = -1
        var writeBack: Int32 = -1
        var pinned = false
        defer {
            if writeBack >= 0 { Glibc.close(writeBack) }
            if pinned { try? run("COMMIT") }
        }
        if let writeBackBytes {
            guard sqlite3_exec(destination, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF", nil, nil, nil) == SQLITE_OK else {
                throw DatabaseError.last(destination)
            }
            if sqlite3_get_autocommit(db) != 0 {
                // Steps must all read the same view; without one, every commit in between restarts the copy.
                try run("BEGIN")
                pinned = true
                _ = try rawQuery("SELECT COUNT(*) FROM sqlite_master")
            }
            var pageSize = 4096
            if case .integer(let size)? = try rawQuery("PRAGMA page_size").first?.first, size > 0 { pageSize = Int(size) }
            pagesPerStep = Int32(clamping: max(1, writeBackBytes / pageSize))
            writeBack = Glibc.open(path, O_RDONLY | O_CLOEXEC)
            guard writeBack >= 0 else { throw DatabaseError.code(SQLITE_CANTOPEN) }
        }
        guard let backup = sqlite3_backup_init(destination, "main", db, "main") else {
            throw DatabaseError.last(destination)
        }
        repeat {
            rc = sqlite3_backup_step(backup, pagesPerStep)
            if rc == SQLITE_BUSY || rc == SQLITE_LOCKED { sqlite3_sleep(25) }
            if writeBack >= 0 && raftlite_write_back(writeBack, 0) != 0 {
                // Only a hint to the kernel: the caller's fsync still writes whatever is left.
                Glibc.close(writeBack)
                writeBack = -1
            }
        } while rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED
        let finish = sqlite3_backup_finish(backup)
        guard rc == SQLITE_DONE, finish == SQLITE_OK else { throw DatabaseError.last(destination) }
        guard sqlite3_exec(destination, "PRAGMA journal_mode=DELETE", nil, nil, nil) == SQLITE_OK else {
            throw DatabaseError.last(destination)
        }
        if vacuum, sqlite3_exec(destination, "VACUUM", nil, nil, nil) != SQLITE_OK {
            throw DatabaseError.last(destination)
        }
    }

    /// `VACUUM INTO path`: a compacted copy (journal mode of the copy: DELETE).
    /// Replaces this database's contents with the SQLite file at `path`, through the online backup API
    /// in one write transaction: other connections see the old contents or the new, never a mix.
    public func restore(from path: String, progress: ((_ done: Int64, _ total: Int64) -> Void)? = nil) throws {
        let db = try db()
        var source: OpaquePointer?
        var rc = sqlite3_open_v2(path, &source, SQLITE_OPEN_READONLY, nil)
        guard rc == SQLITE_OK, let source else {
            let error = source.map { DatabaseError.last($0) } ?? DatabaseError.code(rc)
            sqlite3_close_v2(source)
            throw error
        }
        defer { sqlite3_close_v2(source) }
        guard let backup = sqlite3_backup_init(db, "main", source, "main") else { throw DatabaseError.last(db) }
        repeat {
            // In steps of 4096 pages, so a large restore can report how far it is.
            rc = sqlite3_backup_step(backup, progress == nil ? -1 : 4096)
            let total = Int64(sqlite3_backup_pagecount(backup))
            progress?(total - Int64(sqlite3_backup_remaining(backup)), total)
            if rc == SQLITE_BUSY || rc == SQLITE_LOCKED { sqlite3_sleep(25) }
        } while rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED
        let finish = sqlite3_backup_finish(backup)
        guard rc == SQLITE_DONE, finish == SQLITE_OK else { throw DatabaseError.last(db) }
        cache.removeAll()
    }

    public func vacuum(into path: String) throws {
        try run("VACUUM INTO '\(doubling(path, "'"))'")
    }

    /// `VACUUM`.
    public func vacuum() throws { try run("VACUUM") }

    /// The database as SQL text, in rqlite's `.dump` format (REFERENCE §11.1):
    /// `PRAGMA foreign_keys=OFF;`, `BEGIN TRANSACTION;`, per table (by name) its CREATE statement and one
    /// `INSERT INTO "t" VALUES(...);` per row with values rendered by `quote()`; `sqlite_sequence` becomes
    /// `DELETE FROM "sqlite_sequence";` (then its rows), `sqlite_stat1` becomes `ANALYZE "sqlite_master";`,
    /// other `sqlite_*` tables are skipped; then every index, trigger and view; `COMMIT;`.
    /// `tables` limits the dump to those tables (and their indexes and triggers).
    public func dump(tables: [String]? = nil) throws -> String {
        var out = ""
        try dump(tables: tables) { out += $0 }
        return out
    }

    /// The same dump, handed to `write` a line at a time as rows are stepped, so a dump of any size needs
    /// only one row in memory (the caller batches the writes to a file or socket). An error thrown by
    /// `write` ends the dump.
    public func dump(tables: [String]? = nil, write: (String) throws -> Void) throws {
        try write("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\n")
        let filter = tables.map { Set($0) }
        let tableRows = try rawQuery(
            #"SELECT "name", "type", "sql" FROM "sqlite_master" WHERE "sql" NOT NULL AND "type" == 'table' ORDER BY "name""#)
        for row in tableRows {
            guard case .text(let table) = row[0] else { continue }
            if let filter, !filter.contains(table) { continue }
            let create: String
            if table == "sqlite_sequence" {
                create = #"DELETE FROM "sqlite_sequence";"#
            } else if table == "sqlite_stat1" {
                create = #"ANALYZE "sqlite_master";"#
            } else if table.hasPrefix("sqlite_") {
                continue
            } else {
                guard case .text(let sql) = row[2] else { continue }
                create = sql + ";"
            }
            try write(create + "\n")
            let quotedTable: String = doubling(table, "\"")
            let columns = try rawQuery("PRAGMA table_info(\"\(quotedTable)\")").compactMap { info -> String? in
                guard case .text(let name) = info[1] else { return nil }
                let quotedColumn: String = doubling(name, "\"")
                return "'||quote(\"\(quotedColumn)\")||'"
            }
            let literalTable: String = doubling(quotedTable, "'")
            let valueList: String = columns.joined(separator: ",")
            let select = "SELECT 'INSERT INTO \"\(literalTable)\" VALUES(\(valueList))' FROM \"\(quotedTable)\";"
            try rawQuery(select) { line in
                if case .text(let insert) = line.first { try write(insert + ";\n") }
            }
        }
        let others = try rawQuery(
            #"SELECT "name", "type", "sql", "tbl_name" FROM "sqlite_master" WHERE "sql" NOT NULL AND "type" IN ('index', 'trigger', 'view')"#)
        for row in others {
            guard case .text(let sql) = row[2] else { continue }
            if let filter, case .text(let owner) = row[3], !filter.contains(owner) { continue }
            try write(sql + ";\n")
        }
        try write("COMMIT;\n")
    }

    /// Writes the dump to a new file at `path` through a 1 MiB buffer (memory stays bounded whatever the
    /// database's size). An existing file is replaced.
    public func dump(tables: [String]? = nil, toFile path: String) throws {
        unlink(path)
        let fd = createFile(path)
        guard fd >= 0 else { throw DatabaseError(resultCode: SQLITE_CANTOPEN, message: "cannot create \(path)") }
        defer { closeFile(fd) }
        var buffer: [UInt8] = []
        buffer.reserveCapacity(1 << 20)
        func flush() throws {
            var offset = 0
            while offset < buffer.count {
                let n = buffer.withUnsafeBytes { writeFile(fd, $0.baseAddress! + offset, buffer.count - offset) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw DatabaseError(resultCode: SQLITE_IOERR, message: "cannot write \(path): errno \(errno)")
                }
                offset += n
            }
            buffer.removeAll(keepingCapacity: true)
        }
        try dump(tables: tables) { text in
            buffer.append(contentsOf: text.utf8)
            if buffer.count >= 1 << 20 { try flush() }
        }
        try flush()
    }

    // MARK: - Checks

    /// `PRAGMA integrity_check(1)` (full) or `PRAGMA quick_check(1)`: `"ok"` or the first problem found.
    public func integrityCheck(full: Bool = false) throws -> String {
        let rows = try rawQuery(full ? "PRAGMA integrity_check(1)" : "PRAGMA quick_check(1)")
        guard case .text(let first) = rows.first?.first else { return "" }
        return first
    }

    /// Whether `bytes` starts like a SQLite database ("SQLite format" — rqlite's `IsValidSQLiteData`).
    public static func isValidSQLiteData(_ bytes: [UInt8]) -> Bool {
        bytes.count > 13 && Array(bytes[0..<13]) == Array("SQLite format".utf8)
    }

    /// Whether bytes 18–19 of a database header say WAL (rqlite's `IsWALModeEnabled`).
    public static func isWALModeEnabled(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 20 && bytes[18] == 2 && bytes[19] == 2
    }

    /// Whether the file at `path` is a usable SQLite database: the header says so, it opens read-only and
    /// `PRAGMA quick_check` reports "ok".
    public static func isValidSQLiteFile(_ path: String) -> Bool {
        guard let header = readPrefix(path, count: 100), isValidSQLiteData(header) else { return false }
        var db: OpaquePointer?
        defer { sqlite3_close_v2(db) }
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, nil) == SQLITE_OK, let db else { return false }
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &statement, nil) == SQLITE_OK, let statement else {
            return false
        }
        defer { sqlite3_finalize(statement) }
        guard sqlite3_step(statement) == SQLITE_ROW, let text = sqlite3_column_text(statement, 0) else { return false }
        return String(cString: text) == "ok"
    }

    static func readPrefix(_ path: String, count: Int) -> [UInt8]? {
        let fd = openFile(path)
        guard fd >= 0 else { return nil }
        defer { closeFile(fd) }
        var buffer = [UInt8](repeating: 0, count: count)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, count) }
        guard n > 0 else { return nil }
        return Array(buffer[0..<n])
    }

    // MARK: - Facts

    /// The SQLite library version ("3.40.1").
    public static var sqliteVersion: String { String(cString: sqlite3_libversion()) }

    /// `PRAGMA compile_options`.
    public func compileOptions() throws -> [String] {
        try rawQuery("PRAGMA compile_options").compactMap { row in
            if case .text(let option) = row.first { return option }
            return nil
        }
    }

    /// `PRAGMA page_size`.
    public func pageSize() throws -> Int64 { try pragmaInt("PRAGMA page_size") }

    /// page_count × page_size (rqlite's `db_size`).
    public func dbSize() throws -> Int64 {
        try pragmaInt("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()")
    }

    /// Size of the database file on disk (0 for in-memory or missing).
    public var fileSize: Int64 { isMemory ? 0 : Self.fileSize(path) }

    /// Size of the `-wal` file (0 if absent).
    public var walSize: Int64 { isMemory ? 0 : Self.fileSize(path + "-wal") }

    static func fileSize(_ path: String) -> Int64 {
        var info = stat()
        guard stat(path, &info) == 0 else { return 0 }
        return Int64(info.st_size)
    }

    /// The values of the pragmas rqlite reports per connection in `/status` (`synchronous`,
    /// `journal_mode`, `foreign_keys`, `wal_autocheckpoint`, `busy_timeout`), as strings.
    public func statusPragmas() throws -> [String: String] {
        var result: [String: String] = [:]
        for name in ["synchronous", "journal_mode", "foreign_keys", "wal_autocheckpoint", "busy_timeout"] {
            result[name] = try pragmaText("PRAGMA \(name)") ?? ""
        }
        return result
    }
}

/// `s` with every `quote` character doubled (SQL quoting).
func doubling(_ s: String, _ quote: Character) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for c in s {
        out.append(c)
        if c == quote { out.append(c) }
    }
    return out
}

private func openFile(_ path: String) -> Int32 { open(path, O_RDONLY) }
private func closeFile(_ fd: Int32) { _ = close(fd) }
private func createFile(_ path: String) -> Int32 { open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600) }
private func writeFile(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }
