// The leader's view of each follower (thesis §3.5 nextIndex/matchIndex), with etcd's flow control:
// probe, replicate and snapshot states and a bounded window of in-flight AppendEntries.

/// How the leader currently replicates to one follower.
public enum ReplicationState: Hashable, Sendable, CustomStringConvertible {
    /// The leader does not know where the follower's log matches: it sends one AppendEntries per
    /// heartbeat interval and waits for the answer before the next (§3.5 back-off).
    case probe
    /// The follower is known to match: entries are streamed optimistically, up to the in-flight limit.
    case replicate
    /// The follower needs the snapshot at `pendingIndex` (it is behind the compaction point, §5.3);
    /// nothing else is sent until it answers or the attempt times out.
    case snapshot(pendingIndex: LogIndex)

    public var description: String {
        switch self {
        case .probe: return "probe"
        case .replicate: return "replicate"
        case .snapshot(let i): return "snapshot(\(i))"
        }
    }
}

/// Replication progress of one follower, kept by the leader.
public struct Progress: Hashable, Sendable {
    /// The highest index known to be replicated on the follower.
    public internal(set) var match: LogIndex
    /// The next index to send.
    public internal(set) var next: LogIndex
    public internal(set) var state: ReplicationState = .probe
    /// In probe state: an AppendEntries is outstanding, so hold further ones until a response or heartbeat.
    var probeSent = false
    /// Last indexes of the AppendEntries in flight (replicate state), oldest first.
    var inflight: [LogIndex] = []
    /// Payload bytes of each of those messages, and their sum.
    var inflightSizes: [Int] = []
    var inflightBytes = 0
    /// Heard from since the last check-quorum round (§6.2).
    public internal(set) var recentActive = false
    /// The leader's tick count when the follower last answered.
    public internal(set) var lastContactTick: UInt64 = 0
    /// The leader's tick count when the snapshot was sent (snapshot state only).
    var snapshotSentTick: UInt64 = 0
    /// Whether the follower is a learner (never counted in a quorum).
    public internal(set) var isLearner: Bool

    init(next: LogIndex, isLearner: Bool, tick: UInt64) {
        self.match = 0
        self.next = next
        self.isLearner = isLearner
        self.lastContactTick = tick
    }

    /// Whether the leader must hold AppendEntries for this follower.
    func isPaused(maxInflight: Int, maxInflightBytes: Int = .max) -> Bool {
        switch state {
        case .probe: return probeSent
        case .replicate: return inflight.count >= maxInflight || inflightBytes >= maxInflightBytes
        case .snapshot: return true
        }
    }

    private mutating func clearInflight() {
        inflight.removeAll(keepingCapacity: true)
        inflightSizes.removeAll(keepingCapacity: true)
        inflightBytes = 0
    }

    /// Forgets the oldest in-flight message (presumed lost).
    mutating func dropOldestInflight() {
        guard !inflight.isEmpty else { return }
        inflight.removeFirst()
        inflightBytes -= inflightSizes.removeFirst()
    }

    mutating func becomeProbe() {
        // After a snapshot, resume right after it (or after match if that is further).
        if case .snapshot(let pending) = state {
            next = max(match, pending).advanced(by: 1)
        } else {
            next = match.advanced(by: 1)
        }
        state = .probe
        probeSent = false
        clearInflight()
    }

    mutating func becomeReplicate() {
        state = .replicate
        next = match.advanced(by: 1)
        probeSent = false
        clearInflight()
    }

    mutating func becomeSnapshot(_ index: LogIndex, tick: UInt64) {
        state = .snapshot(pendingIndex: index)
        probeSent = false
        snapshotSentTick = tick
        clearInflight()
    }

    /// A successful response for `index`. Returns false if it was stale (nothing new learned).
    mutating func maybeUpdate(_ index: LogIndex) -> Bool {
        var updated = false
        if index > match {
            match = index
            updated = true
            probeSent = false
        }
        if next <= index { next = index.advanced(by: 1) }
        return updated
    }

    /// A rejection of the AppendEntries whose `prevIndex` was `rejected`; `hint` is the highest index
    /// that may match. Returns false if the rejection is stale and must be ignored.
    mutating func maybeDecrease(rejected: LogIndex, hint: LogIndex) -> Bool {
        if state == .replicate {
            // Rejections at or below match are stale (reordered or duplicated messages).
            if rejected <= match { return false }
            next = match.advanced(by: 1)
            return true
        }
        // Probe: only the answer to the latest probe counts.
        if next.advanced(by: -1) != rejected { return false }
        next = max(min(rejected, hint.advanced(by: 1)), match.advanced(by: 1))
        probeSent = false
        return true
    }

    /// Records an AppendEntries sent up to `last`, carrying `bytes` of payload.
    mutating func sent(last: LogIndex, entryCount: Int, bytes: Int = 0) {
        switch state {
        case .replicate:
            if entryCount > 0 {
                next = last.advanced(by: 1)
                inflight.append(last)
                inflightSizes.append(bytes)
                inflightBytes += bytes
            }
        case .probe:
            probeSent = true
        case .snapshot:
            preconditionFailure("sending entries to a follower in snapshot state")
        }
    }

    /// Frees in-flight slots acknowledged by a response up to `index`.
    mutating func freeInflight(upTo index: LogIndex) {
        var n = 0
        while n < inflight.count && inflight[n] <= index { n += 1 }
        if n > 0 {
            inflight.removeFirst(n)
            for size in inflightSizes.prefix(n) { inflightBytes -= size }
            inflightSizes.removeFirst(n)
        }
    }
}
