import API
import Command
import Foundation
import RaftCore
import SQLiteDB
import Synchronization

extension Node: DatabaseService {
    public func execute(_ request: ExecuteRequest, completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void) {
        let batch = StatementBatch(
            statements: request.statements, transaction: request.transaction, timings: request.timings,
            timeout: request.dbTimeout ?? 0)
        routeWrite(
            .execute(batch), forward: FrameType.forwardExecute, level: .strong, request.redirect, request.timeout,
            credentials: request.credentials, completion)
    }

    public func query(_ request: QueryRequest, completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void) {
        let view = raft
        let level = resolved(request.level, view)
        let batch = batch(of: request)
        if notReadyWhileRecovering(level, completion) { return }
        if level != .none, let reason = view.fatalError {
            // A fail-stopped node is out of the cluster: it can still serve its own (consistent) data, but
            // it cannot tell whether it is current.
            return completion(.failure(.message(RaftWorker.storageFailureText(reason))))
        }
        switch level {
        case .none:
            if let freshness = request.freshness, view.role != .leader {
                guard let contact = view.lastLeaderContact, Date().timeIntervalSince(contact) <= freshness else {
                    completion(.failure(.message("stale read")))
                    return
                }
            }
            readLocally(request, completion)
        case .weak, .auto:
            guard view.role == .leader else {
                return notLeader(FrameType.forwardQuery, .query(batch), level: request.level, request, completion)
            }
            readLocally(request, completion)
        case .strong:
            routeWrite(
                .query(batch), forward: FrameType.forwardQuery, level: request.level, request.redirect, request.timeout,
                credentials: request.credentials, completion)
        case .linearizable:
            guard view.role == .leader else {
                return notLeader(FrameType.forwardQuery, .query(batch), level: request.level, request, completion)
            }
            let once = Once(completion)
            armTimeout(once, seconds: request.linearizableTimeout ?? 10) { "timeout waiting for linearizable read" }
            onWorker(orElse: { once.fire(.failure(.message("store not open"))) }) { [self] worker in
                worker.readIndex { result in
                    switch result {
                    case .success: self.readLocally(request) { once.fire($0) }
                    case .failure(let error): once.fire(.failure(error))
                    }
                }
            }
        }
    }

    public func request(_ request: QueryRequest, completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void) {
        let view = raft
        let level = resolved(request.level, view)
        let batch = batch(of: request)
        if notReadyWhileRecovering(level, completion) { return }
        if level == .strong {
            return routeWrite(
                .request(batch), forward: FrameType.forwardRequest, level: .strong, request.redirect, request.timeout,
                credentials: request.credentials, completion)
        }
        // Classify on a reader: all read-only ⇒ a read at the requested level; any write ⇒ through Raft.
        // Statements that fail to prepare count as writes, so the leader reports their errors.
        submitRead(completion) { [self] connection in
            if request.statements.allSatisfy({ (try? connection.isReadOnly($0.sql)) ?? false }) {
                query(request, completion: completion)
            } else {
                routeWrite(
                    .request(batch), forward: FrameType.forwardRequest, level: .strong, request.redirect, request.timeout,
                    credentials: request.credentials, completion)
            }
        }
    }

    /// While the node recovers, only level `none` reads are served, and only once the database is open
    /// (it then holds a consistent prefix of the log, which is all level `none` promises). Everything else
    /// answers `store not ready`. Returns whether it answered.
    func notReadyWhileRecovering(_ level: ReadLevel, _ completion: Completion) -> Bool {
        let s = status
        guard s.isRecovering, level != .none || !s.storeOpen else { return false }
        completion(.failure(.message("store not ready")))
        return true
    }

    // MARK: Routing

    /// `auto` is `weak` on a voter and `none` on a read replica (REFERENCE §2).
    func resolved(_ level: ReadLevel, _ view: RaftView) -> ReadLevel {
        guard level == .auto else { return level }
        return configuration.nonVoter ? .none : .weak
    }

    func batch(of request: QueryRequest) -> StatementBatch {
        StatementBatch(
            statements: request.statements, transaction: request.transaction, timings: request.timings,
            timeout: request.dbTimeout ?? 0)
    }

    func readLocally(_ request: QueryRequest, _ completion: @escaping Completion) {
        submitRead(completion) { [self] connection in
            let outcome = Result {
                try connection.query(
                    request.statements, transaction: request.transaction, timings: request.timings, timeout: request.dbTimeout)
            }
            update {
                $0.readRequests += 1
                $0.readStatements += UInt64(request.statements.count)
            }
            completion(Self.response(outcome))
        }
    }

    /// Proposes on the leader; elsewhere redirects or forwards to the leader.
    func routeWrite(
        _ command: Command, forward type: UInt8, level: ReadLevel, _ redirect: Bool, _ timeout: Double,
        gated: Bool = true, credentials: Credentials? = nil, _ completion: @escaping Completion
    ) {
        if gated && (status.restorePending || status.isRecovering) {
            // The auto-restore gate: nothing is written until the backup is in place; nor while the
            // database is being rebuilt.
            return completion(.failure(.message("store not ready")))
        }
        if let reason = raft.fatalError {
            return completion(.failure(.message(RaftWorker.storageFailureText(reason))))
        }
        guard raft.role == .leader else {
            var request = QueryRequest(statements: [])
            request.redirect = redirect
            request.timeout = timeout
            request.credentials = credentials
            return notLeader(type, command, level: level, request, completion)
        }
        let once = Once(completion)
        let statements = command.statementCount
        // A load's commit takes as long as swapping its image in; its outcome is decided by the log, and
        // its waiter still fails if leadership is lost.
        let timeout = command.isLoadCommit ? 0 : configuration.applyTimeout
        onWorker(orElse: { once.fire(.failure(.message("store not open"))) }) { [self] worker in
            worker.propose(command, timeout: timeout) { result in
                switch result {
                case .success(let (results, index)):
                    if command.isWrite {
                        self.update {
                            $0.writeRequests += 1
                            $0.writeStatements += UInt64(statements)
                            $0.lastWriteTime = Date()
                        }
                    }
                    once.fire(.success(DatabaseResponse(results: results, raftIndex: index)))
                case .failure(let error):
                    once.fire(.failure(error))
                }
            }
        }
    }

    /// This node is not the leader: answer `.notLeader` with the leader's API URL (`redirect`), or forward
    /// the request to the leader over the node-to-node transport.
    func notLeader(
        _ type: UInt8, _ command: Command, level: ReadLevel, _ request: QueryRequest, _ completion: @escaping Completion
    ) {
        guard let leader = raft.leaderAddress else {
            completion(.failure(.leaderNotFound))
            return
        }
        if request.redirect {
            fetchNodeMeta(leader, timeout: min(request.timeout, 5)) { meta in
                completion(.failure(.notLeader(leaderAPIURL: meta?.apiURL)))
            }
            return
        }
        var w = RPCWriter()
        w.u8(UInt8(ReadLevel.allCases.firstIndex(of: level) ?? 1))
        w.double(request.freshness ?? 0)
        w.bool(request.freshnessStrict)
        w.double(request.linearizableTimeout ?? 0)
        w.bytes(command.encode())
        // The client's credentials, re-checked by the leader (REFERENCE §6).
        w.credentials(request.credentials)
        transport.call(address: leader, type: type, payload: w.buffer, timeout: request.timeout, retries: 0) { result in
            switch result {
            case .failure(let error):
                completion(.failure(.message("failed to forward to leader \(leader): \(error)")))
            case .success(let bytes):
                switch try? RPCResponse.decode(bytes) {
                case .ok(let body)?:
                    guard let (results, index) = try? ResultsCodec.decode(body) else {
                        return completion(.failure(.message("malformed response from leader")))
                    }
                    var response = DatabaseResponse(results: results, raftIndex: index)
                    response.servedBy = leader
                    completion(.success(response))
                case .error(let message)?:
                    completion(.failure(message == "leader not found" ? .leaderNotFound : .message(message)))
                case .notLeader?:
                    completion(.failure(.leaderNotFound))
                case nil:
                    completion(.failure(.message("malformed response from leader")))
                }
            }
        }
    }

    /// A forwarded request arriving at this node (as the leader).
    func serveForwarded(payload: [UInt8], respond: @escaping @Sendable ([UInt8]) -> Void) {
        var r = RPCReader(payload)
        guard let levelRaw = try? r.u8(), let freshness = try? r.double(), let strict = try? r.bool(),
            let linearizable = try? r.double(), let commandBytes = try? r.bytes(),
            let command = try? Command.decode(commandBytes), let credentials = try? r.credentials()
        else {
            return respond(RPCResponse.error("malformed forwarded request").encoded)
        }
        // The leader checks the client's credentials again, with its own store: execute → `execute`,
        // query → `query`, request → both, a load (whole or each step of a chunked one) → `load`
        // (REFERENCE §6).
        let needed: [AuthStore.Permission]
        switch command {
        case .execute: needed = [.execute]
        case .query: needed = [.query]
        case .request: needed = [.query, .execute]
        case .load, .loadBegin, .loadChunk, .loadCommit, .loadAbort: needed = [.load]
        default: needed = []
        }
        guard needed.allSatisfy({ permits(credentials, $0) }) else { return respond(RPCResponse.unauthorized.encoded) }
        let reply: Completion = { result in
            switch result {
            case .success(let response):
                respond(RPCResponse.ok(ResultsCodec.encode(response.results, raftIndex: response.raftIndex)).encoded)
            case .failure(.notLeader), .failure(.leaderNotFound):
                respond(RPCResponse.notLeader(leaderRaftAddress: self.raft.leaderAddress ?? "").encoded)
            case .failure(.message(let message)):
                respond(RPCResponse.error(message).encoded)
            }
        }
        let level = Int(levelRaw) < ReadLevel.allCases.count ? ReadLevel.allCases[Int(levelRaw)] : .weak
        switch command {
        case .execute(let batch):
            var request = ExecuteRequest(statements: batch.statements, transaction: batch.transaction, timings: batch.timings)
            request.dbTimeout = batch.timeout > 0 ? batch.timeout : nil
            request.redirect = true
            execute(request, completion: reply)
        case .query(let batch), .request(let batch):
            var request = QueryRequest(
                statements: batch.statements, transaction: batch.transaction, timings: batch.timings, level: level,
                freshness: freshness > 0 ? freshness : nil, freshnessStrict: strict,
                dbTimeout: batch.timeout > 0 ? batch.timeout : nil, linearizableTimeout: linearizable > 0 ? linearizable : nil)
            request.redirect = true
            // The command says what it is; the frame type only routed it here.
            if case .request = command { self.request(request, completion: reply) } else { query(request, completion: reply) }
        case .load(let image):
            load(image: image, redirect: true, timeout: 60, completion: reply)
        case .loadBegin, .loadChunk, .loadCommit, .loadAbort:
            // One step of a chunked load driven by a follower.
            routeWrite(command, forward: FrameType.forwardExecute, level: .strong, true, 60, reply)
        default:
            respond(RPCResponse.error("unsupported forwarded command").encoded)
        }
    }

    func armTimeout(_ once: Once, seconds: Double, _ message: @escaping @Sendable () -> String) {
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) { once.fire(.failure(.message(message()))) }
    }

    /// A request-level SQLite failure (BEGIN/COMMIT, disk full) fails the whole request, as in rqlite.
    static func response(_ outcome: Result<[StatementResult], any Error>) -> Result<DatabaseResponse, ServiceError> {
        switch outcome {
        case .success(let results): return .success(DatabaseResponse(results: results))
        case .failure(let error as DatabaseError): return .failure(.message(error.message))
        case .failure(let error): return .failure(.message("\(error)"))
        }
    }
}

/// Calls a completion at most once, whichever of the result and the timeout comes first.
final class Once: @unchecked Sendable {
    private let lock = NSLock()
    private var completion: Node.Completion?
    init(_ completion: @escaping Node.Completion) { self.completion = completion }
    func fire(_ result: Result<DatabaseResponse, ServiceError>) {
        lock.lock()
        let c = completion
        completion = nil
        lock.unlock()
        c?(result)
    }
}

extension Command {
    var statementCount: Int {
        switch self {
        case .execute(let b), .query(let b), .request(let b): return b.statements.count
        default: return 0
        }
    }

    var isLoadCommit: Bool {
        if case .loadCommit = self { return true }
        return false
    }

    var isWrite: Bool {
        switch self {
        case .query, .loadBegin, .loadChunk, .loadAbort: return false  // a chunked load counts once, at its commit
        default: return true
        }
    }
}

extension ServiceError {
    /// The message a client or a log line should see.
    var text: String {
        switch self {
        case .message(let m): return m
        case .leaderNotFound: return "leader not found"
        case .notLeader: return "not leader"
        }
    }
}
