// The messages Raft servers exchange (thesis Figure 3.1 RPCs, plus pre-vote §9.6, TimeoutNow §3.10,
// and heartbeats carrying read-index contexts §6.4). The shell serializes them; the core never does.

/// A message between two servers. `term` is the sender's term, except for pre-vote traffic, where a
/// request carries the term the sender *would* campaign in, and a granted response echoes it (§9.6).
public struct Message: Hashable, Sendable, CustomStringConvertible {
    public var from: NodeID
    public var to: NodeID
    public var term: Term
    public var kind: Kind

    public init(from: NodeID, to: NodeID, term: Term, kind: Kind) {
        self.from = from
        self.to = to
        self.term = term
        self.kind = kind
    }

    /// The payload of a message.
    public enum Kind: Hashable, Sendable {
        /// Pre-vote request (§9.6): "would you vote for me in `term`?" Changes no state on the receiver.
        case preVote(lastIndex: LogIndex, lastTerm: Term)
        /// Pre-vote answer.
        case preVoteResponse(granted: Bool)
        /// RequestVote (§3.4). `transfer` marks an election started by TimeoutNow (§3.10), which
        /// MUST NOT be ignored because of the leader lease.
        case vote(lastIndex: LogIndex, lastTerm: Term, transfer: Bool)
        /// RequestVote answer.
        case voteResponse(granted: Bool)
        /// AppendEntries (§3.5) with the entries following `prevIndex`.
        case append(prevIndex: LogIndex, prevTerm: Term, entries: [Entry], commit: LogIndex)
        /// AppendEntries (and InstallSnapshot) answer. On success `index` is the last index known to
        /// match the leader. On rejection `index` is the rejected `prevIndex`, and `hintIndex`/`hintTerm`
        /// point at where the leader should probe next (fast back-off, §5.3 of the paper / etcd style).
        case appendResponse(rejected: Bool, index: LogIndex, hintIndex: LogIndex, hintTerm: Term)
        /// Heartbeat (§3.5 empty AppendEntries, without the consistency check). `commit` is capped at
        /// the follower's match index; `context` echoes read-index rounds (§6.4).
        case heartbeat(commit: LogIndex, context: UInt64)
        /// Heartbeat answer, echoing the context.
        case heartbeatResponse(context: UInt64)
        /// InstallSnapshot (§5.3): replaces the follower's state with the snapshot.
        case snapshot(Snapshot)
        /// TimeoutNow (§3.10): the leader asks the target to campaign at once.
        case timeoutNow
    }

    /// Whether the message may be sent before the sender's preceding `.persist` is durable.
    /// Only the leader's replication traffic (append, heartbeat, snapshot, TimeoutNow) and pre-votes
    /// qualify: they do not reveal any state that a crash could take back (thesis §3.8, §10.2.1).
    /// Every vote, every response MUST wait for the persist that precedes it.
    public var mayPrecedePersistence: Bool {
        switch kind {
        case .append, .heartbeat, .snapshot, .timeoutNow, .preVote: return true
        case .preVoteResponse, .vote, .voteResponse, .appendResponse, .heartbeatResponse: return false
        }
    }

    public var description: String {
        let head = "\(from)->\(to) t\(term)"
        switch kind {
        case .preVote(let li, let lt): return "\(head) PreVote last=\(lt)/\(li)"
        case .preVoteResponse(let g): return "\(head) PreVoteResp \(g ? "granted" : "rejected")"
        case .vote(let li, let lt, let tr): return "\(head) Vote last=\(lt)/\(li)\(tr ? " transfer" : "")"
        case .voteResponse(let g): return "\(head) VoteResp \(g ? "granted" : "rejected")"
        case .append(let pi, let pt, let es, let c):
            let body = es.map { $0.description }.joined(separator: ", ")
            return "\(head) App prev=\(pt)/\(pi) commit=\(c) [\(body)]"
        case .appendResponse(let r, let i, let hi, let ht):
            return r ? "\(head) AppResp rejected \(i) hint=\(ht)/\(hi)" : "\(head) AppResp \(i)"
        case .heartbeat(let c, let ctx): return "\(head) Heartbeat commit=\(c)\(ctx == 0 ? "" : " ctx=\(ctx)")"
        case .heartbeatResponse(let ctx): return "\(head) HeartbeatResp\(ctx == 0 ? "" : " ctx=\(ctx)")"
        case .snapshot(let s): return "\(head) Snapshot \(s.metadata)"
        case .timeoutNow: return "\(head) TimeoutNow"
        }
    }
}
