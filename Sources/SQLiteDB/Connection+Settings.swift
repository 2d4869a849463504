import CSQLite

/// Settings the node changes at run time (rqlite: busy timeout around checkpoints, `synchronous=FULL`
/// while snapshotting, checkpointing under its own control).
extension Connection {
    /// `sqlite3_busy_timeout` in milliseconds (0 disables waiting).
    public func setBusyTimeout(milliseconds: Int) throws {
        try check(sqlite3_busy_timeout(try db(), Int32(clamping: milliseconds)))
    }

    /// `PRAGMA busy_timeout`.
    public func busyTimeout() throws -> Int { Int(try pragmaInt("PRAGMA busy_timeout")) }

    /// `PRAGMA synchronous=…`.
    public func setSynchronous(_ mode: Synchronous) throws { try run("PRAGMA synchronous=\(mode.rawValue)") }

    /// `PRAGMA synchronous` (0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA).
    public func synchronous() throws -> Int { Int(try pragmaInt("PRAGMA synchronous")) }

    /// `PRAGMA wal_autocheckpoint=…` (0 disables automatic checkpoints).
    public func setWALAutocheckpoint(pages: Int) throws { try run("PRAGMA wal_autocheckpoint=\(pages)") }

    /// `PRAGMA wal_autocheckpoint`.
    public func walAutocheckpoint() throws -> Int { Int(try pragmaInt("PRAGMA wal_autocheckpoint")) }
}
