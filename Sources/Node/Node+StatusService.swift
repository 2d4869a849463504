import API
import Common
import Foundation
import JSON
import Synchronization

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
                ] + (s.phaseDetail.isEmpty ? [] : [("phase_detail", .string(s.phaseDetail))])
                    + progressField(s))
            ),
            ("store", storeSection(s)),
        ] + (s.lastBackupTime.map { [("last_backup_time", JSONValue.string(GoTime.rfc3339Nano($0)))] } ?? [])
            + (autoBackupStatus.map { [("auto_backups", $0)] } ?? [])
    }

    /// `node.progress` while recovering: `{"label","done","total","unit"}`.
    func progressField(_ s: NodeStatus) -> [(String, JSONValue)] {
        var progress = s.progress
        if let replay = s.replay {
            let applied = raft.appliedIndex
            progress = NodeStatus.Progress(
                label: "replaying log", done: Int64(min(applied, replay.to) - min(replay.from, applied)),
                total: Int64(replay.to - replay.from), unit: "entries")
        }
        guard let p = progress else { return [] }
        return [(
            "progress",
            .object([("label", .string(p.label)), ("done", .integer(p.done)), ("total", .integer(p.total)), ("unit", .string(p.unit))])
        )]
    }

    public func debugVars() -> [(String, JSONValue)] {
        let s = status
        let c = raft.counters
        return [
            ("cmdline", .array(CommandLine.arguments.map { .string($0) })),
            (
                "store",
                .object([
                    ("num_snapshots", .integer(c.snapshots)),
                    ("num_snapshots_failed", .integer(c.snapshotsFailed)),
                    ("num_user_snapshots", .integer(c.userSnapshots)),
                    ("num_user_snapshots_failed", .integer(c.userSnapshotsFailed)),
                    ("num_restores", .integer(c.restores)),
                    ("num_restores_failed", .integer(c.restoresFailed)),
                    ("num_restores_start_skipped", .integer(c.restoresStartSkipped)),
                    ("write_requests", .integer(Int64(s.writeRequests))),
                    ("write_statements", .integer(Int64(s.writeStatements))),
                    ("read_requests", .integer(Int64(s.readRequests))),
                    ("read_statements", .integer(Int64(s.readStatements))),
                    ("num_joins", .integer(s.joins)),
                    ("num_ignored_joins", .integer(s.ignoredJoins)),
                    ("num_removed_before_joins", .integer(s.removedBeforeJoins)),
                    ("num_auto_restores", .integer(s.autoRestores)),
                    ("num_auto_restores_skipped", .integer(s.autoRestoresSkipped)),
                    ("num_auto_restores_failed", .integer(s.autoRestoresFailed)),
                ])
            ),
            (
                "cluster",
                .object([
                    ("num_join_req", .integer(s.joinRequests)),
                    ("num_notify_req", .integer(s.notifyRequests)),
                    ("num_remove_node_req", .integer(s.removeNodeRequests)),
                ])
            ),
            ("uploader", uploaderVars),
            (
                "downloader",
                .object([
                    ("num_downloads_ok", .integer(s.downloadsOK)),
                    ("num_downloads_fail", .integer(s.downloadsFailed)),
                    ("download_bytes", .integer(s.downloadBytes)),
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
        let view = raft
        let members = view.members.filter { $0.voter || includeNonVoters }
        probe(members, leaderAddress: view.leaderAddress, timeout: timeout) { completion(.success($0)) }
    }

    public func leader(timeout: Double, completion: @escaping @Sendable (Result<NodeInfo, ServiceError>) -> Void) {
        let view = raft
        guard status.storeOpen, let id = view.leaderID, let address = view.leaderAddress else {
            completion(.failure(.leaderNotFound))
            return
        }
        let member = view.members.first { $0.id == id } ?? RaftView.MemberView(id: id, address: address, voter: true)
        probe([member], leaderAddress: address, timeout: timeout) { infos in
            completion(infos.first.map { .success($0) } ?? .failure(.leaderNotFound))
        }
    }

    /// Probes members in parallel over the cluster service, as rqlite's `/nodes` does.
    func probe(
        _ members: [RaftView.MemberView], leaderAddress: String?, timeout: Double,
        completion: @escaping @Sendable ([NodeInfo]) -> Void
    ) {
        let results = Mutex<[Int: NodeInfo]>([:])
        let group = DispatchGroup()
        for (i, member) in members.enumerated() {
            group.enter()
            let start = DispatchTime.now().uptimeNanoseconds
            fetchNodeMeta(member.address, timeout: timeout) { meta in
                let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                var info = NodeInfo(
                    id: member.id, apiAddr: meta?.apiURL ?? "", addr: member.address,
                    version: meta.map { $0.version.isEmpty ? "unknown" : $0.version } ?? "", voter: member.voter,
                    reachable: meta != nil, leader: meta != nil && member.address == leaderAddress, time: elapsed)
                if meta == nil { info.error = "failed to reach node at \(member.address)" }
                results.withLock { $0[i] = info }
                group.leave()
            }
        }
        group.notify(queue: .global()) {
            let all = results.withLock { $0 }
            completion(members.indices.compactMap { all[$0] })
        }
    }

    public func readiness() -> Readiness {
        let s = status
        let view = raft
        let leaderKnown = s.storeOpen && view.leaderID != nil
        // Published views show applied < commit only in the middle of a long apply (replay, catch-up).
        let caughtUp = view.appliedIndex >= view.commitIndex
        return Readiness(
            leaderKnown: leaderKnown,
            storeReady: leaderKnown && caughtUp && view.fatalError == nil && !s.restorePending && !s.isRecovering)
    }

    public func waitForSync(timeout: Double, completion: @escaping @Sendable (String?) -> Void) {
        let view = raft
        guard let leader = view.leaderAddress else { return completion("leader not found") }
        let wait: @Sendable (UInt64) -> Void = { [self] target in
            DispatchQueue.global().async {
                let ok = self.waitFor(seconds: timeout) { self.raft.commitIndex >= max(target, 1) }
                completion(ok ? nil : "timeout waiting for local commit index to reach \(target)")
            }
        }
        if view.role == .leader { return wait(view.commitIndex) }
        fetchNodeMeta(leader, timeout: timeout) { meta in
            guard let meta else { return completion("leader not contactable") }
            wait(meta.commitIndex)
        }
    }

    private func storeSection(_ s: NodeStatus) -> JSONValue {
        guard s.storeOpen else { return .object([("open", .bool(false))]) }
        let dbPath = configuration.databasePath
        let dbSize = Self.fileSize(dbPath)
        let walSize = Self.fileSize(dbPath + "-wal")
        let dirSize = Self.directorySize(configuration.dataDirectory)
        let view = raft
        return .object([
            ("open", .bool(true)),
            ("node_id", .string(configuration.nodeID)),
            ("addr", .string(configuration.raftAdvertisedAddress)),
            ("leader", .object([("node_id", .string(view.leaderID ?? "")), ("addr", .string(view.leaderAddress ?? ""))])),
            ("ready", .bool(readiness().storeReady)),
            ("fsm_index", .integer(Int64(view.appliedIndex))),
            ("db_applied_index", .integer(Int64(view.appliedIndex))),
            (
                "nodes",
                .array(
                    view.members.map {
                        .object([("id", .string($0.id)), ("addr", .string($0.address)), ("suffrage", .string($0.voter ? "voter" : "nonvoter"))])
                    })
            ),
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
                    (
                        "pragmas",
                        .object([
                            ("ro", .object(s.pragmasRO.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
                            ("rw", .object(s.pragmasRW.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })),
                        ])
                    ),
                ])
            ),
            ("raft", raftSection(view)),
            ("snapshot_store", snapshotSection(view)),
        ])
    }

    func snapshotSection(_ view: RaftView) -> JSONValue {
        guard let store = worker?.snapshots else { return .object([]) }
        let names = store.list().map { $0.name }
        var size: Int64 = 0
        for name in names { size += Self.fileSize(store.databasePath(name)) }
        var fields: [(String, JSONValue)] = [
            ("dir", .string(store.directory)), ("dir_size", .integer(size)),
            ("snapshots", .array(names.map { .string($0) })),
        ]
        if let last = view.lastSnapshot {
            fields.append(("last_snapshot", .string(last.name)))
            fields.append(("last_snapshot_time", .string(GoTime.rfc3339Nano(last.time))))
            fields.append(("last_snapshot_duration", .string(GoDuration.format(seconds: last.seconds))))
        }
        fields.append(("in_progress", .bool(view.snapshotInProgress)))
        return .object(fields)
    }

    func raftSection(_ view: RaftView) -> JSONValue {
        let state: String
        switch view.role {
        case .leader: state = "Leader"
        case .candidate, .preCandidate: state = "Candidate"
        default: state = "Follower"
        }
        var fields: [(String, JSONValue)] = [
            ("state", .string(status.phase == .shuttingDown ? "Shutdown" : state)),
            ("term", .integer(Int64(view.term))),
            ("last_log_index", .integer(Int64(view.lastLogIndex))),
            ("last_log_term", .integer(Int64(view.lastLogTerm))),
            ("commit_index", .integer(Int64(view.commitIndex))),
            ("applied_index", .integer(Int64(view.appliedIndex))),
            ("last_snapshot_index", .integer(Int64(view.snapshotIndex))),
            ("num_peers", .integer(Int64(max(0, view.members.filter { $0.voter }.count - (view.isVoter ? 1 : 0))))),
            ("voter", .bool(view.isVoter)),
            ("log_size", .integer(view.logSize)),
            ("log_size_friendly", .string(GoTime.friendlyBytes(view.logSize))),
        ]
        if view.role == .leader {
            fields.append(("last_contact", .integer(0)))
        } else if let contact = view.lastLeaderContact {
            fields.append(("last_contact", .string(GoDuration.format(seconds: Date().timeIntervalSince(contact)))))
        } else {
            fields.append(("last_contact", .string("never")))
        }
        if let error = view.fatalError { fields.append(("error", .string(error))) }
        if !view.followers.isEmpty {
            fields.append((
                "followers",
                .object(
                    view.followers.map {
                        ($0.id, .object([
                            ("match_index", .integer(Int64($0.match))), ("next_index", .integer(Int64($0.next))),
                            ("state", .string($0.state)), ("lag", .integer(Int64(view.lastLogIndex) - Int64($0.match))),
                        ]))
                    })
            ))
        }
        return .object(fields)
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
