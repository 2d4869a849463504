import API
import Common
import Foundation
import JSON
import Logging
import SQLiteDB
import Synchronization

/// A Raftlite node: the worker thread that owns the SQLite write connection, a pool of read-only
/// connections for reads at levels none and weak, and the status value every handler reads.
///
/// Threading: HTTP threads call the `DatabaseService` methods, which only enqueue work and return; the
/// worker thread or a read-pool thread runs it and calls the completion. No caller ever waits on SQLite.
/// Until clustering arrives this node is the sole voter and leader of its own cluster.
public final class Node: @unchecked Sendable {
    public let configuration: NodeConfiguration
    let logger: Logger
    let published = Mutex(NodeStatus())

    private let writeQueue = JobQueue<WriteJob>()
    private let readQueue = JobQueue<ReadJob>()
    private var threads: [Thread] = []
    private let threadsDone = DispatchGroup()

    public init(configuration: NodeConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// The latest published status.
    public var status: NodeStatus { published.withLock { $0 } }

    func update(_ change: (inout NodeStatus) -> Void) {
        published.withLock { change(&$0) }
    }

    // MARK: Lifecycle

    /// Opens the database on the worker thread, then starts the read pool. Returns once the node serves,
    /// or throws (the status then says why).
    public func open() throws {
        update { $0.phase = .opening }
        try FileManager.default.createDirectory(
            atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        let opened = DispatchSemaphore(value: 0)
        let openError = Mutex<String?>(nil)
        let path = configuration.databasePath
        let fk = configuration.foreignKeys
        startThread(name: "raftlite-worker") { [self] in
            let connection: Connection
            do {
                connection = try Connection.open(path: path, mode: .readWrite, foreignKeys: fk, synchronous: .full)
            } catch {
                openError.withLock { $0 = "\(error)" }
                opened.signal()
                return
            }
            let version = Connection.sqliteVersion
            update { $0.sqliteVersion = version }
            opened.signal()
            runWorker(connection)
        }
        opened.wait()
        if let message = openError.withLock({ $0 }) {
            update {
                $0.phase = .stopped
                $0.phaseDetail = "failed to open database: \(message)"
            }
            throw NodeError.openFailed(message)
        }
        for i in 0..<max(1, configuration.readConnections) {
            let readConnection = try Connection.open(path: path, mode: .readOnly, foreignKeys: fk, synchronous: .off)
            let box = ConnectionBox(readConnection)
            startThread(name: "raftlite-reader-\(i)") { [self] in runReader(box.take()) }
        }
        update {
            $0.storeOpen = true
            $0.phase = .ready
        }
        logger.info("node ready", metadata: ["node.id": "\(configuration.nodeID)", "db.path": "\(path)"])
    }

    /// Stops taking work, finishes what is queued, and closes SQLite cleanly.
    public func shutdown() {
        update { $0.phase = .shuttingDown }
        writeQueue.close()
        readQueue.close()
        threadsDone.wait()
        update {
            $0.phase = .stopped
            $0.storeOpen = false
        }
        logger.info("node stopped")
    }

    private func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
        threadsDone.enter()
        let group = threadsDone
        let thread = Thread {
            body()
            group.leave()
        }
        thread.name = name
        thread.stackSize = 8 << 20
        threads.append(thread)
        thread.start()
    }

    // MARK: Worker and readers

    /// Work for the worker thread, which owns the write connection.
    enum WriteJob {
        case execute(ExecuteRequest, Completion)
        case request(QueryRequest, Completion)
        case query(QueryRequest, Completion)
    }
    typealias Completion = @Sendable (Result<DatabaseResponse, ServiceError>) -> Void
    typealias ReadJob = @Sendable (Connection) -> Void

    private func runWorker(_ connection: Connection) {
        while let batch = writeQueue.takeAll() {
            for job in batch {
                switch job {
                case .execute(let request, let completion):
                    let outcome = Result {
                        try connection.execute(
                            request.statements, transaction: request.transaction, timings: request.timings,
                            timeout: request.dbTimeout)
                    }
                    finishWrite(outcome, statements: request.statements.count, completion)
                case .request(let request, let completion):
                    let outcome = Result {
                        try connection.request(
                            request.statements, transaction: request.transaction, timings: request.timings,
                            timeout: request.dbTimeout)
                    }
                    finishWrite(outcome, statements: request.statements.count, completion)
                case .query(let request, let completion):
                    let outcome = Result {
                        try connection.query(
                            request.statements, transaction: request.transaction, timings: request.timings,
                            timeout: request.dbTimeout)
                    }
                    update {
                        $0.readRequests += 1
                        $0.readStatements += UInt64(request.statements.count)
                        $0.pendingWrites -= 1
                    }
                    completion(Self.response(outcome))
                }
            }
        }
        connection.close()
    }

    private func finishWrite(_ outcome: Result<[StatementResult], any Error>, statements: Int, _ completion: Completion) {
        update {
            $0.writeRequests += 1
            $0.writeStatements += UInt64(statements)
            $0.pendingWrites -= 1
            $0.lastWriteTime = Date()
        }
        completion(Self.response(outcome))
    }

    /// A request-level SQLite failure (BEGIN/COMMIT, disk full) fails the whole request, as in rqlite.
    static func response(_ outcome: Result<[StatementResult], any Error>) -> Result<DatabaseResponse, ServiceError> {
        switch outcome {
        case .success(let results): return .success(DatabaseResponse(results: results))
        case .failure(let error as DatabaseError): return .failure(.message(error.message))
        case .failure(let error): return .failure(.message("\(error)"))
        }
    }

    private func runReader(_ connection: Connection) {
        while let job = readQueue.takeOne() { job(connection) }
        connection.close()
    }

    /// Queues a job for the worker; fails the request at once when the node is not serving.
    func submitWrite(_ job: WriteJob, _ completion: Completion) {
        guard status.storeOpen else {
            completion(.failure(.message("store not open")))
            return
        }
        update { $0.pendingWrites += 1 }
        if !writeQueue.push(job) {
            update { $0.pendingWrites -= 1 }
            completion(.failure(.message("store not open")))
        }
    }

    func submitRead(_ completion: Completion, _ job: @escaping ReadJob) {
        guard status.storeOpen, readQueue.push(job) else {
            completion(.failure(.message("store not open")))
            return
        }
    }
}

/// Errors that stop a node from starting.
public enum NodeError: Error, CustomStringConvertible {
    case openFailed(String)

    public var description: String {
        switch self {
        case .openFailed(let message): return "failed to open database: \(message)"
        }
    }
}

/// Hands a freshly opened connection to the thread that will own it from then on.
final class ConnectionBox: @unchecked Sendable {
    private var connection: Connection?
    init(_ connection: Connection) { self.connection = connection }
    func take() -> Connection {
        defer { connection = nil }
        return connection!
    }
}
