import API
import Common
import Foundation
import JSON

extension Node: StatusService {
    public func statusSections() -> [(String, JSONValue)] {
        let s = status
        let now = Date()
        return [
            ("build", Self.buildSection),
            ("runtime", Self.runtimeSection()),
            ("os", Self.osSection),
            (
                "node",
                .object([
                    ("start_time", .string(GoTime.rfc3339Nano(s.startTime))),
                    ("current_time", .string(GoTime.rfc3339Nano(now))),
                    ("uptime", .string(GoDuration.format(seconds: now.timeIntervalSince(s.startTime).rounded(.down)))),
                    ("phase", .string(s.phase.rawValue)),
                ] + (s.phaseDetail.isEmpty ? [] : [("phase_detail", .string(s.phaseDetail))]))
            ),
            ("store", storeSection(s)),
        ]
    }

    public func debugVars() -> [(String, JSONValue)] {
        let s = status
        return [
            ("cmdline", .array(CommandLine.arguments.map { .string($0) })),
            (
                "store",
                .object([
                    ("write_requests", .integer(Int64(s.writeRequests))),
                    ("write_statements", .integer(Int64(s.writeStatements))),
                    ("read_requests", .integer(Int64(s.readRequests))),
                    ("read_statements", .integer(Int64(s.readStatements))),
                    ("pending_writes", .integer(Int64(s.pendingWrites))),
                ])
            ),
        ]
    }

    public func nodes(
        includeNonVoters: Bool, timeout: Double,
        completion: @escaping @Sendable (Result<[NodeInfo], ServiceError>) -> Void
    ) {
        guard status.storeOpen else {
            completion(.failure(.message("store not open")))
            return
        }
        completion(.success([probedSelf()]))
    }

    /// This node as a probe of it reports: reachable, with the time the probe took.
    private func probedSelf() -> NodeInfo {
        let start = DispatchTime.now().uptimeNanoseconds
        var info = selfInfo
        info.time = Double(DispatchTime.now().uptimeNanoseconds - start + 1) / 1e9
        return info
    }

    public func leader(timeout: Double, completion: @escaping @Sendable (Result<NodeInfo, ServiceError>) -> Void) {
        guard status.storeOpen else {
            completion(.failure(.leaderNotFound))
            return
        }
        completion(.success(probedSelf()))
    }

    public func readiness() -> Readiness {
        let open = status.storeOpen
        return Readiness(leaderKnown: open, storeReady: open)
    }

    public func waitForSync(timeout: Double, completion: @escaping @Sendable (String?) -> Void) {
        // The sole voter's commit index is the leader's: nothing to wait for.
        completion(status.storeOpen ? nil : "store not open")
    }

    private var selfInfo: NodeInfo {
        NodeInfo(
            id: configuration.nodeID, apiAddr: configuration.apiURL, addr: configuration.raftAdvertisedAddress,
            version: RaftliteVersion.version, voter: true, reachable: true, leader: true)
    }

    private func storeSection(_ s: NodeStatus) -> JSONValue {
        guard s.storeOpen else { return .object([("open", .bool(false))]) }
        let dbPath = configuration.databasePath
        let dbSize = Self.fileSize(dbPath)
        let walSize = Self.fileSize(dbPath + "-wal")
        let dirSize = Self.directorySize(configuration.dataDirectory)
        let nodeID = JSONValue.string(configuration.nodeID)
        let addr = JSONValue.string(configuration.raftAdvertisedAddress)
        return .object([
            ("open", .bool(true)),
            ("node_id", nodeID),
            ("addr", addr),
            ("leader", .object([("node_id", nodeID), ("addr", addr)])),
            ("ready", .bool(true)),
            ("nodes", .array([.object([("id", nodeID), ("addr", addr), ("suffrage", .string("voter"))])])),
            ("dir", .string(configuration.dataDirectory)),
            ("dir_size", .integer(dirSize)),
            ("dir_size_friendly", .string(GoTime.friendlyBytes(dirSize))),
            ("db_conf", .object([("fk_constraints", .bool(configuration.foreignKeys))])),
            (
                "sqlite3",
                .object([
                    ("version", .string(s.sqliteVersion)),
                    ("db_size", .integer(dbSize)),
                    ("db_size_friendly", .string(GoTime.friendlyBytes(dbSize))),
                    ("path", .string(dbPath)),
                    ("size", .integer(dbSize)),
                    ("wal_size", .integer(walSize)),
                    ("rw_dsn", .string("file:\(dbPath)?_fk=\(configuration.foreignKeys)&_journal=WAL&_sync=FULL")),
                    ("ro_dsn", .string("file:\(dbPath)?mode=ro&_query_only=true")),
                    (
                        "conn_pool_stats",
                        .object([("ro", .integer(Int64(configuration.readConnections))), ("rw", .integer(1))])
                    ),
                ])
            ),
            (
                "raft",
                .object([
                    ("state", .string("Leader")),
                    ("voter", .bool(true)),
                    ("num_peers", .integer(0)),
                ])
            ),
        ])
    }

    static func fileSize(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : 0
    }

    static func directorySize(_ path: String) -> Int64 {
        guard let walker = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total: Int64 = 0
        while let name = walker.nextObject() as? String { total += fileSize(path + "/" + name) }
        return total
    }

    static let buildSection: JSONValue = .object([
        ("version", .string(RaftliteVersion.version)),
        ("commit", .string(RaftliteVersion.commit)),
        ("build_time", .string("unknown")),
        ("compiler_toolchain", .string("swift")),
        ("compiler_command", .string("swift build -c release")),
    ])

    /// The CPU architecture in Go's names (`amd64`, `arm64`), as rqlite reports it.
    public static var runtimeArch: String {
        #if arch(x86_64)
            return "amd64"
        #elseif arch(arm64)
            return "arm64"
        #else
            return "unknown"
        #endif
    }

    static func runtimeSection() -> JSONValue {
        let arch = runtimeArch
        let cpus = Int64(ProcessInfo.processInfo.activeProcessorCount)
        return .object([
            ("GOARCH", .string(arch)),
            ("GOOS", .string("linux")),
            ("GOMAXPROCS", .integer(cpus)),
            ("num_cpu", .integer(cpus)),
            ("num_goroutine", .integer(Int64(threadCount()))),
            ("version", .string(swiftVersion)),
        ])
    }

    public static var swiftVersion: String {
        #if swift(>=6.3)
            return "swift6.3"
        #elseif swift(>=6.2)
            return "swift6.2"
        #else
            return "swift6"
        #endif
    }

    /// Threads of this process, from /proc.
    static func threadCount() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("Threads:") {
            return Int(line.dropFirst(8).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return 0
    }

    static let osSection: JSONValue = .object([
        ("pid", .integer(Int64(getpid()))),
        ("ppid", .integer(Int64(getppid()))),
        ("page_size", .integer(Int64(sysconf(Int32(_SC_PAGESIZE))))),
        ("executable", .string((try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "")),
        ("hostname", .string(ProcessInfo.processInfo.hostName)),
    ])
}
