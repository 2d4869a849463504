import Foundation
import JSON
import Synchronization
import Testing
import TestSupport

/// Recovery of a large database under a storm of requests (issue 5).
///
/// One node gets a database of `RAFTLITE_STORM_MB` MiB (default 64; `scripts/soak-recovery` runs 1024)
/// written through Raftlite, so the snapshot and the log hold it. Then, with four threads hammering
/// `/status`, `/nodes`, `/readyz`, `/leader` and `/db/query` (levels none and default) from before the
/// process listens until after it is ready:
/// 1. a clean restart (SIGTERM) must reuse the database file as it is (same inode, no snapshot restore);
/// 2. after a snapshot and a log tail written on top of it, a SIGKILL'd node must rebuild the database
///    from the snapshot plus the log.
/// Every answer must be a complete HTTP response with the documented status and a well-formed body
/// (JSON, or readyz's `[+]` lines); connection refused is allowed only before the process listens. Both
/// restarts must end ready with every row and every acknowledged write back, byte for byte.
///
/// The test prints `FIGURE` lines (sizes, snapshot time, write latencies during the snapshot, time to
/// ready after each restart); `scripts/soak-recovery` collects them. Figures are printed, never asserted.
@Suite(.serialized) struct RecoveryStormTests {
    static var sizeMB: Int {
        Int(ProcessInfo.processInfo.environment["RAFTLITE_STORM_MB"] ?? "").map { max(1, $0) } ?? 64
    }
    /// Automatic snapshots off (an entry count nobody reaches): the test decides when to snapshot.
    static let arguments = ["-raft-log-level", "INFO", "-raft-snap", "1000000"]
    static let rowBytes = 4000
    static let rowsPerRequest = 2000
    /// Every byte of a row follows from its id, so a rebuilt database can be checked completely.
    static let payloadSQL = "replace(hex(zeroblob(500)), '00', printf('%08d', x))"

    func figure(_ name: String, _ value: String) { print("FIGURE \(name)=\(value)") }

    func execute(_ port: Int, _ json: String) throws -> String {
        let r = try HTTPConnection(port: port, timeout: 120).request(
            "POST", "/db/execute", headers: [("Content-Type", "application/json")], body: Array(json.utf8))
        try #require(r.status == 200 && r.text.hasPrefix("{\"results\":[") && !r.text.contains("\"error\""), "\(r.status) \(r.text)")
        return r.text
    }

    /// Inserts rows `from...to` of `t` in requests of `rowsPerRequest` (one log entry each).
    func insertRows(_ port: Int, from: Int, to: Int) throws {
        var first = from
        while first <= to {
            let last = min(to, first + Self.rowsPerRequest - 1)
            let text = try execute(
                port,
                "[[\"WITH RECURSIVE c(x) AS (SELECT ? UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
                    + "INSERT INTO t(id, payload) SELECT x, \(Self.payloadSQL) FROM c\", \(first), \(last)]]")
            try #require(text.contains("\"rows_affected\":\(last - first + 1)"), "\(text)")
            first = last + 1
        }
    }

    /// Rows, sum of ids, rows whose payload is not exactly what their id says, and the acknowledged
    /// single-row writes — read at level none, so it also works on a node that is not (yet) leader.
    func digest(_ port: Int) throws -> String {
        let q = "SELECT (SELECT COUNT(*) FROM t), (SELECT SUM(id) FROM t), "
            + "(SELECT COUNT(*) FROM t WHERE payload != replace(hex(zeroblob(500)), '00', printf('%08d', id))), "
            + "(SELECT group_concat(id) FROM (SELECT id FROM acks ORDER BY id))"
        return try HTTPConnection(port: port, timeout: 120).request("GET", "/db/query?level=none&q=" + percentEncode(q)).text
    }

    @Test func cleanRestartReusesTheDatabaseAndACrashRebuildsItUnderAStorm() throws {
        let directory = makeTemporaryDirectory("raftlite-storm")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let data = directory + "/node"
        let (httpPort, raftPort) = (freePort(), freePort())
        func start() throws -> RaftliteProcess {
            try RaftliteProcess(dataDirectory: data, httpPort: httpPort, raftPort: raftPort, nodeID: "storm", extraArguments: Self.arguments)
        }

        // The database, written through Raftlite.
        var node = try start()
        defer { node.stop() }
        /// Starts the node while a storm of clients expecting `expectedRows` hits it from before the start
        /// until after it is ready: the storm, whether it got ready, and how long that took.
        func startUnderStorm(expectedRows: Int) throws -> (storm: Storm, ready: Bool, seconds: Double) {
            let storm = Storm(port: httpPort, expectedRows: expectedRows)
            storm.start()
            let began = Date()
            node = try start()
            let ready = waitForReady(httpPort, node)
            let seconds = Date().timeIntervalSince(began)
            storm.finish(afterReady: ready)
            return (storm, ready, seconds)
        }
        #expect(node.waitUntilReady(), "\(node.log)")
        _ = try execute(httpPort, #"["CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)", "CREATE TABLE acks (id INTEGER PRIMARY KEY)"]"#)
        let rows = Self.sizeMB * (1 << 20) / Self.rowBytes
        let began = Date()
        try insertRows(httpPort, from: 1, to: rows)
        figure("size_mb", "\(Self.sizeMB)")
        figure("rows", "\(rows)")
        figure("load_seconds", String(format: "%.1f", Date().timeIntervalSince(began)))
        figure("db_bytes", "\(fileSize(data + "/db.sqlite") + fileSize(data + "/db.sqlite-wal"))")

        // 1. Clean restart: the file is reused as it is.
        let expectedBeforeClean = try digest(httpPort)
        #expect(expectedBeforeClean.contains("[[\(rows),\(rows * (rows + 1) / 2),0,"), "\(expectedBeforeClean)")
        #expect(node.stop() == 0, "\(node.log)")
        #expect(FileManager.default.fileExists(atPath: data + "/raft/clean_shutdown"), "a clean shutdown leaves its marker")
        let inode = fileInode(data + "/db.sqlite")
        var storm: Storm
        let (cleanReady, cleanSeconds): (Bool, Double)
        (storm, cleanReady, cleanSeconds) = try startUnderStorm(expectedRows: rows)
        #expect(cleanReady, "not ready after a clean restart: \(node.log)")
        figure("clean_restart_ready_seconds", String(format: "%.2f", cleanSeconds))
        storm.check(label: "clean restart", node: node)
        #expect(!storm.phasesSeen.contains("restoring snapshot"), "a clean restart must not restore a snapshot: \(storm.phasesSeen)")
        #expect(fileInode(data + "/db.sqlite") == inode, "a clean restart must reuse db.sqlite, not rebuild it")
        #expect(node.log.contains("reusing the database left by a clean shutdown"), "\(node.log)")
        #expect(!FileManager.default.fileExists(atPath: data + "/raft/clean_shutdown"), "the marker is consumed at start")
        #expect(try digest(httpPort) == expectedBeforeClean)

        // 2. A snapshot while a writer runs, then a log tail on top of it.
        let writer = LatencyWriter(port: httpPort)
        writer.start()
        #expect(eventually(timeout: 30) { writer.count >= 20 }, "the writer makes no progress")
        let snapshotStart = Date()
        let snapshot = try HTTPConnection(port: httpPort, timeout: 600).request("POST", "/snapshot")
        let snapshotEnd = Date()
        #expect(snapshot.status == 200, "\(snapshot.status) \(snapshot.text)")
        let countAtSnapshotEnd = writer.count
        #expect(eventually(timeout: 30) { writer.count >= countAtSnapshotEnd + 20 }, "the writer makes no progress")
        let acknowledged = writer.stop()
        #expect(writer.failures.isEmpty, "writes failed around the snapshot: \(writer.failures.prefix(5))")
        let during = writer.latencies(from: snapshotStart, to: snapshotEnd)
        let outside = writer.latencies(from: .distantPast, to: snapshotStart)
        figure("snapshot_seconds", String(format: "%.2f", snapshotEnd.timeIntervalSince(snapshotStart)))
        figure("write_p50_ms_outside_snapshot", ms(percentile(outside, 0.5)))
        figure("write_p50_ms_during_snapshot", ms(percentile(during, 0.5)))
        figure("write_max_ms_during_snapshot", ms(during.max() ?? 0))
        figure("writes_during_snapshot", "\(during.count)")
        if let line = node.log.split(separator: "\n").last(where: { $0.contains("snapshot taken") }) { print("LOG \(line)") }

        let tailRows = max(Self.rowsPerRequest, rows / 10)
        try insertRows(httpPort, from: rows + 1, to: rows + tailRows)
        var acks = acknowledged
        for id in 0..<600 {
            let value = 1_000_000 + id
            _ = try execute(httpPort, "[[\"INSERT INTO acks(id) VALUES(?)\", \(value)]]")
            acks.append(value)
        }
        let allRows = rows + tailRows
        let expected = try digest(httpPort)
        #expect(expected == "{\"results\":[{\"columns\":[\"(SELECT COUNT(*) FROM t)\",\"(SELECT SUM(id) FROM t)\",\"(SELECT COUNT(*) FROM t WHERE payload != replace(hex(zeroblob(500)), '00', printf('%08d', id)))\",\"(SELECT group_concat(id) FROM (SELECT id FROM acks ORDER BY id))\"],\"types\":[\"integer\",\"integer\",\"integer\",\"text\"],\"values\":[[\(allRows),\(allRows * (allRows + 1) / 2),0,\"\(acks.sorted().map(String.init).joined(separator: ","))\"]]}]}", "\(expected)")

        // 3. Crash: SIGKILL, then a restart that rebuilds from the snapshot plus the log.
        node.kill9()
        #expect(!FileManager.default.fileExists(atPath: data + "/raft/clean_shutdown"))
        let (crashReady, crashSeconds): (Bool, Double)
        (storm, crashReady, crashSeconds) = try startUnderStorm(expectedRows: allRows)
        #expect(crashReady, "not ready after a crash: \(node.log)")
        figure("crash_restart_ready_seconds", String(format: "%.2f", crashSeconds))
        // The rebuild's steps with their durations (discard, copy, open, replay).
        for line in node.log.split(separator: "\n") where ["discarded the database files", "copied the snapshot's database",
            "opened the database", "log replayed"].contains(where: { line.contains($0) }) {
            print("LOG \(line)")
        }
        figure("crash_phases_seen", storm.phasesSeen.sorted().joined(separator: ",").replacingOccurrences(of: " ", with: "_"))
        figure("crash_progress_samples", "\(storm.progressSamples)")
        storm.check(label: "crash restart", node: node)
        #expect(node.log.contains("rebuilding it from the snapshot and the log"), "\(node.log)")
        #expect(node.log.contains("restoring the database from snapshot"), "\(node.log)")
        // The storm polls /status continuously: a recovery that lasts seconds cannot go unseen. Shorter
        // ones (small CI sizes on a fast disk) may fall between two polls.
        if storm.recoveringSeconds >= 2 {
            #expect(storm.progressSamples > 0, "recovery took \(storm.recoveringSeconds)s but /status never showed progress")
        }
        #expect(try digest(httpPort) == expected, "rows lost or changed by the crash")
        // The crashed database's files were renamed aside and are deleted in the background.
        #expect(eventually(timeout: 60) {
            !((try? FileManager.default.contentsOfDirectory(atPath: data)) ?? []).contains { $0.hasPrefix("db.sqlite.discarded") }
        }, "\((try? FileManager.default.contentsOfDirectory(atPath: data)) ?? [])")
        #expect(node.stop() == 0)
    }

    func waitForReady(_ port: Int, _ node: RaftliteProcess) -> Bool {
        eventually(timeout: 600, interval: 0.01) {
            guard node.process.isRunning else { return true }  // reported by the caller's expectations
            return try HTTPConnection(port: port, timeout: 30).request("GET", "/readyz").status == 200
        } && node.process.isRunning
    }

    func fileSize(_ path: String) -> Int64 {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : 0
    }

    func fileInode(_ path: String) -> UInt64 {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : 0
    }

    func ms(_ seconds: Double) -> String { String(format: "%.1f", seconds * 1000) }

    func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
    }
}

/// A writer issuing one single-row INSERT after another, recording each latency and acknowledged id.
final class LatencyWriter: @unchecked Sendable {
    let port: Int
    private let state = Mutex<(running: Bool, samples: [(Date, Double)], acked: [Int], failures: [String])>((true, [], [], []))
    private let done = DispatchSemaphore(value: 0)

    init(port: Int) { self.port = port }

    func start() {
        Thread.detachNewThread { [self] in
            var id = 1
            while state.withLock({ $0.running }) && id < 1_000_000 {
                let began = Date()
                do {
                    let r = try HTTPConnection(port: port, timeout: 120).request(
                        "POST", "/db/execute", headers: [("Content-Type", "application/json")],
                        body: Array("[[\"INSERT INTO acks(id) VALUES(?)\", \(id)]]".utf8))
                    let latency = Date().timeIntervalSince(began)
                    state.withLock {
                        if r.status == 200 && r.text.contains("\"rows_affected\":1") {
                            $0.samples.append((began, latency))
                            $0.acked.append(id)
                        } else {
                            $0.failures.append("\(r.status) \(r.text)")
                        }
                    }
                } catch {
                    state.withLock { $0.failures.append("\(error)") }
                }
                id += 1
            }
            done.signal()
        }
    }

    var count: Int { state.withLock { $0.samples.count } }
    var failures: [String] { state.withLock { $0.failures } }

    /// Stops the writer; returns the acknowledged ids.
    func stop() -> [Int] {
        state.withLock { $0.running = false }
        done.wait()
        return state.withLock { $0.acked }
    }

    /// Latencies of writes that started in `[from, to)`, or were in flight at `from`.
    func latencies(from: Date, to: Date) -> [Double] {
        state.withLock { s in
            s.samples.filter { ($0.0 >= from && $0.0 < to) || ($0.0 < from && $0.0.addingTimeInterval($0.1) > from) }.map { $0.1 }
        }
    }
}

/// Four threads hammering the status endpoints and queries of one port, checking every answer.
struct Storm {
    let port: Int
    let expectedRows: Int
    private let shared = StormState()
    private let threads = 4

    init(port: Int, expectedRows: Int) {
        self.port = port
        self.expectedRows = expectedRows
    }

    static let countQuery = "/db/query?q=" + percentEncode("SELECT COUNT(*) FROM t")
    static let targets = [
        "/status", "/nodes", "/readyz", "/leader", countQuery + "&level=none", countQuery, "/status?pretty", "/nodes?ver=2",
    ]

    func start() {
        for t in 0..<threads {
            shared.group.enter()
            Thread.detachNewThread { [shared, port, expectedRows] in
                var i = t
                var listening = false
                while !shared.stopping {
                    let target = Self.targets[i % Self.targets.count]
                    i += 1
                    let response: RawHTTPResponse
                    do {
                        response = try HTTPConnection(port: port, timeout: 30).request("GET", target)
                    } catch HTTPClientError.connect(let message) where !listening && message.contains("refused") {
                        shared.record { $0.refused += 1 }
                        Thread.sleep(forTimeInterval: 0.002)
                        continue
                    } catch {
                        shared.record { $0.failures.append("\(target): \(error)") }
                        continue
                    }
                    listening = true
                    let problem = Self.check(target, response, expectedRows: expectedRows, shared: shared)
                    shared.record {
                        $0.answers += 1
                        if let problem { $0.failures.append("\(target): \(problem)") }
                    }
                }
                shared.group.leave()
            }
        }
    }

    /// Lets the storm go on for 400 more answers once the node is ready (or gave up), then stops it.
    func finish(afterReady ready: Bool) {
        if ready {
            shared.record { $0.readyAt = Date() }
            let answers = shared.snapshot.answers
            _ = eventually(timeout: 60) { shared.snapshot.answers >= answers + 400 }
        }
        shared.record { $0.stopping = true }
        shared.group.wait()
    }

    var phasesSeen: Set<String> { shared.snapshot.phases }
    var progressSamples: Int { shared.snapshot.progress }
    /// Time between the first and the last /status answer in a recovering phase.
    var recoveringSeconds: Double {
        let s = shared.snapshot
        guard let a = s.firstRecovering, let b = s.lastRecovering else { return 0 }
        return b.timeIntervalSince(a)
    }

    func check(label: String, node: RaftliteProcess) {
        let s = shared.snapshot
        print("STORM \(label): \(s.answers) answers, \(s.refused) refused before listening, phases \(s.phases.sorted()), "
            + "\(s.progress) with progress, \(s.failures.count) problems")
        #expect(s.failures.isEmpty, "\(label): \(s.failures.count) bad answers, e.g. \(s.failures.prefix(8))")
        #expect(s.answers > 0, "\(label): no answers at all")
        #expect(node.process.isRunning, "\(label): the node died: \(node.log)")
        #expect(!node.log.contains("Fatal error"), "\(label): \(node.log)")
    }

    static let phases: Set<String> = [
        "starting", "opening", "restoring snapshot", "replaying log", "joining", "waiting for peers", "ready",
    ]

    /// nil when the answer is well-formed and allowed; else what is wrong with it.
    static func check(_ target: String, _ r: RawHTTPResponse, expectedRows: Int, shared: StormState) -> String? {
        let contentType = r.header("content-type") ?? ""
        func json() -> JSONValue? {
            guard contentType.hasPrefix("application/json") else { return nil }
            return try? JSONValue.parse(r.body)
        }
        func text(_ allowed: [String]) -> String? {
            allowed.contains(r.text) ? nil : "\(r.status) \(contentType) \(r.text.prefix(200))"
        }
        let path = String(target.prefix { $0 != "?" })
        switch path {
        case "/status":
            guard r.status == 200, let doc = json(), case .string(let phase)? = doc["node"]?["phase"] else {
                return "\(r.status) \(r.text.prefix(200))"
            }
            guard phases.contains(phase) else { return "unknown phase \(phase)" }
            let recovering = phase == "opening" || phase == "restoring snapshot" || phase == "replaying log"
            if recovering { shared.record { s in
                if s.firstRecovering == nil { s.firstRecovering = Date() }
                s.lastRecovering = Date()
            } }
            if let progress = doc["node"]?["progress"] {
                guard case .integer(let done)? = progress["done"], case .integer(let total)? = progress["total"],
                    case .string? = progress["label"], 0 <= done, done <= total
                else { return "malformed progress \(r.text.prefix(300))" }
                shared.record { $0.progress += 1 }
            }
            guard case .object? = doc["store"] else { return "no store section" }
            shared.record { $0.phases.insert(phase) }
            return nil
        case "/nodes":
            if r.status == 200 { return json() == nil ? "not JSON: \(r.text.prefix(200))" : nil }
            return r.status == 503 ? text(["store nodes: store not open\n", "leader not found\n"]) : "\(r.status) \(r.text)"
        case "/leader":
            if r.status == 200 {
                guard let doc = json(), case .string? = doc["addr"] else { return "not a node: \(r.text.prefix(200))" }
                return nil
            }
            return r.status == 503 ? text(["leader not found\n"]) : "\(r.status) \(r.text)"
        case "/readyz":
            guard r.status == 200 || r.status == 503, contentType.hasPrefix("text/plain") else { return "\(r.status) \(contentType)" }
            let lines = r.text.split(separator: "\n", omittingEmptySubsequences: false)
            guard lines.first == "[+]node ok", lines.allSatisfy({ $0.hasPrefix("[+]") }) else { return "malformed: \(r.text)" }
            if r.status == 200 && !r.text.hasSuffix("[+]db ok") { return "200 without db ok: \(r.text)" }
            return nil
        case "/db/query":
            let levelNone = target.contains("level=none")
            if r.status == 503 && !levelNone { return text(["leader not found\n"]) }
            guard r.status == 200, let doc = json(), case .array(let results)? = doc["results"] else {
                return "\(r.status) \(r.text.prefix(200))"
            }
            if let error = doc["error"] {
                return error == .string("store not ready") && results.isEmpty ? nil : "unexpected error \(r.text.prefix(200))"
            }
            guard results.count == 1, case .array(let values)? = results[0]["values"], case .array(let row)? = values.first,
                case .integer(let count)? = row.first
            else { return "no count: \(r.text.prefix(300))" }
            // Level none may read a consistent prefix while the log replays; the default level reads the
            // leader once the node is no longer recovering, which has every row.
            if count > expectedRows || (!levelNone && count != expectedRows) { return "count \(count), expected \(expectedRows)" }
            return nil
        default:
            return "unexpected target"
        }
    }
}

final class StormState: @unchecked Sendable {
    struct Counters {
        var stopping = false
        var readyAt: Date?
        var answers = 0
        var refused = 0
        var progress = 0
        var phases: Set<String> = []
        var failures: [String] = []
        var firstRecovering: Date?
        var lastRecovering: Date?
    }
    private let state = Mutex(Counters())
    let group = DispatchGroup()

    func record(_ change: (inout Counters) -> Void) { state.withLock { change(&$0) } }
    var snapshot: Counters { state.withLock { $0 } }
    var stopping: Bool { snapshot.stopping }
}
