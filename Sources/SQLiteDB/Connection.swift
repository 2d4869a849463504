import CSQLite

/// One SQLite connection (`sqlite3*`) with rqlite's execution semantics on top.
///
/// ## Threading contract
/// A `Connection` MUST be used by one thread at a time. It keeps mutable Swift state (the prepared-statement
/// cache, the deadline slot read by the progress handler) that is not locked. It is marked
/// `@unchecked Sendable` so that it can be *handed over* to the thread that will own it: the node creates the
/// read-write connection and moves it to its Raft worker thread, and creates read-only connections and moves
/// each to a reader thread (or checks them in and out of a pool, one user at a time). The handover itself
/// must be a synchronising operation (thread start, lock, queue). The one member that is safe to call from
/// any thread at any time is `interrupt()`. SQLite itself is opened with `SQLITE_OPEN_FULLMUTEX`, so a
/// contract violation cannot corrupt SQLite's memory, but it can corrupt this object's cache.
///
/// Several connections in one process may share a file: one read-write connection (WAL journal mode) and a
/// pool of read-only ones (`SQLITE_OPEN_READONLY` + `PRAGMA query_only=1`), which read concurrently with the
/// writer thanks to WAL.
public final class Connection: @unchecked Sendable {
    public enum Mode: Sendable, Hashable {
        /// Read-write, created if missing, switched to WAL journal mode.
        case readWrite
        /// Read-only (`SQLITE_OPEN_READONLY` + `PRAGMA query_only=1`); the file must exist.
        case readOnly
    }

    /// `PRAGMA synchronous` levels.
    public enum Synchronous: String, Sendable, Hashable {
        case off = "OFF"
        case normal = "NORMAL"
        case full = "FULL"
        case extra = "EXTRA"
    }

    /// The file path (`:memory:` for in-memory connections).
    public let path: String
    public let mode: Mode
    public let foreignKeys: Bool
    /// Whether this is an in-memory database (no WAL, no files).
    public let isMemory: Bool

    var handle: OpaquePointer?
    /// The row count reported for a statement that changes no rows (DDL): `sqlite3_changes` repeats the
    /// most recent INSERT/UPDATE/DELETE, as go-sqlite3 (and so rqlite) report it — but only statements run
    /// through `execute`/`request` count, so the node's own bookkeeping writes stay invisible to clients.
    var visibleChanges: Int64 = 0
    var cache: StatementCache
    /// Deadline slot read by the C progress handler (CLOCK_MONOTONIC ns, 0 = none).
    let deadlineSlot: UnsafeMutablePointer<UInt64>

    /// Number of VM instructions between deadline checks.
    static let progressInterval: Int32 = 1000

    private init(handle: OpaquePointer, path: String, mode: Mode, foreignKeys: Bool, isMemory: Bool, cacheCapacity: Int) {
        self.handle = handle
        self.path = path
        self.mode = mode
        self.foreignKeys = foreignKeys
        self.isMemory = isMemory
        self.cache = StatementCache(capacity: cacheCapacity)
        self.deadlineSlot = .allocate(capacity: 1)
        self.deadlineSlot.initialize(to: 0)
    }

    deinit {
        close()
        deadlineSlot.deallocate()
    }

    /// Opens a connection to the database file at `path`.
    ///
    /// - `mode`: `.readWrite` creates the file if missing and sets `journal_mode=WAL`; `.readOnly` opens
    ///   with `SQLITE_OPEN_READONLY` and sets `query_only=1` (the file must exist).
    /// - `synchronous`: applied to read-write connections (rqlite runs its state machine with `.off`).
    /// - `walAutocheckpoint`: pages; `nil` keeps SQLite's default (1000); rqlite uses 0 and checkpoints itself.
    /// - `busyTimeoutMs`: `sqlite3_busy_timeout` (go-sqlite3's default is 5000).
    /// - `checkpointOnClose`: `false` sets `SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE` (as rqlite does).
    /// - `statementCacheCapacity`: bound of the prepared-statement cache (0 disables caching).
    public static func open(
        path: String,
        mode: Mode = .readWrite,
        foreignKeys: Bool = false,
        synchronous: Synchronous = .normal,
        walAutocheckpoint: Int? = nil,
        busyTimeoutMs: Int = 5000,
        checkpointOnClose: Bool = true,
        statementCacheCapacity: Int = 128
    ) throws -> Connection {
        var flags = SQLITE_OPEN_FULLMUTEX
        switch mode {
        case .readWrite: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        }
        let connection = try rawOpen(
            path: path, flags: flags, mode: mode, foreignKeys: foreignKeys, isMemory: false,
            cacheCapacity: statementCacheCapacity)
        sqlite3_busy_timeout(connection.handle, Int32(clamping: busyTimeoutMs))
        if !checkpointOnClose {
            try connection.check(raftlite_db_config_no_ckpt_on_close(connection.handle, 1))
        }
        switch mode {
        case .readWrite:
            let journal = try connection.pragmaText("PRAGMA journal_mode=WAL")
            guard journal?.lowercased() == "wal" else {
                throw DatabaseError(resultCode: SQLITE_ERROR, message: "cannot enable WAL mode (journal_mode=\(journal ?? "nil"))")
            }
            try connection.run("PRAGMA synchronous=\(synchronous.rawValue)")
            if let pages = walAutocheckpoint { try connection.run("PRAGMA wal_autocheckpoint=\(pages)") }
        case .readOnly:
            // Never writes, so it costs nothing; set as asked so the connection reports what it was opened with.
            try connection.run("PRAGMA synchronous=\(synchronous.rawValue)")
            try connection.run("PRAGMA query_only=1")
        }
        try connection.run("PRAGMA foreign_keys=\(foreignKeys ? 1 : 0)")
        return connection
    }

    /// Opens a private in-memory database (read-write, rollback journal in memory).
    public static func openInMemory(foreignKeys: Bool = false, statementCacheCapacity: Int = 128) throws -> Connection {
        let connection = try rawOpen(
            path: ":memory:", flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
            mode: .readWrite, foreignKeys: foreignKeys, isMemory: true, cacheCapacity: statementCacheCapacity)
        try connection.run("PRAGMA foreign_keys=\(foreignKeys ? 1 : 0)")
        return connection
    }

    private static func rawOpen(
        path: String, flags: Int32, mode: Mode, foreignKeys: Bool, isMemory: Bool, cacheCapacity: Int
    ) throws -> Connection {
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let error = db.map { DatabaseError.last($0) } ?? DatabaseError.code(rc)
            sqlite3_close_v2(db)
            throw error
        }
        return Connection(
            handle: db, path: path, mode: mode, foreignKeys: foreignKeys, isMemory: isMemory,
            cacheCapacity: cacheCapacity)
    }

    /// Finalizes cached statements and closes the connection. Idempotent; later calls throw misuse errors.
    public func close() {
        cache.removeAll()
        if let handle {
            sqlite3_close_v2(handle)
            self.handle = nil
        }
    }

    public var isOpen: Bool { handle != nil }

    /// Drops the prepared-statement cache (after another connection replaced the database's contents).
    public func forgetStatements() { cache.removeAll() }

    /// Interrupts the statement running on this connection (thread-safe).
    public func interrupt() {
        if let handle { sqlite3_interrupt(handle) }
    }

    // MARK: - Small helpers

    func db() throws -> OpaquePointer {
        guard let handle else { throw DatabaseError.misuse("connection is closed") }
        return handle
    }

    func check(_ rc: Int32) throws {
        if rc != SQLITE_OK { throw DatabaseError.last(handle) }
    }

    /// Runs SQL text (possibly several statements) without results, as `sqlite3_exec` does.
    public func run(_ sql: String) throws {
        let db = try db()
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        if rc != SQLITE_OK { throw DatabaseError.last(db) }
    }

    /// The rows of one statement as plain SQLite values (no rqlite type mapping), for internal use and for
    /// the node's bookkeeping queries.
    public func rawQuery(_ sql: String, _ parameters: [SQLValue] = []) throws -> [[SQLValue]] {
        var rows: [[SQLValue]] = []
        try rawQuery(sql, parameters) { rows.append($0) }
        return rows
    }

    /// The rows of one statement, handed to `body` one at a time as they are stepped: a large result is
    /// never held in memory whole. An error thrown by `body` ends the query.
    public func rawQuery(_ sql: String, _ parameters: [SQLValue] = [], forEachRow body: ([SQLValue]) throws -> Void) throws {
        let statement = try prepareSingle(sql)
        defer { finish(statement) }
        for (i, value) in parameters.enumerated() {
            try bind(value, to: Int32(i + 1), in: statement)
        }
        let count = statement.columnCount
        while true {
            let rc = sqlite3_step(statement.handle)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw DatabaseError.last(handle) }
            try body((0..<count).map { rawValue(statement, $0) })
        }
    }

    func pragmaText(_ sql: String) throws -> String? {
        guard let first = try rawQuery(sql).first?.first else { return nil }
        switch first {
        case .text(let s): return s
        case .integer(let i): return String(i)
        default: return nil
        }
    }

    func pragmaInt(_ sql: String) throws -> Int64 {
        guard let first = try rawQuery(sql).first?.first else { return 0 }
        switch first {
        case .integer(let i): return i
        case .text(let s): return Int64(s) ?? 0
        default: return 0
        }
    }

    func rawValue(_ statement: PreparedStatement, _ i: Int) -> SQLValue {
        let h = statement.handle
        let column = Int32(i)
        switch sqlite3_column_type(h, column) {
        case SQLITE_INTEGER: return .integer(sqlite3_column_int64(h, column))
        case SQLITE_FLOAT: return .real(sqlite3_column_double(h, column))
        case SQLITE_TEXT: return .text(GoString.decode(columnBytes(h, column, text: true)))
        case SQLITE_BLOB: return .blob(columnBytes(h, column, text: false))
        default: return .null
        }
    }

    func columnBytes(_ h: OpaquePointer, _ column: Int32, text: Bool) -> [UInt8] {
        let pointer: UnsafeRawPointer? =
            text ? sqlite3_column_text(h, column).map { UnsafeRawPointer($0) } : sqlite3_column_blob(h, column)
        let count = Int(sqlite3_column_bytes(h, column))
        guard let pointer, count > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    // MARK: - Preparing

    /// Prepares a statement that must be a single one (tail ignored), using the cache.
    func prepareSingle(_ sql: String) throws -> PreparedStatement {
        let text = SQLText(sql)
        guard let prepared = try prepareSegment(text, at: 0, cacheKey: sql).statement else {
            throw DatabaseError(resultCode: SQLITE_MISUSE, message: "empty statement")
        }
        return prepared
    }

    /// One prepared segment of a (possibly multi-statement) SQL text.
    struct Segment {
        /// nil when the segment holds no statement (only whitespace, comments or `;`).
        var statement: PreparedStatement?
        /// Offset of the remaining text.
        var nextOffset: Int
        /// Whether the remaining text is empty after trimming whitespace (go-sqlite3's loop condition).
        var isLast: Bool
    }

    /// Prepares the statement starting at `offset` of the NUL-terminated `bytes`. When `cacheKey` is given
    /// and offset is 0, a single-statement text is served from / stored in the statement cache.
    func prepareSegment(_ text: SQLText, at offset: Int, cacheKey: String?) throws -> Segment {
        let db = try db()
        if offset == 0, let cacheKey, let cached = cache.get(cacheKey) {
            return Segment(statement: cached, nextOffset: Int.max, isLast: true)
        }
        let bytes = text.bytes
        var stmt: OpaquePointer?
        var tailOffset = bytes.count - 1
        let rc = bytes.withUnsafeBufferPointer { buffer -> Int32 in
            let start = buffer.baseAddress! + offset
            var tail: UnsafePointer<CChar>?
            let rc = sqlite3_prepare_v3(db, start, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, &tail)
            if let tail { tailOffset = offset + (tail - start) }
            return rc
        }
        guard rc == SQLITE_OK else {
            if let stmt { sqlite3_finalize(stmt) }
            throw DatabaseError.last(db)
        }
        let isLast = Self.tailIsEmpty(bytes, from: tailOffset)
        guard let stmt else { return Segment(statement: nil, nextOffset: tailOffset, isLast: isLast) }
        let cacheable = offset == 0 && isLast && cacheKey != nil && cache.capacity > 0
        let prepared = PreparedStatement(handle: stmt, cached: cacheable)
        if cacheable, let cacheKey { cache.put(cacheKey, prepared) }
        return Segment(statement: prepared, nextOffset: tailOffset, isLast: isLast)
    }

    /// go-sqlite3: `strings.TrimSpace(C.GoString(tail)) == ""`.
    static func tailIsEmpty(_ bytes: [CChar], from offset: Int) -> Bool {
        var i = offset
        while i < bytes.count, bytes[i] != 0 {
            let b = UInt8(bitPattern: bytes[i])
            if b == 0x20 || (b >= 0x09 && b <= 0x0d) {
                i += 1
                continue
            }
            if b < 0x80 { return false }
            // Non-ASCII: decode the rest and trim Unicode white space.
            var end = i
            while end < bytes.count, bytes[end] != 0 { end += 1 }
            let rest = String(decoding: bytes[i..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return rest.allSatisfy { $0.isWhitespace }
        }
        return true
    }

    /// Resets a statement after use; one-shot statements are finalized when released.
    func finish(_ statement: PreparedStatement) {
        statement.reset()
    }

    // MARK: - Binding

    func bind(_ value: SQLValue, to index: Int32, in statement: PreparedStatement) throws {
        let h = statement.handle
        let rc: Int32
        switch value {
        case .null:
            rc = sqlite3_bind_null(h, index)
        case .integer(let v):
            rc = sqlite3_bind_int64(h, index, v)
        case .real(let v):
            rc = sqlite3_bind_double(h, index, v)
        case .bool(let v):
            rc = sqlite3_bind_int(h, index, v ? 1 : 0)
        case .text(let s):
            // withCString gives a non-null pointer even for "", so SQLite binds empty text, not NULL.
            rc = s.withCString { raftlite_bind_text(h, index, $0, Int32(s.utf8.count)) }
        case .blob(let bytes):
            if bytes.isEmpty {
                rc = sqlite3_bind_zeroblob(h, index, 0)
            } else {
                rc = bytes.withUnsafeBytes { raftlite_bind_blob(h, index, $0.baseAddress, Int32($0.count)) }
            }
        }
        if rc != SQLITE_OK { throw DatabaseError.last(handle) }
    }

    /// Binds a statement's parameters the way go-sqlite3 does (see DESIGN.md, "Parameters"):
    /// positional parameter `j` of the window starting at `start` binds to index `j+1`; every named
    /// parameter binds to each of `:name`, `@name`, `$name` that the statement contains.
    func bindParameters(_ parameters: [Parameter], start: Int, count: Int, to statement: PreparedStatement) throws {
        guard count > 0 else { return }
        for j in 0..<count {
            let parameter = parameters[start + j]
            if parameter.name == nil {
                try bind(parameter.value, to: Int32(j + 1), in: statement)
            }
        }
        for parameter in parameters {
            guard let name = parameter.name else { continue }
            for prefix in [":", "@", "$"] {
                let index = sqlite3_bind_parameter_index(statement.handle, prefix + name)
                if index > 0 { try bind(parameter.value, to: index, in: statement) }
            }
        }
    }

    // MARK: - Connection facts

    /// `sqlite3_changes64`: rows changed by the most recent INSERT/UPDATE/DELETE on this connection.
    public var changes: Int64 { handle.map { sqlite3_changes64($0) } ?? 0 }
    /// `sqlite3_last_insert_rowid`.
    public var lastInsertRowID: Int64 { handle.map { sqlite3_last_insert_rowid($0) } ?? 0 }

    /// Runs `body` (internal writes the client must not see) and restores the last-insert rowid that
    /// `execute` reports afterwards.
    public func invisibly<T>(_ body: () throws -> T) rethrows -> T {
        let rowid = lastInsertRowID
        defer { if let handle { sqlite3_set_last_insert_rowid(handle, rowid) } }
        return try body()
    }
    /// Whether no transaction is open (`sqlite3_get_autocommit`).
    public var isAutocommit: Bool { handle.map { sqlite3_get_autocommit($0) != 0 } ?? true }

    /// Whether the first statement of `sql` is read-only per `sqlite3_stmt_readonly` (EXPLAIN counts as
    /// read-only; an empty statement too). Throws the prepare error for invalid SQL — callers treat
    /// that as a write.
    public func isReadOnly(_ sql: String) throws -> Bool {
        let segment = try prepareSegment(SQLText(sql), at: 0, cacheKey: sql)
        guard let statement = segment.statement else { return true }
        defer { finish(statement) }
        return statement.isReadOnly || sqlite3_stmt_isexplain(statement.handle) != 0
    }

    /// Number of statements currently held in the prepared-statement cache.
    public var cachedStatementCount: Int { cache.count }
}

/// SQL text whose NUL-terminated bytes are built only when a statement must actually be compiled (a cache
/// hit needs none).
final class SQLText {
    let sql: String
    private var storage: [CChar]?

    init(_ sql: String) { self.sql = sql }

    var bytes: [CChar] {
        if let storage { return storage }
        let built = Array(sql.utf8CString)
        storage = built
        return built
    }
}
