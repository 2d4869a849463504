import Command
import Crypto
import Foundation
import RaftCore
import SQLiteDB
import Synchronization

/// The heavy half of a chunked load's commit, run off the Raft worker thread: inflate the staged chunks
/// in order into a scratch file while checking size and SHA-256 (one chunk in memory), give the image
/// this node's bookkeeping, and copy it into the live database with the backup API in one write
/// transaction on a connection of its own.
///
/// Contract with the worker: from `startLoadCommit` until the job's result is handed to
/// `StateMachine.finishLoadCommit`, nothing else writes the database — the worker defers applying later
/// entries and takes no snapshot — so the staging it reads and the database it replaces are exactly the
/// state as of the entry before the commit. The worker meanwhile keeps Raft going (heartbeats, votes,
/// persisting and replicating entries), so a large image no longer stalls the cluster. Until the swap's
/// transaction commits nothing has changed: a crash or `cancel()` leaves the commit to be applied again.
final class LoadCommitJob: Sendable {
    enum Result: Sendable {
        /// The image is in the database, which now records the commit's index.
        case swapped
        /// Refused identically on every replica (the assembled image does not match, or is unusable).
        case refused(String)
        /// An IO failure on this node.
        case failed(any Error)
    }

    let entry: Entry
    let load: StateMachine.StagedLoad
    let databasePath: String
    let scratch: String
    let members: [Member]
    private let cancelled = Mutex(false)
    private let finished = DispatchSemaphore(value: 0)

    init(entry: Entry, load: StateMachine.StagedLoad, databasePath: String, scratch: String, members: [Member]) {
        self.entry = entry
        self.load = load
        self.databasePath = databasePath
        self.scratch = scratch
        self.members = members
    }

    private struct Cancelled: Error {}

    /// Asks a running job to stop before it changes anything (shutdown, a snapshot to install).
    func cancel() { cancelled.withLock { $0 = true } }

    /// Waits until `run` has returned.
    func wait() { finished.wait() }

    func run() -> Result {
        defer { finished.signal() }
        defer { StateMachine.removeDatabaseFiles(scratch) }
        do {
            guard try assemble() else {
                return .refused(
                    "load \(load.id) failed its check: the assembled image does not match its size and SHA-256")
            }
            do {
                try StateMachine.prepareImage(scratch, entry: entry, members: members)
            } catch {
                return .refused("invalid SQLite data: \(error)")
            }
            if cancelled.withLock({ $0 }) { throw Cancelled() }
            let live = try Connection.open(path: databasePath, mode: .readWrite, synchronous: .normal)
            defer { live.close() }
            try live.restore(from: scratch)
            return .swapped
        } catch {
            return .failed(error)
        }
    }

    /// Inflates the staged chunks into `scratch`; whether size and SHA-256 match the load's first entry.
    private func assemble() throws -> Bool {
        let reader = try Connection.open(path: databasePath, mode: .readOnly, synchronous: .off)
        defer { reader.close() }
        guard let output = FileOutput(path: scratch) else { throw NodeError.openFailed("cannot write \(scratch)") }
        defer { output.close() }
        var hasher = SHA256()
        var size: UInt64 = 0
        var corrupt = false
        try reader.run("BEGIN")
        defer { try? reader.run("COMMIT") }
        try reader.rawQuery("SELECT raw_size, data FROM \(StateMachine.loadChunksTable) ORDER BY seq", []) { row in
            if cancelled.withLock({ $0 }) { throw Cancelled() }
            guard case .integer(let rawSize) = row[0], case .blob(let zlib) = row[1],
                let chunk = Zlib.decompress(zlib, expectedLength: Int(rawSize))
            else {
                corrupt = true
                return
            }
            hasher.update(data: chunk)
            size += UInt64(chunk.count)
            try output.write(chunk)
        }
        return !corrupt && size == load.size && Array(hasher.finalize()) == load.sha256
    }
}
