import SQLiteDB

/// What a replicated log entry asks every node's state machine to do.
///
/// Commands are created by the node that receives the request (after SQL rewriting, so every replica
/// executes identical text), travel through the Raft log, and are applied in log order on every node.
public enum Command: Sendable, Equatable {
    /// Writes (`/db/execute`).
    case execute(StatementBatch)
    /// A read through the log (`level=strong`): evaluated at apply time, answered by the leader.
    case query(StatementBatch)
    /// Mixed reads and writes (`/db/request` with a write, or `level=strong`).
    case request(StatementBatch)
    /// Replace the whole database with this SQLite image in one entry. Written by earlier versions (and
    /// still applied); loads are now replicated in chunks (below).
    case load(image: [UInt8])
    /// Starts a chunked load (`/db/load`, `/boot`, auto-restore of a SQLite image): the image has `size`
    /// bytes in `chunks` chunks and this SHA-256. Clears any staged chunks of an earlier, abandoned load.
    case loadBegin(id: UInt64, size: UInt64, chunks: UInt32, sha256: [UInt8])
    /// One chunk of load `id`, number `sequence` (from 0), as a zlib stream of at most `LoadChunk.maxSize`
    /// bytes once inflated (`rawSize`). Staged inside the database until the commit.
    case loadChunk(id: UInt64, sequence: UInt32, rawSize: UInt32, zlib: [UInt8])
    /// Ends load `id`: every node assembles the staged chunks, checks size and SHA-256, and swaps the
    /// image in. Refused (and the staging cleared) when chunks are missing or the check fails.
    case loadCommit(id: UInt64)
    /// Abandons load `id`: its staged chunks are dropped.
    case loadAbort(id: UInt64)
    /// Cluster metadata: a member's advertised HTTP API URL, recorded in the replicated state so any
    /// node can redirect to, or report, any other.
    case setNodeMetadata(id: String, raftAddress: String, apiURL: String)
}

/// The kind of a command, as `Command.peekKind` reads it from an encoding.
public enum CommandKind: Sendable, Equatable {
    case execute, query, request, load, setNodeMetadata, loadBegin, loadChunk, loadCommit, loadAbort

    /// Whether applying it can change the database (writes and loads; reads and metadata do not; the
    /// chunks of a load change only hidden staging until its commit).
    public var changesDatabase: Bool { self == .execute || self == .request || self == .load || self == .loadCommit }

    /// Whether it replaces the whole database, so it is applied on its own, outside a batch transaction.
    public var replacesDatabase: Bool { self == .load || self == .loadCommit }
}

/// Limits of chunked loads.
public enum LoadChunk {
    /// Bytes of the image per chunk entry (before compression).
    public static let maxSize = 1 << 20
}

/// Statements with the options that shape their execution.
public struct StatementBatch: Sendable, Equatable {
    public var statements: [Statement]
    public var transaction: Bool
    public var timings: Bool
    /// `db_timeout` in seconds; 0 = none.
    public var timeout: Double

    public init(statements: [Statement], transaction: Bool = false, timings: Bool = false, timeout: Double = 0) {
        self.statements = statements
        self.transaction = transaction
        self.timings = timings
        self.timeout = timeout
    }
}

/// Failures decoding a command: the bytes did not come from `Command.encode`.
public struct CommandDecodingError: Error, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
