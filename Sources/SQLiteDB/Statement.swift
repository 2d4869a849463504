/// A value bound to, or read from, SQLite — after rqlite's type mapping.
///
/// Reading: INTEGER → `.integer`, REAL → `.real`, TEXT → `.text`, BLOB → `.blob` (or `.text` when the
/// column has text affinity), NULL → `.null`; a column declared BOOLEAN yields `.bool`, and a column
/// declared DATE/DATETIME/TIMESTAMP yields `.text` holding an RFC 3339 time when the stored value parses
/// as one. Binding: `.bool` binds as integer 0/1.
public enum SQLValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    case bool(Bool)
}

/// One parameter of a statement: positional when `name` is nil, otherwise bound by name
/// (`:name`, `@name` or `$name` in the SQL).
public struct Parameter: Sendable, Hashable {
    public var name: String?
    public var value: SQLValue

    public init(name: String? = nil, value: SQLValue) {
        self.name = name
        self.value = value
    }
}

/// One SQL statement of a request, with its parameters.
public struct Statement: Sendable, Hashable {
    /// The SQL text (possibly several `;`-separated statements when it came as text/plain).
    public var sql: String
    public var parameters: [Parameter]
    /// Execute as a query returning rows even on the write path (statements with `RETURNING`).
    public var forceQuery: Bool

    public init(sql: String, parameters: [Parameter] = [], forceQuery: Bool = false) {
        self.sql = sql
        self.parameters = parameters
        self.forceQuery = forceQuery
    }
}

/// The outcome of a write statement. Zero fields are omitted from JSON (`{}` for DDL).
public struct ExecuteResult: Sendable, Hashable {
    public var lastInsertID: Int64
    public var rowsAffected: Int64
    /// Seconds spent executing; reported only with `timings`.
    public var time: Double

    public init(lastInsertID: Int64 = 0, rowsAffected: Int64 = 0, time: Double = 0) {
        self.lastInsertID = lastInsertID
        self.rowsAffected = rowsAffected
        self.time = time
    }
}

/// The rows returned by a query statement.
public struct QueryRows: Sendable, Hashable {
    public var columns: [String]
    /// Lower-cased declared types; inferred from the first row's value when undeclared (`""` if NULL).
    public var types: [String]
    public var values: [[SQLValue]]
    /// Seconds spent executing; reported only with `timings`.
    public var time: Double

    public init(columns: [String] = [], types: [String] = [], values: [[SQLValue]] = [], time: Double = 0) {
        self.columns = columns
        self.types = types
        self.values = values
        self.time = time
    }
}

/// The result of one statement, in request order.
public enum StatementResult: Sendable, Hashable {
    case write(ExecuteResult)
    case rows(QueryRows)
    /// A per-statement SQL error (`{"error":"no such table: foo"}`). `time` is always 0 from SQLiteDB:
    /// rqlite reports no time for a failed statement, even with `timings`.
    case error(String, time: Double)
}
