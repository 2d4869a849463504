import API
import Command
import Foundation
import Logging
import RaftCore
import RaftWire
import SQLiteDB
import Storage
import Synchronization
import Transport

/// The Raft worker thread: the one thread that owns the `RaftNode`, the durable log and hard state, and
/// the SQLite write connection (the state machine).
///
/// Its loop takes every queued event at once (ticks, messages from peers, proposals, admin requests),
/// steps the core with each, then performs the resulting actions in the order RaftCore's contract
/// requires (Sources/RaftCore/DESIGN.md):
/// 1. the leader's replication messages and pre-votes that precede any persist go out at once, in
///    parallel with the local fsync;
/// 2. every persist of the batch is written, then made durable with ONE fdatasync (group commit) and
///    acknowledged to the core;
/// 3. only then the remaining messages (votes, responses) are sent and committed entries applied.
/// After every turn it publishes a `RaftView` that status handlers read without waiting.
final class RaftWorker: @unchecked Sendable {
    enum Event {
        case tick
        /// A Raft message, with the sender as its frame introduced it (ID from the transport handshake,
        /// advertised address from the frame), so a new member can answer a leader it has not heard of.
        case message(Message, sender: Member?)
        /// Runs on the worker thread with exclusive access to the worker's state.
        case run(@Sendable (RaftWorker) -> Void)
    }

    /// A client waiting for its proposal to be applied.
    struct Waiter {
        var term: Term
        /// Uptime (ns) after which the client is told the outcome is unknown; 0 = none.
        var deadline: UInt64
        var completion: @Sendable (Result<([StatementResult], UInt64), ServiceError>) -> Void
    }

    let selfID: String
    let selfAddress: String
    let raftID: NodeID
    let logger: Logger
    var core: RaftNode
    let log: SegmentedLog
    let stable: StableStore
    let fsm: StateMachine
    let snapshots: SnapshotStore
    /// A read-only connection whose read transaction pins the database at a snapshot's index while a
    /// background thread copies it; writes continue meanwhile (WAL).
    let snapshotConnection: Connection
    var snapshotInProgress = false
    var snapshotWaiters: [@Sendable (Result<SnapshotOutcome, ServiceError>) -> Void] = []
    /// Forced snapshots requested while one was in progress: served by the next one.
    var nextSnapshotWaiters: [@Sendable (Result<SnapshotOutcome, ServiceError>) -> Void] = []
    /// Followers a snapshot is being streamed to (one transfer per follower at a time).
    var transfers: Set<NodeID> = []
    /// The last snapshot taken here: name, when, and how long the copy took.
    var lastSnapshot: (name: String, time: Date, seconds: Double)?
    /// `POST /snapshot?trailing_logs=N` for the next compaction only.
    var trailingLogsOverride: UInt64?
    /// The snapshot in progress was asked for (`POST /snapshot`), not triggered by `-raft-snap`.
    var snapshotIsUser = false
    /// Snapshot and restore outcomes since the process started (`/debug/vars` → `store`).
    var counters = StoreCounters()
    var book = AddressBook()
    let transport: Transport
    let events = JobQueue<Event>()
    let view: Shared<RaftView>

    private var waiters: [UInt64: Waiter] = [:]
    /// Proposals of the current turn, proposed together at its end (one persist, one AppendEntries per
    /// follower, one fsync for all of them).
    private var proposalBuffer: [(bytes: [UInt8], deadline: UInt64, completion: @Sendable (Result<([StatementResult], UInt64), ServiceError>) -> Void)] = []
    private var pendingReads: [UInt64: @Sendable (Result<Void, ServiceError>) -> Void] = [:]
    private var readsAwaitingApply: [(index: UInt64, completion: @Sendable (Result<Void, ServiceError>) -> Void)] = []
    private var nextReadContext: UInt64 = 1
    /// Callbacks run once an index is applied (membership changes waiting for their entry).
    private var applyWatchers: [(index: UInt64, term: Term, completion: @Sendable (String?) -> Void)] = []
    private var lastLeaderContact: Date?
    private var lastTerm: Term = 0
    private var lastRole: Role = .follower
    /// Set when storage fails: the node stops accepting writes (fail-stop).
    private(set) var fatalError: String?
    /// The load commit being swapped in off this thread, and the committed entries waiting behind it.
    private(set) var commitJob: LoadCommitJob?
    private var deferredApply: [Entry] = []

    struct Settings {
        var electionTicks: Int
        var heartbeatTicks: Int
        var tickInterval: Double
        /// Seconds without contact after which the leader removes a voter / non-voter; 0 = never.
        var reapVoterAfter: Double = 0
        var reapNonVoterAfter: Double = 0
        /// Applied entries since the last snapshot that trigger a new one (`-raft-snap`).
        var snapshotThreshold: UInt64 = 8192
        /// Entries kept in the durable log below a snapshot (`1.25 × -raft-snap` in rqlite).
        var trailingLogs: UInt64 = 10240
    }
    let settings: Settings

    init(
        selfID: String, selfAddress: String, dataDirectory: String, foreignKeys: Bool, settings: Settings,
        transport: Transport, view: Shared<RaftView>, logger: Logger,
        progress: @escaping (NodeStatus.Progress?) -> Void = { _ in }
    ) throws {
        self.selfID = selfID
        self.selfAddress = selfAddress
        self.raftID = NodeIdentity.raftID(selfID)
        self.logger = logger
        self.settings = settings
        self.transport = transport
        self.view = view
        let raftDir = dataDirectory + "/raft"
        stable = try StableStore(path: raftDir + "/state")
        log = try SegmentedLog(directory: raftDir + "/log")
        let dbPath = dataDirectory + "/db.sqlite"
        var startCounters = StoreCounters()
        CleanShutdown.sweepDiscarded(dbPath)
        let reused = try CleanShutdown.consume(raftDir: raftDir, dbPath: dbPath)
        var discarded: (@Sendable () -> Void)?
        if reused {
            logger.info("reusing the database left by a clean shutdown")
        } else if FileManager.default.fileExists(atPath: dbPath) {
            // Not left by a clean shutdown: the database is rebuilt from the newest snapshot and the log.
            logger.info("the database was not closed cleanly: rebuilding it from the snapshot and the log")
            let began = Date()
            discarded = try CleanShutdown.discardDatabase(dbPath)
            logger.info("discarded the database files", metadata: ["seconds": "\(Self.seconds(since: began))"])
        }
        snapshots = try SnapshotStore(directory: raftDir + "/snapshots")
        if !FileManager.default.fileExists(atPath: dbPath), let latest = snapshots.latest() {
            // No database: start from a plain copy of the newest snapshot's file — sequential IO at disk
            // speed, where the backup API below sends every page through the WAL and a checkpoint.
            logger.info("restoring the database from snapshot", metadata: ["raft.snapshot": "\(latest.name)"])
            let began = Date()
            var copied: Int64 = 0
            let source = snapshots.databasePath(latest.name)
            func copy() throws {
                try CleanShutdown.copyFile(source, to: dbPath) { done, total in
                    copied = done
                    progress(NodeStatus.Progress(label: "restoring snapshot \(latest.name)", done: done, total: total, unit: "bytes"))
                }
            }
            do {
                try copy()
            } catch let error where discarded != nil {
                // The old files are still being deleted; on a nearly full disk the copy needs their room.
                logger.info("copying the snapshot failed while the old database was being deleted; retrying after it",
                    metadata: ["error": "\(error)"])
                discarded?()
                try copy()
            }
            progress(nil)
            startCounters.restores += 1
            logger.info("copied the snapshot's database", metadata: ["bytes": "\(copied)", "seconds": "\(Self.seconds(since: began))"])
        }
        let opening = Date()
        fsm = try StateMachine(path: dbPath, foreignKeys: foreignKeys)
        logger.info("opened the database", metadata: ["raft.applied": "\(fsm.appliedIndex)", "seconds": "\(Self.seconds(since: opening))"])

        try PeersRecovery.runIfRequested(raftDir: raftDir, log: log, stable: stable, fsm: fsm, snapshots: snapshots, logger: logger)
        let latest = snapshots.latest()
        if let latest, fsm.appliedIndex < latest.meta.index.rawValue {
            // The database is older than the newest snapshot (lost after a crash, or never built).
            logger.info("restoring the database from snapshot", metadata: ["raft.snapshot": "\(latest.name)"])
            try fsm.restore(from: snapshots.databasePath(latest.name)) { done, total in
                progress(NodeStatus.Progress(label: "restoring snapshot \(latest.name)", done: done, total: total, unit: "pages"))
            }
            progress(nil)
            if startCounters.restores == 0 { startCounters.restores += 1 }
        } else if reused, latest != nil {
            // The database already holds the newest snapshot: restoring it was skipped.
            startCounters.restoresStartSkipped += 1
        }
        snapshotConnection = try Connection.open(path: dataDirectory + "/db.sqlite", mode: .readOnly, foreignKeys: foreignKeys, synchronous: .off)
        let snapshotMeta = latest?.meta ?? SnapshotMetadata(index: 0, term: 0, configuration: Configuration(voters: []))
        let hard = try stable.load()
        var entries: [Entry] = []
        let firstWanted = max(log.firstIndex, snapshotMeta.index.rawValue + 1)
        if !log.isEmpty && firstWanted <= log.lastIndex {
            // Read in pieces, and keep large payloads out of memory (released, as after an apply; `apply`
            // and `send` read them back when needed): a log holding a chunked load costs no memory to
            // restart, even when the database must be rebuilt by replaying it.
            var next = firstWanted
            while next <= log.lastIndex {
                for record in try log.entries(from: next, to: log.lastIndex, maxBytes: 4 << 20) {
                    guard let kind = EntryKind(rawValue: record.kind) else {
                        throw StorageError.corrupt(path: raftDir + "/log", offset: 0, reason: "unknown entry kind \(record.kind) at \(record.index)")
                    }
                    if kind == .normal && record.data.count >= Self.releasePayloadSize {
                        entries.append(
                            Entry(term: Term(record.term), index: LogIndex(record.index), kind: kind, releasedPayloadSize: record.data.count))
                    } else {
                        entries.append(Entry(term: Term(record.term), index: LogIndex(record.index), kind: kind, data: record.data))
                    }
                    next = record.index + 1
                }
            }
        }
        let lastIndex = entries.last?.index.rawValue ?? snapshotMeta.index.rawValue
        let applied = max(fsm.appliedIndex, snapshotMeta.index.rawValue)
        if applied > lastIndex {
            // The database claims entries the durable log does not hold: it cannot be trusted.
            throw NodeError.openFailed(
                "database applied index \(applied) is beyond the last log index \(lastIndex); remove db.sqlite to rebuild it")
        }
        if let appliedTerm = entries.first(where: { $0.index.rawValue == applied })?.term, appliedTerm.rawValue != fsm.appliedTerm, applied > 0 {
            throw NodeError.openFailed("database applied entry \(applied) has term \(fsm.appliedTerm), the log has \(appliedTerm)")
        }
        var options = RaftOptions(id: raftID, randomSeed: UInt64.random(in: 1...UInt64.max))
        options.electionTicks = settings.electionTicks
        options.heartbeatTicks = settings.heartbeatTicks
        options.maxInflight = 256
        options.maxEntriesPerMessage = 512
        options.maxBytesPerMessage = Self.maxBytesPerMessage
        // Well under the transport's 64 MiB per-peer queue, which drops the oldest messages when full.
        options.maxInflightBytes = 32 << 20
        let state = PersistentState(
            hardState: RaftCore.HardState(term: Term(hard.term), vote: UInt64(hard.vote).map { NodeID($0) }, commit: LogIndex(max(hard.commit, applied))),
            snapshot: Snapshot(metadata: snapshotMeta, data: Array((latest?.name ?? "").utf8)),
            entries: entries, applied: LogIndex(applied))
        core = RaftNode(options: options, state: state)
        for member in fsm.members { book.record(member) }
        // Addresses in log entries the database does not hold yet (a crash soon after nodes joined): a
        // follower applies them only once a leader commits them, and without them no node could reach
        // its peers to elect that leader. The book is only routing, so a later, different entry just
        // replaces the address.
        for entry in entries
        where entry.index.rawValue > applied && entry.kind == .normal && Command.peekKind(entry.data) == .setNodeMetadata {
            if case .setNodeMetadata(let id, let address, _)? = try? Command.decode(entry.data), !address.isEmpty {
                book.record(Member(id: id, raftAddress: address))
            }
        }
        book.record(Member(id: selfID, raftAddress: selfAddress))
        lastTerm = core.term
        counters = startCounters
        publish()
    }

    /// Seconds since `date`, to the millisecond, for log lines.
    static func seconds(since date: Date) -> String { String(format: "%.3f", Date().timeIntervalSince(date)) }

    /// Whether this node has any Raft state (restarted with existing data: `-join` and
    /// `-bootstrap-expect` are then ignored, as in rqlite).
    var hasState: Bool { core.term > 0 || !log.isEmpty || core.log.snapshot.index > 0 }

    // MARK: Loop

    func run() {
        while let batch = events.takeAll() {
            if fatalError != nil {
                stoppedTurn(batch)
                continue
            }
            var actions: [Action] = []
            for event in batch {
                switch event {
                case .tick:
                    actions += core.tick()
                    expireWaiters()
                case .message(let m, let sender):
                    if let sender, book.member(m.from) == nil, NodeIdentity.raftID(sender.id) == m.from {
                        book.record(sender)
                    }
                    if isLeaderTraffic(m) { lastLeaderContact = Date() }
                    actions += core.step(m)
                case .run(let body):
                    body(self)
                    actions += takeQueuedActions()
                }
            }
            actions += takeQueuedActions()
            actions += flushProposals()
            perform(actions)
            if fatalError == nil {
                afterTurn()
            } else {
                stoppedTurn([])
            }
        }
        failAll(.message("store is shutting down"))
        abandonLoadCommit()
        let logSynced = (try? log.sync()) != nil
        fsm.close()
        // A snapshot copy still running keeps its connection (and the database) busy: no clean close then.
        if !snapshotInProgress { snapshotConnection.close() }
        closedCleanly = logSynced && fatalError == nil && !snapshotInProgress
    }

    /// Set when the loop ends with the log synced, no storage failure and every worker connection closed:
    /// the node may then mark the database reusable (`CleanShutdown`).
    private(set) var closedCleanly = false

    /// A turn after a storage failure (fail-stop): the core is frozen. Ticks and peer messages are
    /// dropped, so nothing is persisted, acknowledged or sent any more: an entry whose write or fsync
    /// failed can never be acknowledged by a later fsync that happens to succeed (the kernel may have
    /// dropped the dirty pages; Linux reports such an error once), and a failed leader falls silent, so
    /// its followers elect a new one instead of waiting on a leader that can no longer commit.
    /// Admin closures still run, so every waiting client gets the failure as its answer.
    private func stoppedTurn(_ batch: [Event]) {
        for event in batch {
            if case .run(let body) = event { body(self) }
        }
        queuedActions.removeAll()
        guard let failure = storageFailure else { return }
        for item in proposalBuffer { item.completion(.failure(failure)) }
        proposalBuffer.removeAll()
        failAll(failure)
        publish()
    }

    private var queuedActions: [Action] = []
    /// For `.run` bodies that step the core: their actions join the turn's.
    func enqueue(_ actions: [Action]) { queuedActions += actions }
    private func takeQueuedActions() -> [Action] {
        defer { queuedActions.removeAll() }
        return queuedActions
    }

    private func isLeaderTraffic(_ m: Message) -> Bool {
        switch m.kind {
        case .append, .heartbeat, .snapshot: return true
        default: return false
        }
    }

    /// Performs actions per RaftCore's ordering contract, looping while acknowledgements produce more.
    /// Within a turn, consecutive persisted entries go to the log in one write and every committed entry
    /// is applied in one SQLite transaction at the end (reads waiting on them are answered after it).
    private func perform(_ initial: [Action]) {
        var actions = initial
        var pendingApply: [Entry] = []
        var readyReads: [(UInt64, UInt64)] = []
        while !actions.isEmpty {
            var later: [Action] = []
            var acknowledgements: [(LogIndex, Term)] = []
            var sawPersist = false
            var records: [LogRecord] = []
            for action in actions {
                switch action {
                case .send(let m) where !sawPersist && m.mayPrecedePersistence:
                    send(m)
                case .persist(let p):
                    sawPersist = true
                    do {
                        if p.snapshot != nil || (!records.isEmpty && p.entries.first.map { $0.index.rawValue != records.last!.index + 1 } == true) {
                            try log.append(records, sync: false)
                            records.removeAll()
                        }
                        try persist(p, appendingTo: &records)
                        if let ack = p.acknowledgement { acknowledgements.append(ack) }
                    } catch {
                        failStop("failed to persist Raft state: \(error)")
                        return
                    }
                default:
                    later.append(action)
                }
            }
            if sawPersist {
                do {
                    if !records.isEmpty { try log.append(records, sync: false) }
                } catch {
                    failStop("failed to write the Raft log: \(error)")
                    return
                }
                do {
                    let syncStart = DispatchTime.now().uptimeNanoseconds
                    try log.sync()
                    WorkerMetrics.fsync.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - syncStart))
                    WorkerMetrics.entriesPerFsync.record(records.count)
                } catch {
                    failStop("failed to sync the Raft log: \(error)")
                    return
                }
            }
            var next: [Action] = []
            for (index, term) in acknowledgements { next += core.persisted(upTo: index, term: term) }
            for action in later {
                switch action {
                case .send(let m): send(m)
                case .apply(let entries): pendingApply += entries
                case .readReady(let context, let index): readyReads.append((context, index.rawValue))
                case .readFailed(let context, _): failRead(context)
                case .restoreSnapshot(let snapshot):
                    apply(pendingApply)
                    pendingApply.removeAll()
                    restore(snapshot)
                case .persist: break
                }
            }
            actions = next
        }
        apply(pendingApply)
        for (context, index) in readyReads { readReady(context, index) }
    }

    private var lastSavedHard = RaftCore.HardState()

    /// Stores a persist's snapshot and hard state at once, and adds its entries to `records` for the
    /// turn's single log write.
    private func persist(_ p: Persist, appendingTo records: inout [LogRecord]) throws {
        if let snapshot = p.snapshot {
            // The snapshot file is already durable in the store (received whole before it reached the
            // core); it replaces the entire durable log.
            try log.removeAll(nextIndex: snapshot.metadata.index.rawValue + 1)
        }
        for e in p.entries {
            records.append(LogRecord(index: e.index.rawValue, term: e.term.rawValue, kind: e.kind.rawValue, data: e.data))
        }
        if let hard = p.hardState, hard.term != lastSavedHard.term || hard.vote != lastSavedHard.vote {
            // Term and vote MUST be durable before any vote or response leaves (thesis §3.8).
            try stable.save(Storage.HardState(term: hard.term.rawValue, vote: hard.vote.map { String($0.rawValue) } ?? "", commit: hard.commit.rawValue))
            lastSavedHard = hard
        } else if let hard = p.hardState {
            lastSavedHard.commit = hard.commit
        }
    }

    /// Applied entries at least this large leave the core's memory (`releasePayloads`); the segmented log
    /// keeps them, and `send` reads them back for a follower that still needs them.
    static let releasePayloadSize = 64 << 10
    /// Payload bytes per AppendEntries (frames are capped at 16 MiB; load chunks are about 1 MiB).
    static let maxBytesPerMessage = 4 << 20

    /// `entries` with every released payload read back from the durable log.
    func withPayloads(_ entries: ArraySlice<Entry>) throws -> [Entry] {
        var filled = Array(entries)
        for i in filled.indices where filled[i].releasedPayloadSize != nil {
            guard let record = try log.entry(at: filled[i].index.rawValue), record.term == filled[i].term.rawValue else {
                throw NodeError.openFailed("entry \(filled[i].index) is missing from the durable log")
            }
            filled[i].data = record.data
            filled[i].releasedPayloadSize = nil
        }
        return filled
    }

    private func send(_ m: Message) {
        var m = m
        if case .snapshot(let snapshot) = m.kind {
            return streamSnapshot(snapshot, message: m)
        }
        if case .append(let prevIndex, let prevTerm, let entries, let commit) = m.kind,
            entries.contains(where: { $0.releasedPayloadSize != nil })
        {
            do {
                m.kind = .append(prevIndex: prevIndex, prevTerm: prevTerm, entries: try withPayloads(entries[...]), commit: commit)
            } catch {
                logger.error("cannot read a log entry back", metadata: ["raft.peer": "\(m.to)", "error": "\(error)"])
                return
            }
        }
        guard let address = book.address(m.to) else {
            logger.debug("no address for peer", metadata: ["raft.peer": "\(m.to)"])
            return
        }
        var frame = ByteWriter()
        frame.string(selfAddress)
        _ = transport.send(to: address, type: FrameType.raftMessage, payload: frame.buffer + RaftWire.encode(m))
    }

    private func apply(_ entries: [Entry]) {
        guard !entries.isEmpty, fatalError == nil else { return }
        if commitJob != nil {
            // A load's image is being swapped in: nothing else touches the database until it is done.
            deferredApply += entries
            return
        }
        // Entries already in the database (replayed after a restart) are only acknowledged.
        let fresh = entries.filter { $0.index.rawValue > fsm.appliedIndex }
        var applied = fresh.count
        if !fresh.isEmpty {
            var outcomes: [UInt64: StateMachine.Outcome] = [:]
            do {
                // A long run of entries (log replay after a restart, a follower catching up) is applied in
                // bounded transactions, publishing the applied index after each so status shows progress.
                // A load's commit ends the run: what follows it waits until its image is in.
                var start = 0
                applied = 0
                while start < fresh.count {
                    var end = start
                    var bytes = 0
                    while end < fresh.count && end - start < Self.applyChunkEntries && bytes < Self.applyChunkBytes {
                        bytes += fresh[end].payloadSize
                        end += 1
                    }
                    let (chunkOutcomes, count) = try fsm.apply(
                        try withPayloads(fresh[start..<end]), wantsResults: { waiters[$0] != nil }, deferringLoadCommits: true)
                    for (index, outcome) in chunkOutcomes { outcomes[index] = outcome }
                    applied = start + count
                    if count < end - start { break }
                    start = end
                    if start < fresh.count { publish() }
                }
            } catch {
                failStop("failed to apply committed entries to SQLite: \(error)")
                return
            }
            for entry in fresh[..<applied] { completeApplied(entry, outcomes[entry.index.rawValue] ?? .none) }
        }
        WorkerMetrics.applied.increment(by: applied)
        if applied < fresh.count {
            let commit = fresh[applied]
            if commit.index.rawValue > 1 { acknowledgeApplied(upTo: commit.index.advanced(by: -1)) }
            deferredApply = Array(fresh[(applied + 1)...])
            startLoadCommit(commit)
        } else {
            acknowledgeApplied(upTo: entries.last!.index)
        }
    }

    /// Bookkeeping for an applied entry: its waiter's answer, the address book.
    private func completeApplied(_ entry: Entry, _ outcome: StateMachine.Outcome) {
        let index = entry.index.rawValue
        if entry.kind == .normal && Command.peekKind(entry.data) == .setNodeMetadata,
            case .setNodeMetadata(let id, let addr, _)? = try? Command.decode(entry.data)
        {
            book.record(Member(id: id, raftAddress: addr))
        }
        if let waiter = waiters.removeValue(forKey: index) {
            if waiter.term != entry.term {
                waiter.completion(.failure(.message("leadership lost while committing log")))
            } else {
                switch outcome {
                case .results(let results): waiter.completion(.success((results, index)))
                case .failed(let message): waiter.completion(.failure(.message(message)))
                case .none: waiter.completion(.success(([], index)))
                }
            }
        }
        if case .configChange = entry.kind, let change = ConfigChange(encoded: Array(entry.data.prefix(9))),
            case .remove(let id) = change, id != raftID
        {
            book.forget(id)
        }
    }

    /// Tells the core how far the database is, lets large payloads go, and answers whoever waited for it.
    private func acknowledgeApplied(upTo index: LogIndex) {
        core.applied(upTo: index)
        core.releasePayloads(upTo: min(index, core.applied), minimumSize: Self.releasePayloadSize)
        let applied = fsm.appliedIndex
        var stillWaiting: [(UInt64, Term, @Sendable (String?) -> Void)] = []
        for w in applyWatchers {
            if w.index <= applied {
                let term = core.log.term(at: LogIndex(w.index))
                w.completion(term == nil || term == w.term ? nil : "leadership lost while committing log")
            } else {
                stillWaiting.append((w.index, w.term, w.completion))
            }
        }
        applyWatchers = stillWaiting.map { (index: $0.0, term: $0.1, completion: $0.2) }
        serveReadsAwaitingApply()
    }

    /// Bounds of one apply transaction when many committed entries arrive in one turn.
    static let applyChunkEntries = 512
    static let applyChunkBytes = 4 << 20

    // MARK: Load commits off the worker

    /// Starts the commit of a chunked load: decided at once when refused, otherwise a `LoadCommitJob` on
    /// its own thread while this thread keeps Raft going and defers every later entry.
    private func startLoadCommit(_ entry: Entry) {
        let start: StateMachine.LoadCommitStart
        do {
            start = try fsm.startLoadCommit(entry)
        } catch {
            failStop("failed to apply a load commit to SQLite: \(error)")
            return
        }
        switch start {
        case .done(let outcome):
            finishLoadCommit(entry, outcome)
        case .job(let job):
            commitJob = job
            logger.info("assembling a loaded image", metadata: ["raft.index": "\(entry.index)", "bytes": "\(job.load.size)"])
            let started = Date()
            Thread.detachNewThread { [self] in
                let result = job.run()
                events.push(.run { w in w.loadCommitJobEnded(job, result, seconds: Date().timeIntervalSince(started)) })
            }
        }
    }

    private func loadCommitJobEnded(_ job: LoadCommitJob, _ result: LoadCommitJob.Result, seconds: Double) {
        guard commitJob === job else { return }  // abandoned (a snapshot replaced the database)
        commitJob = nil
        let outcome: StateMachine.Outcome
        do {
            outcome = try fsm.finishLoadCommit(job, result)
        } catch {
            failStop("failed to swap a loaded image in: \(error)")
            return
        }
        logger.info("load commit applied", metadata: ["raft.index": "\(job.entry.index)", "seconds": "\(seconds)"])
        finishLoadCommit(job.entry, outcome)
    }

    /// The commit entry is applied: answer it, then apply what waited behind it.
    private func finishLoadCommit(_ entry: Entry, _ outcome: StateMachine.Outcome) {
        completeApplied(entry, outcome)
        WorkerMetrics.applied.increment()
        acknowledgeApplied(upTo: entry.index)
        let rest = deferredApply
        deferredApply = []
        apply(rest)
        if commitJob == nil && !nextSnapshotWaiters.isEmpty && !snapshotInProgress {
            snapshotWaiters += nextSnapshotWaiters
            nextSnapshotWaiters.removeAll()
            maybeSnapshot(force: true)
        }
    }

    /// Stops a running commit job before it changes anything and forgets it and the entries behind it
    /// (shutdown; a snapshot about to replace the database, which covers them).
    func abandonLoadCommit() {
        guard let job = commitJob else { return }
        job.cancel()
        job.wait()
        commitJob = nil
        deferredApply = []
        try? fsm.reload()
    }

    // MARK: Proposals

    /// Proposes a command; `completion` runs once it is applied (with its results) or fails.
    func propose(
        _ command: Command, timeout: Double = 0,
        completion: @escaping @Sendable (Result<([StatementResult], UInt64), ServiceError>) -> Void
    ) {
        if let storageFailure {
            completion(.failure(storageFailure))
            return
        }
        let deadline = timeout > 0 ? DispatchTime.now().uptimeNanoseconds + UInt64(timeout * 1e9) : 0
        proposalBuffer.append((command.encode(), deadline, completion))
    }

    /// Proposes the turn's buffered commands in one batch.
    private func flushProposals() -> [Action] {
        guard !proposalBuffer.isEmpty else { return [] }
        let batch = proposalBuffer
        proposalBuffer.removeAll(keepingCapacity: true)
        do {
            let proposal = try core.proposeBatch(batch.map { $0.bytes })
            WorkerMetrics.proposals.increment(by: batch.count)
            for (i, item) in batch.enumerated() {
                waiters[proposal.index.rawValue + UInt64(i)] = Waiter(term: proposal.term, deadline: item.deadline, completion: item.completion)
            }
            return proposal.actions
        } catch {
            let failure = proposalFailure(error)
            for item in batch { item.completion(.failure(failure)) }
            return []
        }
    }

    /// Tells clients whose writes outlived `-raft-apply-timeout` that the outcome is unknown (the entry
    /// may still commit). Checked on every tick: no timer per request.
    private func expireWaiters() {
        guard !waiters.isEmpty else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        for (index, waiter) in waiters where waiter.deadline != 0 && waiter.deadline < now {
            waiters[index] = nil
            waiter.completion(.failure(.message("timeout waiting for the write to be applied; its outcome is unknown")))
        }
    }

    func proposalFailure(_ error: ProposalError) -> ServiceError {
        switch error {
        case .notLeader(let hint):
            return hint == nil ? .leaderNotFound : .message("not leader")
        case .transferInProgress: return .message("leadership transfer in progress")
        case .configChangePending: return .message("configuration change in progress")
        case .invalidConfigChange: return .message("invalid configuration change")
        }
    }

    /// Proposes a membership change; `completion` gets nil once it is applied, or an error message.
    func proposeConfigChange(_ change: ConfigChange, completion: @escaping @Sendable (String?) -> Void) {
        if let storageFailure { return completion(storageFailure.text) }
        do {
            let proposal = try core.proposeConfigChange(change)
            applyWatchers.append((proposal.index.rawValue, proposal.term, completion))
            enqueue(proposal.actions)
        } catch {
            completion(proposalFailure(error).text)
        }
    }

    /// Starts a leadership transfer (thesis §3.10).
    func transferLeadership(to target: NodeID) {
        guard fatalError == nil else { return }
        enqueue(core.transferLeadership(to: target))
    }

    /// Waits until `index` (of `term`) is applied.
    func whenApplied(_ index: UInt64, term: Term, completion: @escaping @Sendable (String?) -> Void) {
        if fsm.appliedIndex >= index {
            completion(nil)
        } else {
            applyWatchers.append((index, term, completion))
        }
    }

    // MARK: Linearizable reads (thesis §6.4)

    func readIndex(completion: @escaping @Sendable (Result<Void, ServiceError>) -> Void) {
        if let storageFailure { return completion(.failure(storageFailure)) }
        let context = nextReadContext
        nextReadContext += 1
        pendingReads[context] = completion
        enqueue(core.readIndex(context: context))
    }

    func readReady(_ context: UInt64, _ index: UInt64) {
        guard let completion = pendingReads.removeValue(forKey: context) else { return }
        readsAwaitingApply.append((index, completion))
        serveReadsAwaitingApply()
    }

    private func failRead(_ context: UInt64) {
        pendingReads.removeValue(forKey: context)?(.failure(core.leader == nil ? .leaderNotFound : .message("not leader")))
    }

    private func serveReadsAwaitingApply() {
        let applied = fsm.appliedIndex
        readsAwaitingApply.removeAll { item in
            if item.index <= applied {
                item.completion(.success(()))
                return true
            }
            return false
        }
    }

    // MARK: Turn bookkeeping

    private func afterTurn() {
        if core.role != .leader && lastRole == .leader || core.term != lastTerm {
            // Proposals of an old term can no longer be confirmed by this node: their outcome is unknown.
            let lost = waiters.filter { $0.value.term != core.term || core.role != .leader }
            for (index, waiter) in lost {
                waiters[index] = nil
                waiter.completion(.failure(.message("leadership lost while committing log")))
            }
            if core.role != .leader {
                for (_, completion) in pendingReads { completion(.failure(core.leader == nil ? .leaderNotFound : .message("not leader"))) }
                pendingReads.removeAll()
            }
        }
        if core.role == .leader && lastRole != .leader {
            logger.info("became leader", metadata: ["raft.term": "\(core.term)"])
            reconcileMembers()
            perform(flushProposals())
        }
        if core.role == .leader { reapUnreachable() }
        maybeSnapshot()
        lastRole = core.role
        lastTerm = core.term
        publish()
    }

    /// A new leader makes sure every member of the configuration has its address in the replicated
    /// member table (members added at bootstrap, or whose metadata entry was lost with an old leader).
    private func reconcileMembers() {
        let recorded = Set(fsm.members.map { $0.id })
        for id in core.configuration.members {
            guard let member = book.member(id), !recorded.contains(member.id) else { continue }
            propose(.setNodeMetadata(id: member.id, raftAddress: member.raftAddress, apiURL: "")) { _ in }
        }
    }

    private var reaping: Set<NodeID> = []

    /// REFERENCE §9.7: the leader removes members it has not heard from for longer than the reap timeout.
    private func reapUnreachable() {
        guard settings.reapVoterAfter > 0 || settings.reapNonVoterAfter > 0 else { return }
        for follower in core.status.followers where !reaping.contains(follower.id) {
            let limit = follower.isLearner ? settings.reapNonVoterAfter : settings.reapVoterAfter
            guard limit > 0, Double(follower.ticksSinceContact) * settings.tickInterval > limit else { continue }
            let id = follower.id
            reaping.insert(id)
            logger.warning("reaping unreachable node", metadata: ["node.id": "\(book.member(id)?.id ?? String(id.rawValue))"])
            proposeConfigChange(.remove(id)) { [weak self] error in
                self?.events.push(.run { w in w.reaping.remove(id) })
                if let error { self?.logger.warning("reaping failed: \(error)") }
            }
        }
    }

    func publish() {
        let status = core.status
        let leaderMember = status.leader.flatMap { book.member($0) }
        let members = core.configuration.voters.map { ($0, true) } + core.configuration.learners.map { ($0, false) }
        // A fail-stopped node takes no part in Raft any more: it is no leader and follows none.
        let stopped = fatalError != nil
        let v = RaftView(
            role: stopped ? .follower : status.role, term: status.term.rawValue, leaderID: stopped ? nil : leaderMember?.id,
            leaderAddress: stopped ? nil : leaderMember?.raftAddress,
            commitIndex: status.commit.rawValue, appliedIndex: fsm.appliedIndex, lastLogIndex: status.lastIndex.rawValue,
            lastLogTerm: core.log.lastTerm.rawValue, snapshotIndex: status.snapshotIndex.rawValue,
            members: members.map { (id, voter) in
                RaftView.MemberView(id: book.member(id)?.id ?? String(id.rawValue), address: book.address(id) ?? "", voter: voter)
            }.sorted { $0.id < $1.id },
            isVoter: core.configuration.isVoter(raftID), lastLeaderContact: lastLeaderContact,
            logSize: Int64(log.sizeInBytes), fatalError: fatalError,
            followers: status.followers.map {
                RaftView.FollowerView(
                    id: book.member($0.id)?.id ?? String($0.id.rawValue), match: $0.match.rawValue, next: $0.next.rawValue,
                    state: "\($0.state)", ticksSinceContact: $0.ticksSinceContact)
            })
        var published = v
        published.lastSnapshot = lastSnapshot
        published.snapshotInProgress = snapshotInProgress
        published.dbChangeIndex = fsm.changeIndex
        published.counters = counters
        view.set(published)
    }

    // MARK: Failure

    /// Stops the node after a storage failure: from now on it persists, acknowledges, applies and sends
    /// nothing (see `stoppedTurn`), and every write is refused with `storageFailure`. Only a restart,
    /// which recovers from what is durable on disk, brings it back.
    func failStop(_ message: String) {
        guard fatalError == nil else { return }
        fatalError = message
        logger.critical("\(message); this node stops accepting writes, restart it once the cause is fixed")
        failAll(storageFailure!)
        publish()
    }

    /// The error every client gets from a fail-stopped node.
    var storageFailure: ServiceError? {
        fatalError.map { .message(Self.storageFailureText($0)) }
    }

    static func storageFailureText(_ reason: String) -> String {
        "node stopped accepting writes after a storage failure (restart it once the cause is fixed): \(reason)"
    }

    /// Answers everything waiting on the worker with `error`.
    func failAll(_ error: ServiceError) {
        for (_, w) in waiters { w.completion(.failure(error)) }
        waiters.removeAll()
        for (_, r) in pendingReads { r(.failure(error)) }
        pendingReads.removeAll()
        for r in readsAwaitingApply { r.completion(.failure(error)) }
        readsAwaitingApply.removeAll()
        for w in applyWatchers { w.completion(error.text) }
        applyWatchers.removeAll()
        for w in snapshotWaiters + nextSnapshotWaiters { w(.failure(error)) }
        snapshotWaiters.removeAll()
        nextSnapshotWaiters.removeAll()
    }

    // MARK: Bootstrap

    /// Starts a new cluster with these voters (single node, or `-bootstrap-expect`): every bootstrapping
    /// node writes the same entries at term 1 — one configuration change per voter, then each voter's
    /// metadata — so their logs agree from the first index (as etcd bootstraps).
    func bootstrap(_ members: [Member]) throws {
        precondition(!hasState, "bootstrap of a node with state")
        let sorted = members.sorted { $0.id < $1.id }
        var entries: [Entry] = []
        var index: UInt64 = 0
        for m in sorted {
            index += 1
            entries.append(Entry(term: 1, index: LogIndex(index), kind: .configChange, data: ConfigChange.addVoter(NodeIdentity.raftID(m.id)).encoded))
        }
        for m in sorted {
            index += 1
            entries.append(
                Entry(term: 1, index: LogIndex(index), kind: .normal,
                    data: Command.setNodeMetadata(id: m.id, raftAddress: m.raftAddress, apiURL: "").encode()))
        }
        try log.append(entries.map { LogRecord(index: $0.index.rawValue, term: 1, kind: $0.kind.rawValue, data: $0.data) }, sync: true)
        try stable.save(Storage.HardState(term: 1, vote: "", commit: index))
        lastSavedHard = RaftCore.HardState(term: 1, vote: nil, commit: LogIndex(index))
        for m in sorted { book.record(m) }
        var options = core.options
        options.randomSeed = UInt64.random(in: 1...UInt64.max)
        core = RaftNode(
            options: options,
            state: PersistentState(
                hardState: RaftCore.HardState(term: 1, vote: nil, commit: LogIndex(index)),
                snapshot: Snapshot(metadata: SnapshotMetadata(index: 0, term: 0, configuration: Configuration(voters: [])), data: []),
                entries: entries, applied: 0))
        lastTerm = core.term
        // Apply the bootstrap entries at once (they are committed by construction).
        enqueue(core.tick())
        if sorted.count == 1 { enqueue(core.campaign()) }
    }
}

/// What status handlers see of the Raft worker: an immutable value replaced after every loop turn.
struct RaftView: Sendable {
    struct MemberView: Sendable {
        var id: String
        var address: String
        var voter: Bool
    }
    struct FollowerView: Sendable {
        var id: String
        var match: UInt64
        var next: UInt64
        var state: String
        var ticksSinceContact: UInt64
    }
    var role: Role = .follower
    var term: UInt64 = 0
    var leaderID: String?
    var leaderAddress: String?
    var commitIndex: UInt64 = 0
    var appliedIndex: UInt64 = 0
    var lastLogIndex: UInt64 = 0
    var lastLogTerm: UInt64 = 0
    var snapshotIndex: UInt64 = 0
    var members: [MemberView] = []
    var isVoter = false
    var lastLeaderContact: Date?
    var logSize: Int64 = 0
    var fatalError: String?
    var followers: [FollowerView] = []
    var lastSnapshot: (name: String, time: Date, seconds: Double)?
    var snapshotInProgress = false
    /// Index of the last applied entry that changed the database.
    var dbChangeIndex: UInt64 = 0
    var counters = StoreCounters()
}

/// Snapshot and restore outcomes since the process started, under rqlite's `/debug/vars` → `store` names.
struct StoreCounters: Sendable {
    /// Snapshots taken (`num_snapshots`), whether triggered by `-raft-snap` or asked for; failures.
    var snapshots: Int64 = 0
    var snapshotsFailed: Int64 = 0
    /// Of those, the ones asked for with `POST /snapshot` (`num_user_snapshots[_failed]`).
    var userSnapshots: Int64 = 0
    var userSnapshotsFailed: Int64 = 0
    /// The database replaced by a snapshot: at start (after a crash) or installed from the leader.
    var restores: Int64 = 0
    var restoresFailed: Int64 = 0
    /// A start that reused the database left by a clean shutdown instead of restoring the snapshot.
    var restoresStartSkipped: Int64 = 0
}
