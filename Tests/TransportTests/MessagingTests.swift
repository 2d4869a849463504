import Foundation
import TestSupport
import Testing

@testable import Transport

@Suite struct MessagingTests {
    @Test func messagesArriveInOrderFromTheNamedNode() throws {
        let handler = RecordingHandler()
        let (server, address) = try listeningTransport("node-b", handler: handler)
        let client = try clientTransport("node-a") { $0.peerQueueCapacity = 100_000 }
        defer {
            client.shutdown()
            server.shutdown()
        }
        let count = 20_000
        for i in 0..<count {
            #expect(
                client.send(to: address, type: UInt8(i % 200), payload: encodeSequence(UInt32(i), size: 4 + i % 50)))
        }
        #expect(eventually(timeout: 60) { handler.receivedCount >= count })
        let received = handler.received
        #expect(received.count == count)
        var inOrder = true
        for (i, message) in received.enumerated()
        where sequenceNumber(message.payload) != UInt32(i) || message.type != UInt8(i % 200)
            || message.payload.count != 4 + i % 50 || message.from != "node-a"
        {
            inOrder = false
            Issue.record("message \(i) out of place: seq \(sequenceNumber(message.payload)) from \(message.from)")
            break
        }
        #expect(inOrder)
        let stats = try #require(client.peerStats(for: address))
        #expect(stats.sent == UInt64(count) && stats.dropped == 0 && stats.connects == 1 && stats.connected)
        #expect(server.stats().messagesReceived == UInt64(count))
    }

    @Test func largeFramesRoundTrip() throws {
        let handler = RecordingHandler { _, payload, _, respond in respond(payload + payload.prefix(1 << 20)) }
        let (server, address) = try listeningTransport("node-b", handler: handler)
        let client = try clientTransport("node-a")
        defer {
            client.shutdown()
            server.shutdown()
        }
        let eight = pattern(8 << 20, seed: 1)
        #expect(client.send(to: address, type: 1, payload: eight))
        let largest = pattern(client.configuration.maxFrameSize - 1, seed: 2)  // exactly the frame limit
        #expect(client.send(to: address, type: 2, payload: largest))
        #expect(eventually(timeout: 60) { handler.receivedCount == 2 })
        #expect(handler.received.map(\.payload) == [eight, largest])

        let request = pattern(6 << 20, seed: 3)
        let response = try client.callAndWait(address: address, type: 1, payload: request, timeout: 60)
        #expect(response == request + request.prefix(1 << 20))

        // One byte over the limit is refused locally and counted, on both paths.
        #expect(
            !client.send(to: address, type: 3, payload: [UInt8](repeating: 0, count: client.configuration.maxFrameSize))
        )
        #expect(client.peerStats(for: address)?.dropped == 1)
        #expect(throws: TransportError.frameTooLarge(size: 16 << 20 + 9, limit: 16 << 20)) {
            try client.callAndWait(
                address: address, type: 1, payload: [UInt8](repeating: 0, count: 16 << 20), timeout: 5)
        }
    }

    /// The peer goes away: messages queue up to the bound, dropping the oldest; the peer comes back on the same
    /// port and the writer reconnects (with back-off) and delivers what is queued, in order.
    @Test func reconnectsWhenThePeerComesBackOnTheSamePort() throws {
        let first = RecordingHandler()
        let (server, address) = try listeningTransport("node-b", handler: first)
        let port = try #require(server.boundPort)
        let client = try clientTransport("node-a") {
            $0.peerQueueCapacity = 4
            $0.reconnectBackoffMin = 0.02
            $0.reconnectBackoffMax = 0.2
        }
        defer { client.shutdown() }
        client.send(to: address, type: 1, payload: encodeSequence(0))
        #expect(eventually(timeout: 10) { first.receivedCount == 1 })
        #expect(server.shutdown())

        for i in 100..<110 { client.send(to: address, type: 1, payload: encodeSequence(UInt32(i))) }
        #expect(
            eventually(timeout: 10) {
                let stats = client.peerStats(for: address)
                return stats?.connected == false && (stats?.failedDials ?? 0) >= 1
            })
        let down = try #require(client.peerStats(for: address))
        #expect(down.queued == 4)
        #expect(down.dropped == 6)
        #expect(down.lastError != nil)

        let second = RecordingHandler()
        let (restarted, _) = try listeningTransport("node-b", handler: second, port: port)
        defer { restarted.shutdown() }
        #expect(eventually(timeout: 10) { second.receivedCount == 4 })
        client.send(to: address, type: 1, payload: encodeSequence(110))
        #expect(eventually(timeout: 10) { second.receivedCount == 5 })
        #expect(second.received.map { sequenceNumber($0.payload) } == [106, 107, 108, 109, 110])
        let up = try #require(client.peerStats(for: address))
        #expect(up.connected && up.reconnects >= 1 && up.connects == 2 && up.sent == 6 && up.dropped == 6)
    }

    /// The listener closes connections silent past the read deadline; pings keep an idle sender's open.
    @Test func readDeadlineClosesSilentConnectionsButPingsKeepPeersAlive() throws {
        let handler = RecordingHandler()
        let (server, address) = try listeningTransport("node-b", handler: handler) {
            $0.readTimeout = 0.5
            $0.handshakeTimeout = 0.5
        }
        let client = try clientTransport("node-a") { $0.pingInterval = 0.1 }
        defer {
            client.shutdown()
            server.shutdown()
        }
        client.send(to: address, type: 1, payload: [1])
        #expect(eventually(timeout: 10) { handler.receivedCount == 1 })

        let mute = try HTTPConnection(port: server.boundPort!, timeout: 10)  // never completes its handshake
        try mute.send(Wire.magic)
        let silent = try HTTPConnection(port: server.boundPort!, timeout: 10)
        try silent.send(RawFrames.handshake())
        #expect(silent.peerClosed())
        #expect(mute.peerClosed())
        #expect(eventually(timeout: 10) { server.stats().readTimeouts >= 1 && server.stats().handshakesRejected >= 1 })

        // At least one read deadline has passed since the message; the pinged connection is still the first one.
        client.send(to: address, type: 1, payload: [2])
        #expect(eventually(timeout: 10) { handler.receivedCount == 2 })
        #expect(client.peerStats(for: address)?.connects == 1)
        #expect(server.stats().readTimeouts == 1 && server.stats().handshakesRejected == 1)
    }

    /// Not a benchmark: prints messages/s of 256-byte frames over one connection, for a sense of scale.
    @Test func throughputSanity() throws {
        let handler = CountingHandler()
        let (server, address) = try listeningTransport("node-b", handler: handler)
        let client = try clientTransport("node-a") { $0.peerQueueCapacity = 1_000_000 }
        defer {
            client.shutdown()
            server.shutdown()
        }
        client.send(to: address, type: 1, payload: [])
        #expect(eventually(timeout: 10) { handler.count == 1 })
        let count = 200_000
        let payload = [UInt8](repeating: 0x5A, count: 256)
        let started = Date()
        for _ in 0..<count { client.send(to: address, type: 1, payload: payload) }
        #expect(eventually(timeout: 120, interval: 0.002) { handler.count == count + 1 })
        let seconds = Date().timeIntervalSince(started)
        print(
            "Transport throughput: \(count) frames of 256 bytes in \(String(format: "%.3f", seconds)) s = \(Int(Double(count) / seconds)) messages/s"
        )
        #expect(client.peerStats(for: address)?.dropped == 0)
    }
}

/// Counts messages without keeping them.
final class CountingHandler: TransportHandler, @unchecked Sendable {
    // Lock discipline: `lock` guards `received`.
    private let lock = NSLock()
    private var received = 0
    var count: Int { lock.withLock { received } }
    func received(type: UInt8, payload: [UInt8], from nodeID: String) { lock.withLock { received += 1 } }
    func handleCall(type: UInt8, payload: [UInt8], from nodeID: String, respond: @escaping @Sendable ([UInt8]) -> Void)
    {
        respond([])
    }
}
