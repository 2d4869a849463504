import CSQLite

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An error reported by SQLite (or by this module on SQLite's behalf).
///
/// `message` is the text rqlite would put in a result's `error` field: SQLite's `sqlite3_errmsg`, with
/// `": <errno text>"` appended for `SQLITE_CANTOPEN`/`SQLITE_IOERR` the way go-sqlite3 renders it.
public struct DatabaseError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The primary result code (`SQLITE_ERROR`, `SQLITE_CONSTRAINT`, ...), or `SQLITE_ERROR` for errors this
    /// module raises itself (e.g. "not enough args").
    public var resultCode: Int32
    /// The extended result code (`SQLITE_CONSTRAINT_UNIQUE`, ...); equal to `resultCode` when unknown.
    public var extendedResultCode: Int32
    public var message: String

    public init(resultCode: Int32, extendedResultCode: Int32? = nil, message: String) {
        self.resultCode = resultCode
        self.extendedResultCode = extendedResultCode ?? resultCode
        self.message = message
    }

    public var description: String { message }

    /// SQLITE_INTERRUPT: the statement was interrupted (deadline or `interrupt()`).
    public var isInterrupt: Bool { resultCode == SQLITE_INTERRUPT }
    /// SQLITE_BUSY / SQLITE_LOCKED.
    public var isBusy: Bool { resultCode == SQLITE_BUSY || resultCode == SQLITE_LOCKED }
    /// SQLITE_CONSTRAINT.
    public var isConstraint: Bool { resultCode == SQLITE_CONSTRAINT }

    /// The error SQLite currently reports for `db`.
    static func last(_ db: OpaquePointer?) -> DatabaseError {
        let code = sqlite3_errcode(db) & 0xff
        let extended = sqlite3_extended_errcode(db)
        var message = String(cString: sqlite3_errmsg(db))
        if code == SQLITE_CANTOPEN || (code == SQLITE_IOERR && extended != SQLITE_IOERR | (12 << 8) /* SQLITE_IOERR_NOMEM */) {
            let errno = sqlite3_system_errno(db)
            if errno != 0 { message += ": " + goErrnoText(errno) }
        }
        return DatabaseError(resultCode: code, extendedResultCode: extended, message: message)
    }

    /// An error for a result code when no connection is available.
    static func code(_ rc: Int32, _ what: String? = nil) -> DatabaseError {
        let text = String(cString: sqlite3_errstr(rc))
        return DatabaseError(resultCode: rc & 0xff, extendedResultCode: rc, message: what.map { "\($0): \(text)" } ?? text)
    }

    static func misuse(_ message: String) -> DatabaseError {
        DatabaseError(resultCode: SQLITE_MISUSE, message: message)
    }
}

/// Go's `syscall.Errno.Error()` text: strerror with a lower-case first letter ("no such file or directory").
private func goErrnoText(_ errno: Int32) -> String {
    guard let text = strerror(errno) else { return "errno \(errno)" }
    let s = String(cString: text)
    guard let first = s.first else { return s }
    return first.lowercased() + s.dropFirst()
}
