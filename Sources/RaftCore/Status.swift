// A read-only view of a server for status pages and tests.

/// Replication progress of one follower as seen by the leader.
public struct FollowerStatus: Hashable, Sendable {
    public var id: NodeID
    public var match: LogIndex
    public var next: LogIndex
    public var state: ReplicationState
    public var isLearner: Bool
    /// Ticks since the follower last answered.
    public var ticksSinceContact: UInt64
}

/// A snapshot of a server's Raft state. Cheap to build; the shell publishes it after every loop turn.
public struct RaftStatus: Hashable, Sendable {
    public var id: NodeID
    public var role: Role
    public var term: Term
    public var vote: NodeID?
    public var leader: NodeID?
    public var commit: LogIndex
    public var applied: LogIndex
    public var lastIndex: LogIndex
    public var persistedIndex: LogIndex
    public var snapshotIndex: LogIndex
    public var configuration: Configuration
    public var leadTransferee: NodeID?
    /// Per-follower progress, sorted by id; empty unless leader.
    public var followers: [FollowerStatus]
}

extension RaftNode {
    /// The current status.
    public var status: RaftStatus {
        var followers: [FollowerStatus] = []
        if role == .leader {
            for (m, p) in progress.sorted(by: { $0.key < $1.key }) where m != id {
                followers.append(
                    FollowerStatus(
                        id: m, match: p.match, next: p.next, state: p.state,
                        isLearner: p.isLearner, ticksSinceContact: ticks &- p.lastContactTick))
            }
        }
        return RaftStatus(
            id: id, role: role, term: term, vote: vote, leader: leader, commit: log.committed, applied: applied,
            lastIndex: log.lastIndex, persistedIndex: log.persisted, snapshotIndex: log.snapshot.index,
            configuration: configuration, leadTransferee: leadTransferee, followers: followers)
    }

    /// The hard state as currently held in memory (possibly not yet durable).
    public var hardState: HardState { HardState(term: term, vote: vote, commit: log.committed) }
}
