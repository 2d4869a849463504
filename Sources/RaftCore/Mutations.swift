// Deliberate bugs, switchable for the simulator: a checker that cannot fail proves nothing.

/// A deliberate violation of one Raft rule. The simulator MUST report violations when any of these is
/// enabled; a production shell MUST NOT enable any.
public enum Mutation: String, CaseIterable, Hashable, Sendable {
    /// Grant votes without the election restriction (§3.6.1): a stale log can win and erase commits.
    case voteWithoutLogCheck = "vote-without-log-check"
    /// Forget to persist the vote (§3.8): after a crash a server can vote twice in one term.
    case forgetVotePersist = "forget-vote-persist"
    /// Count the leader's own unsynced entries towards commitment (§10.2.1).
    case leaderCountsUnpersisted = "leader-counts-unpersisted"
    /// Commit previous-term entries by counting replicas (the Figure 3.7 bug, §3.6.2).
    case commitPreviousTerm = "commit-previous-term"
    /// Serve read-index requests before the leader has committed an entry of its term (§6.4 step 1):
    /// its commit index may still lag behind what the previous leader committed.
    case readBeforeTermCommit = "read-before-term-commit"

    /// One line describing the bug.
    public var summary: String {
        switch self {
        case .voteWithoutLogCheck: return "grant votes without the log up-to-date check (thesis 3.6.1)"
        case .forgetVotePersist: return "grant a vote without persisting it (thesis 3.8)"
        case .leaderCountsUnpersisted: return "leader counts its own unsynced entries for commit (thesis 10.2.1)"
        case .commitPreviousTerm: return "commit a previous-term entry by counting replicas (thesis 3.6.2)"
        case .readBeforeTermCommit:
            return "answer read-index before the leader committed an entry of its term (thesis 6.4)"
        }
    }
}
