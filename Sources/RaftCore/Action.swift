// What the core asks its shell to do. The contract of performing them is in DESIGN.md next to this file.

/// One thing the shell MUST do, returned by every mutating entry point of `RaftNode`.
///
/// Actions are returned in the order they MUST be performed, under one relaxation: a `.send` that
/// appears *before* the list's `.persist` MAY be performed at once, even while earlier persists are
/// still in flight (these are the leader's replication messages and pre-votes; see
/// `Message.mayPrecedePersistence`). Every other action MUST wait until every `.persist` returned so
/// far — in this list and in earlier ones — is durable (thesis §3.8: a server MUST NOT answer an RPC
/// before its term, vote and log are on stable storage).
public enum Action: Sendable, CustomStringConvertible {
    /// Make this durable; then call `RaftNode.persisted(upTo:term:)` with `Persist.acknowledgement`.
    case persist(Persist)
    /// Deliver a message to `message.to`. Loss, delay, duplication and reordering are all tolerated.
    case send(Message)
    /// Apply these committed entries to the state machine, in order, then report `applied(upTo:)`.
    /// `.noop` and `.configChange` entries are included so the shell sees every index.
    case apply([Entry])
    /// Replace the state machine with this snapshot (received from the leader). The applied index
    /// becomes `snapshot.metadata.index`. It follows the `.persist` that stores the snapshot.
    case restoreSnapshot(Snapshot)
    /// The linearizable read with this context may be served once the state machine has applied
    /// `index` (thesis §6.4).
    case readReady(context: UInt64, index: LogIndex)
    /// The read with this context could not be confirmed (not leader, leadership lost); retry at the
    /// hinted leader.
    case readFailed(context: UInt64, leaderHint: NodeID?)

    public var description: String {
        switch self {
        case .persist(let p): return "persist \(p)"
        case .send(let m): return "send \(m)"
        case .apply(let es): return "apply [\(es.map { $0.description }.joined(separator: ", "))]"
        case .restoreSnapshot(let s): return "restore-snapshot \(s.metadata)"
        case .readReady(let c, let i): return "read-ready ctx=\(c) index=\(i)"
        case .readFailed(let c, let l): return "read-failed ctx=\(c) leader=\(l.map { String($0.rawValue) } ?? "-")"
        }
    }
}

/// A write the shell MUST make durable, in this order: the snapshot (if any), the entries, the hard
/// state. It is one logical write: a shell SHOULD make it durable with a single fsync (group commit).
public struct Persist: Sendable, CustomStringConvertible {
    /// A snapshot received from the leader: store it, then discard the *whole* durable log.
    public var snapshot: Snapshot?
    /// Entries to append. The shell MUST first discard every durable entry with an index
    /// `>= entries[0].index` (a conflicting suffix the leader overwrote, §3.5).
    public var entries: [Entry]
    /// The new hard state, when it changed (term, vote) or travels along with entries.
    public var hardState: HardState?

    public init(snapshot: Snapshot? = nil, entries: [Entry] = [], hardState: HardState? = nil) {
        self.snapshot = snapshot
        self.entries = entries
        self.hardState = hardState
    }

    /// What to pass to `persisted(upTo:term:)` once this is durable; nil if only the hard state changed.
    public var acknowledgement: (index: LogIndex, term: Term)? {
        if let e = entries.last { return (e.index, e.term) }
        if let s = snapshot { return (s.metadata.index, s.metadata.term) }
        return nil
    }

    public var description: String {
        var parts: [String] = []
        if let s = snapshot { parts.append("snapshot(\(s.metadata))") }
        if !entries.isEmpty { parts.append("entries [\(entries.map { $0.description }.joined(separator: ", "))]") }
        if let h = hardState { parts.append("hardstate(\(h))") }
        return parts.joined(separator: " ")
    }
}
