import JSON
import SQLiteDB

/// Encodes the response envelope of execute/query/request (REFERENCE §1.3–1.7) with Go's bytes:
/// `{"results":[...],"error":...,"time":...,"sequence_number":...,"raft_index":...}`, zero fields omitted.
public struct ResultEncoder: Sendable {
    public var pretty = false
    public var timings = false
    public var associative = false
    public var blobArray = false

    public init(pretty: Bool = false, timings: Bool = false, associative: Bool = false, blobArray: Bool = false) {
        self.pretty = pretty
        self.timings = timings
        self.associative = associative
        self.blobArray = blobArray
    }

    public init(_ params: QueryParameters) {
        self.init(
            pretty: params.pretty, timings: params.timings, associative: params.associative,
            blobArray: params.blobArray)
    }

    /// The whole envelope. `time` is written only with `timings` and when non-zero; `raftIndex` and
    /// `sequenceNumber` only when non-zero.
    public func envelope(
        results: [StatementResult], error: String? = nil, time: Double = 0, sequenceNumber: Int64 = 0,
        raftIndex: UInt64 = 0
    ) -> [UInt8] {
        var w = JSONWriter(pretty: pretty, capacity: 64 + results.count * 64)
        w.beginObject()
        w.key("results")
        w.beginArray()
        for r in results { encode(r, into: &w) }
        w.endArray()
        if let error, !error.isEmpty {
            w.key("error")
            w.string(error)
        }
        if timings && time != 0 {
            w.key("time")
            w.double(time)
        }
        if sequenceNumber != 0 {
            w.key("sequence_number")
            w.integer(sequenceNumber)
        }
        if raftIndex != 0 {
            w.key("raft_index")
            w.unsigned(raftIndex)
        }
        w.endObject()
        return w.bytes
    }

    /// One element of `results`.
    public func encode(_ result: StatementResult, into w: inout JSONWriter) {
        switch result {
        case .write(let r):
            w.beginObject()
            if r.lastInsertID != 0 {
                w.key("last_insert_id")
                w.integer(r.lastInsertID)
            }
            if r.rowsAffected != 0 {
                w.key("rows_affected")
                w.integer(r.rowsAffected)
            }
            writeTime(r.time, into: &w)
            if associative {
                w.key("rows")
                w.null()
            }
            w.endObject()
        case .error(let message, let time):
            w.beginObject()
            if !message.isEmpty {
                w.key("error")
                w.string(message)
            }
            writeTime(time, into: &w)
            w.endObject()
        case .rows(let q):
            if associative {
                encodeAssociative(q, into: &w)
            } else {
                encodeRows(q, into: &w)
            }
        }
    }

    private func writeTime(_ t: Double, into w: inout JSONWriter) {
        if timings && t != 0 {
            w.key("time")
            w.double(t)
        }
    }

    private func encodeRows(_ q: QueryRows, into w: inout JSONWriter) {
        w.beginObject()
        if !q.columns.isEmpty {
            w.key("columns")
            w.beginArray()
            for c in q.columns { w.string(c) }
            w.endArray()
        }
        if !q.types.isEmpty {
            w.key("types")
            w.beginArray()
            for t in q.types { w.string(t) }
            w.endArray()
        }
        if !q.values.isEmpty {
            w.key("values")
            w.beginArray()
            for row in q.values {
                w.beginArray()
                for v in row { value(v, into: &w) }
                w.endArray()
            }
            w.endArray()
        }
        writeTime(q.time, into: &w)
        w.endObject()
    }

    /// Associative rows are Go maps: keys sorted bytewise, a repeated column name keeps its last value.
    private func encodeAssociative(_ q: QueryRows, into w: inout JSONWriter) {
        // Column order after sorting; for duplicates the last index wins.
        var lastIndex: [String: Int] = [:]
        for (i, c) in q.columns.enumerated() { lastIndex[c] = i }
        let order = lastIndex.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        w.beginObject()
        if !order.isEmpty && !q.types.isEmpty {
            w.key("types")
            w.beginObject()
            for (name, i) in order where i < q.types.count {
                w.key(name)
                w.string(q.types[i])
            }
            w.endObject()
        }
        w.key("rows")
        w.beginArray()
        for row in q.values {
            w.beginObject()
            for (name, i) in order {
                w.key(name)
                if i < row.count { value(row[i], into: &w) } else { w.null() }
            }
            w.endObject()
        }
        w.endArray()
        writeTime(q.time, into: &w)
        w.endObject()
    }

    public func value(_ v: SQLValue, into w: inout JSONWriter) {
        switch v {
        case .null: w.null()
        case .integer(let i): w.integer(i)
        case .real(let d): w.double(d)
        case .text(let s): w.string(s)
        case .bool(let b): w.bool(b)
        case .blob(let bytes):
            if blobArray {
                w.beginArray()
                for b in bytes { w.integer(Int64(b)) }
                w.endArray()
            } else {
                w.string(Base64.encode(bytes))
            }
        }
    }
}

/// Standard, padded base64 (Go's `encoding/base64.StdEncoding`, used for `[]byte` in JSON).
public enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(contentsOf: [0x3D, 0x3D])
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(0x3D)
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes standard padded base64; nil when malformed.
    public static func decode(_ text: String) -> [UInt8]? {
        let b = Array(text.utf8)
        guard b.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        var i = 0
        func val(_ c: UInt8) -> UInt32? {
            switch c {
            case 0x41...0x5A: return UInt32(c - 0x41)
            case 0x61...0x7A: return UInt32(c - 0x61 + 26)
            case 0x30...0x39: return UInt32(c - 0x30 + 52)
            case 0x2B: return 62
            case 0x2F: return 63
            default: return nil
            }
        }
        while i < b.count {
            let pad = (b[i + 2] == 0x3D ? 1 : 0) + (b[i + 3] == 0x3D ? 1 : 0)
            if pad > 0 && i + 4 != b.count { return nil }
            if b[i + 2] == 0x3D && b[i + 3] != 0x3D { return nil }
            guard let a = val(b[i]), let c = val(b[i + 1]) else { return nil }
            let d = pad >= 2 ? 0 : val(b[i + 2])
            let e = pad >= 1 ? 0 : val(b[i + 3])
            guard let d, let e else { return nil }
            let n = a << 18 | c << 12 | d << 6 | e
            out.append(UInt8(n >> 16 & 0xFF))
            if pad < 2 { out.append(UInt8(n >> 8 & 0xFF)) }
            if pad < 1 { out.append(UInt8(n & 0xFF)) }
            i += 4
        }
        return out
    }
}
