// Quorum math as small pure functions (thesis §3.4 elections, §3.6 commitment).

/// The outcome of counting votes.
public enum VoteResult: Sendable, Equatable {
    /// Not decided yet: neither a majority of grants nor of rejections.
    case pending
    /// A majority granted.
    case won
    /// A majority rejected; the election cannot be won.
    case lost
}

/// Pure functions over a set of voters. Learners are never passed here.
public enum Quorum {
    /// The size of a majority of `count` voters. An empty voter set has a majority of 0 by convention.
    @inlinable public static func majority(_ count: Int) -> Int { count / 2 + 1 }

    /// Counts `votes` (true = granted) among `voters`; votes from non-voters are ignored.
    public static func voteResult(voters: [NodeID], votes: [NodeID: Bool]) -> VoteResult {
        if voters.isEmpty { return .won }
        var granted = 0
        var rejected = 0
        for v in voters {
            switch votes[v] {
            case true?: granted += 1
            case false?: rejected += 1
            case nil: break
            }
        }
        let q = majority(voters.count)
        if granted >= q { return .won }
        if rejected >= q { return .lost }
        return .pending
    }

    /// The largest index known to be stored on a majority of `voters` (thesis §3.6.2): the
    /// `majority`-th largest acknowledged index. Voters without an acknowledgement count as 0.
    /// An empty voter set yields `LogIndex(UInt64.max)` (nothing constrains it; callers guard this).
    public static func committedIndex(voters: [NodeID], acked: (NodeID) -> LogIndex?) -> LogIndex {
        if voters.isEmpty { return LogIndex(UInt64.max) }
        var matches: [LogIndex] = []
        matches.reserveCapacity(voters.count)
        for v in voters { matches.append(acked(v) ?? 0) }
        matches.sort(by: >)
        return matches[majority(voters.count) - 1]
    }

    /// Whether the members of `voters` for which `isActive` holds form a majority.
    public static func hasQuorum(voters: [NodeID], _ isActive: (NodeID) -> Bool) -> Bool {
        var n = 0
        for v in voters where isActive(v) { n += 1 }
        return n >= majority(voters.count)
    }
}
