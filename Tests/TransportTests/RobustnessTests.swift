import Foundation
import TestSupport
import Testing

@testable import Transport

#if canImport(Glibc)
    import Glibc
#endif

/// Hostile or broken bytes from a raw socket: each closes its connection and is counted; the listener keeps
/// serving well-behaved peers throughout.
@Suite struct RobustnessTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var bytes: [UInt8]
        /// Half-close after sending (the peer "hangs up" mid-frame).
        var hangUp = false
        var counter: @Sendable (TransportStats) -> UInt64
        var testDescription: String { name }
    }

    static let cases: [Case] = {
        let hello = RawFrames.handshake()
        var badCRC = RawFrames.message(type: 1, payload: [1, 2, 3, 4])
        badCRC[badCRC.count - 1] ^= 0xFF
        var unknownKind = RawFrames.header(length: 0, kind: 0x77)
        unknownKind = RawFrames.header(length: 0, kind: 0x77, crc: referenceCRC32([0x77]))
        var response: [UInt8] = []
        Wire.appendFrame(kind: .response, id: 1, payload: [], to: &response)  // only listeners send responses
        return [
            Case(name: "garbage", bytes: Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)) { $0.handshakesRejected },
            Case(name: "bad magic", bytes: Array("RLT2".utf8) + [1, 1, 0, 0x41]) { $0.handshakesRejected },
            Case(name: "bad version", bytes: Wire.magic + [9, 1, 0, 0x41]) { $0.handshakesRejected },
            Case(name: "empty node ID", bytes: Wire.magic + [1, 0, 0]) { $0.handshakesRejected },
            Case(name: "oversized node ID", bytes: Wire.magic + [1, 0xFF, 0xFF]) { $0.handshakesRejected },
            Case(name: "truncated handshake", bytes: Wire.magic + [1, 5, 0, 0x41], hangUp: true) {
                $0.handshakesRejected
            },
            Case(name: "bad CRC", bytes: hello + badCRC) { $0.checksumErrors },
            Case(name: "oversized length", bytes: hello + RawFrames.header(length: 0xFFFF_FFFF, kind: 1)) {
                $0.oversizedFrames
            },
            Case(name: "just over the limit", bytes: hello + RawFrames.header(length: 16 << 20 + 1, kind: 1)) {
                $0.oversizedFrames
            },
            Case(name: "unknown kind", bytes: hello + unknownKind) { $0.malformedFrames },
            Case(name: "response sent to a listener", bytes: hello + response) { $0.malformedFrames },
            Case(name: "message without its type byte", bytes: hello + RawFrames.header(length: 0, kind: 1)) {
                $0.malformedFrames
            },
            Case(
                name: "truncated frame", bytes: hello + RawFrames.header(length: 100, kind: 1) + pattern(10),
                hangUp: true
            ) {
                $0.truncatedFrames
            },
            Case(name: "truncated header", bytes: hello + [50, 0, 0], hangUp: true) { $0.truncatedFrames },
        ]
    }()

    @Test(arguments: cases)
    func badInputClosesTheConnectionAndIsCounted(_ bad: Case) throws {
        let handler = RecordingHandler()
        let (server, address) = try listeningTransport("node-b", handler: handler)
        let client = try clientTransport("node-a")
        defer {
            client.shutdown()
            server.shutdown()
        }
        client.send(to: address, type: 1, payload: [1])
        #expect(eventually(timeout: 10) { handler.receivedCount == 1 })
        let before = server.stats()

        let raw = try HTTPConnection(port: server.boundPort!, timeout: 10)
        try raw.send(bad.bytes)
        if bad.hangUp { shutdown(raw.fd, Int32(SHUT_WR)) }
        #expect(raw.peerClosed(), "the listener kept a connection open after \(bad.name)")
        #expect(eventually(timeout: 10) { bad.counter(server.stats()) == bad.counter(before) + 1 })
        #expect(eventually(timeout: 10) { server.stats().inboundActive == 1 })  // only the good peer is left
        #expect(handler.receivedCount == 1)  // nothing from the bad connection was delivered

        // The listener still serves the good peer on its existing connection and new ones.
        client.send(to: address, type: 1, payload: [2])
        #expect(eventually(timeout: 10) { handler.receivedCount == 2 })
        #expect(try client.callAndWait(address: address, type: 1, payload: [3], timeout: 10) == [3])
        #expect(client.peerStats(for: address)?.connects == 1)
    }

    /// rqlite PR #2694: a stalled inbound transfer must not hang shutdown. A peer promises a 1 MiB frame, sends
    /// a little of it and stalls; the read deadline is a minute away, yet shutdown finishes promptly.
    @Test func shutdownIsPromptWhileAPeerIsMidFrame() throws {
        let handler = RecordingHandler()
        let (server, address) = try listeningTransport("node-b", handler: handler) {
            $0.readTimeout = 60
            $0.handshakeTimeout = 60
            $0.shutdownTimeout = 10
        }
        let client = try clientTransport("node-a")
        defer { client.shutdown() }
        client.send(to: address, type: 1, payload: [1])
        #expect(eventually(timeout: 10) { handler.receivedCount == 1 })

        let before = server.stats().bytesReceived
        let stalled = try HTTPConnection(port: server.boundPort!, timeout: 10)
        let prefix = RawFrames.handshake() + RawFrames.header(length: 1 << 20, kind: 1) + pattern(1000)
        try stalled.send(prefix)
        #expect(eventually(timeout: 10) { server.stats().bytesReceived >= before + UInt64(prefix.count) })

        let started = Date()
        let joined = server.shutdown()
        let elapsed = Date().timeIntervalSince(started)
        #expect(joined, "transport threads still running after shutdown")
        #expect(elapsed < 2, "shutdown took \(elapsed) s")
        #expect(stalled.peerClosed())
        #expect(server.stats().inboundActive == 0)
        #expect(!server.send(to: address, type: 1, payload: []))
    }

    @Test func connectionsBeyondTheLimitAreClosedOnAccept() throws {
        let handler = RecordingHandler()
        let (server, address) = try listeningTransport("node-b", handler: handler) { $0.maxInboundConnections = 2 }
        let client = try clientTransport("node-a")
        defer {
            client.shutdown()
            server.shutdown()
        }
        client.send(to: address, type: 1, payload: [1])
        #expect(eventually(timeout: 10) { handler.receivedCount == 1 })
        let second = try HTTPConnection(port: server.boundPort!, timeout: 10)
        try second.send(RawFrames.handshake())
        #expect(eventually(timeout: 10) { server.stats().inboundActive == 2 })
        let third = try HTTPConnection(port: server.boundPort!, timeout: 10)
        #expect(third.peerClosed())
        #expect(server.stats().inboundOverLimit == 1)
        _ = second
    }
}
