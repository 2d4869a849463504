// Leader election (thesis §3.4), the election restriction (§3.6.1), pre-vote (§9.6) and
// check-quorum (§6.2).

extension RaftNode {
    /// RequestVote and pre-vote handling. A real vote is recorded in `vote` and MUST be durable before
    /// the response leaves (the response is a late message, ordered after the `.persist`, §3.8).
    mutating func handleVoteRequest(_ m: Message, lastIndex: LogIndex, lastTerm: Term) {
        let isPreVote: Bool
        if case .preVote = m.kind { isPreVote = true } else { isPreVote = false }
        // §3.4: at most one vote per term, first come first served. A pre-vote for a future term is
        // always possible; for the current term only if we have no leader (etcd's rule).
        let canVote =
            vote == m.from
            || (vote == nil && leader == nil)
            || (isPreVote && m.term > term)
        let upToDate =
            options.mutations.contains(.voteWithoutLogCheck)
            || log.isUpToDate(lastIndex: lastIndex, lastTerm: lastTerm)
        if canVote && upToDate {
            if isPreVote {
                emit(Message(from: id, to: m.from, term: m.term, kind: .preVoteResponse(granted: true)))
            } else {
                electionElapsed = 0
                vote = m.from
                emit(Message(from: id, to: m.from, term: term, kind: .voteResponse(granted: true)))
            }
        } else {
            if isPreVote {
                emit(Message(from: id, to: m.from, term: term, kind: .preVoteResponse(granted: false)))
            } else {
                emit(Message(from: id, to: m.from, term: term, kind: .voteResponse(granted: false)))
            }
        }
    }

    /// Counts a (pre-)vote; a won pre-vote starts the real election, a won election makes us leader.
    mutating func recordVote(from: NodeID, granted: Bool) {
        if votes[from] == nil { votes[from] = granted }
        switch Quorum.voteResult(voters: configuration.voters, votes: votes) {
        case .won:
            if role == .preCandidate { becomeCandidate(transfer: false) } else { becomeLeader() }
        case .lost:
            becomeFollower(term: term, leader: nil)
        case .pending:
            break
        }
    }

    /// Leader timing: heartbeats every `heartbeatTicks`; every election timeout, check-quorum (§6.2)
    /// and the abort of a leadership transfer that did not complete (§3.10).
    mutating func tickLeader() {
        heartbeatElapsed += 1
        electionElapsed += 1
        if electionElapsed >= options.electionTicks {
            electionElapsed = 0
            if options.checkQuorum {
                let active = Quorum.hasQuorum(voters: configuration.voters) { v in
                    v == self.id || (self.progress[v]?.recentActive ?? false)
                }
                for m in configuration.members where m != id { progress[m]?.recentActive = false }
                if !active {
                    becomeFollower(term: term, leader: nil)
                    return
                }
            }
            leadTransferee = nil
        }
        // A snapshot that got no answer within an election timeout is presumed lost: probe again.
        for m in configuration.members where m != id {
            if case .snapshot = progress[m]?.state,
                ticks &- progress[m]!.snapshotSentTick >= UInt64(2 * options.electionTicks)
            {
                progress[m]!.becomeProbe()
            }
        }
        if heartbeatElapsed >= options.heartbeatTicks {
            heartbeatElapsed = 0
            broadcastHeartbeat(context: pendingReads.last?.sequence ?? 0)
        }
    }
}
