import API
import Backup

/// Everything a node needs to know at start-up, resolved from the command line.
public struct NodeConfiguration: Sendable {
    /// Unique, immutable node ID (`-node-id`, defaulting to the advertised Raft address).
    public var nodeID: String
    /// Absolute path of the data directory.
    public var dataDirectory: String
    /// Advertised HTTP address, `host:port` (`-http-adv-addr`).
    public var httpAdvertisedAddress: String
    /// HTTP bind address (`-http-addr`).
    public var httpBindAddress: String
    /// Advertised Raft address, `host:port` (`-raft-adv-addr`).
    public var raftAdvertisedAddress: String
    /// Raft bind address (`-raft-addr`).
    public var raftBindAddress: String
    /// `PRAGMA foreign_keys` on every connection (`-fk`).
    public var foreignKeys: Bool
    /// Read-only connections in the read pool (`-db-max-ro-conns`, capped to a useful thread count).
    public var readConnections: Int
    /// Raft addresses to join through (`-join`).
    public var joinAddresses: [String] = []
    public var joinAttempts: Int = 5
    /// Seconds between join attempts (`-join-interval`).
    public var joinInterval: Double = 3
    /// Voters to wait for before bootstrapping (`-bootstrap-expect`); 0 = off.
    public var bootstrapExpect: Int = 0
    public var bootstrapExpectTimeout: Double = 120
    /// Run as a read replica (`-raft-non-voter`).
    public var nonVoter: Bool = false
    /// Seconds without a leader before a follower campaigns (`-raft-heartbeat-timeout`).
    public var heartbeatTimeout: Double = 1
    /// Seconds a candidate waits before a new election (`-raft-election-timeout`).
    public var electionTimeout: Double = 1
    /// Seconds a write may wait for commit and apply (`-raft-apply-timeout`).
    public var applyTimeout: Double = 10
    /// Dial timeout for node-to-node connections (`-cluster-connect-timeout`).
    public var connectTimeout: Double = 30
    /// Transfer leadership before shutting down (`-raft-shutdown-stepdown`).
    public var stepDownOnShutdown: Bool = true
    /// Ask the leader to remove this node on graceful shutdown (`-raft-cluster-remove-shutdown`).
    public var removeOnShutdown: Bool = false
    /// Shut Raft down when this node is removed from the configuration (`-raft-remove-shutdown`).
    public var shutdownOnRemove: Bool = false
    /// Seconds after which the leader removes an unreachable voter / non-voter (0 = never).
    public var reapNodeTimeout: Double = 0
    public var reapReadOnlyNodeTimeout: Double = 0
    /// Periodic backups (`-auto-backup`).
    public var autoBackup: AutoBackupConfig?
    /// Restore at first start (`-auto-restore`).
    public var autoRestore: AutoRestoreConfig?
    /// Minimum level of the Raft worker's log lines (`-raft-log-level`: ERROR, WARN, INFO, DEBUG).
    public var raftLogLevel: String = "WARN"
    /// The `-auth` store: checks the credentials every cluster-service call carries (REFERENCE §6).
    /// nil = authentication off, every call allowed.
    public var auth: AuthStore?
    /// Credentials this node sends with join, notify and its own removal (`-join-as`); nil = anonymous.
    public var joinCredentials: Credentials?
    /// Applied entries that trigger a snapshot (`-raft-snap`).
    public var snapshotThreshold: UInt64 = 8192

    public init(
        nodeID: String, dataDirectory: String, httpAdvertisedAddress: String, httpBindAddress: String,
        raftAdvertisedAddress: String, raftBindAddress: String, foreignKeys: Bool = false, readConnections: Int = 4
    ) {
        self.nodeID = nodeID
        self.dataDirectory = dataDirectory
        self.httpAdvertisedAddress = httpAdvertisedAddress
        self.httpBindAddress = httpBindAddress
        self.raftAdvertisedAddress = raftAdvertisedAddress
        self.raftBindAddress = raftBindAddress
        self.foreignKeys = foreignKeys
        self.readConnections = readConnections
    }

    /// `<data>/db.sqlite`, as in rqlite.
    public var databasePath: String { dataDirectory + "/db.sqlite" }
    /// The node's HTTP API URL, as other nodes and redirects use it.
    public var apiURL: String { "http://" + httpAdvertisedAddress }
}
