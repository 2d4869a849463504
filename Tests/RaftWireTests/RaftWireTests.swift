import RaftCore
import Testing

@testable import RaftWire

@Suite struct RaftWireTests {
    static let config = Configuration(voters: [1, 2, 3], learners: [9])
    static let messages: [Message] = [
        Message(from: 1, to: 2, term: 5, kind: .preVote(lastIndex: 10, lastTerm: 4)),
        Message(from: 2, to: 1, term: 5, kind: .preVoteResponse(granted: true)),
        Message(from: 1, to: 3, term: 6, kind: .vote(lastIndex: 11, lastTerm: 5, transfer: true)),
        Message(from: 3, to: 1, term: 6, kind: .voteResponse(granted: false)),
        Message(
            from: 1, to: 2, term: 6,
            kind: .append(
                prevIndex: 11, prevTerm: 5,
                entries: [
                    Entry(term: 6, index: 12, kind: .noop),
                    Entry(term: 6, index: 13, kind: .normal, data: [1, 2, 3]),
                    Entry(term: 6, index: 14, kind: .configChange, data: ConfigChange.addLearner(9).encoded),
                ], commit: 11)),
        Message(from: 2, to: 1, term: 6, kind: .appendResponse(rejected: true, index: 11, hintIndex: 7, hintTerm: 3)),
        Message(from: 1, to: 2, term: 6, kind: .heartbeat(commit: 14, context: 77)),
        Message(from: 2, to: 1, term: 6, kind: .heartbeatResponse(context: 77)),
        Message(
            from: 1, to: 9, term: 6,
            kind: .snapshot(Snapshot(metadata: SnapshotMetadata(index: 14, term: 6, configuration: config), data: [9, 9]))),
        Message(from: 1, to: 2, term: 6, kind: .timeoutNow),
    ]

    @Test(arguments: messages)
    func roundTrip(_ m: Message) throws {
        #expect(try RaftWire.decode(RaftWire.encode(m)) == m)
    }

    @Test func metadataRoundTrip() throws {
        let meta = SnapshotMetadata(index: 99, term: 7, configuration: Self.config)
        #expect(try RaftWire.decodeMetadata(RaftWire.encode(meta)) == meta)
    }

    @Test func truncationsAndTrailingBytesAreRejected() {
        for m in Self.messages {
            let bytes = RaftWire.encode(m)
            for n in 0..<bytes.count {
                #expect(throws: RaftWireError.self) { try RaftWire.decode(Array(bytes[..<n])) }
            }
            #expect(throws: RaftWireError.self) { try RaftWire.decode(bytes + [0]) }
        }
    }

    @Test func hostileBytesNeverTrap() {
        // An overlapping configuration would trap inside Configuration.init; the decoder refuses it.
        var w = Writer()
        w.u8(1)
        w.u8(9)  // snapshot
        w.u64(1)
        w.u64(2)
        w.u64(3)
        w.u64(10)
        w.u64(3)
        w.u32(1)
        w.u64(5)
        w.u32(1)
        w.u64(5)
        w.bytes([])
        #expect(throws: RaftWireError.self) { try RaftWire.decode(w.buffer) }
        // Huge counts are refused before anything is allocated.
        var huge = Writer()
        huge.u8(1)
        huge.u8(5)
        for _ in 0..<6 { huge.u64(1) }
        huge.u32(.max)
        #expect(throws: RaftWireError.self) { try RaftWire.decode(huge.buffer) }
        var state: UInt64 = 7
        for _ in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let n = Int(state >> 58)
            var bytes: [UInt8] = [1, UInt8(1 + (state >> 33) % 10)]
            for k in 0..<n { bytes.append(UInt8(truncatingIfNeeded: state >> UInt64(k % 56))) }
            _ = try? RaftWire.decode(bytes)
        }
    }
}
