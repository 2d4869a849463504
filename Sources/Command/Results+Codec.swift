import SQLiteDB

/// The binary encoding of statement results, as a leader returns them to the node that forwarded a
/// request: `u64 raft index, u32 count`, then per result a tag (1 write: i64 last insert id, i64 rows
/// affected, f64 time; 2 rows: u32 column count, strings columns, strings types, u32 row count, values,
/// f64 time; 3 error: string message, f64 time). Values use the command encoding's value tags.
public enum ResultsCodec {
    public static func encode(_ results: [StatementResult], raftIndex: UInt64) -> [UInt8] {
        var w = ByteWriter()
        w.u64(raftIndex)
        w.u32(UInt32(results.count))
        for result in results {
            switch result {
            case .write(let r):
                w.u8(1)
                w.u64(UInt64(bitPattern: r.lastInsertID))
                w.u64(UInt64(bitPattern: r.rowsAffected))
                w.u64(r.time.bitPattern)
            case .rows(let rows):
                w.u8(2)
                w.u32(UInt32(rows.columns.count))
                for c in rows.columns { w.string(c) }
                w.u32(UInt32(rows.types.count))
                for t in rows.types { w.string(t) }
                w.u32(UInt32(rows.values.count))
                for row in rows.values {
                    w.u32(UInt32(row.count))
                    for v in row { w.value(v) }
                }
                w.u64(rows.time.bitPattern)
            case .error(let message, let time):
                w.u8(3)
                w.string(message)
                w.u64(time.bitPattern)
            }
        }
        return w.buffer
    }

    public static func decode(_ bytes: [UInt8]) throws(CommandDecodingError) -> (results: [StatementResult], raftIndex: UInt64) {
        var r = ByteReader(bytes)
        let raftIndex = try r.u64()
        let count = Int(try r.u32())
        guard count <= r.remaining else { throw CommandDecodingError("result count exceeds the data") }
        var results: [StatementResult] = []
        for _ in 0..<count {
            switch try r.u8() {
            case 1:
                results.append(
                    .write(
                        ExecuteResult(
                            lastInsertID: Int64(bitPattern: try r.u64()), rowsAffected: Int64(bitPattern: try r.u64()),
                            time: Double(bitPattern: try r.u64()))))
            case 2:
                let columns = try r.strings()
                let types = try r.strings()
                let rowCount = Int(try r.u32())
                guard rowCount <= r.remaining else { throw CommandDecodingError("row count exceeds the data") }
                var values: [[SQLValue]] = []
                values.reserveCapacity(rowCount)
                for _ in 0..<rowCount {
                    let n = Int(try r.u32())
                    guard n <= r.remaining else { throw CommandDecodingError("value count exceeds the data") }
                    var row: [SQLValue] = []
                    row.reserveCapacity(n)
                    for _ in 0..<n { row.append(try r.value()) }
                    values.append(row)
                }
                results.append(.rows(QueryRows(columns: columns, types: types, values: values, time: Double(bitPattern: try r.u64()))))
            case 3:
                results.append(.error(try r.string(), time: Double(bitPattern: try r.u64())))
            case let tag:
                throw CommandDecodingError("unknown result tag \(tag)")
            }
        }
        guard r.isAtEnd else { throw CommandDecodingError("trailing bytes after results") }
        return (results, raftIndex)
    }
}

extension ByteWriter {
    public mutating func value(_ v: SQLValue) {
        switch v {
        case .null: u8(0)
        case .integer(let x):
            u8(1)
            u64(UInt64(bitPattern: x))
        case .real(let x):
            u8(2)
            u64(x.bitPattern)
        case .text(let x):
            u8(3)
            string(x)
        case .blob(let x):
            u8(4)
            bytes(x)
        case .bool(let x):
            u8(5)
            u8(x ? 1 : 0)
        }
    }
}

extension ByteReader {
    public mutating func value() throws(CommandDecodingError) -> SQLValue {
        switch try u8() {
        case 0: return .null
        case 1: return .integer(Int64(bitPattern: try u64()))
        case 2: return .real(Double(bitPattern: try u64()))
        case 3: return .text(try string())
        case 4: return .blob(try bytes())
        case 5: return .bool(try u8() != 0)
        case let tag: throw CommandDecodingError("unknown value tag \(tag)")
        }
    }

    public mutating func strings() throws(CommandDecodingError) -> [String] {
        let n = Int(try u32())
        guard n <= remaining else { throw CommandDecodingError("string count exceeds the data") }
        var out: [String] = []
        for _ in 0..<n { out.append(try string()) }
        return out
    }
}
