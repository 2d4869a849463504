import API
import CSQLite
import CZlib
import Command
import Foundation
import RaftCore
import RaftWire
import SQLiteDB
import Storage
import Transport

/// Snapshots and log compaction (thesis §5), InstallSnapshot streaming and restore.
///
/// Creating: on the worker thread, a read transaction on `snapshotConnection` pins the database at the
/// applied index (an instant: no copy, no lock on writers), RaftCore compacts its log to that index, and a
/// background thread copies the pinned view with SQLite's backup API into the snapshot store, writing it
/// back to disk step by step, seals it (fsync, rename) and prunes older snapshots (leased ones survive
/// until their transfer ends). Writes go on during the copy (WAL). Once the snapshot is durable the worker
/// trims the durable log, keeping `trailingLogs` entries. Nothing on the worker grows with the database.
///
/// Streaming: a `.snapshot` message from the core is not sent inline. A background thread leases the
/// snapshot and streams its file in checksummed chunks (calls), then sends the metadata; the receiver
/// assembles it in a temporary directory, verifies size and CRC, seals it in its own store, and only then
/// hands the core the InstallSnapshot message, whose persist and restore actions swap the database.
extension RaftWorker {
    static let chunkSize = 1 << 20
    /// A snapshot copy is written back to disk every this many bytes (see `Connection.backup`), so the
    /// log's fdatasync never queues behind the whole file's writeback.
    static let snapshotWriteBackBytes = 4 << 20

    // MARK: Creating

    /// Takes a snapshot if enough entries were applied since the last one, or when `force`d.
    func maybeSnapshot(force: Bool = false, completion: (@Sendable (Result<SnapshotOutcome, ServiceError>) -> Void)? = nil) {
        if let storageFailure {
            completion?(.failure(storageFailure))
            return
        }
        guard !snapshotInProgress else {
            // A forced snapshot must start after its request: wait for the one in progress, then take another.
            if let completion { nextSnapshotWaiters.append(completion) }
            return
        }
        if commitJob != nil {
            // The database is being replaced by a load's image: snapshot once it is in.
            if let completion { nextSnapshotWaiters.append(completion) }
            return
        }
        if let completion { snapshotWaiters.append(completion) }
        let index = fsm.appliedIndex
        let last = core.log.snapshot.index.rawValue
        guard index > last, force || index - last >= settings.snapshotThreshold else {
            if force { finishSnapshot(.success(.nothingToSnapshot)) }
            return
        }
        do {
            try snapshotConnection.run("BEGIN")
            _ = try snapshotConnection.rawQuery("SELECT COUNT(*) FROM sqlite_master")
        } catch {
            try? snapshotConnection.run("ROLLBACK")
            counters.snapshotsFailed += 1
            if force { counters.userSnapshotsFailed += 1 }
            publish()
            return finishSnapshot(.failure(.message("failed to start snapshot: \(error)")))
        }
        let name = "\(core.log.term(at: LogIndex(index))?.rawValue ?? 0)-\(index)"
        let meta = core.compact(upTo: LogIndex(index), data: Array(name.utf8))
        snapshotInProgress = true
        snapshotIsUser = force
        let store = snapshots
        let connection = snapshotConnection
        let started = Date()
        Thread.detachNewThread { [self] in
            var outcome: Result<String, Error>
            // Background work: on a small machine the copy yields CPU and disk time to the worker (nice 10,
            // lowest best-effort IO level, which BFQ honours; mq-deadline orders IO classes only).
            _ = raftlite_lower_thread_priority(10, 7)
            do {
                let tmp = try store.beginWrite(meta)
                do {
                    try connection.backup(to: tmp + "/db.sqlite", writeBackBytes: Self.snapshotWriteBackBytes)
                    try? connection.run("COMMIT")
                    outcome = .success(try store.commit(tmp, meta))
                } catch {
                    try? connection.run("ROLLBACK")
                    store.abort(tmp)
                    throw error
                }
            } catch {
                outcome = .failure(error)
            }
            let result = outcome
            events.push(.run { w in w.snapshotWritten(meta, result, seconds: Date().timeIntervalSince(started)) })
            // Once the new snapshot is durable older ones can go: here, not on the worker, and after the
            // snapshot is reported — deleting a file of gigabytes keeps the filesystem busy for a while.
            if case .success = result { store.prune(keep: 1) }
        }
    }

    private func snapshotWritten(_ meta: SnapshotMetadata, _ result: Result<String, Error>, seconds: Double) {
        snapshotInProgress = false
        if let storageFailure, case .success = result {
            // Stopped while the copy ran: the snapshot is sound, but a stopped node trims nothing.
            failAll(storageFailure)
            return
        }
        switch result {
        case .failure(let error):
            // The core has already compacted its in-memory log to this snapshot, so without the file it
            // could not serve a follower that needs it: storage failed, and the node stops (fail-stop).
            // The durable log was not trimmed, so a restart loses nothing; the unfinished `.tmp` copy is
            // gone (and a restart removes any leftover), so no partial snapshot can ever be loaded.
            WorkerMetrics.snapshotsFailed.increment()
            counters.snapshotsFailed += 1
            if snapshotIsUser { counters.userSnapshotsFailed += 1 }
            failStop("failed to write snapshot \(SnapshotStore.name(meta)): \(error)")
            return
        case .success(let name):
            let trailing = trailingLogsOverride ?? settings.trailingLogs
            trailingLogsOverride = nil
            let keepFrom = meta.index.rawValue > trailing ? meta.index.rawValue - trailing : 0
            do {
                try log.compact(upTo: keepFrom)
            } catch {
                logger.error("log compaction failed", metadata: ["error": "\(error)"])
            }
            lastSnapshot = (name, Date(), seconds)
            WorkerMetrics.snapshotsTaken.increment()
            counters.snapshots += 1
            if snapshotIsUser { counters.userSnapshots += 1 }
            WorkerMetrics.snapshotDuration.recordSeconds(seconds)
            logger.info("snapshot taken", metadata: ["raft.snapshot": "\(name)", "seconds": "\(seconds)"])
            // Published before the waiters hear of it: a client that gets its answer to POST /snapshot
            // then reads /status or /debug/vars sees this snapshot counted.
            publish()
            finishSnapshot(.success(.created))
        }
        let next = nextSnapshotWaiters
        nextSnapshotWaiters.removeAll()
        if !next.isEmpty {
            snapshotWaiters = next
            maybeSnapshot(force: true)
        }
        publish()
    }

    private func finishSnapshot(_ outcome: Result<SnapshotOutcome, ServiceError>) {
        let waiters = snapshotWaiters
        snapshotWaiters.removeAll()
        for w in waiters { w(outcome) }
    }

    // MARK: Streaming to a follower

    func streamSnapshot(_ snapshot: Snapshot, message m: Message) {
        let name = String(decoding: snapshot.data, as: UTF8.self)
        guard !transfers.contains(m.to), let address = book.address(m.to) else { return }
        guard let lease = snapshots.acquire(name) else {
            logger.debug("snapshot not ready to send yet", metadata: ["raft.snapshot": "\(name)"])
            return
        }
        transfers.insert(m.to)
        let store = snapshots
        let transport = self.transport
        let logger = self.logger
        let peer = m.to
        Thread.detachNewThread { [self] in
            defer {
                store.release(lease)
                events.push(.run { w in w.transfers.remove(peer) })
            }
            do {
                try Self.sendSnapshotFile(
                    path: store.databasePath(lease), name: lease, message: m, to: address, transport: transport)
                WorkerMetrics.snapshotsSent.increment()
                logger.info("snapshot sent", metadata: ["raft.snapshot": "\(lease)", "peer": "\(address)"])
            } catch {
                logger.warning("snapshot transfer failed", metadata: ["peer": "\(address)", "error": "\(error)"])
            }
        }
    }

    static func sendSnapshotFile(path: String, name: String, message m: Message, to address: String, transport: Transport) throws {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw NodeError.openFailed("cannot open \(path)") }
        defer { try? handle.close() }
        var offset: UInt64 = 0
        var crc: UInt32 = 0
        let transfer = "\(m.from.rawValue)-\(name)"
        while true {
            let chunk = [UInt8](handle.readData(ofLength: chunkSize))
            var w = RPCWriter()
            w.string(transfer)
            w.u64(offset)
            let compressed = Zlib.compress(chunk) ?? chunk
            w.bool(compressed.count < chunk.count)
            w.u64(UInt64(chunk.count))
            w.bytes(compressed.count < chunk.count ? compressed : chunk)
            crc = crc32Update(crc, chunk)
            try expectOK(try transport.callAndWait(address: address, type: FrameType.snapshotChunk, payload: w.buffer, timeout: 60))
            offset += UInt64(chunk.count)
            if chunk.count < chunkSize { break }
        }
        var w = RPCWriter()
        w.string(transfer)
        w.u64(offset)
        w.u64(UInt64(crc))
        w.bytes(RaftWire.encode(m))
        try expectOK(try transport.callAndWait(address: address, type: FrameType.snapshotInstall, payload: w.buffer, timeout: 60))
    }

    static func expectOK(_ bytes: [UInt8]) throws {
        switch try RPCResponse.decode(bytes) {
        case .ok: return
        case .error(let message): throw NodeError.openFailed(message)
        case .notLeader: throw NodeError.openFailed("peer refused the snapshot")
        }
    }

    // MARK: Installing

    /// Replaces the state machine with a snapshot the core accepted (its file is sealed in the store).
    func restore(_ snapshot: Snapshot) {
        let name = String(decoding: snapshot.data, as: UTF8.self)
        abandonLoadCommit()
        do {
            try fsm.restore(from: snapshots.databasePath(name))
            for member in fsm.members { book.record(member) }
            let store = snapshots
            Thread.detachNewThread { store.prune(keep: 1) }
            WorkerMetrics.snapshotsInstalled.increment()
            counters.restores += 1
            logger.info("installed snapshot", metadata: ["raft.snapshot": "\(name)"])
        } catch {
            counters.restoresFailed += 1
            failStop("failed to install snapshot \(name): \(error)")
        }
    }
}

/// CRC-32 (zlib's), continued over successive chunks.
func crc32Update(_ crc: UInt32, _ bytes: [UInt8]) -> UInt32 {
    bytes.withUnsafeBufferPointer { UInt32(crc32(uLong(crc), $0.baseAddress, uInt($0.count))) }
}
