import API
import Foundation
import HTTPServer
import JSON
import SQLiteDB
import Testing

/// A database whose writes complete when the test says so (or at once with `autoComplete`), failing the
/// first `failures` attempts.
final class GatedDatabase: DatabaseService, @unchecked Sendable {
    private let lock = NSLock()
    private var _executes: [ExecuteRequest] = []
    private var waiting: [@Sendable (Result<DatabaseResponse, ServiceError>) -> Void] = []
    var autoComplete = false
    var failures = 0

    var executes: [ExecuteRequest] { lock.withLock { _executes } }
    var waitingCount: Int { lock.withLock { waiting.count } }

    func execute(_ request: ExecuteRequest, completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void) {
        let now: Result<DatabaseResponse, ServiceError>? = lock.withLock {
            _executes.append(request)
            if failures > 0 {
                failures -= 1
                return .failure(.leaderNotFound)
            }
            if autoComplete { return .success(DatabaseResponse(results: [])) }
            waiting.append(completion)
            return nil
        }
        if let now { completion(now) }
    }

    /// Completes the oldest outstanding write successfully.
    func release() {
        let c = lock.withLock { waiting.isEmpty ? nil : waiting.removeFirst() }
        c?(.success(DatabaseResponse(results: [.error("per-statement errors count as written", time: 0)])))
    }

    func query(_ request: QueryRequest, completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void) {
        completion(.failure(.message("unexpected")))
    }

    func request(_ request: QueryRequest, completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void) {
        completion(.failure(.message("unexpected")))
    }
}

/// Polls until `condition` holds (5 s at most).
func until(_ timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        if Date() > deadline { return false }
        usleep(2_000)
    }
    return true
}

struct QueueHarness {
    let db = GatedDatabase()
    let status = FakeNode()
    let api: APIHandler

    init(configure: (inout APIConfiguration) -> Void = { _ in }) {
        var config = APIConfiguration(advertisedAddress: "localhost:4001", clock: { 0 })
        config.writeQueueSequenceStart = 1000
        config.writeQueueRetryInterval = 0.02
        config.randomSource = { 42 }
        configure(&config)
        api = APIHandler(database: db, status: status, configuration: config)
    }

    /// Sends a request; the response may come later.
    func send(_ query: String, _ json: String, method: String = "POST", path: String = "/db/execute") -> ResponseBox {
        let box = ResponseBox()
        api.handle(
            HTTPRequest(
                method: method, path: path, rawQuery: query, headers: [("Content-Type", "application/json")],
                body: Array(json.utf8))
        ) { box.set($0) }
        return box
    }

    /// Sends a request that must be answered at once.
    func call(_ query: String, _ json: String) -> HTTPResponse {
        let box = send(query, json)
        precondition(box.count == 1, "expected an immediate response")
        return box.response!
    }

    var writtenSequence: String {
        let box = send("key=http.queue._default.sequence_number", "", method: "GET", path: "/status")
        return box.response!.text
    }
}

@Suite struct QueueTests {
    @Test func acceptedAtOnceWithIncreasingSequenceNumbers() {
        let q = QueueHarness()
        let a = q.call("queue", #"["INSERT INTO t VALUES(1)"]"#)
        let b = q.call("queue", #"["INSERT INTO t VALUES(2)"]"#)
        #expect(a.status == 200)
        #expect(a.header("Content-Type") == "application/json; charset=utf-8")
        #expect(a.text == #"{"results":[],"sequence_number":1001}"#)
        #expect(b.text == #"{"results":[],"sequence_number":1002}"#)
    }

    @Test func defaultSequenceStartIsTheStartTimeInNanoseconds() {
        let before = Int64(Date().timeIntervalSince1970 * 1e9)
        let q = QueueHarness { $0.writeQueueSequenceStart = nil }
        let r = q.call("queue", #"["x"]"#)
        let body = try! JSONValue.parse(r.bytes)
        guard case .object(let m) = body, case .integer(let seq)? = m.first(where: { $0.0 == "sequence_number" })?.1 else {
            Issue.record("no sequence number in \(r.text)")
            return
        }
        #expect(seq > before && seq < before + 60_000_000_000)
    }

    @Test func batchBySize() {
        let q = QueueHarness {
            $0.writeQueueBatchSize = 3
            $0.writeQueueTimeout = 30
        }
        q.db.autoComplete = true
        _ = q.call("queue", #"["A", "B"]"#)
        _ = q.call("queue", #"["C"]"#)
        #expect(q.db.executes.isEmpty)
        _ = q.call("queue", #"[["D", 1]]"#)
        #expect(until { q.db.executes.count == 1 })
        let batch = q.db.executes[0]
        #expect(batch.statements.map(\.sql) == ["A", "B", "C", "D"])
        #expect(batch.statements[3].parameters == [Parameter(value: .integer(1))])
        #expect(!batch.transaction)
        #expect(batch.credentials == nil)
        #expect(until { q.writtenSequence == "1003" })
    }

    @Test func batchByTimeoutAndTransaction() {
        let q = QueueHarness {
            $0.writeQueueTimeout = 1  // long enough for both requests to arrive on a loaded machine
            $0.writeQueueTransaction = true
        }
        q.db.autoComplete = true
        let t0 = Date()
        _ = q.call("queue", #"["A"]"#)
        _ = q.call("queue", #"["B"]"#)
        #expect(until { q.db.executes.count == 1 })
        #expect(Date().timeIntervalSince(t0) >= 0.95)
        #expect(q.db.executes[0].statements.map(\.sql) == ["A", "B"])
        #expect(q.db.executes[0].transaction)
        #expect(until { q.writtenSequence == "1002" })
    }

    @Test func waitAnswersOnceTheBatchIsWritten() {
        let q = QueueHarness { $0.writeQueueTimeout = 0.01 }
        #expect(q.writtenSequence == "0")
        let w = q.send("queue&wait", #"["A"]"#)
        #expect(until { q.db.waitingCount == 1 })
        #expect(w.count == 0)
        q.db.release()
        #expect(until { w.count == 1 })
        #expect(w.response!.status == 200)
        #expect(w.response!.text == #"{"results":[],"sequence_number":1001}"#)
        #expect(q.writtenSequence == "1001")
    }

    @Test func waitTimesOutWith408() {
        let q = QueueHarness { $0.writeQueueTimeout = 0.01 }
        let w = q.send("queue&wait&timeout=100ms", #"["A"]"#)
        #expect(until { w.count == 1 })
        #expect(w.response!.status == 408)
        #expect(w.response!.text == "queue wait timeout\n")
        // The write goes on; answering twice would be a bug.
        q.db.release()
        #expect(until { q.writtenSequence == "1001" })
        #expect(w.count == 1)
    }

    @Test func failedBatchesAreRetriedUntilWritten() {
        let q = QueueHarness { $0.writeQueueTimeout = 0.01 }
        q.db.failures = 2
        q.db.autoComplete = true
        let w = q.send("queue&wait", #"["A"]"#)
        #expect(until { w.count == 1 })
        #expect(w.response!.status == 200)
        #expect(q.db.executes.count == 3)
        #expect(q.db.executes.allSatisfy { $0.statements.map(\.sql) == ["A"] })
    }

    @Test func batchesAreWrittenOneAtATimeInOrder() {
        let q = QueueHarness {
            $0.writeQueueBatchSize = 1
            $0.writeQueueTimeout = 0.01
        }
        for k in 1...3 { _ = q.call("queue", "[\"S\(k)\"]") }
        #expect(until { q.db.waitingCount == 1 })
        #expect(q.db.executes.count == 1)
        q.db.release()
        #expect(until { q.db.executes.count == 2 })
        q.db.release()
        #expect(until { q.db.executes.count == 3 })
        q.db.release()
        #expect(until { q.writtenSequence == "1003" })
        #expect(q.db.executes.map { $0.statements[0].sql } == ["S1", "S2", "S3"])
    }

    @Test func aFullQueueHoldsTheResponseUntilThereIsRoom() {
        let q = QueueHarness {
            $0.writeQueueCapacity = 2
            $0.writeQueueBatchSize = 1
            $0.writeQueueTimeout = 0.01
        }
        _ = q.call("queue", #"["S1"]"#)  // taken into the first batch, which hangs
        #expect(until { q.db.waitingCount == 1 })
        _ = q.call("queue", #"["S2"]"#)
        _ = q.call("queue", #"["S3"]"#)
        let held = q.send("queue", #"["S4"]"#)
        #expect(held.count == 0)  // not answered, and the caller was not blocked
        q.db.release()
        #expect(until { held.count == 1 })
        #expect(held.response!.text == #"{"results":[],"sequence_number":1004}"#)
        q.db.autoComplete = true
        q.db.release()
        #expect(until { q.writtenSequence == "1004" })
        #expect(q.db.executes.map { $0.statements[0].sql } == ["S1", "S2", "S3", "S4"])
    }

    @Test func errors() {
        let q = QueueHarness()
        q.status.ready = Readiness(leaderKnown: false, storeReady: true)
        let noLeader = q.call("queue", #"["A"]"#)
        #expect(noLeader.status == 503)
        #expect(noLeader.text == "leader not found\n")
        #expect(q.call("queue&noleader", #"["A"]"#).status == 200)
        q.status.ready = Readiness(leaderKnown: true, storeReady: true)
        let empty = q.call("queue", "[]")
        #expect(empty.status == 400)
        #expect(empty.text == "no statements\n")
        let pragma = q.call("queue", #"["PRAGMA synchronous=OFF"]"#)
        #expect(pragma.text == #"{"results":[],"error":"disallowed pragma"}"#)
        // rqlite's quirk: other parse errors are not reported.
        #expect(q.call("queue", #"{"a":1}"#).text == #"{"results":[],"sequence_number":1002}"#)
    }

    @Test func emptyArrayWithWaitIsAFlushMarker() {
        let q = QueueHarness { $0.writeQueueTimeout = 0.01 }
        _ = q.call("queue", #"["A"]"#)
        let marker = q.send("queue&wait", "[]")
        #expect(until { q.db.waitingCount == 1 })
        #expect(marker.count == 0)
        q.db.release()
        #expect(until { marker.count == 1 })
        #expect(marker.response!.text == #"{"results":[],"sequence_number":1002}"#)
        #expect(q.db.executes.count == 1)
        #expect(q.db.executes[0].statements.map(\.sql) == ["A"])
        // A batch of markers alone does not touch the database.
        let alone = q.send("queue&wait", "[]")
        #expect(until { alone.count == 1 })
        #expect(q.db.executes.count == 1)
    }

    @Test func rewrittenAndNoparseIgnored() {
        let q = QueueHarness {
            $0.writeQueueTimeout = 0.01
            $0.wallClock = { 0 }
        }
        q.db.autoComplete = true
        _ = q.call("queue&noparse", #"["INSERT INTO t VALUES(random(), date('now'))"]"#)
        #expect(until { q.db.executes.count == 1 })
        #expect(q.db.executes[0].statements[0].sql == "INSERT INTO t VALUES(42, date(2440587.500000))")
    }

    @Test func timingsAndPretty() {
        let q = QueueHarness()
        let r = q.call("queue&pretty", #"["A"]"#)
        #expect(r.text == "{\n    \"results\": [],\n    \"sequence_number\": 1001\n}")
    }

    @Test func shutdownWritesWhatIsQueuedThenRefuses() {
        let q = QueueHarness {
            $0.writeQueueBatchSize = 100
            $0.writeQueueTimeout = 60
        }
        q.db.autoComplete = true
        let w = q.send("queue&wait", #"["A"]"#)
        _ = q.call("queue", #"["B"]"#)
        #expect(q.db.executes.isEmpty)
        q.api.shutdown()
        #expect(q.db.executes.count == 1)
        #expect(q.db.executes[0].statements.map(\.sql) == ["A", "B"])
        #expect(w.count == 1 && w.response!.status == 200)
        #expect(q.writtenSequence == "1002")
        let late = q.call("queue", #"["C"]"#)
        #expect(late.status == 503)
    }

    @Test func shutdownGivesUpAfterTheDrainTimeout() {
        let q = QueueHarness {
            $0.writeQueueTimeout = 60
            $0.writeQueueDrainTimeout = 0.1
        }
        q.db.failures = 1_000_000
        let w = q.send("queue&wait", #"["A"]"#)
        q.api.shutdown()
        #expect(until { w.count == 1 })
        #expect(w.response!.status == 503)
        #expect(q.writtenSequence == "0")
    }

    @Test func statusSectionReflectsConfiguration() {
        let q = QueueHarness {
            $0.writeQueueCapacity = 10
            $0.writeQueueBatchSize = 5
            $0.writeQueueTimeout = 0.25
        }
        let box = q.send("key=http.queue", "", method: "GET", path: "/status")
        #expect(box.response!.text == #"{"_default":{"batch_size":5,"max_size":10,"sequence_number":0,"timeout":"250ms"}}"#)
    }
}
