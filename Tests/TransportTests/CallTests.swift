import Foundation
import TestSupport
import Testing

@testable import Transport

@Suite struct CallTests {
    /// 64 calls in flight at once, answered out of order (half at once, half later from other threads), each
    /// completion gets its own response.
    @Test func concurrentCallsAreMatchedByRequestID() throws {
        let handler = RecordingHandler { type, payload, from, respond in
            let answer = [type] + Array(from.utf8) + payload.reversed()
            if type % 2 == 0 {
                respond(answer)
            } else {
                DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(Int.random(in: 0...50))) {
                    respond(answer)
                }
            }
        }
        let (server, address) = try listeningTransport("node-b", handler: handler)
        let client = try clientTransport("node-a")
        defer {
            client.shutdown()
            server.shutdown()
        }
        let outcomes = Outcomes()
        let calls = 64
        DispatchQueue.concurrentPerform(iterations: calls) { i in
            client.call(address: address, type: UInt8(i), payload: encodeSequence(UInt32(i), size: 8 + i), timeout: 30)
            {
                outcomes.record(i, $0)
            }
        }
        #expect(eventually(timeout: 30) { outcomes.count == calls })
        for i in 0..<calls {
            let expected = [UInt8(i)] + Array("node-a".utf8) + encodeSequence(UInt32(i), size: 8 + i).reversed()
            #expect(try outcomes[i]?.get() == expected, "call \(i)")
        }
        let stats = client.stats()
        #expect(stats.callsSucceeded == UInt64(calls) && stats.callsFailed == 0)
        #expect(stats.callConnectionsDialed <= UInt64(client.configuration.maxCallConnectionsPerPeer))
        #expect(server.stats().callsReceived == UInt64(calls))
    }

    @Test func callTimesOutWhenTheHandlerNeverResponds() throws {
        let handler = RecordingHandler { type, payload, _, respond in
            if type != 9 { respond(payload) }  // type 9: drop `respond` unanswered
        }
        let (server, address) = try listeningTransport("node-b", handler: handler)
        let client = try clientTransport("node-a")
        defer {
            client.shutdown()
            server.shutdown()
        }
        let started = Date()
        let outcomes = Outcomes()
        client.call(address: address, type: 9, payload: [1], timeout: 0.3) { result in
            outcomes.record(0, result)
            outcomes.record(1, .success(withUnsafeBytes(of: Date().timeIntervalSince(started), Array.init)))
        }
        #expect(eventually(timeout: 10) { outcomes.count == 2 })
        #expect(throws: TransportError.timeout(address: address, seconds: 0.3)) { try outcomes[0]?.get() }
        let elapsedBytes = try #require(try outcomes[1]?.get())
        let elapsed = elapsedBytes.withUnsafeBytes { $0.loadUnaligned(as: Double.self) }
        #expect(elapsed >= 0.29 && elapsed < 5, "timed out after \(elapsed) s")
        #expect(handler.callCount == 1)
        // The connection stays usable for the next call.
        #expect(try client.callAndWait(address: address, type: 1, payload: [7], timeout: 10) == [7])
        let stats = client.stats()
        #expect(stats.callsTimedOut == 1 && stats.callsSucceeded == 1 && stats.callConnectionsDialed == 1)
    }

    /// rqlite's dead-pool defence: earlier attempts use the pool, the last one dials a new connection.
    @Test func lastRetryDialsAFreshConnection() throws {
        let seen = Counter()
        let handler = RecordingHandler { type, payload, _, respond in
            if type == 7 && seen.increment() < 2 { return }  // the first two attempts go unanswered
            respond(payload)
        }
        let (server, address) = try listeningTransport("node-b", handler: handler)
        let client = try clientTransport("node-a")
        defer {
            client.shutdown()
            server.shutdown()
        }
        #expect(try client.callAndWait(address: address, type: 1, payload: [1], timeout: 10) == [1])
        #expect(server.stats().inboundAccepted == 1)

        let answer = try client.callAndWait(address: address, type: 7, payload: [2], timeout: 3, retries: 2)
        #expect(answer == [2])
        #expect(seen.value == 3)
        let stats = client.stats()
        #expect(stats.callRetries == 2)
        // Attempts 1 and 2 reused the pooled connection; attempt 3 was the only new dial.
        #expect(stats.callConnectionsDialed == 2)
        #expect(server.stats().inboundAccepted == 2)
    }

    @Test func callsToADownPeerFailAfterTheirRetries() throws {
        let client = try clientTransport("node-a") { $0.connectTimeout = 1 }
        defer { client.shutdown() }
        let address = "127.0.0.1:\(freePort())"
        do {
            _ = try client.callAndWait(address: address, type: 1, payload: [], timeout: 5, retries: 2)
            Issue.record("call to a closed port succeeded")
        } catch {
            guard case .connectFailed(address, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
        }
        #expect(client.stats().callRetries == 2)
        #expect(throws: TransportError.invalidAddress("nonsense")) {
            try client.callAndWait(address: "nonsense", type: 1, payload: [], timeout: 5, retries: 3)
        }
    }

    /// A response over the responder's frame limit becomes an error answer, not a hang.
    @Test func oversizedResponseIsReportedAsARemoteError() throws {
        let handler = RecordingHandler { _, _, _, respond in respond([UInt8](repeating: 1, count: 2 << 20)) }
        let (server, address) = try listeningTransport("node-b", handler: handler) { $0.maxFrameSize = 1 << 20 }
        let client = try clientTransport("node-a")
        defer {
            client.shutdown()
            server.shutdown()
        }
        do {
            _ = try client.callAndWait(address: address, type: 1, payload: [], timeout: 10)
            Issue.record("oversized response delivered")
        } catch {
            guard case .remote(let message) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(message.contains("exceeds the frame limit"))
        }
    }

    /// Pending calls fail promptly when either side shuts down, instead of waiting out their timeouts.
    @Test func pendingCallsFailOnShutdown() throws {
        let handler = RecordingHandler { _, _, _, _ in }  // never answers
        let (server, address) = try listeningTransport("node-b", handler: handler)
        let client = try clientTransport("node-a")
        let otherClient = try clientTransport("node-c")
        defer {
            client.shutdown()
            otherClient.shutdown()
        }
        let outcomes = Outcomes()
        client.call(address: address, type: 1, payload: [], timeout: 60) { outcomes.record(0, $0) }
        otherClient.call(address: address, type: 1, payload: [], timeout: 60) { outcomes.record(1, $0) }
        #expect(eventually(timeout: 10) { handler.callCount == 2 })

        let started = Date()
        #expect(client.shutdown())
        #expect(eventually(timeout: 5) { outcomes[0] != nil })
        #expect(throws: TransportError.shutdown) { try outcomes[0]?.get() }

        #expect(server.shutdown())
        #expect(eventually(timeout: 5) { outcomes[1] != nil })
        do {
            _ = try outcomes[1]?.get()
            Issue.record("call answered by a stopped server")
        } catch {
            guard case .connectionClosed(address, _) = error else {
                Issue.record("unexpected \(error)")
                return
            }
        }
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(throws: TransportError.shutdown) {
            try client.callAndWait(address: address, type: 1, payload: [], timeout: 1)
        }
    }
}

final class Counter: @unchecked Sendable {
    // Lock discipline: `lock` guards `count`.
    private let lock = NSLock()
    private var count = 0
    /// Returns the value before incrementing.
    func increment() -> Int {
        lock.withLock {
            defer { count += 1 }; return count
        }
    }
    var value: Int { lock.withLock { count } }
}
