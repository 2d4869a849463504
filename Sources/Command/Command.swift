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
    /// Replace the whole database with this SQLite image (`/db/load`, auto-restore).
    case load(image: [UInt8])
    /// Cluster metadata: a member's advertised HTTP API URL, recorded in the replicated state so any
    /// node can redirect to, or report, any other.
    case setNodeMetadata(id: String, raftAddress: String, apiURL: String)
}

/// The kind of a command, as `Command.peekKind` reads it from an encoding.
public enum CommandKind: Sendable, Equatable {
    case execute, query, request, load, setNodeMetadata

    /// Whether applying it can change the database (writes and loads; reads and metadata do not).
    public var changesDatabase: Bool { self == .execute || self == .request || self == .load }
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
