import Command
import Crypto
import Foundation
import RaftCore
import SQLiteDB

/// The replicated state machine: one SQLite database to which committed log entries are applied in
/// order, on every node.
///
/// The database is a rebuildable cache of the log. It runs in WAL mode with `synchronous=NORMAL`: a
/// commit costs no fsync, and a crash or power loss may lose the latest transactions but never leaves a
/// torn one. Each batch of entries is applied in ONE transaction that also records the index and term of
/// its last entry in `sqlite_raftlite` — so every consistent copy of the file knows exactly which prefix of
/// the log it reflects, and recovery re-applies only the entries after it.
///
/// `sqlite_raftlite` and `sqlite_raftlite_members` use SQLite's reserved `sqlite_` prefix (created with
/// `writable_schema` on, through the ordinary CREATE TABLE path): SQLite's own tools leave such tables out
/// of `.tables` and `.dump`, users cannot drop them, and so the user's schema looks exactly as they made it.
///
/// Owned by the Raft worker thread.
final class StateMachine {
    let connection: Connection
    let path: String
    private(set) var appliedIndex: UInt64 = 0
    private(set) var appliedTerm: UInt64 = 0
    /// Index of the last applied entry that changed the database (writes and loads; not reads, no-ops,
    /// membership or metadata). Auto-backup compares it with the last upload, so a leader change or a
    /// restart alone never causes an upload. Stored with the applied index.
    private(set) var changeIndex: UInt64 = 0
    /// Members recorded in the replicated member table.
    private(set) var members: [Member] = []

    static let stateTable = "sqlite_raftlite"
    static let membersTable = "sqlite_raftlite_members"
    /// The chunked load in progress (one row: id, size, chunk count, SHA-256, next chunk expected) and its
    /// staged chunks. Written in the apply transactions, so the staging is exactly as far as the applied
    /// index says — in every snapshot and after every crash.
    static let loadTable = "sqlite_raftlite_load"
    static let loadChunksTable = "sqlite_raftlite_load_chunks"

    init(path: String, foreignKeys: Bool) throws {
        self.path = path
        connection = try Connection.open(path: path, mode: .readWrite, foreignKeys: foreignKeys, synchronous: .normal)
        // Checkpoints (and their fsyncs) run on the node's checkpointer thread, not inside the commits of
        // the Raft worker.
        try connection.setWALAutocheckpoint(pages: 0)
        try ensureTables()
        try loadState()
    }

    private func ensureTables() throws {
        let existing = try connection.rawQuery(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?, ?, ?)",
            [.text(Self.stateTable), .text(Self.membersTable), .text(Self.loadTable), .text(Self.loadChunksTable)])
        if existing.count == 4 {
            let columns = try connection.rawQuery("SELECT name FROM pragma_table_info(?)", [.text(Self.stateTable)])
            guard !columns.contains(where: { $0.first == .text("change_index") }) else { return }
        }
        try connection.run("PRAGMA writable_schema = ON")
        defer { try? connection.run("PRAGMA writable_schema = OFF") }
        try connection.run(
            "CREATE TABLE IF NOT EXISTS \(Self.stateTable) (id INTEGER PRIMARY KEY CHECK (id = 1), "
                + "applied_index INTEGER NOT NULL, applied_term INTEGER NOT NULL, change_index INTEGER NOT NULL DEFAULT 0)")
        try connection.run(
            "CREATE TABLE IF NOT EXISTS \(Self.membersTable) (node_id TEXT PRIMARY KEY, raft_addr TEXT NOT NULL)")
        try connection.run(
            "CREATE TABLE IF NOT EXISTS \(Self.loadTable) (id INTEGER PRIMARY KEY CHECK (id = 1), load_id INTEGER NOT NULL, "
                + "size INTEGER NOT NULL, chunks INTEGER NOT NULL, sha256 BLOB NOT NULL, next INTEGER NOT NULL)")
        try connection.run(
            "CREATE TABLE IF NOT EXISTS \(Self.loadChunksTable) (seq INTEGER PRIMARY KEY, raw_size INTEGER NOT NULL, data BLOB NOT NULL)")
        let columns = try connection.rawQuery("SELECT name FROM pragma_table_info(?)", [.text(Self.stateTable)])
        if !columns.contains(where: { $0.first == .text("change_index") }) {
            try connection.run("ALTER TABLE \(Self.stateTable) ADD COLUMN change_index INTEGER NOT NULL DEFAULT 0")
        }
    }

    private func loadState() throws {
        let rows = try connection.rawQuery(
            "SELECT applied_index, applied_term, change_index FROM \(Self.stateTable) WHERE id = 1", [])
        if let row = rows.first, case .integer(let index) = row[0], case .integer(let term) = row[1] {
            appliedIndex = UInt64(index)
            appliedTerm = UInt64(term)
            if case .integer(let change) = row[2] { changeIndex = UInt64(change) }
        } else {
            appliedIndex = 0
            appliedTerm = 0
            changeIndex = 0
        }
        members = try connection.rawQuery("SELECT node_id, raft_addr FROM \(Self.membersTable) ORDER BY node_id", []).compactMap {
            guard case .text(let id) = $0[0], case .text(let addr) = $0[1] else { return nil }
            return Member(id: id, raftAddress: addr)
        }
    }

    /// The result of applying one entry, for the client waiting on it (the leader's proposer).
    enum Outcome {
        case results([StatementResult])
        case failed(String)
        case none
    }

    /// Applies committed entries in one transaction. `wantsResults` says, per index, whether someone waits
    /// for the entry's results (reads inside strong queries are evaluated only then). Throws when SQLite
    /// cannot commit (disk full, IO error): the node must stop applying rather than diverge.
    func apply(_ entries: [Entry], wantsResults: (UInt64) -> Bool) throws -> [UInt64: Outcome] {
        try apply(entries, wantsResults: wantsResults, deferringLoadCommits: false).outcomes
    }

    /// The same; with `deferringLoadCommits` it stops before the first `loadCommit` entry and says how many
    /// entries it applied: the caller runs that commit with `startLoadCommit` (off its thread) and applies
    /// the entries after it once the commit is done.
    func apply(_ entries: [Entry], wantsResults: (UInt64) -> Bool, deferringLoadCommits: Bool) throws -> (outcomes: [UInt64: Outcome], applied: Int) {
        // A database image replaces everything and cannot run inside a transaction: apply the entries
        // around it in their own batches.
        if let i = entries.firstIndex(where: { $0.kind == .normal && Command.peekKind($0.data)?.replacesDatabase == true }) {
            var outcomes = try applyBatch(Array(entries[..<i]), wantsResults: wantsResults)
            let isCommit = Command.peekKind(entries[i].data) == .loadCommit
            if isCommit && deferringLoadCommits { return (outcomes, i) }
            outcomes[entries[i].index.rawValue] = isCommit ? try applyLoadCommit(entries[i]) : try applyLoad(entries[i])
            let rest = try apply(Array(entries[(i + 1)...]), wantsResults: wantsResults, deferringLoadCommits: deferringLoadCommits)
            for (k, v) in rest.outcomes { outcomes[k] = v }
            return (outcomes, i + 1 + rest.applied)
        }
        return (try applyBatch(entries, wantsResults: wantsResults), entries.count)
    }

    /// Replaces the database with a loaded image (the single-entry form of earlier versions).
    private func applyLoad(_ entry: Entry) throws -> Outcome {
        guard case .load(let image)? = try? Command.decode(entry.data) else { return .failed("undecodable load command") }
        let scratch = scratchPath(entry)
        defer { Self.removeDatabaseFiles(scratch) }
        guard FileManager.default.createFile(atPath: scratch, contents: Data(image)) else {
            throw NodeError.openFailed("cannot write \(scratch)")
        }
        return try swapIn(scratch, entry)
    }

    /// A load commit on this thread, start to end (peers.json recovery replays the log this way).
    private func applyLoadCommit(_ entry: Entry) throws -> Outcome {
        switch try startLoadCommit(entry) {
        case .done(let outcome): return outcome
        case .job(let job): return try finishLoadCommit(job, job.run())
        }
    }

    enum LoadCommitStart {
        /// Decided at once (not in progress, incomplete): the position is recorded.
        case done(Outcome)
        /// The image must be assembled and swapped in: run the job, then `finishLoadCommit`. Nothing else
        /// may write the database meanwhile.
        case job(LoadCommitJob)
    }

    /// Checks a `loadCommit` entry against the staged load. A commit for another load, or before all its
    /// chunks, is refused here (identically on every replica) and the staging cleared; otherwise the
    /// returned job assembles and swaps the image.
    func startLoadCommit(_ entry: Entry) throws -> LoadCommitStart {
        guard case .loadCommit(let id)? = try? Command.decode(entry.data) else {
            try recordPosition(entry)
            return .done(.failed("undecodable load command"))
        }
        guard let load = try currentLoad(), load.id == id else {
            try recordPosition(entry)
            return .done(.failed("load \(id) is not in progress"))
        }
        guard load.next == load.chunks else {
            try recordPosition(entry, clearingStaging: true)
            return .done(.failed("load \(id) is incomplete: \(load.next) of \(load.chunks) chunks"))
        }
        return .job(LoadCommitJob(entry: entry, load: load, databasePath: path, scratch: scratchPath(entry), members: members))
    }

    /// Records what a commit job did: a swapped-in image is reloaded (it carries its own applied index and
    /// members); a refused one (checksum, unusable image) records the position and clears the staging.
    /// Throws for IO failures, which stop the node.
    func finishLoadCommit(_ job: LoadCommitJob, _ result: LoadCommitJob.Result) throws -> Outcome {
        switch result {
        case .swapped:
            try reload()
            return .results([])
        case .refused(let why):
            try recordPosition(job.entry, clearingStaging: true)
            return .failed(why)
        case .failed(let error):
            throw error
        }
    }

    /// Swaps the image at `scratch` in. The image is first given this node's bookkeeping — the load's own
    /// index as the applied index, the current member table, no staged load — in the scratch file itself,
    /// so the swap (SQLite's backup API, one transaction) leaves a database that knows exactly where it
    /// stands.
    private func swapIn(_ scratch: String, _ entry: Entry) throws -> Outcome {
        do {
            try Self.prepareImage(scratch, entry: entry, members: members)
        } catch {
            // Not a usable database (it was verified before proposing, so this is disk trouble or a bug):
            // every replica skips it alike, recording only the position.
            try recordPosition(entry, clearingStaging: true)
            return .failed("invalid SQLite data: \(error)")
        }
        try restore(from: scratch)
        return .results([])
    }

    /// Gives the image at `scratch` this node's bookkeeping: `entry` as its applied (and change) index,
    /// `members`, no staged load; rollback-journal mode, ready to be copied in.
    static func prepareImage(_ scratch: String, entry: Entry, members: [Member]) throws {
        let copy = try StateMachine(path: scratch, foreignKeys: false)
        defer { copy.close() }
        try copy.clearStaging()
        try copy.replaceMembers(
            members, appliedIndex: entry.index.rawValue, appliedTerm: entry.term.rawValue, changeIndex: entry.index.rawValue)
        try copy.connection.run("PRAGMA journal_mode=DELETE")
    }

    private func scratchPath(_ entry: Entry) -> String {
        (path as NSString).deletingLastPathComponent + "/raftlite-load-\(entry.index.rawValue).tmp"
    }

    static func removeDatabaseFiles(_ path: String) {
        for suffix in ["", "-wal", "-shm", "-journal"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    private func recordPosition(_ entry: Entry, clearingStaging: Bool = false) throws {
        try connection.run("BEGIN IMMEDIATE")
        do {
            if clearingStaging { try clearStagingInTransaction() }
            _ = try connection.invisibly {
                try connection.rawQuery(
                    "INSERT INTO \(Self.stateTable) (id, applied_index, applied_term) VALUES (1, ?, ?) "
                        + "ON CONFLICT(id) DO UPDATE SET applied_index = excluded.applied_index, applied_term = excluded.applied_term",
                    [.integer(Int64(entry.index.rawValue)), .integer(Int64(entry.term.rawValue))])
            }
            try connection.run("COMMIT")
        } catch {
            try? connection.run("ROLLBACK")
            throw error
        }
        appliedIndex = entry.index.rawValue
        appliedTerm = entry.term.rawValue
    }

    // MARK: Chunked loads

    struct StagedLoad: Sendable {
        var id: UInt64
        var size: UInt64
        var chunks: UInt32
        var sha256: [UInt8]
        var next: UInt32
    }

    func currentLoad() throws -> StagedLoad? {
        guard let row = try connection.rawQuery("SELECT load_id, size, chunks, sha256, next FROM \(Self.loadTable) WHERE id = 1").first,
            case .integer(let id) = row[0], case .integer(let size) = row[1], case .integer(let chunks) = row[2],
            case .blob(let sha) = row[3], case .integer(let next) = row[4]
        else { return nil }
        return StagedLoad(id: UInt64(bitPattern: id), size: UInt64(size), chunks: UInt32(chunks), sha256: sha, next: UInt32(next))
    }

    /// Drops any staged load (in its own transaction).
    func clearStaging() throws {
        try connection.run("BEGIN IMMEDIATE")
        do {
            try clearStagingInTransaction()
            try connection.run("COMMIT")
        } catch {
            try? connection.run("ROLLBACK")
            throw error
        }
    }

    private func clearStagingInTransaction() throws {
        try connection.invisibly {
            _ = try connection.rawQuery("DELETE FROM \(Self.loadChunksTable)")
            _ = try connection.rawQuery("DELETE FROM \(Self.loadTable)")
        }
    }

    /// Applies the begin, chunk and abort entries of a chunked load (inside the batch transaction).
    /// Chunks of another load, or out of order, are refused identically on every replica.
    private func applyLoadStep(_ command: Command) throws -> Outcome {
        switch command {
        case .loadBegin(let id, let size, let chunks, let sha256):
            try clearStagingInTransaction()
            _ = try connection.invisibly {
                try connection.rawQuery(
                    "INSERT INTO \(Self.loadTable) (id, load_id, size, chunks, sha256, next) VALUES (1, ?, ?, ?, ?, 0)",
                    [.integer(Int64(bitPattern: id)), .integer(Int64(size)), .integer(Int64(chunks)), .blob(sha256)])
            }
            return .results([])
        case .loadChunk(let id, let sequence, let rawSize, let zlib):
            guard let load = try currentLoad(), load.id == id else { return .failed("load \(id) is not in progress") }
            guard sequence == load.next, sequence < load.chunks, Int(rawSize) <= LoadChunk.maxSize else {
                return .failed("load \(id): chunk \(sequence) arrived out of order (expected \(load.next))")
            }
            _ = try connection.invisibly {
                _ = try connection.rawQuery(
                    "INSERT INTO \(Self.loadChunksTable) (seq, raw_size, data) VALUES (?, ?, ?)",
                    [.integer(Int64(sequence)), .integer(Int64(rawSize)), .blob(zlib)])
                return try connection.rawQuery("UPDATE \(Self.loadTable) SET next = next + 1 WHERE id = 1")
            }
            return .results([])
        case .loadAbort(let id):
            if let load = try currentLoad(), load.id == id { try clearStagingInTransaction() }
            return .results([])
        default:
            preconditionFailure("not a load step: \(command)")
        }
    }

    private func applyBatch(_ entries: [Entry], wantsResults: (UInt64) -> Bool) throws -> [UInt64: Outcome] {
        guard let last = entries.last else { return [:] }
        var outcomes: [UInt64: Outcome] = [:]
        var change = changeIndex
        try connection.run("BEGIN IMMEDIATE")
        do {
            for entry in entries {
                let index = entry.index.rawValue
                switch entry.kind {
                case .noop:
                    continue
                case .configChange:
                    if let change = ConfigChange(encoded: Array(entry.data.prefix(9))), case .remove(let id) = change {
                        try removeMember(raftID: id)
                    }
                case .normal:
                    outcomes[index] = try applyCommand(entry.data, wantsResults: wantsResults(index))
                    if Command.peekKind(entry.data)?.changesDatabase == true { change = index }
                }
            }
            _ = try connection.invisibly {
                try connection.rawQuery(
                    "INSERT INTO \(Self.stateTable) (id, applied_index, applied_term, change_index) VALUES (1, ?, ?, ?) "
                        + "ON CONFLICT(id) DO UPDATE SET applied_index = excluded.applied_index, "
                        + "applied_term = excluded.applied_term, change_index = excluded.change_index",
                    [.integer(Int64(last.index.rawValue)), .integer(Int64(last.term.rawValue)), .integer(Int64(change))])
            }
            try connection.run("COMMIT")
        } catch {
            try? connection.run("ROLLBACK")
            throw error
        }
        appliedIndex = last.index.rawValue
        appliedTerm = last.term.rawValue
        changeIndex = change
        return outcomes
    }

    private func applyCommand(_ data: [UInt8], wantsResults: Bool) throws -> Outcome {
        let command: Command
        do {
            command = try Command.decode(data)
        } catch {
            // Not produced by this version's encoder: skip it identically on every node.
            return .failed("undecodable command: \(error)")
        }
        switch command {
        case .execute(let batch):
            // db_timeout is not applied to replicated writes: a statement interrupted on one replica and
            // not another would make them diverge.
            return .results(try connection.execute(batch.statements, transaction: batch.transaction, timings: batch.timings))
        case .request(let batch):
            return .results(try connection.request(batch.statements, transaction: batch.transaction, timings: batch.timings))
        case .query(let batch):
            guard wantsResults else { return .none }
            let timeout = batch.timeout > 0 ? batch.timeout : nil
            return .results(
                try connection.query(batch.statements, transaction: batch.transaction, timings: batch.timings, timeout: timeout))
        case .load, .loadCommit:
            preconditionFailure("load entries are applied on their own, outside a batch transaction")
        case .loadBegin, .loadChunk, .loadAbort:
            return try applyLoadStep(command)
        case .setNodeMetadata(let id, let raftAddress, _):
            _ = try connection.invisibly {
                try connection.rawQuery(
                    "INSERT INTO \(Self.membersTable) (node_id, raft_addr) VALUES (?, ?) "
                        + "ON CONFLICT(node_id) DO UPDATE SET raft_addr = excluded.raft_addr",
                    [.text(id), .text(raftAddress)])
            }
            members.removeAll { $0.id == id }
            members.append(Member(id: id, raftAddress: raftAddress))
            members.sort { $0.id < $1.id }
            return .none
        }
    }

    private func removeMember(raftID: NodeID) throws {
        guard let member = members.first(where: { NodeIdentity.raftID($0.id) == raftID }) else { return }
        _ = try connection.invisibly { try connection.rawQuery("DELETE FROM \(Self.membersTable) WHERE node_id = ?", [.text(member.id)]) }
        members.removeAll { $0.id == member.id }
    }

    /// Replaces the member table and the applied position in one transaction (peers.json recovery).
    func replaceMembers(_ newMembers: [Member], appliedIndex index: UInt64, appliedTerm term: UInt64, changeIndex change: UInt64? = nil) throws {
        let change = change ?? changeIndex
        try connection.run("BEGIN IMMEDIATE")
        do {
            try connection.invisibly {
                _ = try connection.rawQuery("DELETE FROM \(Self.membersTable)", [])
                for m in newMembers {
                    _ = try connection.rawQuery(
                        "INSERT INTO \(Self.membersTable) (node_id, raft_addr) VALUES (?, ?)", [.text(m.id), .text(m.raftAddress)])
                }
                _ = try connection.rawQuery(
                    "INSERT INTO \(Self.stateTable) (id, applied_index, applied_term, change_index) VALUES (1, ?, ?, ?) "
                        + "ON CONFLICT(id) DO UPDATE SET applied_index = excluded.applied_index, "
                        + "applied_term = excluded.applied_term, change_index = excluded.change_index",
                    [.integer(Int64(index)), .integer(Int64(term)), .integer(Int64(change))])
            }
            try connection.run("COMMIT")
        } catch {
            try? connection.run("ROLLBACK")
            throw error
        }
        try loadState()
    }

    /// Reloads what the database records (after another connection changed it).
    func reload() throws {
        connection.forgetStatements()
        try loadState()
    }

    /// Replaces the database with a snapshot image and reloads what it records.
    func restore(from path: String, progress: ((Int64, Int64) -> Void)? = nil) throws {
        try connection.restore(from: path, progress: progress)
        try loadState()
    }

    func close() { connection.close() }
}

/// A file written front to back with plain `write` calls (no buffering beyond the caller's chunks).
final class FileOutput {
    private let fd: Int32
    private var closed = false

    init?(path: String) {
        unlink(path)
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if fd < 0 { return nil }
    }

    deinit { close() }

    func write(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { posixWrite(fd, $0.baseAddress! + offset, bytes.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw NodeError.openFailed("write failed: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        posixClose(fd)
    }
}

private func posixWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int { write(fd, bytes, count) }
private func posixClose(_ fd: Int32) { _ = close(fd) }
