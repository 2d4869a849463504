// Linearizable reads without a log write (thesis §6.4): the read index.

extension RaftNode {
    /// Requests a linearizable read identified by `context` (chosen by the shell, MUST NOT be 0).
    ///
    /// On the leader: once it has committed an entry of its current term, it records the commit index
    /// as the read index and confirms it is still leader with a round of heartbeats; a quorum of answers
    /// produces `.readReady(context, index)`. The shell then serves the read once its state machine has
    /// applied `index`. On any other server: `.readFailed` with the leader hint.
    public mutating func readIndex(context: UInt64) -> [Action] {
        precondition(context != 0, "read context 0 is reserved")
        guard role == .leader else {
            readActions.append(.readFailed(context: context, leaderHint: leader))
            return drain()
        }
        if log.term(at: log.committed) != term && !options.mutations.contains(.readBeforeTermCommit) {
            readsAwaitingCommit.append(context)
        } else {
            startRead(context: context)
        }
        return drain()
    }

    mutating func startRead(context: UInt64) {
        if configuration.voters == [id] {
            readActions.append(.readReady(context: context, index: log.committed))
            return
        }
        readSequence &+= 1
        pendingReads.append(
            PendingRead(
                context: context, index: log.committed, sequence: readSequence,
                acks: configuration.isVoter(id) ? [id] : []))
        broadcastHeartbeat(context: readSequence)
    }

    /// A heartbeat answer for round `sequence` confirms leadership for every read registered up to it.
    mutating func acknowledgeRead(sequence: UInt64, from: NodeID) {
        guard configuration.isVoter(from),
            let position = pendingReads.firstIndex(where: { $0.sequence == sequence })
        else { return }
        if !pendingReads[position].acks.contains(from) { pendingReads[position].acks.append(from) }
        let acks = pendingReads[position].acks
        guard Quorum.hasQuorum(voters: configuration.voters, { acks.contains($0) }) else { return }
        for r in pendingReads[...position] { readActions.append(.readReady(context: r.context, index: r.index)) }
        pendingReads.removeFirst(position + 1)
    }

    /// Fails every read in progress (leadership lost or changed).
    mutating func failReads(hint: NodeID?) {
        for r in pendingReads { readActions.append(.readFailed(context: r.context, leaderHint: hint)) }
        for c in readsAwaitingCommit { readActions.append(.readFailed(context: c, leaderHint: hint)) }
        pendingReads = []
        readsAwaitingCommit = []
    }
}
