import Foundation

/// Why reading a handshake or frame stopped. Every case ends the connection.
enum FrameError: Error, Sendable {
    /// Orderly close at a frame boundary.
    case closed
    /// The peer closed inside a handshake or frame.
    case truncated
    case timeout
    case shutdown
    case io(Int32)
    case badHandshake(String)
    case oversized(Int)
    case malformed(String)
    case badChecksum

    init(_ failure: SocketFailure, boundary: Bool) {
        switch failure {
        case .eof: self = boundary ? .closed : .truncated
        case .timeout: self = .timeout
        case .shutdown: self = .shutdown
        case .io(let code): self = .io(code)
        }
    }

    var reason: String {
        switch self {
        case .closed: "connection closed by peer"
        case .truncated: "connection closed in the middle of a frame"
        case .timeout: "read deadline exceeded"
        case .shutdown: "transport shut down"
        case .io(let code): errnoDescription(code)
        case .badHandshake(let why): "bad handshake: \(why)"
        case .oversized(let length): "frame length \(length) exceeds the limit"
        case .malformed(let why): "malformed frame: \(why)"
        case .badChecksum: "frame checksum mismatch"
        }
    }
}

/// Reads handshakes and frames from one connection through a 64 KiB buffer, so a stream of small frames costs
/// one recv per buffer-full rather than per frame. Confined to the connection's reader thread.
///
/// Safety properties the tests pin down: the claimed length is checked against `maxFrameSize` and the kind is
/// checked before a single payload byte is read; the payload array grows with the bytes that actually arrive
/// (never pre-allocated to the claimed length); every wait for bytes is bounded by `readTimeout` except at a frame
/// boundary while `keepWaitingWhenIdle()` says so.
struct FrameReader {
    private let fd: Int32
    private let wake: Int32
    private let readTimeout: Double?
    private let maxFrameSize: Int
    private let countBytes: (Int) -> Void
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    private var start = 0
    private var end = 0

    /// `readTimeout == nil` waits forever at frame boundaries and mid-frame (used by callers whose peer, not
    /// they, enforces deadlines).
    init(fd: Int32, wake: Int32, readTimeout: Double?, maxFrameSize: Int, countBytes: @escaping (Int) -> Void) {
        self.fd = fd
        self.wake = wake
        self.readTimeout = readTimeout
        self.maxFrameSize = maxFrameSize
        self.countBytes = countBytes
    }

    private var available: Int { end - start }

    /// Ensures at least `count` (≤ 64 KiB) bytes are buffered.
    private mutating func fill(
        _ count: Int, timeout: Double?, boundary: Bool, keepWaitingWhenIdle: () -> Bool = { false }
    ) throws(FrameError) {
        precondition(count <= buffer.count, "FrameReader.fill(\(count)) exceeds its buffer")
        while available < count {
            if start == end {
                start = 0
                end = 0
            } else if buffer.count - start < count {
                buffer.withUnsafeMutableBytes { raw in
                    raw.baseAddress!.copyMemory(from: raw.baseAddress! + start, byteCount: end - start)
                }
                end -= start
                start = 0
            }
            do throws(SocketFailure) {
                let (fd, wake, end) = (self.fd, self.wake, self.end)
                let n = try buffer.withUnsafeMutableBytes { raw in
                    Result { () throws(SocketFailure) in
                        try receiveSome(
                            fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[end...]), wake: wake, timeout: timeout
                        )
                    }
                }.get()
                self.end += n
                countBytes(n)
            } catch .timeout where boundary && available == 0 && keepWaitingWhenIdle() {
                continue
            } catch {
                throw FrameError(error, boundary: boundary && available == 0)
            }
        }
    }

    /// Reads the dialer's handshake and returns its node ID. The whole handshake must arrive within `timeout`.
    mutating func readHandshake(timeout: Double) throws(FrameError) -> String {
        let deadline = monotonicNow() + timeout
        var timeout: Double { max(0, deadline - monotonicNow()) }
        // Check the magic as soon as it can be, so an HTTP request or a port scanner is turned away at once.
        try fill(Wire.magic.count, timeout: timeout, boundary: false)
        guard buffer[start..<start + Wire.magic.count].elementsEqual(Wire.magic) else {
            throw .badHandshake("bad magic")
        }
        try fill(Wire.magic.count + 1, timeout: timeout, boundary: false)
        let version = buffer[start + Wire.magic.count]
        guard version == Wire.version else { throw .badHandshake("unsupported protocol version \(version)") }
        try fill(Wire.handshakeFixedSize, timeout: timeout, boundary: false)
        let length = Int(loadLE(UInt16.self, from: buffer, at: start + 5))
        guard length > 0, length <= Wire.maxNodeIDLength else {
            throw .badHandshake("node ID length \(length)")
        }
        try fill(Wire.handshakeFixedSize + length, timeout: timeout, boundary: false)
        let idStart = start + Wire.handshakeFixedSize
        guard let nodeID = String(bytes: buffer[idStart..<idStart + length], encoding: .utf8) else {
            throw .badHandshake("node ID is not UTF-8")
        }
        start += Wire.handshakeFixedSize + length
        return nodeID
    }

    /// Reads one frame whose kind is in `accepted`. `keepWaitingWhenIdle` is asked when the read deadline passes
    /// at a frame boundary with nothing buffered; returning true keeps the connection open.
    mutating func readFrame(
        accepting accepted: Set<FrameKind>, keepWaitingWhenIdle: () -> Bool = { false }
    ) throws(FrameError) -> Frame {
        try fill(Wire.frameHeaderSize, timeout: readTimeout, boundary: true, keepWaitingWhenIdle: keepWaitingWhenIdle)
        let length = Int(loadLE(UInt32.self, from: buffer, at: start))
        let rawKind = buffer[start + 4]
        let expectedCRC = loadLE(UInt32.self, from: buffer, at: start + 5)
        guard length <= maxFrameSize else { throw .oversized(length) }
        guard let kind = FrameKind(rawValue: rawKind), accepted.contains(kind) else {
            throw .malformed("unexpected frame kind \(rawKind)")
        }
        guard length >= kind.prefixLength else {
            throw .malformed("body of \(length) bytes is shorter than the \(kind) prefix")
        }
        start += Wire.frameHeaderSize

        var crc = crc32Update(0, rawKind)
        try fill(kind.prefixLength, timeout: readTimeout, boundary: false)
        var id: UInt64 = 0
        var type: UInt8 = 0
        switch kind {
        case .message:
            type = buffer[start]
        case .request:
            id = loadLE(UInt64.self, from: buffer, at: start)
            type = buffer[start + 8]
        case .response, .errorResponse:
            id = loadLE(UInt64.self, from: buffer, at: start)
        case .ping:
            break
        }
        crc = buffer.withUnsafeBytes {
            crc32Update(crc, UnsafeRawBufferPointer(rebasing: $0[start..<start + kind.prefixLength]))
        }
        start += kind.prefixLength

        let payloadLength = length - kind.prefixLength
        var payload: [UInt8] = []
        // Grows with the bytes that arrive; appending doubles capacity, so a large frame costs O(log n) copies.
        payload.reserveCapacity(min(payloadLength, 256 * 1024))
        while payload.count < payloadLength {
            if available == 0 { try fill(1, timeout: readTimeout, boundary: false) }
            let take = min(available, payloadLength - payload.count)
            buffer.withUnsafeBytes { raw in
                let chunk = UnsafeRawBufferPointer(rebasing: raw[start..<start + take])
                crc = crc32Update(crc, chunk)
                payload.append(contentsOf: chunk)
            }
            start += take
        }
        guard crc == expectedCRC else { throw .badChecksum }
        return Frame(kind: kind, id: id, type: type, payload: payload)
    }
}
