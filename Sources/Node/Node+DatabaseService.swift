import API
import SQLiteDB

extension Node: DatabaseService {
    public func execute(_ request: ExecuteRequest, completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void) {
        submitWrite(.execute(request, completion), completion)
    }

    public func query(_ request: QueryRequest, completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void) {
        switch resolved(request.level) {
        case .none, .weak, .auto:
            // This node leads its own single-node cluster: local reads are current, and freshness is
            // ignored on a leader (REFERENCE §2.2).
            submitRead(completion) { [self] connection in
                let outcome = Result {
                    try connection.query(
                        request.statements, transaction: request.transaction, timings: request.timings,
                        timeout: request.dbTimeout)
                }
                countRead(request)
                completion(Node.response(outcome))
            }
        case .strong, .linearizable:
            // Ordered after every write queued before it.
            submitWrite(.query(request, completion), completion)
        }
    }

    public func request(_ request: QueryRequest, completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void) {
        let level = resolved(request.level)
        if level == .strong || level == .linearizable {
            submitWrite(.request(request, completion), completion)
            return
        }
        // Classify on a reader: all read-only ⇒ answer there; any write ⇒ hand to the worker.
        submitRead(completion) { [self] connection in
            // Statements that fail to prepare count as writes, so the worker reports their errors.
            if request.statements.allSatisfy({ (try? connection.isReadOnly($0.sql)) ?? false }) {
                let outcome = Result {
                    try connection.query(
                        request.statements, transaction: request.transaction, timings: request.timings,
                        timeout: request.dbTimeout)
                }
                countRead(request)
                completion(Node.response(outcome))
            } else {
                submitWrite(.request(request, completion), completion)
            }
        }
    }

    /// `auto` is `weak` on a voter; this node is always a voter until clustering adds read replicas.
    private func resolved(_ level: ReadLevel) -> ReadLevel {
        level == .auto ? .weak : level
    }

    private func countRead(_ request: QueryRequest) {
        update {
            $0.readRequests += 1
            $0.readStatements += UInt64(request.statements.count)
        }
    }
}
