import CSQLite

/// rqlite's mapping of SQLite values to result values: go-sqlite3's `SQLiteRows.Next` (decided by the
/// lower-cased declared type of the column) followed by rqlite's `normalizeRowValues` (decided by the
/// result's `types` entry). The table lives in DESIGN.md.
enum TypeMapping {
    /// Declared types go-sqlite3 turns into `time.Time`.
    static func isTimeType(_ declared: String) -> Bool {
        declared == "date" || declared == "datetime" || declared == "timestamp"
    }

    /// rqlite `isTextType`: declared types with text affinity, under which BLOB bytes are emitted as text.
    static func isTextType(_ t: String) -> Bool {
        t == "text" || t == "json" || t == "" || t.hasPrefix("varchar") || t.hasPrefix("varying character")
            || t.hasPrefix("nchar") || t.hasPrefix("native character") || t.hasPrefix("nvarchar")
            || t.hasPrefix("clob")
    }

    /// The value of column `i` of the current row.
    /// - `declared`: the column's lower-cased declared type (go-sqlite3's decision).
    /// - `type`: the result's current `types` entry (rqlite's decision; "" until inferred from row one).
    static func value(_ h: OpaquePointer, _ i: Int32, declared: String, type: String) throws -> SQLValue {
        switch sqlite3_column_type(h, i) {
        case SQLITE_INTEGER:
            let v = sqlite3_column_int64(h, i)
            if isTimeType(declared) { return try time(GoTime.fromUnix(v)) }
            if declared == "boolean" { return .bool(v > 0) }
            return .integer(v)
        case SQLITE_FLOAT:
            return .real(sqlite3_column_double(h, i))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(h, i))
            var bytes: [UInt8] = []
            if count > 0, let p = sqlite3_column_blob(h, i) {
                bytes = Array(UnsafeRawBufferPointer(start: p, count: count))
            }
            return isTextType(type) ? .text(GoString.decode(bytes)) : .blob(bytes)
        case SQLITE_TEXT:
            let count = Int(sqlite3_column_bytes(h, i))
            var bytes: [UInt8] = []
            if count > 0, let p = sqlite3_column_text(h, i) {
                bytes = Array(UnsafeRawBufferPointer(start: p, count: count))
            }
            if isTimeType(declared) { return try time(GoTime.fromSQLiteText(GoString.decode(bytes))) }
            return .text(GoString.decode(bytes))
        default:
            return .null
        }
    }

    static func time(_ t: GoTime) throws -> SQLValue {
        switch t.marshalText() {
        case .success(let text): return .text(text)
        case .failure(let error): throw error
        }
    }

    /// rqlite `populateEmptyTypes`: the type of an undeclared column, from the first row's value.
    static func inferredType(_ value: SQLValue) -> String {
        switch value {
        case .integer: return "integer"
        case .real: return "real"
        case .bool: return "boolean"
        case .blob: return "blob"
        case .text: return "text"
        case .null: return ""
        }
    }
}
