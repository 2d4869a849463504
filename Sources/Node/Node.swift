import API
import Backup
import Common
import Foundation
import JSON
import Logging
import RaftCore
import SQLiteDB
import Synchronization
import Transport

/// A Raftlite node: the Raft worker thread (which owns the log, the hard state and the SQLite write
/// connection), a pool of read-only connections for reads at levels none and weak, the node-to-node
/// transport, and the status values every handler reads.
///
/// Threading: HTTP and transport threads call in, enqueue work and return; the worker thread or a
/// read-pool thread completes it. No caller ever waits on Raft or SQLite. Status is read from values
/// published by the threads that change them, so it answers from the first instant of the process.
public final class Node: @unchecked Sendable {
    public let configuration: NodeConfiguration
    let logger: Logger
    let published = Mutex(NodeStatus())
    let raftView = Shared(RaftView())

    private let readQueue = JobQueue<ReadJob>()
    private let threadsDone = DispatchGroup()
    private let ticking = Mutex(true)
    /// Set once the worker exists; nil while the node is opening.
    private let workerBox = Mutex<RaftWorker?>(nil)
    let transport: Transport
    /// The auto-backup uploader, when `-auto-backup` is set.
    let uploaderBox = Mutex<AutoBackupUploader?>(nil)
    /// Assembles snapshots streamed from the leader.
    lazy var snapshotReceiver = SnapshotReceiver(
        store: { [weak self] in self?.worker?.snapshots },
        onStorageFailure: { [weak self] reason in self?.worker?.events.push(.run { $0.failStop(reason) }) })
    /// Nodes that sent NOTIFY during `-bootstrap-expect`, by ID.
    let notified = Mutex<[String: Member]>([:])

    typealias ReadJob = @Sendable (Connection) -> Void
    typealias Completion = @Sendable (Result<DatabaseResponse, ServiceError>) -> Void
    /// When this node object was made (before the HTTP server starts accepting uploads).
    let createdAt = Date()

    public init(configuration: NodeConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        var transportConfig = TransportConfiguration()
        transportConfig.connectTimeout = min(configuration.connectTimeout, 5)
        transport = try Transport(nodeID: configuration.nodeID, configuration: transportConfig)
    }

    /// The Raft worker's logger, at `-raft-log-level` (rqlite's level for its Raft library).
    var raftLogger: Logger {
        var l = logger
        switch configuration.raftLogLevel.uppercased() {
        case "ERROR": l.logLevel = .error
        case "INFO": l.logLevel = .info
        case "DEBUG": l.logLevel = .debug
        default: l.logLevel = .warning
        }
        return l
    }

    /// The latest published status.
    public var status: NodeStatus { published.withLock { $0 } }
    var raft: RaftView { raftView.value }
    var worker: RaftWorker? { workerBox.withLock { $0 } }

    func update(_ change: (inout NodeStatus) -> Void) {
        published.withLock { change(&$0) }
    }

    // MARK: Lifecycle

    /// Opens the store, starts the transport, the worker and the read pool, then forms or joins the
    /// cluster (in the background). Returns once the node serves requests; throws if it cannot start.
    public func open() throws {
        update { $0.phase = .opening }
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory + "/raft", withIntermediateDirectories: true)
        removeStaleScratchFiles()
        let tick = min(configuration.heartbeatTimeout, configuration.electionTimeout) / 10
        let worker: RaftWorker
        do {
            worker = try RaftWorker(
                selfID: configuration.nodeID, selfAddress: configuration.raftAdvertisedAddress,
                dataDirectory: configuration.dataDirectory, foreignKeys: configuration.foreignKeys,
                settings: RaftWorker.Settings(
                    electionTicks: max(2, Int((configuration.heartbeatTimeout / tick).rounded())), heartbeatTicks: 1,
                    tickInterval: tick, reapVoterAfter: configuration.reapNodeTimeout,
                    reapNonVoterAfter: configuration.reapReadOnlyNodeTimeout,
                    snapshotThreshold: max(1, configuration.snapshotThreshold),
                    trailingLogs: configuration.snapshotThreshold + configuration.snapshotThreshold / 4),
                transport: transport, view: raftView, logger: raftLogger,
                progress: { [self] p in update {
                    $0.phase = p == nil ? .opening : .restoringSnapshot
                    $0.progress = p
                } })
        } catch {
            update {
                $0.phase = .stopped
                $0.phaseDetail = "\(error)"
            }
            throw NodeError.openFailed("\(error)")
        }
        let rwPragmas = Self.reportedPragmas(worker.fsm.connection)
        update {
            $0.sqliteVersion = Connection.sqliteVersion
            $0.pragmasRW = rwPragmas
        }
        do {
            try transport.listen(on: configuration.raftBindAddress, handler: ClusterHandler(node: self))
        } catch {
            throw NodeError.openFailed("failed to listen on \(configuration.raftBindAddress): \(error)")
        }
        let hadState = worker.hasState
        // Decided before anything else: only a node with no data that is not joining restores.
        let restoreImage = try downloadRestoreIfNeeded(hasState: hadState)
        // Entries the database does not hold yet: those known committed, and the rest of the local log,
        // which a single node commits again as soon as it leads (a follower learns from its leader).
        let replayFrom = worker.fsm.appliedIndex
        let replayTo = max(worker.core.log.committed.rawValue, worker.core.status.lastIndex.rawValue)
        workerBox.withLock { $0 = worker }
        startThread(name: "raftlite-raft") { worker.run() }
        startThread(name: "raftlite-ticker") { [self] in
            while ticking.withLock({ $0 }) {
                Thread.sleep(forTimeInterval: tick)
                worker.events.push(.tick)
            }
        }
        startCheckpointer()
        for i in 0..<max(1, configuration.readConnections) {
            let connection = try Connection.open(
                path: configuration.databasePath, mode: .readOnly, foreignKeys: configuration.foreignKeys, synchronous: .off)
            if i == 0 {
                let roPragmas = Self.reportedPragmas(connection)
                update { $0.pragmasRO = roPragmas }
            }
            let box = ConnectionBox(connection)
            startThread(name: "raftlite-reader-\(i)") { [self] in
                let c = box.take()
                while let job = readQueue.takeOne() { job(c) }
                c.close()
            }
        }
        update { $0.storeOpen = true }
        if hadState {
            let rejoin = !configuration.joinAddresses.isEmpty && configuration.bootstrapExpect == 0
            if rejoin, raft.members.count == 1, raft.members.first?.id == configuration.nodeID {
                throw NodeError.openFailed("node is the only node in a single-node cluster, joining other clusters not supported")
            }
            logger.info(
                rejoin
                    ? "restarted with existing Raft state; joining again (idempotent), so a changed address is picked up"
                    : "restarted with existing Raft state; any bootstrap settings are ignored")
            if rejoin {
                // As rqlite: the joiner runs on every start. The leader ignores a member whose ID and address
                // are unchanged, and replaces the entry of one that comes back on a new address — without
                // which that node could never be reached again.
                startThread(name: "raftlite-join") { [self] in formCluster() }
            }
            // The only voter needs nobody's vote: it campaigns at once rather than after an election
            // timeout (1-2 × -raft-heartbeat-timeout), so a restarted single node is ready sooner.
            worker.events.push(.run { w in
                if w.core.configuration.voters == [w.raftID] { w.enqueue(w.core.campaign()) }
            })
            if replayFrom < replayTo {
                // Committed entries the database does not hold yet are re-applied first.
                update {
                    $0.phase = .replayingLog
                    $0.replay = (replayFrom, replayTo)
                }
                startThread(name: "raftlite-replay-watch") { [self] in
                    // Done when the whole local log is applied, or when a leader is known and everything
                    // committed is (the tail may have been uncommitted, and replaced by the leader's).
                    func caughtUp(_ view: RaftView) -> Bool {
                        view.appliedIndex >= replayTo || (view.leaderID != nil && view.appliedIndex >= view.commitIndex)
                    }
                    // Everything known to be committed is applied but no leader is known: the rest of the log
                    // waits for an election (its tail may be uncommitted), so the phase says so; reads above
                    // level none and writes then answer as any node without a leader does.
                    let waitingDetail = "waiting for a leader to commit the rest of the log"
                    let began = Date()
                    var stalledSince: Date?
                    while status.phase == .replayingLog || (status.phase == .waitingForPeers && status.replay != nil) {
                        let view = raft
                        if caughtUp(view) { break }
                        // Held for half a second first: a single node wins its own election at once, and
                        // its phase should not flicker.
                        if view.leaderID == nil && view.appliedIndex >= view.commitIndex {
                            stalledSince = stalledSince ?? Date()
                        } else {
                            stalledSince = nil
                        }
                        let stalled = stalledSince.map { Date().timeIntervalSince($0) >= 0.5 } ?? false
                        update {
                            if stalled && $0.phase == .replayingLog {
                                $0.phase = .waitingForPeers
                                $0.phaseDetail = waitingDetail
                            } else if !stalled && $0.phase == .waitingForPeers {
                                $0.phase = .replayingLog
                                $0.phaseDetail = ""
                            }
                        }
                        Thread.sleep(forTimeInterval: 0.01)
                    }
                    logger.info("log replayed", metadata: [
                        "raft.from": "\(replayFrom)", "raft.applied": "\(raft.appliedIndex)",
                        "seconds": "\(RaftWorker.seconds(since: began))",
                    ])
                    update {
                        if $0.phase == .replayingLog || $0.phase == .waitingForPeers { $0.phase = .ready }
                        if $0.phaseDetail == waitingDetail { $0.phaseDetail = "" }
                        $0.replay = nil
                    }
                }
            } else {
                update { $0.phase = .ready }
            }
        } else if !configuration.joinAddresses.isEmpty {
            update { $0.phase = configuration.bootstrapExpect > 0 ? .waitingForPeers : .joining }
            startThread(name: "raftlite-join") { [self] in formCluster() }
        } else {
            if configuration.nonVoter {
                throw NodeError.openFailed("cannot create a new non-voting node without joining it to an existing cluster")
            }
            let me = Member(id: configuration.nodeID, raftAddress: configuration.raftAdvertisedAddress)
            try onWorkerAndWait { try $0.bootstrap([me]) }
            update { $0.phase = .ready }
        }
        if let restoreImage { completeRestore(restoreImage) }
        startAutoBackup()
        logger.info("node open", metadata: ["node.id": "\(configuration.nodeID)", "raft.addr": "\(configuration.raftAdvertisedAddress)"])
    }

    /// The pragmas `/status` reports (rqlite's set), read from the connection itself.
    static func reportedPragmas(_ connection: Connection) -> [String: String] {
        var result: [String: String] = [:]
        for name in ["foreign_keys", "journal_mode", "synchronous", "wal_autocheckpoint"] {
            guard let row = try? connection.rawQuery("PRAGMA \(name)").first, let value = row.first else { continue }
            switch value {
            case .integer(let n): result[name] = String(n)
            case .text(let t): result[name] = t
            default: continue
            }
        }
        return result
    }

    /// Copies WAL frames back into the database file from a connection of its own, whenever the WAL has
    /// grown past 4 MiB: PASSIVE checkpoints never wait for, or block, the writer or readers.
    private func startCheckpointer() {
        let path = configuration.databasePath
        startThread(name: "raftlite-checkpointer") { [self] in
            guard let connection = try? Connection.open(path: path, mode: .readWrite, synchronous: .normal) else {
                logger.error("cannot open the checkpoint connection; the WAL will grow until the next restart")
                return
            }
            defer { connection.close() }
            while ticking.withLock({ $0 }) {
                Thread.sleep(forTimeInterval: 0.25)
                if connection.walSize > 4 << 20 {
                    do {
                        _ = try connection.checkpoint(mode: .passive)
                    } catch {
                        logger.warning("WAL checkpoint failed", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
    }

    /// Leaves the cluster if asked, stops taking work, finishes what is queued, closes SQLite cleanly.
    public func shutdown() {
        stopAutoBackup()
        if status.storeOpen { leaveGracefully() }
        update { $0.phase = .shuttingDown }
        ticking.withLock { $0 = false }
        transport.shutdown()
        worker?.events.close()
        readQueue.close()
        threadsDone.wait()
        if let worker, worker.closedCleanly {
            // Every connection is closed: mark the database reusable, so the next start skips the rebuild.
            do {
                try CleanShutdown.mark(
                    raftDir: configuration.dataDirectory + "/raft", dbPath: configuration.databasePath,
                    appliedIndex: worker.fsm.appliedIndex)
            } catch {
                logger.warning("cannot mark the database reusable; the next start rebuilds it", metadata: ["error": "\(error)"])
            }
        }
        update {
            $0.phase = .stopped
            $0.storeOpen = false
        }
        logger.info("node stopped")
    }

    /// Scratch files a previous process left behind when it stopped mid-way (uploads, load assemblies,
    /// backups): written before this node was created, so nothing of this process uses them.
    private func removeStaleScratchFiles() {
        let directory = configuration.dataDirectory
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        where name.hasPrefix("raftlite-upload-") || name.hasPrefix("raftlite-load-") || name.hasPrefix("raftlite-backup-") {
            let path = directory + "/" + name
            guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                modified < createdAt
            else { continue }
            try? FileManager.default.removeItem(atPath: path)
        }
    }

    func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
        threadsDone.enter()
        let group = threadsDone
        let thread = Thread {
            body()
            group.leave()
        }
        thread.name = name
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Runs `body` on the worker thread and waits for it (start-up only; never from an HTTP thread).
    func onWorkerAndWait(_ body: @escaping @Sendable (RaftWorker) throws -> Void) throws {
        guard let worker else { throw NodeError.openFailed("store not open") }
        let done = DispatchSemaphore(value: 0)
        let failure = Mutex<String?>(nil)
        worker.events.push(
            .run { w in
                do { try body(w) } catch { failure.withLock { $0 = "\(error)" } }
                done.signal()
            })
        done.wait()
        if let message = failure.withLock({ $0 }) { throw NodeError.openFailed(message) }
    }

    /// Runs `body` on the worker thread; fails `orElse` at once if the node is not open.
    func onWorker(orElse fail: () -> Void, _ body: @escaping @Sendable (RaftWorker) -> Void) {
        guard let worker, worker.events.push(.run(body)) else {
            fail()
            return
        }
    }

    func submitRead(_ completion: Completion, _ job: @escaping ReadJob) {
        guard status.storeOpen, readQueue.push(job) else {
            completion(.failure(.message("store not open")))
            return
        }
    }
}

/// Errors that stop a node from starting.
public enum NodeError: Error, CustomStringConvertible {
    case openFailed(String)

    public var description: String {
        switch self {
        case .openFailed(let message): return message
        }
    }
}

/// Hands a freshly opened connection to the thread that will own it from then on.
final class ConnectionBox: @unchecked Sendable {
    private var connection: Connection?
    init(_ connection: Connection) { self.connection = connection }
    func take() -> Connection {
        defer { connection = nil }
        return connection!
    }
}
