import Foundation
import TestSupport

@testable import Transport

#if canImport(Glibc)
    import Glibc
#endif

/// A handler that records one-way messages and answers calls through `onCall` (echo by default).
final class RecordingHandler: TransportHandler, @unchecked Sendable {
    // Lock discipline: `lock` guards `messages` and `calls`.
    struct Message: Equatable {
        var type: UInt8
        var payload: [UInt8]
        var from: String
    }

    typealias CallBehaviour = @Sendable (UInt8, [UInt8], String, @escaping @Sendable ([UInt8]) -> Void) -> Void

    private let lock = NSLock()
    private var messages: [Message] = []
    private var calls = 0
    private let onCall: CallBehaviour

    init(onCall: @escaping CallBehaviour = { _, payload, _, respond in respond(payload) }) {
        self.onCall = onCall
    }

    func received(type: UInt8, payload: [UInt8], from nodeID: String) {
        lock.withLock { messages.append(Message(type: type, payload: payload, from: nodeID)) }
    }

    func handleCall(type: UInt8, payload: [UInt8], from nodeID: String, respond: @escaping @Sendable ([UInt8]) -> Void)
    {
        lock.withLock { calls += 1 }
        onCall(type, payload, nodeID, respond)
    }

    var received: [Message] { lock.withLock { messages } }
    var receivedCount: Int { lock.withLock { messages.count } }
    var callCount: Int { lock.withLock { calls } }
}

/// A transport listening on 127.0.0.1 (port 0 unless given) and its address.
func listeningTransport(
    _ nodeID: String, handler: any TransportHandler, port: Int = 0,
    configure: (inout TransportConfiguration) -> Void = { _ in }
) throws -> (transport: Transport, address: String) {
    var configuration = TransportConfiguration()
    configure(&configuration)
    let transport = try Transport(nodeID: nodeID, configuration: configuration)
    let bound = try transport.listen(on: "127.0.0.1:\(port)", handler: handler)
    return (transport, "127.0.0.1:\(bound)")
}

func clientTransport(_ nodeID: String, configure: (inout TransportConfiguration) -> Void = { _ in }) throws -> Transport
{
    var configuration = TransportConfiguration()
    configure(&configuration)
    return try Transport(nodeID: nodeID, configuration: configuration)
}

/// Collects call outcomes from completion handlers on any thread.
final class Outcomes: @unchecked Sendable {
    // Lock discipline: `lock` guards `results`.
    private let lock = NSLock()
    private var results: [Int: Result<[UInt8], TransportError>] = [:]

    func record(_ key: Int, _ result: Result<[UInt8], TransportError>) { lock.withLock { results[key] = result } }
    var count: Int { lock.withLock { results.count } }
    subscript(key: Int) -> Result<[UInt8], TransportError>? { lock.withLock { results[key] } }
}

/// Raw bytes a hostile or broken peer might send.
enum RawFrames {
    static func handshake(_ nodeID: String = "raw") -> [UInt8] { Wire.handshake(nodeID: nodeID) }

    static func message(type: UInt8, payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        Wire.appendFrame(kind: .message, type: type, payload: payload, to: &out)
        return out
    }

    static func header(length: UInt32, kind: UInt8, crc: UInt32 = 0) -> [UInt8] {
        var out: [UInt8] = []
        appendLE(length, to: &out)
        out.append(kind)
        appendLE(crc, to: &out)
        return out
    }
}

/// CRC-32 (IEEE) computed bit by bit: an independent check of the zlib-based implementation.
func referenceCRC32(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for byte in bytes {
        crc ^= UInt32(byte)
        for _ in 0..<8 { crc = (crc >> 1) ^ (crc & 1 == 1 ? 0xEDB8_8320 : 0) }
    }
    return ~crc
}

/// `count` bytes of a seeded pattern that repeats every 4093 bytes (a prime, so it never lines up with buffer or
/// chunk sizes). Built by copying blocks, so multi-megabyte payloads are cheap even in debug builds.
func pattern(_ count: Int, seed: UInt8 = 0) -> [UInt8] {
    let block = (0..<4093).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
    var out: [UInt8] = []
    out.reserveCapacity(count)
    while out.count < count { out += block.prefix(count - out.count) }
    return out
}

func sequenceNumber(_ payload: [UInt8]) -> UInt32 {
    payload.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) }
}

func encodeSequence(_ n: UInt32, size: Int = 4) -> [UInt8] {
    var out: [UInt8] = []
    appendLE(n, to: &out)
    if size > 4 { out += [UInt8](repeating: 0xAB, count: size - 4) }
    return out
}
