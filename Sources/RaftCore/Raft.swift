// RaftNode: the Raft algorithm as a value type. Inputs: messages, ticks, proposals, acknowledgements.
// Outputs: `[Action]`. No IO, no clocks, no threads; randomness comes from an injected seed.

/// The role of a server (thesis §3.3, plus the pre-candidate of §9.6).
public enum Role: String, Hashable, Sendable {
    case follower, preCandidate = "pre-candidate", candidate, leader
}

/// Tunables of a `RaftNode`. Timeouts are in ticks; the shell decides how long a tick is.
public struct RaftOptions: Sendable {
    /// This server's id.
    public var id: NodeID
    /// Election timeout in ticks; each election waits a random time in `[electionTicks, 2*electionTicks)`.
    /// MUST be larger than `heartbeatTicks` (thesis §3.4: broadcastTime << electionTimeout).
    public var electionTicks: Int = 10
    /// Heartbeat interval in ticks.
    public var heartbeatTicks: Int = 1
    /// Run a pre-vote round before incrementing the term (§9.6).
    public var preVote: Bool = true
    /// A leader that has not heard from a majority within an election timeout steps down, and
    /// followers ignore vote requests while they hear from a leader (§6.2, §4.2.3).
    public var checkQuorum: Bool = true
    /// Maximum AppendEntries in flight per follower in replicate state (flow control).
    public var maxInflight: Int = 16
    /// Maximum entries per AppendEntries.
    public var maxEntriesPerMessage: Int = 64
    /// Payload bytes per AppendEntries: entries are added while the total stays within it (a message
    /// always carries at least one entry, whatever its size). Bounds frames and the shell's send queues
    /// when entries are large.
    public var maxBytesPerMessage: Int = .max
    /// Payload bytes of AppendEntries in flight per follower (replicate state), besides `maxInflight`
    /// messages: with large entries the window is bounded by bytes, so the shell's send queues are too.
    public var maxInflightBytes: Int = .max
    /// Seed of the election-timeout randomness.
    public var randomSeed: UInt64 = 0
    /// Deliberate bugs for the simulator. MUST be empty in production.
    public var mutations: Set<Mutation> = []

    public init(id: NodeID, randomSeed: UInt64 = 0) {
        self.id = id
        self.randomSeed = randomSeed
    }
}

/// Everything a server restarts from: the durable hard state, snapshot and log, and the index the
/// state machine is known to have applied (at least the snapshot index).
public struct PersistentState: Sendable {
    public var hardState: HardState
    /// The latest snapshot; its metadata carries the configuration as of its index.
    public var snapshot: Snapshot
    /// The durable entries after the snapshot, contiguous.
    public var entries: [Entry]
    /// The highest index already reflected in the state machine (the shell's own record).
    public var applied: LogIndex

    public init(hardState: HardState, snapshot: Snapshot, entries: [Entry], applied: LogIndex) {
        self.hardState = hardState
        self.snapshot = snapshot
        self.entries = entries
        self.applied = applied
    }

    /// The state of a brand-new server.
    ///
    /// Founding members of a new cluster MUST all pass the same initial configuration: it is written as
    /// configuration-change entries at indexes `1...n` of term 1, already committed, so that a server
    /// added later (which passes an empty configuration and waits for the leader) rebuilds exactly the
    /// same membership history from the replicated log.
    public static func bootstrap(_ configuration: Configuration) -> PersistentState {
        var entries: [Entry] = []
        for v in configuration.voters {
            entries.append(
                Entry(
                    term: 1, index: LogIndex(UInt64(entries.count + 1)), kind: .configChange,
                    data: ConfigChange.addVoter(v).encoded))
        }
        for l in configuration.learners {
            entries.append(
                Entry(
                    term: 1, index: LogIndex(UInt64(entries.count + 1)), kind: .configChange,
                    data: ConfigChange.addLearner(l).encoded))
        }
        let empty = Configuration(voters: [])
        return PersistentState(
            hardState: HardState(term: entries.isEmpty ? 0 : 1, vote: nil, commit: LogIndex(UInt64(entries.count))),
            snapshot: Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, configuration: empty), data: []),
            entries: entries, applied: 0)
    }
}

/// Why a proposal was not appended.
public enum ProposalError: Error, Hashable, Sendable {
    /// Only the leader appends; retry at `leaderHint` if known.
    case notLeader(leaderHint: NodeID?)
    /// A leadership transfer to this server is in progress (§3.10); retry there shortly.
    case transferInProgress(to: NodeID)
    /// A configuration change is still uncommitted, or the leader has not yet committed an entry of
    /// its term (§4.1 and the single-server change fix); retry shortly.
    case configChangePending
    /// The change does not change exactly one server of the current configuration.
    case invalidConfigChange
}

/// Where a proposal was appended. It is committed when an `.apply` carries index `index` with term
/// `term`; an entry at that index with another term means the proposal was lost (leader change).
public struct Proposal: Sendable {
    public let index: LogIndex
    public let term: Term
    public let actions: [Action]
}

/// One Raft server as a pure state machine.
///
/// Every `mutating` entry point returns the actions the shell MUST perform (see `Action` for the
/// ordering rule). A `RaftNode` is a value: copying it copies the whole server, which the simulator uses
/// to snapshot states; the shell keeps exactly one and MUST call it from one thread at a time.
public struct RaftNode: Sendable {
    public let options: RaftOptions
    public var id: NodeID { options.id }

    // MARK: Persistent state (Figure 3.1)
    public internal(set) var term: Term = 0
    public internal(set) var vote: NodeID?
    public internal(set) var log: RaftLog

    // MARK: Volatile state
    public internal(set) var role: Role = .follower
    /// The leader of `term`, when known.
    public internal(set) var leader: NodeID?
    /// The configuration in effect: the latest one in the log, committed or not (§4.1).
    public internal(set) var configuration: Configuration
    /// The index of the latest configuration entry in the log (or the snapshot index).
    var configIndex: LogIndex
    /// The highest index the shell reported applied.
    public internal(set) var applied: LogIndex
    /// Entries up to this index were handed out in `.apply` actions.
    var applyEmitted: LogIndex
    /// `releasePayloads` has looked at entries up to here.
    var releasedThrough: LogIndex = 0
    /// The snapshot this server holds (sent to followers behind the compaction point).
    public internal(set) var snapshot: Snapshot

    // MARK: Timing
    var electionElapsed = 0
    var heartbeatElapsed = 0
    var randomizedElectionTimeout = 0
    /// Ticks since start; only used for contact bookkeeping.
    public internal(set) var ticks: UInt64 = 0
    var random: SplitMix64

    // MARK: Candidate and leader state
    var votes: [NodeID: Bool] = [:]
    public internal(set) var progress: [NodeID: Progress] = [:]
    /// The target of a leadership transfer in progress (§3.10).
    public internal(set) var leadTransferee: NodeID?

    // MARK: Read index (§6.4)
    struct PendingRead: Sendable {
        var context: UInt64
        var index: LogIndex
        var sequence: UInt64
        var acks: [NodeID]
    }
    var pendingReads: [PendingRead] = []
    var readsAwaitingCommit: [UInt64] = []
    var readSequence: UInt64 = 0

    // MARK: Output buffers, drained into `[Action]` at the end of every entry point.
    var earlyMessages: [Message] = []
    var lateMessages: [Message] = []
    var snapshotToPersist: Snapshot?
    var snapshotToRestore: Snapshot?
    var readActions: [Action] = []
    var emittedHardState: HardState

    /// Invariant breaks detected while mutations are enabled (otherwise they trap).
    public internal(set) var detectedBugs: [String] = []

    /// Starts (or restarts) a server from its durable state.
    public init(options: RaftOptions, state: PersistentState) {
        self.options = options
        precondition(options.id.rawValue != 0, "node id 0 is reserved")
        precondition(options.electionTicks > options.heartbeatTicks && options.heartbeatTicks > 0, "bad timeouts")
        self.random = SplitMix64(seed: options.randomSeed ^ (options.id.rawValue &* 0x9E37_79B9))
        self.term = state.hardState.term
        self.vote = state.hardState.vote
        self.log = RaftLog(
            snapshot: state.snapshot.metadata, entries: state.entries, committed: state.hardState.commit)
        self.snapshot = state.snapshot
        self.configuration = state.snapshot.metadata.configuration
        self.configIndex = state.snapshot.metadata.index
        self.applied = max(state.applied, state.snapshot.metadata.index)
        precondition(applied <= log.committed || applied <= log.lastIndex, "applied beyond the log")
        if applied > log.committed { log.commit(to: applied) }
        self.applyEmitted = applied
        self.emittedHardState = HardState(term: state.hardState.term, vote: state.hardState.vote, commit: log.committed)
        recomputeConfiguration()
        becomeFollower(term: term, leader: nil)
    }

    // MARK: - Entry points

    /// Advances logical time by one tick. Drives election timeouts (followers, candidates) and
    /// heartbeats and check-quorum (leaders).
    public mutating func tick() -> [Action] {
        ticks &+= 1
        if role == .leader {
            tickLeader()
        } else {
            electionElapsed += 1
            if electionElapsed >= randomizedElectionTimeout {
                electionElapsed = 0
                if isPromotable { campaign(transfer: false) }
            }
        }
        return drain()
    }

    /// Handles a message from another server. Messages addressed elsewhere are ignored.
    public mutating func step(_ m: Message) -> [Action] {
        handle(m)
        return drain()
    }

    /// Starts an election now (as if the election timeout elapsed). Used at bootstrap and in tests.
    public mutating func campaign() -> [Action] {
        if isPromotable && role != .leader { campaign(transfer: false) }
        return drain()
    }

    /// The shell reports that the `.persist` acknowledged by `(index, term)` is durable. A stale
    /// acknowledgement (the entry was since replaced) is ignored.
    public mutating func persisted(upTo index: LogIndex, term: Term) -> [Action] {
        if index > log.persisted && index <= log.emitted && log.term(at: index) == term {
            log.persisted = index
            if role == .leader {
                progress[id]?.match = index
                if maybeCommit() { broadcastAppend() }
            }
        }
        return drain()
    }

    /// The shell reports that the state machine applied every entry up to `index`.
    public mutating func applied(upTo index: LogIndex) {
        if index > applied {
            precondition(index <= applyEmitted, "applied an entry that was never handed out")
            applied = index
        }
    }

    /// Lets the core forget the payloads of applied `.normal` entries of at least `minimumSize` bytes up
    /// to `index` (MUST be `<= applied`), so large entries (database images loaded in chunks) are not held
    /// in memory until the next compaction. The entries stay in the log with `releasedPayloadSize` set;
    /// they may appear in `.send` messages afterwards, and the shell MUST then fill their `data` from its
    /// durable log before sending (they are durable: applied entries always are). They never appear in
    /// `.apply` (only entries after `applied` are applied) — unless the shell itself passed released
    /// entries beyond `applied` in `PersistentState`, and fills them before applying. Returns the number
    /// of bytes released.
    @discardableResult
    public mutating func releasePayloads(upTo index: LogIndex, minimumSize: Int) -> Int {
        precondition(index <= applied, "releasing payloads beyond the applied index")
        let from = max(releasedThrough.advanced(by: 1), log.firstIndex)
        guard index >= from else { return 0 }
        releasedThrough = index
        return log.releasePayloads(from: from, through: index, minimumSize: minimumSize)
    }

    /// Compacts the log up to `index` (MUST be `<= applied`): the shell has produced snapshot `data`
    /// reflecting exactly the entries up to `index`. Returns the metadata (including the configuration as
    /// of `index`) the shell MUST store with the data before deleting its durable log prefix.
    @discardableResult
    public mutating func compact(upTo index: LogIndex, data: [UInt8]) -> SnapshotMetadata {
        precondition(index <= applied, "compacting beyond the applied index")
        guard index > log.snapshot.index else { return log.snapshot }
        let meta = SnapshotMetadata(
            index: index, term: log.term(at: index)!, configuration: configuration(at: index))
        log.compact(to: meta)
        snapshot = Snapshot(metadata: meta, data: data)
        return meta
    }

    // MARK: - Role transitions

    var isPromotable: Bool { configuration.isVoter(id) }

    mutating func resetTimers() {
        electionElapsed = 0
        heartbeatElapsed = 0
        randomizedElectionTimeout = options.electionTicks + random.below(options.electionTicks)
    }

    mutating func becomeFollower(term newTerm: Term, leader newLeader: NodeID?) {
        if role == .leader || !pendingReads.isEmpty || !readsAwaitingCommit.isEmpty { failReads(hint: newLeader) }
        if newTerm != term {
            term = newTerm
            vote = nil
        }
        role = .follower
        leader = newLeader
        leadTransferee = nil
        votes = [:]
        progress = [:]
        resetTimers()
    }

    /// Starts an election (§3.4), preceded by a pre-vote round (§9.6) unless this is a transfer.
    mutating func campaign(transfer: Bool) {
        if options.preVote && !transfer {
            role = .preCandidate
            leader = nil
            votes = [id: true]
            resetTimers()
            if Quorum.voteResult(voters: configuration.voters, votes: votes) == .won {
                becomeCandidate(transfer: transfer)
                return
            }
            for v in configuration.voters where v != id {
                emit(
                    Message(
                        from: id, to: v, term: term.next,
                        kind: .preVote(lastIndex: log.lastIndex, lastTerm: log.lastTerm)))
            }
        } else {
            becomeCandidate(transfer: transfer)
        }
    }

    mutating func becomeCandidate(transfer: Bool) {
        failReads(hint: nil)
        term = term.next
        vote = id
        role = .candidate
        leader = nil
        leadTransferee = nil
        progress = [:]
        votes = [id: true]
        resetTimers()
        if Quorum.voteResult(voters: configuration.voters, votes: votes) == .won {
            becomeLeader()
            return
        }
        for v in configuration.voters where v != id {
            emit(
                Message(
                    from: id, to: v, term: term,
                    kind: .vote(lastIndex: log.lastIndex, lastTerm: log.lastTerm, transfer: transfer)))
        }
    }

    /// Becomes leader and appends a no-op of the new term, so earlier entries can commit (§3.6.2)
    /// and read-index can start (§6.4).
    mutating func becomeLeader() {
        role = .leader
        leader = id
        leadTransferee = nil
        votes = [:]
        resetTimers()
        progress = [:]
        for m in configuration.members {
            var p = Progress(next: log.lastIndex.advanced(by: 1), isLearner: configuration.isLearner(m), tick: ticks)
            p.recentActive = true
            if m == id { p.match = log.persisted; p.becomeReplicate() }
            progress[m] = p
        }
        if progress[id] == nil {
            // A leader that is being removed (§4.2.2) still tracks itself for status.
            var p = Progress(next: log.lastIndex.advanced(by: 1), isLearner: true, tick: ticks)
            p.match = log.persisted
            progress[id] = p
        }
        appendAsLeader([Entry(term: term, index: 0, kind: .noop)])
        broadcastAppend()
    }

    // MARK: - Message dispatch

    mutating func handle(_ m: Message) {
        guard m.to == id else { return }
        if m.term > term {
            switch m.kind {
            case .preVote, .vote(_, _, false):
                // Leader lease (§4.2.3 with check-quorum): while we hear from a leader, ignore
                // candidates; this keeps removed or partitioned servers from disrupting the cluster.
                if options.checkQuorum && leader != nil && electionElapsed < options.electionTicks { return }
            default: break
            }
            switch m.kind {
            case .preVote:
                break  // a pre-vote never changes our term
            case .preVoteResponse(true):
                break  // the granted term is the one we would campaign in
            case .append, .heartbeat, .snapshot:
                becomeFollower(term: m.term, leader: m.from)
            default:
                becomeFollower(term: m.term, leader: nil)
            }
        } else if m.term < term {
            switch m.kind {
            case .append, .heartbeat:
                // A stale leader: tell it our term so it steps down (needed with check-quorum and
                // pre-vote, where our term may have moved without it hearing, §9.6).
                emit(
                    Message(
                        from: id, to: m.from, term: term,
                        kind: .appendResponse(rejected: false, index: 0, hintIndex: 0, hintTerm: 0)))
            case .preVote:
                emit(Message(from: id, to: m.from, term: term, kind: .preVoteResponse(granted: false)))
            default:
                break
            }
            return
        }

        switch m.kind {
        case .preVote(let li, let lt), .vote(let li, let lt, _):
            handleVoteRequest(m, lastIndex: li, lastTerm: lt)
        default:
            switch role {
            case .leader: stepLeader(m)
            case .candidate, .preCandidate: stepCandidate(m)
            case .follower: stepFollower(m)
            }
        }
    }

    mutating func stepFollower(_ m: Message) {
        switch m.kind {
        case .append:
            electionElapsed = 0
            leader = m.from
            handleAppend(m)
        case .heartbeat:
            electionElapsed = 0
            leader = m.from
            handleHeartbeat(m)
        case .snapshot(let s):
            electionElapsed = 0
            leader = m.from
            handleSnapshot(m, s)
        case .timeoutNow:
            // §3.10: the leader chose us; campaign at once, skipping pre-vote and the lease.
            if isPromotable { campaign(transfer: true) }
        default:
            break
        }
    }

    mutating func stepCandidate(_ m: Message) {
        switch m.kind {
        case .append:
            becomeFollower(term: m.term, leader: m.from)
            handleAppend(m)
        case .heartbeat:
            becomeFollower(term: m.term, leader: m.from)
            handleHeartbeat(m)
        case .snapshot(let s):
            becomeFollower(term: m.term, leader: m.from)
            handleSnapshot(m, s)
        case .preVoteResponse(let granted) where role == .preCandidate:
            recordVote(from: m.from, granted: granted)
        case .voteResponse(let granted) where role == .candidate:
            recordVote(from: m.from, granted: granted)
        default:
            break
        }
    }

    mutating func stepLeader(_ m: Message) {
        switch m.kind {
        case .appendResponse(let rejected, let index, let hintIndex, let hintTerm):
            handleAppendResponse(
                from: m.from, rejected: rejected, index: index, hintIndex: hintIndex, hintTerm: hintTerm)
        case .heartbeatResponse(let context):
            handleHeartbeatResponse(from: m.from, context: context)
        case .append, .heartbeat, .snapshot:
            // Two leaders in one term: impossible unless a rule is broken.
            bug("leader \(id) of term \(term) received \(m)")
        default:
            break
        }
    }

    // MARK: - Output

    /// Queues a message; whether it may precede persistence is decided by its kind.
    mutating func emit(_ m: Message) {
        if m.mayPrecedePersistence { earlyMessages.append(m) } else { lateMessages.append(m) }
    }

    /// Records an invariant break: traps in production, recorded for the simulator under mutations.
    mutating func bug(_ message: String) {
        if options.mutations.isEmpty { preconditionFailure(message) }
        detectedBugs.append(message)
    }

    /// Turns the buffered effects of one entry point into the ordered action list.
    mutating func drain() -> [Action] {
        var actions: [Action] = []
        actions.reserveCapacity(earlyMessages.count + lateMessages.count + 3)
        for m in earlyMessages { actions.append(.send(m)) }
        earlyMessages.removeAll(keepingCapacity: true)

        var p = Persist()
        if let s = snapshotToPersist {
            p.snapshot = s
            snapshotToPersist = nil
        }
        if log.lastIndex > log.emitted {
            p.entries = log.slice(from: log.emitted.advanced(by: 1), maxCount: Int.max)
            log.emitted = log.lastIndex
        }
        var hs = HardState(term: term, vote: vote, commit: log.committed)
        if options.mutations.contains(.forgetVotePersist) && vote != id { hs.vote = nil }
        let voteChanged = hs.vote != emittedHardState.vote
        if hs.term != emittedHardState.term || voteChanged
            || ((!p.entries.isEmpty || p.snapshot != nil) && hs != emittedHardState)
        {
            p.hardState = hs
            emittedHardState = hs
        }
        if p.snapshot != nil || !p.entries.isEmpty || p.hardState != nil { actions.append(.persist(p)) }

        for m in lateMessages { actions.append(.send(m)) }
        lateMessages.removeAll(keepingCapacity: true)

        if let s = snapshotToRestore {
            actions.append(.restoreSnapshot(s))
            snapshotToRestore = nil
        }
        let applyTo = min(log.committed, log.persisted)
        if applyTo > applyEmitted {
            actions.append(
                .apply(
                    log.slice(
                        from: applyEmitted.advanced(by: 1), maxCount: Int(applyTo.rawValue - applyEmitted.rawValue))))
            applyEmitted = applyTo
        }
        if !readActions.isEmpty {
            actions.append(contentsOf: readActions)
            readActions.removeAll()
        }
        return actions
    }
}
