import CSQLite

/// One compiled SQL statement (`sqlite3_stmt`), finalized when the last reference goes away.
///
/// Internal to the module: statements never outlive their `Connection` (the connection owns its cache and
/// finalizes it before closing) and are used only on the connection's thread.
final class PreparedStatement {
    let handle: OpaquePointer
    /// Whether the statement lives in the connection's cache (reset and kept after use) or is one-shot.
    let cached: Bool

    init(handle: OpaquePointer, cached: Bool) {
        self.handle = handle
        self.cached = cached
    }

    deinit {
        sqlite3_finalize(handle)
    }

    var parameterCount: Int { Int(sqlite3_bind_parameter_count(handle)) }
    var columnCount: Int { Int(sqlite3_column_count(handle)) }
    var isReadOnly: Bool { sqlite3_stmt_readonly(handle) != 0 }

    func columnName(_ i: Int) -> String {
        guard let name = sqlite3_column_name(handle, Int32(i)) else { return "" }
        return String(cString: name)
    }

    /// The declared type of a result column, lower-cased ("" for expressions).
    func declaredType(_ i: Int) -> String {
        guard let decl = sqlite3_column_decltype(handle, Int32(i)) else { return "" }
        return String(cString: decl).lowercased()
    }

    /// Resets the statement and clears its bindings so it can be reused.
    func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }
}

/// Bounded cache of prepared statements keyed by their SQL text (least recently used goes first).
struct StatementCache {
    private var entries: [String: (statement: PreparedStatement, lastUse: UInt64)] = [:]
    private var clock: UInt64 = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    var count: Int { entries.count }

    mutating func get(_ sql: String) -> PreparedStatement? {
        guard let entry = entries[sql] else { return nil }
        clock += 1
        entries[sql] = (entry.statement, clock)
        return entry.statement
    }

    mutating func put(_ sql: String, _ statement: PreparedStatement) {
        guard capacity > 0 else { return }
        if entries.count >= capacity, entries[sql] == nil,
            let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse })?.key
        {
            entries[oldest] = nil
        }
        clock += 1
        entries[sql] = (statement, clock)
    }

    mutating func removeAll() { entries.removeAll() }
}
