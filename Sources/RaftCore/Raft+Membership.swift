// Membership changes one server at a time (thesis §4.1-§4.2) and leadership transfer (§3.10).

extension RaftNode {
    /// Proposes a single-server membership change. It takes effect on each server as soon as the entry
    /// is appended (§4.1). The leader MUST have committed an entry of its term and no other change may
    /// be uncommitted (the single-server change fix, Ongaro 2015), otherwise `.configChangePending`.
    public mutating func proposeConfigChange(_ change: ConfigChange) throws(ProposalError) -> Proposal {
        try checkCanPropose()
        guard configIndex <= log.committed, log.term(at: log.committed) == term else { throw .configChangePending }
        guard configuration.validates(change) else { throw .invalidConfigChange }
        let index = log.lastIndex.advanced(by: 1)
        appendAsLeader([Entry(term: term, index: 0, kind: .configChange, data: change.encoded)])
        broadcastAppend()
        return Proposal(index: index, term: term, actions: drain())
    }

    /// Asks the leader to hand leadership to `target` (§3.10): it stops accepting proposals, brings the
    /// target up to date, then sends TimeoutNow. The transfer is abandoned after an election timeout.
    /// Ignored on a non-leader, for a non-voter target, or for itself.
    public mutating func transferLeadership(to target: NodeID) -> [Action] {
        guard role == .leader, target != id, configuration.isVoter(target), leadTransferee != target else {
            return drain()
        }
        leadTransferee = target
        electionElapsed = 0
        if progress[target]?.match == log.lastIndex {
            emit(Message(from: id, to: target, term: term, kind: .timeoutNow))
        } else {
            sendAppend(to: target)
        }
        return drain()
    }

    /// The configuration as of `index`: the snapshot's plus every change in the log up to `index`.
    func configuration(at index: LogIndex) -> Configuration {
        var c = log.snapshot.configuration
        var i = log.firstIndex
        while i <= index && i <= log.lastIndex {
            let e = log.entry(at: i)
            if e.kind == .configChange, let change = ConfigChange(encoded: e.data) { c = c.applying(change) }
            i = i.advanced(by: 1)
        }
        return c
    }

    /// Recomputes the configuration from the log (after appending or truncating a change) and, on a
    /// leader, adjusts the progress map: new members start probing, removed ones are forgotten.
    mutating func recomputeConfiguration() {
        var c = log.snapshot.configuration
        var at = log.snapshot.index
        for e in log.entries where e.kind == .configChange {
            if let change = ConfigChange(encoded: e.data) { c = c.applying(change) }
            at = e.index
        }
        configIndex = at
        guard c != configuration else { return }
        configuration = c
        guard role == .leader else { return }
        for m in c.members where progress[m] == nil {
            var p = Progress(next: log.lastIndex, isLearner: c.isLearner(m), tick: ticks)
            p.recentActive = true
            progress[m] = p
        }
        for m in Array(progress.keys) where m != id && !c.contains(m) { progress[m] = nil }
        for m in c.members { progress[m]?.isLearner = c.isLearner(m) }
        if let t = leadTransferee, !c.isVoter(t) { leadTransferee = nil }
        if maybeCommit() { broadcastAppend() }
    }
}
