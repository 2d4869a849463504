import Foundation

/// The phases a node passes through. Published from the first instant of the process, so status
/// handlers always have a value to read.
public enum NodePhase: String, Sendable {
    case starting
    case opening
    case restoringSnapshot = "restoring snapshot"
    case replayingLog = "replaying log"
    case joining
    case waitingForPeers = "waiting for peers"
    case ready
    case shuttingDown = "shutting down"
    case stopped
}

/// An immutable picture of the node, published by the threads that change it and read by HTTP handlers
/// without waiting on them.
public struct NodeStatus: Sendable {
    public var phase: NodePhase = .starting
    /// Why the node is not serving, when it is not (e.g. an error opening the database).
    public var phaseDetail: String = ""
    /// Progress of the current recovery step, when it has one.
    public var progress: Progress?
    /// Log replay after a restart: the applied index it started from and the commit index to reach.
    public var replay: (from: UInt64, to: UInt64)?

    public struct Progress: Sendable {
        public var label: String
        public var done: Int64
        public var total: Int64
        public var unit: String
    }
    public var storeOpen: Bool = false
    public var startTime: Date = Date()
    /// Write requests completed, and statements within them.
    public var writeRequests: UInt64 = 0
    public var writeStatements: UInt64 = 0
    public var readRequests: UInt64 = 0
    public var readStatements: UInt64 = 0
    /// Time of the last completed write that changed the database.
    public var lastWriteTime: Date?
    /// A backup downloaded by `-auto-restore` is waiting to be loaded: the node is not ready until it is.
    public var restorePending = false
    /// Auto-restore outcomes, under rqlite's `/debug/vars` names: `store.num_auto_restores`,
    /// `num_auto_restores_skipped` (another node led first), `num_auto_restores_failed`.
    public var autoRestores: Int64 = 0
    public var autoRestoresSkipped: Int64 = 0
    public var autoRestoresFailed: Int64 = 0
    /// Auto-restore downloads (`downloader.num_downloads_ok`, `num_downloads_fail`, `download_bytes`).
    public var downloadsOK: Int64 = 0
    public var downloadsFailed: Int64 = 0
    public var downloadBytes: Int64 = 0
    /// Cluster-service requests received (`/debug/vars` → `cluster`: `num_join_req`, `num_notify_req`,
    /// `num_remove_node_req`), whatever their outcome.
    public var joinRequests: Int64 = 0
    public var notifyRequests: Int64 = 0
    public var removeNodeRequests: Int64 = 0
    /// Joins served as leader (`store`: `num_joins` added a member, `num_ignored_joins` already a member,
    /// `num_removed_before_joins` an old entry with the same ID or address was removed first).
    public var joins: Int64 = 0
    public var ignoredJoins: Int64 = 0
    public var removedBeforeJoins: Int64 = 0
    /// When the last HTTP backup was taken (`/status` → `last_backup_time`).
    public var lastBackupTime: Date?
    /// SQLite facts refreshed after writes.
    public var sqliteVersion: String = ""
    /// The pragmas rqlite's tooling checks, as the read-write and a read-only connection report them
    /// (`/status` → `store.sqlite3.pragmas`): name → value as text.
    public var pragmasRW: [String: String] = [:]
    public var pragmasRO: [String: String] = [:]

    /// The database does not reflect the log yet (opening, restoring a snapshot, replaying the log): not
    /// ready, and reads above level `none` and writes answer `store not ready`.
    public var isRecovering: Bool {
        switch phase {
        case .starting, .opening, .restoringSnapshot, .replayingLog: return true
        default: return false
        }
    }

    public init() {}
}
