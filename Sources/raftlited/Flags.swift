/// rqlite's command-line flags (REFERENCE §5), every one defined so that rqlite's scripts parse; the
/// `supported` set lists those this build honours. Setting any other flag stops start-up with a clear
/// "not supported yet" message rather than being silently ignored.
enum RaftliteFlags {
    static func make() -> FlagSet {
        var f = FlagSet()
        f.define("version", .bool, "false", "Show version information and exit")
        f.define("extensions-path", .string, "", "Comma-delimited list of paths to directories, zipfiles, or tar.gz files containing SQLite extensions")
        f.define("cdc-config", .string, "", "CDC config: 'stdout', an HTTP(S) URL, or path to a CDC config file")
        f.define("otlp-endpoint", .string, "", "OpenTelemetry collector endpoint (host:port) for metrics")
        f.define("otlp-interval", .duration, "30s", "OpenTelemetry metrics export interval")
        f.define("otlp-insecure", .bool, "false", "Use plaintext gRPC to the OpenTelemetry collector")
        f.define("otlp-no-verify", .bool, "false", "Skip verification of the OpenTelemetry collector's certificate")
        f.define("otlp-ca-cert", .string, "", "Path to CA certificate for the OpenTelemetry collector")
        f.define("otlp-cert", .string, "", "Path to client certificate for the OpenTelemetry collector")
        f.define("otlp-key", .string, "", "Path to client key for the OpenTelemetry collector")
        f.define("http-addr", .string, "localhost:4001", "HTTP server bind address. To enable HTTPS, set X.509 certificate and key")
        f.define("http-adv-addr", .string, "", "Advertised HTTP address. If not set, same as HTTP server bind address")
        f.define("http-allow-origin", .string, "", "Value to set for Access-Control-Allow-Origin HTTP header")
        f.define("auth", .string, "", "Path to authentication and authorization file. If not set, not enabled")
        f.define("auto-backup", .string, "", "Path to automatic backup configuration file. If not set, not enabled")
        f.define("auto-restore", .string, "", "Path to automatic restore configuration file. If not set, not enabled")
        f.define("http-ca-cert", .string, "", "Path to X.509 CA certificate for HTTPS")
        f.define("http-cert", .string, "", "Path to HTTPS X.509 certificate")
        f.define("http-key", .string, "", "Path to HTTPS X.509 private key")
        f.define("http-verify-client", .bool, "false", "Enable mutual TLS for HTTPS")
        f.define("http-verify-common-name", .string, "", "Required common name of client certificates")
        f.define("node-ca-cert", .string, "", "Path to X.509 CA certificate for node-to-node encryption")
        f.define("node-cert", .string, "", "Path to X.509 certificate for node-to-node mutual authentication and encryption")
        f.define("node-key", .string, "", "Path to X.509 private key for node-to-node mutual authentication and encryption")
        f.define("node-no-verify", .bool, "false", "Skip verification of any node-node certificate")
        f.define("node-verify-client", .bool, "false", "Enable mutual TLS for node-to-node communication")
        f.define("node-verify-server-name", .string, "", "Hostname to verify on certificate returned by a node")
        f.define("node-verify-common-name", .string, "", "Required common name of inbound node certificates")
        f.define("node-id", .string, "", "Unique ID for node. If not set, set to advertised Raft address")
        f.define("compress-snap-transport", .bool, "false", "Compress snapshots sent between nodes")
        f.define("public-dir", .string, "", "Directory holding the status dashboard served at /console/ (default: ../share/raftlite/public next to the binary, or ./public)")
        f.define("raft-addr", .string, "localhost:4002", "Raft communication bind address")
        f.define("raft-adv-addr", .string, "", "Advertised Raft communication address. If not set, same as Raft bind address")
        f.define("join", .string, "", "Comma-delimited list of nodes, in host:port form, through which a cluster can be joined")
        f.define("join-attempts", .uint, "5", "Number of join attempts to make")
        f.define("join-interval", .duration, "3s", "Period between join attempts")
        f.define("join-as", .string, "", "Username in authentication file to join as. If not set, joins anonymously")
        f.define("bootstrap-expect", .uint, "0", "Minimum number of nodes required for a bootstrap")
        f.define("bootstrap-expect-timeout", .duration, "120s", "Maximum time for bootstrap process")
        f.define("disco-mode", .string, "", "Choose autodiscovery mode. If not set, no node discovery is performed")
        f.define("disco-key", .string, "rqlite", "Key prefix for cluster discovery service")
        f.define("disco-config", .string, "", "Set discovery config, or path to cluster discovery config file")
        f.define("fk", .bool, "false", "Enable SQLite foreign key constraints")
        f.define("db-max-ro-conns", .int, "256", "Maximum number of concurrent read-only SQLite connections (0 means unlimited)")
        f.define("auto-vacuum-int", .duration, "0s", "Period between automatic VACUUMs. It not set, not enabled")
        f.define("auto-optimize-int", .duration, "24h0m0s", "Period between automatic 'PRAGMA optimize'. Set to 0h to disable")
        f.define("raft-log-level", .string, "WARN", "Minimum log level for Raft module")
        f.define("raft-non-voter", .bool, "false", "Configure as non-voting node")
        f.define("raft-snap", .uint, "8192", "Number of outstanding log entries which triggers Raft snapshot")
        f.define("raft-snap-wal-size", .uint, "4194304", "SQLite WAL file size in bytes which triggers Raft snapshot. Set to 0 to disable")
        f.define("raft-snap-int", .duration, "10s", "Snapshot threshold check interval")
        f.define("raft-leader-lease-timeout", .duration, "0s", "Raft leader lease timeout. Use 0s for Raft default")
        f.define("raft-heartbeat-timeout", .duration, "1s", "Raft heartbeat timeout")
        f.define("raft-commit-timeout", .duration, "50ms", "Raft commit timeout")
        f.define("raft-election-timeout", .duration, "1s", "Raft election timeout")
        f.define("raft-apply-timeout", .duration, "10s", "Raft apply timeout")
        f.define("raft-remove-shutdown", .bool, "false", "Shutdown Raft if node removed from cluster")
        f.define("raft-cluster-remove-shutdown", .bool, "false", "Remove this node from the cluster on graceful shutdown")
        f.define("raft-shutdown-stepdown", .bool, "true", "If leader, stepdown before shutting down. Enabled by default")
        f.define("raft-reap-node-timeout", .duration, "0h", "Time after which a non-reachable voting node will be reaped. If not set, no reaping takes place")
        f.define("raft-reap-read-only-node-timeout", .duration, "0h", "Time after which a non-reachable non-voting node will be reaped. If not set, no reaping takes place")
        f.define("cluster-connect-timeout", .duration, "30s", "Timeout for initial connection to other nodes")
        f.define("write-queue-capacity", .int, "1024", "QueuedWrites queue capacity")
        f.define("write-queue-batch-size", .int, "128", "QueuedWrites queue batch size")
        f.define("write-queue-timeout", .duration, "50ms", "QueuedWrites queue timeout")
        f.define("write-queue-tx", .bool, "false", "Use a transaction when processing a queued write")
        f.define("cpu-profile", .string, "", "Path to file for CPU profiling information")
        f.define("mem-profile", .string, "", "Path to file for memory profiling information")
        f.define("trace-profile", .string, "", "Path to file for trace profiling information")
        return f
    }

    /// Flags this build honours. Tuning flags whose features do not exist yet are accepted only at their
    /// default values (checked by `unsupportedFlags`).
    static let supported: Set<String> = [
        "write-queue-capacity", "write-queue-batch-size", "write-queue-timeout", "write-queue-tx",
        "version", "http-addr", "http-adv-addr", "http-allow-origin", "auth", "node-id", "public-dir",
        "raft-addr", "raft-adv-addr", "fk", "db-max-ro-conns", "raft-log-level",
        "join", "join-as", "join-attempts", "join-interval", "bootstrap-expect", "bootstrap-expect-timeout", "raft-non-voter",
        "raft-heartbeat-timeout", "raft-election-timeout", "raft-apply-timeout", "cluster-connect-timeout",
        "raft-shutdown-stepdown", "raft-cluster-remove-shutdown", "raft-reap-node-timeout",
        "raft-reap-read-only-node-timeout", "raft-snap", "raft-snap-int", "auto-backup", "auto-restore",
    ]

    /// The flags given on the command line that this build does not honour yet.
    static func unsupportedFlags(_ f: FlagSet) -> [String] {
        f.givenOrder.filter { !supported.contains($0) }
    }
}
