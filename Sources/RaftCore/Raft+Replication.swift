// Log replication (thesis §3.5), the commit rule (§3.6.2), flow control, InstallSnapshot (§5.3)
// and proposals.

extension RaftNode {
    // MARK: Proposals

    /// Appends one command as leader. Rejected on a non-leader with the known leader as a hint, and
    /// during a leadership transfer (§3.10).
    public mutating func propose(_ data: [UInt8]) throws(ProposalError) -> Proposal {
        try proposeBatch([data])
    }

    /// Appends several commands at consecutive indexes in one step (the shell's group commit: one
    /// `.persist`, one AppendEntries per follower). Returns the index and term of the first one.
    public mutating func proposeBatch(_ payloads: [[UInt8]]) throws(ProposalError) -> Proposal {
        try checkCanPropose()
        let first = log.lastIndex.advanced(by: 1)
        appendAsLeader(payloads.map { Entry(term: term, index: 0, kind: .normal, data: $0) })
        broadcastAppend()
        return Proposal(index: first, term: term, actions: drain())
    }

    func checkCanPropose() throws(ProposalError) {
        guard role == .leader else { throw .notLeader(leaderHint: leader) }
        if let t = leadTransferee { throw .transferInProgress(to: t) }
    }

    /// Appends entries to the leader's own log (indexes assigned here). Configuration entries take
    /// effect immediately (§4.1). The leader's own durability is counted only once the shell
    /// acknowledges the persist (§10.2.1), unless the corresponding mutation is on.
    mutating func appendAsLeader(_ new: [Entry]) {
        var sawConfig = false
        for var e in new {
            e.term = term
            e.index = log.lastIndex.advanced(by: 1)
            log.appendLeader(e)
            if e.kind == .configChange { sawConfig = true }
        }
        if options.mutations.contains(.leaderCountsUnpersisted) { progress[id]?.match = log.lastIndex }
        if sawConfig { recomputeConfiguration() }
        if maybeCommit() { /* only possible in a single-voter cluster; broadcast below */  }
    }

    // MARK: Leader side

    /// Sends an AppendEntries (or the snapshot) to `to` if flow control allows. Returns whether
    /// something was sent.
    @discardableResult
    mutating func sendAppend(to: NodeID, sendIfEmpty: Bool = true) -> Bool {
        // Taken out of the map while mutated, so its in-flight array stays uniquely referenced (no copy).
        guard to != id, var pr = progress.removeValue(forKey: to) else { return false }
        defer { progress[to] = pr }
        if pr.isPaused(maxInflight: options.maxInflight, maxInflightBytes: options.maxInflightBytes) { return false }
        let prevIndex = pr.next.advanced(by: -1)
        guard let prevTerm = log.term(at: prevIndex) else {
            // The follower is behind the compaction point: InstallSnapshot (§5.3).
            pr.becomeSnapshot(snapshot.metadata.index, tick: ticks)
            emit(Message(from: id, to: to, term: term, kind: .snapshot(snapshot)))
            return true
        }
        let entries = log.slice(from: pr.next, maxCount: options.maxEntriesPerMessage, maxBytes: options.maxBytesPerMessage)
        if entries.isEmpty && !sendIfEmpty { return false }
        pr.sent(last: prevIndex.advanced(by: entries.count), entryCount: entries.count, bytes: entries.reduce(0) { $0 + $1.payloadSize })
        emit(
            Message(
                from: id, to: to, term: term,
                kind: .append(prevIndex: prevIndex, prevTerm: prevTerm, entries: entries, commit: log.committed)))
        return true
    }

    /// Sends AppendEntries to every other member (also propagates a new commit index).
    mutating func broadcastAppend() {
        for m in configuration.members where m != id { sendAppend(to: m) }
        // A leader being removed still replicates to... nobody else; members only.
    }

    mutating func broadcastHeartbeat(context: UInt64) {
        for m in configuration.members where m != id {
            guard let pr = progress[m] else { continue }
            emit(
                Message(
                    from: id, to: m, term: term,
                    kind: .heartbeat(commit: min(pr.match, log.committed), context: context)))
        }
    }

    /// The commit rule (§3.6.2): the highest index replicated on a majority of voters commits, but
    /// only if it is from the current term; earlier entries commit indirectly with it (Figure 3.7).
    /// The leader counts itself only for what is durable (`log.persisted`).
    @discardableResult
    mutating func maybeCommit() -> Bool {
        guard role == .leader else { return false }
        let selfAck = options.mutations.contains(.leaderCountsUnpersisted) ? log.lastIndex : log.persisted
        let index = Quorum.committedIndex(voters: configuration.voters) { v in
            v == self.id ? selfAck : self.progress[v]?.match
        }
        guard index > log.committed, index <= log.lastIndex else { return false }
        if !options.mutations.contains(.commitPreviousTerm) && log.term(at: index) != term { return false }
        log.commit(to: index)
        afterLeaderCommit()
        return true
    }

    /// Consequences of a new commit index on the leader: release reads waiting for the first commit of
    /// the term (§6.4), and step down if a committed configuration removed us (§4.2.2).
    mutating func afterLeaderCommit() {
        if !readsAwaitingCommit.isEmpty && log.term(at: log.committed) == term {
            let waiting = readsAwaitingCommit
            readsAwaitingCommit = []
            for c in waiting { startRead(context: c) }
        }
        if !configuration.isVoter(id) && log.committed >= configIndex {
            broadcastAppend()  // let the others learn the commit before we go quiet
            becomeFollower(term: term, leader: nil)
        }
    }

    mutating func handleAppendResponse(
        from: NodeID, rejected: Bool, index: LogIndex, hintIndex: LogIndex, hintTerm: Term
    ) {
        guard var pr = progress.removeValue(forKey: from) else { return }
        pr.recentActive = true
        pr.lastContactTick = ticks
        if rejected {
            // Fast back-off: skip a whole conflicting term per round trip.
            var next = hintIndex
            if hintTerm > 0 { next = log.findConflictByTerm(hintIndex, hintTerm).0 }
            if pr.maybeDecrease(rejected: index, hint: next) {
                if pr.state == .replicate { pr.becomeProbe() }
                progress[from] = pr
                sendAppend(to: from)
            } else {
                progress[from] = pr
            }
            return
        }
        let updated = pr.maybeUpdate(index)
        switch pr.state {
        case .probe where updated:
            pr.becomeReplicate()
        case .snapshot(let pending) where pr.match >= pending || pr.match >= log.snapshot.index:
            pr.becomeProbe()
            pr.becomeReplicate()
        case .replicate:
            pr.freeInflight(upTo: index)
        default:
            break
        }
        progress[from] = pr
        if updated {
            if maybeCommit() {
                broadcastAppend()
            } else {
                while sendAppend(to: from, sendIfEmpty: false) {}
            }
            if from == leadTransferee && progress[from]?.match == log.lastIndex {
                emit(Message(from: id, to: from, term: term, kind: .timeoutNow))
            }
        }
    }

    mutating func handleHeartbeatResponse(from: NodeID, context: UInt64) {
        guard var pr = progress.removeValue(forKey: from) else { return }
        pr.recentActive = true
        pr.lastContactTick = ticks
        pr.probeSent = false
        if pr.state == .replicate && pr.isPaused(maxInflight: options.maxInflight, maxInflightBytes: options.maxInflightBytes) {
            pr.dropOldestInflight()  // a lost message must not stall the window forever
        }
        progress[from] = pr
        if pr.match < log.lastIndex { sendAppend(to: from) }
        if context != 0 { acknowledgeRead(sequence: context, from: from) }
    }

    // MARK: Follower side

    /// AppendEntries receiver (§3.5, Figure 3.1 rules 1-5). The response is a late message: it leaves
    /// only after the appended entries are durable.
    mutating func handleAppend(_ m: Message) {
        guard case .append(let prevIndex, let prevTerm, let entries, let commit) = m.kind else { return }
        if prevIndex < log.committed {
            emit(
                Message(
                    from: id, to: m.from, term: term,
                    kind: .appendResponse(rejected: false, index: log.committed, hintIndex: 0, hintTerm: 0)))
            return
        }
        if log.matchTerm(prevIndex, prevTerm) {
            let (truncated, removed) = log.append(after: prevIndex, entries)
            if (truncated != nil && removed.contains { $0.kind == .configChange })
                || entries.contains(where: { $0.kind == .configChange })
            {
                recomputeConfiguration()
            }
            let lastNew = prevIndex.advanced(by: entries.count)
            log.commit(to: min(commit, lastNew))
            emit(
                Message(
                    from: id, to: m.from, term: term,
                    kind: .appendResponse(rejected: false, index: lastNew, hintIndex: 0, hintTerm: 0)))
        } else {
            let (hintIndex, hintTerm) = log.findConflictByTerm(min(prevIndex, log.lastIndex), prevTerm)
            emit(
                Message(
                    from: id, to: m.from, term: term,
                    kind: .appendResponse(rejected: true, index: prevIndex, hintIndex: hintIndex, hintTerm: hintTerm)))
        }
    }

    mutating func handleHeartbeat(_ m: Message) {
        guard case .heartbeat(let commit, let context) = m.kind else { return }
        log.commit(to: min(commit, log.lastIndex))
        emit(Message(from: id, to: m.from, term: term, kind: .heartbeatResponse(context: context)))
    }

    /// InstallSnapshot receiver (§5.3). A snapshot behind our commit index is acknowledged and dropped;
    /// one whose last entry we already hold only advances the commit index; otherwise the log is
    /// replaced, and the shell is asked to persist it and restore the state machine from it.
    mutating func handleSnapshot(_ m: Message, _ s: Snapshot) {
        let meta = s.metadata
        if meta.index <= log.committed {
            emit(
                Message(
                    from: id, to: m.from, term: term,
                    kind: .appendResponse(rejected: false, index: log.committed, hintIndex: 0, hintTerm: 0)))
            return
        }
        if log.matchTerm(meta.index, meta.term) {
            log.commit(to: meta.index)
        } else {
            log.restore(meta)
            snapshot = s
            configuration = meta.configuration
            configIndex = meta.index
            applied = meta.index
            applyEmitted = meta.index
            snapshotToPersist = s
            snapshotToRestore = s
        }
        emit(
            Message(
                from: id, to: m.from, term: term,
                kind: .appendResponse(rejected: false, index: meta.index, hintIndex: 0, hintTerm: 0)))
    }
}
