import RaftCore
import Testing

@Suite struct QuorumTests {
    @Test func majority() {
        #expect(Quorum.majority(1) == 1)
        #expect(Quorum.majority(2) == 2)
        #expect(Quorum.majority(3) == 2)
        #expect(Quorum.majority(4) == 3)
        #expect(Quorum.majority(5) == 3)
    }

    @Test func voteResult() {
        let voters: [NodeID] = [1, 2, 3]
        #expect(Quorum.voteResult(voters: voters, votes: [1: true]) == .pending)
        #expect(Quorum.voteResult(voters: voters, votes: [1: true, 2: true]) == .won)
        #expect(Quorum.voteResult(voters: voters, votes: [1: true, 2: false, 3: false]) == .lost)
        // Votes of non-voters are ignored.
        #expect(Quorum.voteResult(voters: voters, votes: [1: true, 9: true]) == .pending)
        #expect(Quorum.voteResult(voters: [], votes: [:]) == .won)
    }

    @Test func committedIndexIsTheMajoritythLargest() {
        let acks: [NodeID: LogIndex] = [1: 5, 2: 3, 3: 9, 4: 1, 5: 7]
        #expect(Quorum.committedIndex(voters: [1, 2, 3, 4, 5]) { acks[$0] } == 5)
        #expect(Quorum.committedIndex(voters: [1, 2, 3]) { acks[$0] } == 5)
        #expect(Quorum.committedIndex(voters: [1, 2]) { acks[$0] } == 3)
        // Missing acknowledgements count as zero.
        #expect(Quorum.committedIndex(voters: [1, 2, 6]) { acks[$0] } == 3)
        #expect(Quorum.committedIndex(voters: []) { _ in nil } == LogIndex(UInt64.max))
    }

    @Test func hasQuorum() {
        #expect(Quorum.hasQuorum(voters: [1, 2, 3]) { $0 != 3 })
        #expect(!Quorum.hasQuorum(voters: [1, 2, 3]) { $0 == 1 })
    }
}

@Suite struct ConfigurationTests {
    @Test func changesRoundTripThroughTheirEncoding() {
        for c in [ConfigChange.addVoter(7), .addLearner(NodeID(1 << 40)), .promote(3), .remove(2)] {
            #expect(ConfigChange(encoded: c.encoded) == c)
        }
        #expect(ConfigChange(encoded: [9, 0, 0, 0, 0, 0, 0, 0, 0]) == nil)
        #expect(ConfigChange(encoded: [1]) == nil)
    }

    @Test func singleServerChanges() {
        let c = Configuration(voters: [1, 2, 3])
        let withLearner = c.applying(.addLearner(4))
        #expect(withLearner.learners == [4])
        #expect(withLearner.isLearner(4) && !withLearner.isVoter(4) && withLearner.contains(4))
        let promoted = withLearner.applying(.promote(4))
        #expect(promoted.voters == [1, 2, 3, 4] && promoted.learners.isEmpty)
        #expect(promoted.applying(.remove(1)).voters == [2, 3, 4])
        #expect(c.applying(.addVoter(5)).voters == [1, 2, 3, 5])
        // Invalid changes leave the configuration as it is, identically on every server.
        #expect(!c.validates(.promote(2)))
        #expect(c.applying(.promote(2)) == c)
        #expect(!c.validates(.addLearner(1)))
        #expect(!Configuration(voters: [1]).validates(.remove(1)))
        #expect(c.description == "voters=(1,2,3)")
        #expect(withLearner.description == "voters=(1,2,3) learners=(4)")
    }
}

@Suite struct LogTests {
    func log(_ terms: [UInt64]) -> RaftLog {
        var entries: [Entry] = []
        for (i, t) in terms.enumerated() { entries.append(Entry(term: Term(t), index: LogIndex(UInt64(i + 1)))) }
        let state = PersistentState(
            hardState: HardState(term: Term(terms.last ?? 0)),
            snapshot: Snapshot(
                metadata: SnapshotMetadata(index: 0, term: 0, configuration: Configuration(voters: [1])), data: []),
            entries: entries, applied: 0)
        return RaftNode(options: RaftOptions(id: 1), state: state).log
    }

    @Test func termsAndBounds() {
        let l = log([1, 1, 2, 3])
        #expect(l.firstIndex == 1 && l.lastIndex == 4 && l.lastTerm == 3)
        #expect(l.term(at: 0) == 0)
        #expect(l.term(at: 3) == 2)
        #expect(l.term(at: 5) == nil)
        #expect(l.matchTerm(2, 1) && !l.matchTerm(2, 2))
    }

    @Test func upToDateComparesLastTermThenLength() {
        let l = log([1, 2, 2])
        #expect(l.isUpToDate(lastIndex: 1, lastTerm: 3))
        #expect(l.isUpToDate(lastIndex: 3, lastTerm: 2))
        #expect(!l.isUpToDate(lastIndex: 2, lastTerm: 2))
        #expect(!l.isUpToDate(lastIndex: 9, lastTerm: 1))
    }
}
