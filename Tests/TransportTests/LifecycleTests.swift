import Foundation
import TestSupport
import Testing

@testable import Transport

@Suite struct LifecycleTests {
    /// The read deadline does not close a connection whose call is still being worked on, and does close it
    /// once the handler has answered or released `respond` unanswered.
    @Test func idleDeadlineWaitsForOutstandingCalls() throws {
        let held = HeldResponders()
        let handler = RecordingHandler { type, payload, _, respond in
            switch type {
            case 1: held.keep(respond)  // answered later by the test
            case 2: respond(payload)
            default: break  // released unanswered
            }
        }
        let (server, address) = try listeningTransport("node-b", handler: handler) { $0.readTimeout = 0.3 }
        let client = try clientTransport("node-a")
        defer {
            client.shutdown()
            server.shutdown()
        }
        let outcomes = Outcomes()
        client.call(address: address, type: 1, payload: [], timeout: 30) { outcomes.record(1, $0) }
        #expect(eventually(timeout: 10) { held.count == 1 })
        // Several read deadlines pass on another connection while the call is held open.
        let idler = try HTTPConnection(port: server.boundPort!, timeout: 10)
        try idler.send(RawFrames.handshake())
        #expect(idler.peerClosed())
        let idler2 = try HTTPConnection(port: server.boundPort!, timeout: 10)
        try idler2.send(RawFrames.handshake())
        #expect(idler2.peerClosed())
        #expect(server.stats().readTimeouts == 2)
        #expect(outcomes.count == 0)

        held.answerAll([42])
        #expect(eventually(timeout: 10) { outcomes.count == 1 })
        #expect(try outcomes[1]?.get() == [42])
        // Answered: the now idle call connection is closed by the deadline, and the next call redials.
        #expect(eventually(timeout: 10) { server.stats().readTimeouts == 3 })
        #expect(try client.callAndWait(address: address, type: 2, payload: [7], timeout: 10) == [7])
        #expect(client.stats().callConnectionsDialed == 2)

        // Released unanswered: the caller times out, and the deadline applies again. On a loaded machine the
        // idle deadline of the connection left by call 2 can close it just as this call goes out; the call is
        // then lost with that connection (`connectionClosed`, each adding a read timeout) and is made again.
        func releasedCall() -> TransportError? {
            do {
                _ = try client.callAndWait(address: address, type: 3, payload: [], timeout: 0.2)
                return nil
            } catch {
                return error
            }
        }
        var outcome = releasedCall()
        var lost = 0
        while lost < 5, case .connectionClosed? = outcome {
            lost += 1
            outcome = releasedCall()
        }
        #expect(outcome == TransportError.timeout(address: address, seconds: 0.2))
        #expect(eventually(timeout: 10) { server.stats().readTimeouts == 4 + lost })
    }

    @Test func respondTwiceSendsOneResponse() throws {
        let handler = RecordingHandler { _, payload, _, respond in
            respond(payload)
            respond([0xEE])
        }
        let (server, address) = try listeningTransport("node-b", handler: handler)
        let client = try clientTransport("node-a")
        defer {
            client.shutdown()
            server.shutdown()
        }
        for i in 0..<20 {
            #expect(try client.callAndWait(address: address, type: 1, payload: [UInt8(i)], timeout: 10) == [UInt8(i)])
        }
        #expect(client.stats().lateResponses == 0)
    }

    @Test func removePeerStopsItsWriterAndForgetsIt() throws {
        let handler = RecordingHandler()
        let (server, address) = try listeningTransport("node-b", handler: handler)
        let client = try clientTransport("node-a")
        defer {
            client.shutdown()
            server.shutdown()
        }
        client.send(to: address, type: 1, payload: [1])
        #expect(eventually(timeout: 10) { handler.receivedCount == 1 && server.stats().inboundActive == 1 })
        client.removePeer(address)
        #expect(client.peerStats(for: address) == nil)
        #expect(eventually(timeout: 10) { server.stats().inboundActive == 0 })
        client.send(to: address, type: 1, payload: [2])
        #expect(eventually(timeout: 10) { handler.receivedCount == 2 })
        #expect(client.peerStats(for: address)?.connects == 1)
    }

    @Test func ipv6Loopback() throws {
        let handler = RecordingHandler()
        let server = try Transport(nodeID: "node-b")
        defer { server.shutdown() }
        let port: Int
        do {
            port = try server.listen(on: "[::1]:0", handler: handler)
        } catch {
            print("IPv6 loopback unavailable here (\(error)); skipping")
            return
        }
        let client = try clientTransport("node-a")
        defer { client.shutdown() }
        client.send(to: "[::1]:\(port)", type: 1, payload: [6])
        #expect(eventually(timeout: 10) { handler.receivedCount == 1 })
        #expect(try client.callAndWait(address: "[::1]:\(port)", type: 1, payload: [6], timeout: 10) == [6])
    }

    @Test func invalidConfigurationIsRefused() throws {
        #expect(throws: TransportError.invalidNodeID("")) { try Transport(nodeID: "") }
        let long = String(repeating: "x", count: 1025)
        #expect(throws: TransportError.invalidNodeID(long)) { try Transport(nodeID: long) }
        let transport = try Transport(nodeID: "n")
        defer { transport.shutdown() }
        #expect(throws: TransportError.invalidAddress("127.0.0.1")) {
            try transport.listen(on: "127.0.0.1", handler: RecordingHandler())
        }
        let occupied = try Transport(nodeID: "m")
        defer { occupied.shutdown() }
        let port = try occupied.listen(on: "127.0.0.1:0", handler: RecordingHandler())
        do {
            try transport.listen(on: "127.0.0.1:\(port)", handler: RecordingHandler())
            Issue.record("two listeners bound the same port")
        } catch {
            guard case .listenFailed = error else {
                Issue.record("unexpected \(error)")
                return
            }
        }
    }
}

/// Holds `respond` closures so a test can answer calls later.
final class HeldResponders: @unchecked Sendable {
    // Lock discipline: `lock` guards `responders`.
    private let lock = NSLock()
    private var responders: [@Sendable ([UInt8]) -> Void] = []
    func keep(_ respond: @escaping @Sendable ([UInt8]) -> Void) { lock.withLock { responders.append(respond) } }
    var count: Int { lock.withLock { responders.count } }
    func answerAll(_ payload: [UInt8]) {
        let all = lock.withLock {
            defer { responders.removeAll() }
            return responders
        }
        for respond in all { respond(payload) }
    }
}
