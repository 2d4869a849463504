// The in-memory view of the replicated log: a snapshot prefix followed by entries, with the
// boundaries that tell the shell what still has to be made durable (thesis §3.5, §5).

/// The log as the core sees it: everything after the latest snapshot is held in memory (compaction
/// bounds its size). Three watermarks describe durability:
///
/// - `emitted`: entries up to here were handed to the shell in a `.persist` action;
/// - `persisted`: the shell acknowledged them durable (`RaftNode.persisted(upTo:term:)`);
/// - `committed`: known to be stored on a majority (thesis §3.6).
///
/// Invariants (checked with `precondition`, a violation is a bug): `snapshot.index < firstIndex`,
/// entries are contiguous, `persisted <= emitted <= lastIndex`, and `committed` never moves backwards.
public struct RaftLog: Sendable {
    /// The metadata of the snapshot that replaced the log prefix (index 0, term 0 if none).
    public private(set) var snapshot: SnapshotMetadata
    /// The entries after `snapshot.index`, contiguous.
    public private(set) var entries: [Entry]
    /// Entries up to this index were handed to the shell to persist.
    public internal(set) var emitted: LogIndex
    /// Entries up to this index are durable on this server.
    public internal(set) var persisted: LogIndex
    /// The highest index known to be committed.
    public private(set) var committed: LogIndex

    init(snapshot: SnapshotMetadata, entries: [Entry], committed: LogIndex) {
        self.snapshot = snapshot
        self.entries = entries
        for (i, e) in entries.enumerated() {
            precondition(e.index == snapshot.index.advanced(by: i + 1), "restored log is not contiguous")
        }
        let last = entries.last?.index ?? snapshot.index
        self.emitted = last
        self.persisted = last
        self.committed = max(snapshot.index, min(committed, last))
    }

    /// The first index held in memory (one past the snapshot).
    @inlinable public var firstIndex: LogIndex { snapshot.index.advanced(by: 1) }
    /// The index of the last entry (the snapshot index when there are no entries).
    @inlinable public var lastIndex: LogIndex { entries.last?.index ?? snapshot.index }
    /// The term of the last entry.
    @inlinable public var lastTerm: Term { entries.last?.term ?? snapshot.term }

    /// The term of the entry at `index`, or nil when it was compacted away or does not exist yet.
    /// The snapshot's own index answers with the snapshot term.
    @inlinable public func term(at index: LogIndex) -> Term? {
        if index == snapshot.index { return snapshot.term }
        if index < snapshot.index || index > lastIndex { return nil }
        return entries[Int(index.rawValue - snapshot.index.rawValue - 1)].term
    }

    /// The entry at `index`; the index MUST be in `firstIndex...lastIndex`.
    @inlinable public func entry(at index: LogIndex) -> Entry {
        entries[Int(index.rawValue - snapshot.index.rawValue - 1)]
    }

    /// Whether the entry at `index` has `term` (the AppendEntries consistency check, §3.5).
    @inlinable public func matchTerm(_ index: LogIndex, _ term: Term) -> Bool { self.term(at: index) == term }

    /// The election restriction (thesis §3.6.1): a candidate's log is at least as up-to-date as ours if
    /// its last term is higher, or equal with a last index at least as large.
    @inlinable public func isUpToDate(lastIndex: LogIndex, lastTerm: Term) -> Bool {
        lastTerm > self.lastTerm || (lastTerm == self.lastTerm && lastIndex >= self.lastIndex)
    }

    /// Entries in `from...` up to `maxCount` of them, stopping before the payload bytes would exceed
    /// `maxBytes` (always at least one entry when any is in range). `from` MUST be at least `firstIndex`.
    func slice(from: LogIndex, maxCount: Int, maxBytes: Int = .max) -> [Entry] {
        precondition(from >= firstIndex, "slice below the compaction point")
        if from > lastIndex { return [] }
        let start = Int(from.rawValue - snapshot.index.rawValue - 1)
        var end = maxCount >= entries.count - start ? entries.count : start + maxCount
        if maxBytes != .max {
            var bytes = 0
            for i in start..<end {
                bytes += entries[i].payloadSize
                if bytes > maxBytes && i > start {
                    end = i
                    break
                }
            }
        }
        return Array(entries[start..<end])
    }

    /// Drops the in-memory payload of every `.normal` entry in `from...through` of at least `minimumSize`
    /// bytes, remembering its size (`Entry.releasedPayloadSize`). Returns how many bytes were released.
    mutating func releasePayloads(from: LogIndex, through: LogIndex, minimumSize: Int) -> Int {
        let lo = max(from, firstIndex)
        let hi = min(through, lastIndex)
        guard lo <= hi else { return 0 }
        var released = 0
        for i in Int(lo.rawValue - snapshot.index.rawValue - 1)...Int(hi.rawValue - snapshot.index.rawValue - 1) {
            guard entries[i].kind == .normal, entries[i].releasedPayloadSize == nil, entries[i].data.count >= minimumSize else { continue }
            released += entries[i].data.count
            entries[i].releasedPayloadSize = entries[i].data.count
            entries[i].data = []
        }
        return released
    }

    /// Appends entries created by this server as leader. Their indexes MUST follow `lastIndex`.
    mutating func appendLeader(_ new: Entry) {
        precondition(new.index == lastIndex.advanced(by: 1), "leader append is not contiguous")
        entries.append(new)
    }

    /// Appends `new` (which follow `prevIndex`, already known to match) and truncates any conflicting
    /// suffix (§3.5: "if an existing entry conflicts with a new one, delete it and all that follow").
    /// Returns the truncation point (the first replaced index) if entries were removed, and the entries
    /// that were removed. Entries that already match are kept, so a stale or duplicated AppendEntries
    /// never truncates anything.
    mutating func append(after prevIndex: LogIndex, _ new: [Entry]) -> (truncatedFrom: LogIndex?, removed: [Entry]) {
        var skip = 0
        for e in new {
            guard e.index <= lastIndex else { break }
            if e.index < firstIndex || matchTerm(e.index, e.term) {
                skip += 1
                continue
            }
            // A conflict: everything from here on is replaced.
            precondition(e.index > committed, "conflict at committed index \(e.index) (commit \(committed))")
            let cut = Int(e.index.rawValue - snapshot.index.rawValue - 1)
            let removed = Array(entries[cut...])
            entries.removeSubrange(cut...)
            if emitted >= e.index { emitted = e.index.advanced(by: -1) }
            if persisted >= e.index { persisted = e.index.advanced(by: -1) }
            entries.append(contentsOf: new[skip...])
            return (e.index, removed)
        }
        if skip < new.count {
            precondition(new[skip].index == lastIndex.advanced(by: 1), "append leaves a gap")
            entries.append(contentsOf: new[skip...])
        }
        return (nil, [])
    }

    /// Fast log back-off (etcd's findConflictByTerm): the largest index `<= index` whose term is
    /// `<= term`, with that term. Used by a follower to answer a rejected AppendEntries and by the
    /// leader to pick the next probe, skipping a whole term per round trip.
    func findConflictByTerm(_ index: LogIndex, _ term: Term) -> (LogIndex, Term) {
        var i = min(index, lastIndex)
        while i > snapshot.index {
            let t = self.term(at: i)!
            if t <= term { return (i, t) }
            i = i.advanced(by: -1)
        }
        return (snapshot.index, snapshot.term)
    }

    /// Raises the commit index; it MUST NOT exceed `lastIndex` and never goes back.
    mutating func commit(to index: LogIndex) {
        guard index > committed else { return }
        precondition(index <= lastIndex, "commit \(index) beyond last index \(lastIndex)")
        committed = index
    }

    /// Drops entries up to `meta.index`, which MUST be in the log (local compaction).
    mutating func compact(to meta: SnapshotMetadata) {
        precondition(meta.index >= snapshot.index && meta.index <= lastIndex, "compaction out of range")
        let drop = Int(meta.index.rawValue - snapshot.index.rawValue)
        entries.removeFirst(drop)
        snapshot = meta
    }

    /// Replaces the whole log with a snapshot received from the leader (InstallSnapshot, §5.3).
    mutating func restore(_ meta: SnapshotMetadata) {
        precondition(meta.index > committed, "restoring a snapshot behind the commit index")
        snapshot = meta
        entries = []
        emitted = meta.index
        // `persisted` moves when the shell acknowledges the snapshot write.
        persisted = min(persisted, meta.index)
        committed = meta.index
    }
}
