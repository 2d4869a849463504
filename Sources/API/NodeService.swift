import JSON
import SQLiteDB

// The protocols the HTTP API needs from the node, declared here at the consumer side so the API is
// tested against a fake node, without a socket or Raft. Every call returns promptly: work that may wait
// (SQLite, Raft) completes later through the completion, which may run on any thread.

/// Read consistency levels (REFERENCE §2). `auto` resolves to `weak` on a voter, `none` on a non-voter.
public enum ReadLevel: String, Sendable, CaseIterable {
    case none, weak, strong, linearizable, auto

    /// Parses the `level` query parameter: case-insensitive; unknown or absent ⇒ `weak`.
    public init(parameter: String?) {
        self = parameter.flatMap { ReadLevel(rawValue: $0.lowercased()) } ?? .weak
    }
}

/// A write request (`/db/execute`).
public struct ExecuteRequest: Sendable {
    public var statements: [Statement]
    public var transaction: Bool
    public var timings: Bool
    /// Per-request SQLite execution deadline in seconds (`db_timeout`); nil = none.
    public var dbTimeout: Double?
    /// `?redirect`: when this node is not the leader, fail with `.notLeader` (the API answers 301) instead
    /// of forwarding the request to the leader.
    public var redirect: Bool = false
    /// `?timeout` in seconds (forwarding budget); default 30 s.
    public var timeout: Double = 30
    /// The client's Basic credentials, to be carried to the leader when forwarding.
    public var credentials: Credentials? = nil

    public init(statements: [Statement], transaction: Bool = false, timings: Bool = false, dbTimeout: Double? = nil) {
        self.statements = statements
        self.transaction = transaction
        self.timings = timings
        self.dbTimeout = dbTimeout
    }
}

/// A read (`/db/query`) or mixed (`/db/request`) request.
public struct QueryRequest: Sendable {
    public var statements: [Statement]
    public var transaction: Bool
    public var timings: Bool
    public var level: ReadLevel
    /// Level `none` only: maximum staleness in seconds (`freshness`).
    public var freshness: Double?
    public var freshnessStrict: Bool
    public var dbTimeout: Double?
    /// Level `linearizable`: how long to wait for the applied index to catch up, in seconds.
    public var linearizableTimeout: Double?
    /// `?redirect`: fail with `.notLeader` instead of forwarding to the leader.
    public var redirect: Bool = false
    /// `?timeout` in seconds (forwarding budget); default 30 s.
    public var timeout: Double = 30
    /// The client's Basic credentials, to be carried to the leader when forwarding.
    public var credentials: Credentials? = nil

    public init(
        statements: [Statement], transaction: Bool = false, timings: Bool = false, level: ReadLevel = .weak,
        freshness: Double? = nil, freshnessStrict: Bool = false, dbTimeout: Double? = nil,
        linearizableTimeout: Double? = nil
    ) {
        self.statements = statements
        self.transaction = transaction
        self.timings = timings
        self.level = level
        self.freshness = freshness
        self.freshnessStrict = freshnessStrict
        self.dbTimeout = dbTimeout
        self.linearizableTimeout = linearizableTimeout
    }
}

/// Results of a request, in statement order.
public struct DatabaseResponse: Sendable {
    public var results: [StatementResult]
    /// Index of the committed Raft log entry; 0 for local reads (omitted from JSON when 0).
    public var raftIndex: UInt64
    /// The value of `X-RQLITE-SERVED-BY` when the request was forwarded (rqlite reports the leader's Raft
    /// address); nil when served by this node (the API then uses this node's advertised HTTP address).
    public var servedBy: String? = nil

    public init(results: [StatementResult], raftIndex: UInt64 = 0) {
        self.results = results
        self.raftIndex = raftIndex
    }
}

/// Basic-auth credentials of a client request.
public struct Credentials: Sendable, Equatable {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }
}

/// Request-level failures. The API maps each to rqlite's status code and body in one place.
public enum ServiceError: Error, Sendable, Equatable {
    /// This node is not the leader; `leaderAPIURL` is the leader's HTTP base URL (`http://host:4001`) if known.
    case notLeader(leaderAPIURL: String?)
    /// No leader is known (503 `leader not found`).
    case leaderNotFound
    /// Rendered as the JSON error envelope: `store not ready`, `store not open`, `stale read`, `disallowed
    /// pragma`, timeouts, relayed remote errors.
    case message(String)

    /// The text of rqlite's refusal of credentials (`401 unauthorized`), also how a leader's refusal of a
    /// forwarded request's credentials comes back over the Raft port (REFERENCE §6).
    public static let unauthorizedText = "unauthorized"
    /// A leader refused the credentials a forwarded request carried.
    public static let unauthorized = ServiceError.message(unauthorizedText)
}

/// One member of the cluster as `/nodes` and `/leader` show it.
public struct NodeInfo: Sendable, Equatable {
    public var id: String
    /// The node's HTTP API URL with scheme (`http://host:4001`); empty when unreachable.
    public var apiAddr: String
    /// The node's Raft address (`host:port`).
    public var addr: String
    /// `"unknown"` if the peer did not report one, `""` if unreachable.
    public var version: String
    public var voter: Bool
    public var reachable: Bool
    public var leader: Bool
    /// Probe time in seconds.
    public var time: Double
    public var error: String

    public init(
        id: String, apiAddr: String, addr: String, version: String, voter: Bool, reachable: Bool, leader: Bool,
        time: Double = 0, error: String = ""
    ) {
        self.id = id
        self.apiAddr = apiAddr
        self.addr = addr
        self.version = version
        self.voter = voter
        self.reachable = reachable
        self.leader = leader
        self.time = time
        self.error = error
    }
}

/// What `/readyz` asks of the node.
public struct Readiness: Sendable, Equatable {
    /// A leader is known (and the store is open).
    public var leaderKnown: Bool
    /// The store is open and every ready gate (e.g. a pending auto-restore) has opened.
    public var storeReady: Bool

    public init(leaderKnown: Bool, storeReady: Bool) {
        self.leaderKnown = leaderKnown
        self.storeReady = storeReady
    }
}

/// The database operations behind `/db/execute`, `/db/query` and `/db/request`.
public protocol DatabaseService: Sendable {
    func execute(_ request: ExecuteRequest, completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void)
    func query(_ request: QueryRequest, completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void)
    /// Mixed reads and writes (`/db/request`); the node classifies statements itself.
    func request(_ request: QueryRequest, completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void)
}

/// Cluster and status information. Every method answers at once from the latest published status value,
/// and is safe to call from the first instant of the process (while the node is still recovering).
public protocol StatusService: Sendable {
    /// Sections of the `/status` document this node owns, in order (`build`, `runtime`, `os`, `node`,
    /// `store`, ...). The API adds the `http` section itself.
    func statusSections() -> [(String, JSONValue)]
    /// Sections of `/debug/vars` (expvar-style top-level keys).
    func debugVars() -> [(String, JSONValue)]
    /// Members of the cluster, probed for reachability; `includeNonVoters` per `?nonvoters`.
    /// Fails with `.message("store not open")` before the store is open.
    func nodes(includeNonVoters: Bool, timeout: Double, completion: @escaping @Sendable (Result<[NodeInfo], ServiceError>) -> Void)
    /// The leader as a probed `NodeInfo`, or `.leaderNotFound`.
    func leader(timeout: Double, completion: @escaping @Sendable (Result<NodeInfo, ServiceError>) -> Void)
    func readiness() -> Readiness
    /// Waits until the local commit index reaches the leader's commit index seen at call time
    /// (`/readyz?sync`); completes with nil on success or an error message.
    func waitForSync(timeout: Double, completion: @escaping @Sendable (String?) -> Void)
}

/// Outcome of a user-triggered snapshot (`POST /snapshot`).
public enum SnapshotOutcome: Sendable, Equatable {
    /// A snapshot was taken (200).
    case created
    /// Nothing new to snapshot, or no WAL data (204).
    case nothingToSnapshot
}

/// Cluster administration behind `DELETE /remove`, `POST /leader`, `POST /snapshot` and `POST /reap`.
///
/// Optional: a node that does not conform yet gets `501 not implemented` on those routes. Completions may
/// run on any thread. Failures use `ServiceError`: `.notLeader` (redirect or forward, as for writes),
/// `.leaderNotFound` (503), `.message` (500 text, e.g. `stepdown: node not found in cluster`;
/// `store not open` is answered 503).
public protocol ClusterAdminService: Sendable {
    /// Removes node `id` from the cluster configuration (forwarded to the leader unless `redirect`).
    /// Succeeds with the `X-RQLITE-SERVED-BY` value when forwarded, nil when served locally.
    func removeNode(
        id: String, redirect: Bool, timeout: Double, credentials: Credentials?,
        completion: @escaping @Sendable (Result<String?, ServiceError>) -> Void)
    /// Transfers leadership, to `targetID` if given. With `wait`, completes once the transfer is done.
    /// Succeeds with the `X-RQLITE-SERVED-BY` value when forwarded, nil when served locally.
    func stepDown(
        targetID: String?, wait: Bool, redirect: Bool, timeout: Double, credentials: Credentials?,
        completion: @escaping @Sendable (Result<String?, ServiceError>) -> Void)
    /// Forces a snapshot on this node; `trailingLogs` overrides the retained log entries for this one (nil
    /// or 0: the configured policy).
    func snapshot(trailingLogs: Int?, completion: @escaping @Sendable (Result<SnapshotOutcome, ServiceError>) -> Void)
    /// Consolidates the local snapshot store.
    func reap(
        completion: @escaping @Sendable (Result<(snapshotsReaped: Int, walsCheckpointed: Int), ServiceError>) -> Void)
}

/// `GET /db/backup` formats (REFERENCE §11.1).
public enum BackupFormat: Sendable, Equatable {
    /// A SQLite file whose header marks WAL journal mode (the default).
    case binary
    /// A SQLite file in rollback-journal (DELETE) mode.
    case delete
    /// A SQL text dump, loadable by the `sqlite3` shell.
    case sql
}

/// What `GET /db/backup` asks of the node.
public struct BackupRequest: Sendable {
    public var format: BackupFormat
    public var vacuum: Bool
    /// Tables for an SQL dump; nil = all.
    public var tables: [String]?
    /// Serve this node's own copy without consulting the leader.
    public var noLeader: Bool
    public var redirect: Bool
    public var timeout: Double

    public init(format: BackupFormat, vacuum: Bool = false, tables: [String]? = nil, noLeader: Bool = false,
                redirect: Bool = false, timeout: Double = 30) {
        self.format = format
        self.vacuum = vacuum
        self.tables = tables
        self.noLeader = noLeader
        self.redirect = redirect
        self.timeout = timeout
    }
}

/// A backup written to a temporary file, which the API streams and then deletes.
public struct BackupFile: Sendable {
    public var path: String
    public var servedBy: String?

    public init(path: String, servedBy: String? = nil) {
        self.path = path
        self.servedBy = servedBy
    }
}

/// Backups, loads and boot (`/db/backup`, `/db/load`, `/boot`). Optional: without it those routes answer
/// 501.
public protocol BackupService: Sendable {
    func backup(_ request: BackupRequest, completion: @escaping @Sendable (Result<BackupFile, ServiceError>) -> Void)
    /// Replaces the database on every node with the SQLite image in `file` (already verified), through
    /// the log in chunks. The file is read while the load runs and is not deleted.
    /// `credentials` are the client's, carried to the leader with every forwarded step (REFERENCE §6).
    func load(
        file: String, redirect: Bool, timeout: Double, credentials: Credentials?,
        completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void)
    /// The single-node path: replaces the database of a one-node cluster and snapshots it.
    func boot(file: String, completion: @escaping @Sendable (Result<Void, ServiceError>) -> Void)
}
