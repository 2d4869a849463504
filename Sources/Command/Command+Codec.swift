import CZlib
import SQLiteDB

/// The binary encoding of `Command`, as stored in log entries and sent between nodes.
///
/// ```
/// u8 format version (1) | u8 kind | u8 flags (bit 0: body is zlib-compressed) | body
/// compressed body = u64 LE uncompressed length | zlib stream
/// ```
/// Bodies: execute/query/request = u8 options (bit 0 transaction, bit 1 timings), f64 LE timeout,
/// u32 LE statement count, then per statement: string sql, u8 forceQuery, u32 LE parameter count, per
/// parameter: u8 has-name, [string name], value. A value is a tag (0 null, 1 integer i64 LE, 2 real
/// f64 LE bits, 3 text string, 4 blob bytes, 5 bool u8). load = bytes image. setNodeMetadata = three
/// strings. loadBegin (6) = u64 id, u64 size, u32 chunks, bytes sha256. loadChunk (7) = u64 id, u32
/// sequence, u32 raw size, bytes zlib stream (compressed by the proposer, so the body itself is never
/// compressed again). loadCommit (8), loadAbort (9) = u64 id. A string or bytes is a u32 LE length
/// followed by the bytes. Kinds 6–9 were added without changing the format version: a node that does not
/// know them fails such an entry as undecodable (identically on every node of that version).
///
/// As in rqlite (REFERENCE §3.4) a body is compressed when the batch has at least 512 statements or a
/// statement of at least 4096 bytes, and kept compressed only if that is smaller; load images are
/// always compressed.
extension Command {
    static let formatVersion: UInt8 = 1
    static let compressStatementCount = 512
    static let compressStatementBytes = 4096

    enum Kind: UInt8 {
        case execute = 1, query = 2, request = 3, load = 4, setNodeMetadata = 5
        case loadBegin = 6, loadChunk = 7, loadCommit = 8, loadAbort = 9
    }

    public func encode() -> [UInt8] {
        var body = ByteWriter()
        let kind: Kind
        var wantsCompression = false
        switch self {
        case .execute(let batch), .query(let batch), .request(let batch):
            if case .execute = self { kind = .execute } else if case .query = self { kind = .query } else { kind = .request }
            Self.writeBatch(batch, into: &body)
            wantsCompression =
                batch.statements.count >= Self.compressStatementCount
                || batch.statements.contains { $0.sql.utf8.count >= Self.compressStatementBytes }
        case .load(let image):
            kind = .load
            body.bytes(image)
            wantsCompression = true
        case .setNodeMetadata(let id, let raftAddress, let apiURL):
            kind = .setNodeMetadata
            body.string(id)
            body.string(raftAddress)
            body.string(apiURL)
        case .loadBegin(let id, let size, let chunks, let sha256):
            kind = .loadBegin
            body.u64(id)
            body.u64(size)
            body.u32(chunks)
            body.bytes(sha256)
        case .loadChunk(let id, let sequence, let rawSize, let zlib):
            kind = .loadChunk
            body.u64(id)
            body.u32(sequence)
            body.u32(rawSize)
            body.bytes(zlib)
        case .loadCommit(let id):
            kind = .loadCommit
            body.u64(id)
        case .loadAbort(let id):
            kind = .loadAbort
            body.u64(id)
        }
        var out: [UInt8] = [Self.formatVersion, kind.rawValue]
        if wantsCompression, let compressed = Zlib.compress(body.buffer), compressed.count + 8 < body.buffer.count {
            out.append(1)
            var w = ByteWriter()
            w.u64(UInt64(body.buffer.count))
            out += w.buffer + compressed
        } else {
            out.append(0)
            out += body.buffer
        }
        return out
    }

    /// The kind of an encoded command, read from its header without decoding (or decompressing) the
    /// body; nil for bytes that are not an encoded command.
    public static func peekKind(_ bytes: [UInt8]) -> CommandKind? {
        guard bytes.count >= 3, bytes[0] == formatVersion, let kind = Kind(rawValue: bytes[1]) else { return nil }
        switch kind {
        case .execute: return .execute
        case .query: return .query
        case .request: return .request
        case .load: return .load
        case .setNodeMetadata: return .setNodeMetadata
        case .loadBegin: return .loadBegin
        case .loadChunk: return .loadChunk
        case .loadCommit: return .loadCommit
        case .loadAbort: return .loadAbort
        }
    }

    /// Decodes bytes produced by `encode`; throws on anything else, without trapping.
    public static func decode(_ bytes: [UInt8]) throws(CommandDecodingError) -> Command {
        guard bytes.count >= 3 else { throw CommandDecodingError("command too short") }
        guard bytes[0] == formatVersion else { throw CommandDecodingError("unsupported command format \(bytes[0])") }
        guard let kind = Kind(rawValue: bytes[1]) else { throw CommandDecodingError("unknown command kind \(bytes[1])") }
        var body = Array(bytes[3...])
        switch bytes[2] {
        case 0: break
        case 1:
            var r = ByteReader(body)
            let length = try r.u64()
            guard length <= UInt64(Int32.max) * 4 else { throw CommandDecodingError("implausible uncompressed length") }
            guard let plain = Zlib.decompress(Array(body[8...]), expectedLength: Int(length)) else {
                throw CommandDecodingError("corrupt compressed command")
            }
            body = plain
        default: throw CommandDecodingError("unknown command flags \(bytes[2])")
        }
        var r = ByteReader(body)
        let command: Command
        switch kind {
        case .execute: command = .execute(try readBatch(&r))
        case .query: command = .query(try readBatch(&r))
        case .request: command = .request(try readBatch(&r))
        case .load: command = .load(image: try r.bytes())
        case .setNodeMetadata: command = .setNodeMetadata(id: try r.string(), raftAddress: try r.string(), apiURL: try r.string())
        case .loadBegin: command = .loadBegin(id: try r.u64(), size: try r.u64(), chunks: try r.u32(), sha256: try r.bytes())
        case .loadChunk: command = .loadChunk(id: try r.u64(), sequence: try r.u32(), rawSize: try r.u32(), zlib: try r.bytes())
        case .loadCommit: command = .loadCommit(id: try r.u64())
        case .loadAbort: command = .loadAbort(id: try r.u64())
        }
        guard r.isAtEnd else { throw CommandDecodingError("trailing bytes after command") }
        return command
    }

    static func writeBatch(_ batch: StatementBatch, into w: inout ByteWriter) {
        w.u8((batch.transaction ? 1 : 0) | (batch.timings ? 2 : 0))
        w.u64(batch.timeout.bitPattern)
        w.u32(UInt32(batch.statements.count))
        for s in batch.statements {
            w.string(s.sql)
            w.u8(s.forceQuery ? 1 : 0)
            w.u32(UInt32(s.parameters.count))
            for p in s.parameters {
                if let name = p.name {
                    w.u8(1)
                    w.string(name)
                } else {
                    w.u8(0)
                }
                w.value(p.value)
            }
        }
    }

    static func readBatch(_ r: inout ByteReader) throws(CommandDecodingError) -> StatementBatch {
        let options = try r.u8()
        let timeout = Double(bitPattern: try r.u64())
        let count = Int(try r.u32())
        guard count <= r.remaining else { throw CommandDecodingError("statement count exceeds the data") }
        var statements: [Statement] = []
        statements.reserveCapacity(count)
        for _ in 0..<count {
            let sql = try r.string()
            let forceQuery = try r.u8() != 0
            let parameterCount = Int(try r.u32())
            guard parameterCount <= r.remaining else { throw CommandDecodingError("parameter count exceeds the data") }
            var parameters: [Parameter] = []
            parameters.reserveCapacity(parameterCount)
            for _ in 0..<parameterCount {
                let name: String? = try r.u8() != 0 ? try r.string() : nil
                let value = try r.value()
                parameters.append(Parameter(name: name, value: value))
            }
            statements.append(Statement(sql: sql, parameters: parameters, forceQuery: forceQuery))
        }
        return StatementBatch(statements: statements, transaction: options & 1 != 0, timings: options & 2 != 0, timeout: timeout)
    }
}

/// Appends little-endian primitives to a byte buffer.
public struct ByteWriter {
    public var buffer: [UInt8] = []
    public init() {}

    public mutating func u8(_ v: UInt8) { buffer.append(v) }
    public mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { buffer.append(contentsOf: $0) } }
    public mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { buffer.append(contentsOf: $0) } }
    public mutating func bytes(_ v: [UInt8]) {
        u32(UInt32(v.count))
        buffer.append(contentsOf: v)
    }
    public mutating func string(_ v: String) { bytes(Array(v.utf8)) }
}

/// Reads little-endian primitives with bounds checks; never traps on short or hostile input.
public struct ByteReader {
    let data: [UInt8]
    var position = 0

    public init(_ data: [UInt8]) { self.data = data }

    public var remaining: Int { data.count - position }
    public var isAtEnd: Bool { position == data.count }

    public mutating func take(_ n: Int) throws(CommandDecodingError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else { throw CommandDecodingError("command truncated") }
        defer { position += n }
        return data[position..<(position + n)]
    }

    public mutating func u8() throws(CommandDecodingError) -> UInt8 { try take(1).first! }

    public mutating func u32() throws(CommandDecodingError) -> UInt32 {
        try take(4).reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    public mutating func u64() throws(CommandDecodingError) -> UInt64 {
        try take(8).reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }

    public mutating func bytes() throws(CommandDecodingError) -> [UInt8] {
        let n = Int(try u32())
        return Array(try take(n))
    }

    public mutating func string() throws(CommandDecodingError) -> String {
        let raw = try bytes()
        guard let s = String(validating: raw, as: UTF8.self) else { throw CommandDecodingError("invalid UTF-8 in command") }
        return s
    }
}
