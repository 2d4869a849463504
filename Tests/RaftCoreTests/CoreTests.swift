import RaftCore
import Testing

/// Direct tests of RaftNode entry points, for rules that are clearest as explicit message exchanges.
@Suite struct CoreTests {
    static let voters = Configuration(voters: [1, 2, 3])

    func node(_ id: NodeID, _ state: PersistentState = .bootstrap(voters)) -> RaftNode {
        var o = RaftOptions(id: id, randomSeed: 7)
        o.electionTicks = 10
        return RaftNode(options: o, state: state)
    }

    func sends(_ actions: [Action]) -> [Message] {
        actions.compactMap { if case .send(let m) = $0 { return m } else { return nil } }
    }

    func persistPosition(_ actions: [Action]) -> Int? {
        actions.firstIndex { if case .persist = $0 { return true } else { return false } }
    }

    /// Elects node 1 in term `term + 1` by feeding it vote grants directly.
    func elect(_ n: inout RaftNode) {
        _ = n.campaign()
        let t = n.term.next
        _ = n.step(Message(from: 2, to: 1, term: t, kind: .preVoteResponse(granted: true)))
        _ = n.step(Message(from: 2, to: 1, term: n.term, kind: .voteResponse(granted: true)))
        #expect(n.role == .leader)
    }

    @Test func voteResponseIsOrderedAfterTheDurableVote() {
        var n = node(2)
        let actions = n.step(Message(from: 1, to: 2, term: 2, kind: .vote(lastIndex: 3, lastTerm: 1, transfer: false)))
        let p = try! #require(persistPosition(actions))
        guard case .persist(let persist) = actions[p] else { return }
        #expect(persist.hardState?.vote == 1 && persist.hardState?.term == 2)
        let responseAt = actions.firstIndex {
            if case .send(let m) = $0, case .voteResponse(true) = m.kind { return true } else { return false }
        }
        #expect(responseAt != nil && responseAt! > p)
        // One vote per term: another candidate of the same term is refused.
        let second = n.step(Message(from: 3, to: 2, term: 2, kind: .vote(lastIndex: 9, lastTerm: 1, transfer: false)))
        #expect(sends(second).contains { if case .voteResponse(false) = $0.kind { return true } else { return false } })
    }

    @Test func leaderSendsBeforeItsOwnPersistButCountsItselfOnlyWhenDurable() throws {
        var n = node(1)
        elect(&n)
        // Node 2 acknowledges the no-op, so it is streamed to (replicate state).
        _ = n.step(
            Message(
                from: 2, to: 1, term: n.term,
                kind: .appendResponse(rejected: false, index: n.log.lastIndex, hintIndex: 0, hintTerm: 0)))
        _ = n.persisted(upTo: n.log.lastIndex, term: n.term)
        let p = try n.propose(Array("x".utf8))
        let firstPersist = try #require(persistPosition(p.actions))
        // The AppendEntries go out first: they may precede the leader's fsync.
        #expect(
            p.actions[..<firstPersist].allSatisfy {
                if case .send(let m) = $0 { return m.mayPrecedePersistence } else { return false }
            })
        #expect(!sends(p.actions).isEmpty)
        // One follower acknowledges: with the leader's own copy not yet durable there is no majority.
        _ = n.step(
            Message(
                from: 2, to: 1, term: n.term,
                kind: .appendResponse(rejected: false, index: p.index, hintIndex: 0, hintTerm: 0)))
        #expect(n.log.committed < p.index)
        let after = n.persisted(upTo: p.index, term: p.term)
        #expect(n.log.committed == p.index)
        #expect(
            after.contains { if case .apply = $0 { return true } else { return false } } || n.log.persisted == p.index)
    }

    /// Large applied payloads can leave the core's memory; a lagging follower still gets those entries
    /// (released, for the shell to fill from its durable log), in messages bounded by payload bytes.
    @Test func releasedPayloadsAndTheByteBoundOfAppendEntries() throws {
        var entries = RaftCoreTestsSupport.bootstrapEntries(CoreTests.voters)
        for i in 4...8 { entries.append(Entry(term: 1, index: LogIndex(UInt64(i)), kind: .normal, data: Array(repeating: UInt8(i), count: 100))) }
        let state = PersistentState(
            hardState: HardState(term: 1, vote: nil, commit: 8),
            snapshot: Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, configuration: Configuration(voters: [])), data: []),
            entries: entries, applied: 8)
        var o = RaftOptions(id: 1, randomSeed: 7)
        o.maxBytesPerMessage = 250
        o.maxInflightBytes = 150
        var n = RaftNode(options: o, state: state)
        #expect(n.releasePayloads(upTo: 7, minimumSize: 50) == 400)
        #expect(n.releasePayloads(upTo: 8, minimumSize: 50) == 100, "each entry is looked at once")
        #expect(n.log.entry(at: 4).data.isEmpty && n.log.entry(at: 4).releasedPayloadSize == 100)
        #expect(n.log.entry(at: 1).releasedPayloadSize == nil, "configuration entries keep their payload")
        elect(&n)
        // Node 2 holds only the bootstrap entries: the leader backs off to index 4.
        let actions = n.step(
            Message(from: 2, to: 1, term: n.term, kind: .appendResponse(rejected: true, index: 8, hintIndex: 3, hintTerm: 1)))
        let append = try #require(sends(actions).compactMap { m -> [Entry]? in
            if case .append(let prev, _, let entries, _) = m.kind, m.to == 2, prev == 3 { return entries }
            return nil
        }.first)
        #expect(append.map(\.index) == [4, 5], "250 bytes hold two 100-byte entries, not three")
        #expect(append.allSatisfy { $0.data.isEmpty && $0.releasedPayloadSize == 100 })
        // Acknowledged: the follower is streamed to, but only while fewer than 150 bytes are in flight.
        let streamed = sends(n.step(
            Message(from: 2, to: 1, term: n.term, kind: .appendResponse(rejected: false, index: 5, hintIndex: 0, hintTerm: 0))))
            .filter { if case .append(_, _, let entries, _) = $0.kind { return $0.to == 2 && !entries.isEmpty } else { return false } }
        #expect(streamed.count == 1, "one 200-byte message fills the 150-byte window")
    }

    /// Thesis 3.6.2, Figure 3.7: an entry of a previous term is not committed by counting replicas.
    @Test func previousTermEntriesCommitOnlyWithACurrentTermEntry() throws {
        // Node 1 restarts holding an uncommitted term-2 entry at index 4, then becomes leader of term 4.
        var entries = RaftCoreTestsSupport.bootstrapEntries(CoreTests.voters)
        entries.append(Entry(term: 2, index: 4, kind: .normal, data: Array("old".utf8)))
        let state = PersistentState(
            hardState: HardState(term: 3, vote: nil, commit: 3),
            snapshot: Snapshot(
                metadata: SnapshotMetadata(index: 0, term: 0, configuration: Configuration(voters: [])), data: []),
            entries: entries, applied: 3)
        var n = node(1, state)
        elect(&n)
        #expect(n.term == 4)
        _ = n.persisted(upTo: 5, term: 4)  // the leader's no-op at index 5 is durable
        // Node 2 acknowledges only index 4 (the term-2 entry): a majority holds it, but it is not of term 4.
        _ = n.step(
            Message(
                from: 2, to: 1, term: 4, kind: .appendResponse(rejected: false, index: 4, hintIndex: 0, hintTerm: 0)))
        #expect(n.log.committed == 3)
        // Once the term-4 no-op is on a majority, both commit.
        _ = n.step(
            Message(
                from: 2, to: 1, term: 4, kind: .appendResponse(rejected: false, index: 5, hintIndex: 0, hintTerm: 0)))
        #expect(n.log.committed == 5)
    }

    @Test func proposalsOnAFollowerAreRejectedWithTheLeaderHint() {
        var n = node(2)
        _ = n.step(Message(from: 1, to: 2, term: 2, kind: .heartbeat(commit: 0, context: 0)))
        #expect(throws: ProposalError.notLeader(leaderHint: 1)) { try n.propose([1]) }
        #expect(throws: ProposalError.notLeader(leaderHint: 1)) { try n.proposeConfigChange(.addLearner(4)) }
        let r = n.readIndex(context: 5)
        #expect(r.contains { if case .readFailed(5, 1) = $0 { return true } else { return false } })
    }

    @Test func staleAcknowledgementsAreIgnored() throws {
        var n = node(1)
        elect(&n)
        let p = try n.propose([1])
        _ = n.persisted(upTo: p.index, term: Term(99))  // wrong term: ignored
        #expect(n.log.persisted < p.index)
        _ = n.persisted(upTo: p.index, term: p.term)
        #expect(n.log.persisted == p.index)
    }

    @Test func statusReportsFollowerProgress() throws {
        var n = node(1)
        elect(&n)
        _ = n.step(
            Message(
                from: 2, to: 1, term: n.term,
                kind: .appendResponse(rejected: false, index: n.log.lastIndex, hintIndex: 0, hintTerm: 0)))
        let s = n.status
        #expect(s.role == .leader && s.leader == 1 && s.term == n.term)
        #expect(s.followers.map(\.id) == [2, 3])
        #expect(s.followers[0].match == n.log.lastIndex && s.followers[0].state == .replicate)
        #expect(s.followers[1].state == .probe)
        #expect(n.hardState.vote == 1)
    }

    @Test func compactionKeepsTheConfigurationAtTheSnapshotIndex() throws {
        var n = node(1)
        elect(&n)
        _ = n.persisted(upTo: n.log.lastIndex, term: n.term)
        let actions = n.step(
            Message(
                from: 2, to: 1, term: n.term,
                kind: .appendResponse(rejected: false, index: n.log.lastIndex, hintIndex: 0, hintTerm: 0)))
        _ = actions
        for a in n.persisted(upTo: n.log.lastIndex, term: n.term) { _ = a }
        n.applied(upTo: n.log.committed)
        let meta = n.compact(upTo: n.applied, data: [42])
        #expect(meta.index == n.applied && meta.configuration == CoreTests.voters)
        #expect(n.log.snapshot.index == meta.index)
        // Compacting again to the same point changes nothing.
        #expect(n.compact(upTo: n.applied, data: [43]).index == meta.index)
    }

    @Test func descriptionsAreReadable() {
        let e = Entry(term: 2, index: 5, kind: .normal, data: [0, 255])
        #expect(e.description == "2/5 0x00ff")
        #expect(Entry(term: 2, index: 6, kind: .noop).description == "2/6 noop")
        #expect(Entry(term: 1, index: 1, kind: .configChange, data: [7]).description == "1/1 config?")
        let m = Message(from: 1, to: 2, term: 3, kind: .timeoutNow)
        #expect(m.description == "1->2 t3 TimeoutNow")
        #expect(HardState(term: 3, vote: nil, commit: 2).description == "term=3 vote=- commit=2")
        #expect(Action.readReady(context: 4, index: 9).description == "read-ready ctx=4 index=9")
        #expect(Action.readFailed(context: 4, leaderHint: nil).description == "read-failed ctx=4 leader=-")
        #expect(Persist(snapshot: nil, entries: [], hardState: nil).acknowledgement == nil)
        #expect(ReplicationState.snapshot(pendingIndex: 3).description == "snapshot(3)")
        for mutation in Mutation.allCases { #expect(!mutation.summary.isEmpty) }
    }
}

enum RaftCoreTestsSupport {
    static func bootstrapEntries(_ c: Configuration) -> [Entry] { PersistentState.bootstrap(c).entries }
}
