import CZlib

/// The internode wire format. `DESIGN.md` ("Wire format") is the specification; keep the two in step.
///
/// A dialer opens with a handshake — `RLT1`, a version byte, the dialer's node ID as u16 LE length + UTF-8 —
/// and then both sides exchange frames:
///
/// ```
/// u32 LE length   bytes after this 9-byte header (kind prefix + payload), at most the configured maximum
/// u8     kind     FrameKind
/// u32 LE crc32    CRC-32 (IEEE, zlib) of the kind byte followed by the `length` body bytes
/// body            kind prefix (see FrameKind.prefixLength) + payload
/// ```
enum Wire {
    static let magic: [UInt8] = [0x52, 0x4C, 0x54, 0x31]  // "RLT1"
    static let version: UInt8 = 1
    /// Node IDs longer than this are refused in handshakes (and by `Transport.init`).
    static let maxNodeIDLength = 1024
    static let handshakeFixedSize = 7  // magic + version + u16 node-ID length
    static let frameHeaderSize = 9

    static func handshake(nodeID: String) -> [UInt8] {
        let id = Array(nodeID.utf8)
        var out = magic
        out.append(version)
        appendLE(UInt16(id.count), to: &out)
        out += id
        return out
    }

    /// Appends one complete frame to `out`. The caller has checked `payload.count + kind.prefixLength` against the
    /// frame limit.
    static func appendFrame(
        kind: FrameKind, id: UInt64 = 0, type: UInt8 = 0, payload: [UInt8], to out: inout [UInt8]
    ) {
        let length = kind.prefixLength + payload.count
        appendLE(UInt32(length), to: &out)
        out.append(kind.rawValue)
        let crcOffset = out.count
        appendLE(UInt32(0), to: &out)
        let bodyStart = out.count
        switch kind {
        case .message:
            out.append(type)
        case .request:
            appendLE(id, to: &out)
            out.append(type)
        case .response, .errorResponse:
            appendLE(id, to: &out)
        case .ping:
            break
        }
        out += payload
        var crc = crc32Update(0, kind.rawValue)
        crc = out.withUnsafeBytes { crc32Update(crc, UnsafeRawBufferPointer(rebasing: $0[bodyStart...])) }
        out.withUnsafeMutableBytes { $0.storeBytes(of: crc.littleEndian, toByteOffset: crcOffset, as: UInt32.self) }
    }
}

/// What a frame is for. The kind decides the fixed prefix that precedes the payload in the body.
enum FrameKind: UInt8, Sendable {
    /// One-way message: prefix `u8 type`. Dialer → listener.
    case message = 1
    /// Call request: prefix `u64 LE request id, u8 type`. Dialer → listener.
    case request = 2
    /// Call response: prefix `u64 LE request id`. Listener → dialer.
    case response = 3
    /// The listener could not answer the call (e.g. the response exceeded the frame limit): prefix
    /// `u64 LE request id`, payload a UTF-8 message. Listener → dialer.
    case errorResponse = 4
    /// Keeps an idle one-way connection inside the listener's read deadline. Empty body. Dialer → listener.
    case ping = 5

    var prefixLength: Int {
        switch self {
        case .message: 1
        case .request: 9
        case .response, .errorResponse: 8
        case .ping: 0
        }
    }
}

/// A decoded frame; `id` and `type` are zero where the kind has none.
struct Frame: Sendable {
    var kind: FrameKind
    var id: UInt64
    var type: UInt8
    var payload: [UInt8]
}

@inline(__always)
func appendLE<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
    withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
}

@inline(__always)
func loadLE<T: FixedWidthInteger>(_ type: T.Type, from bytes: [UInt8], at offset: Int) -> T {
    bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
}

/// CRC-32 (IEEE 802.3, as zlib and Go's `hash/crc32.ChecksumIEEE`) continued over `bytes`.
func crc32Update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
    guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
    // zlib takes a 32-bit length; frames are far below 4 GiB, but stay correct for any size.
    var crc = uLong(crc)
    var offset = 0
    while offset < bytes.count {
        let n = min(bytes.count - offset, 1 << 30)
        crc = crc32(crc, (base + offset).assumingMemoryBound(to: Bytef.self), uInt(n))
        offset += n
    }
    return UInt32(truncatingIfNeeded: crc)
}

func crc32Update(_ crc: UInt32, _ byte: UInt8) -> UInt32 {
    withUnsafeBytes(of: byte) { crc32Update(crc, $0) }
}
