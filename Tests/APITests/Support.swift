import API
import Foundation
import HTTPServer
import JSON
import SQLiteDB

/// A node double: records what the API asks and answers with canned values, synchronously.
final class FakeNode: DatabaseService, StatusService, @unchecked Sendable {
    private let lock = NSLock()
    private var _executes: [ExecuteRequest] = []
    private var _queries: [QueryRequest] = []
    private var _requests: [QueryRequest] = []

    var executeResult: Result<DatabaseResponse, ServiceError> = .success(DatabaseResponse(results: []))
    var queryResult: Result<DatabaseResponse, ServiceError> = .success(DatabaseResponse(results: []))
    var requestResult: Result<DatabaseResponse, ServiceError> = .success(DatabaseResponse(results: []))
    var sections: [(String, JSONValue)] = []
    var vars: [(String, JSONValue)] = []
    var nodesResult: Result<[NodeInfo], ServiceError> = .success([])
    var leaderResult: Result<NodeInfo, ServiceError> = .failure(.leaderNotFound)
    var ready = Readiness(leaderKnown: true, storeReady: true)
    var syncError: String? = nil
    private var _nodesCalls: [(Bool, Double)] = []

    var executes: [ExecuteRequest] { lock.withLock { _executes } }
    var queries: [QueryRequest] { lock.withLock { _queries } }
    var requests: [QueryRequest] { lock.withLock { _requests } }
    var nodesCalls: [(Bool, Double)] { lock.withLock { _nodesCalls } }

    func execute(_ request: ExecuteRequest, completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void) {
        lock.withLock { _executes.append(request) }
        completion(executeResult)
    }

    func query(_ request: QueryRequest, completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void) {
        lock.withLock { _queries.append(request) }
        completion(queryResult)
    }

    func request(_ request: QueryRequest, completion: @escaping @Sendable (Result<DatabaseResponse, ServiceError>) -> Void) {
        lock.withLock { _requests.append(request) }
        completion(requestResult)
    }

    func statusSections() -> [(String, JSONValue)] { sections }
    func debugVars() -> [(String, JSONValue)] { vars }

    func nodes(includeNonVoters: Bool, timeout: Double, completion: @escaping @Sendable (Result<[NodeInfo], ServiceError>) -> Void) {
        lock.withLock { _nodesCalls.append((includeNonVoters, timeout)) }
        completion(nodesResult)
    }

    func leader(timeout: Double, completion: @escaping @Sendable (Result<NodeInfo, ServiceError>) -> Void) {
        completion(leaderResult)
    }

    func readiness() -> Readiness { ready }

    func waitForSync(timeout: Double, completion: @escaping @Sendable (String?) -> Void) {
        completion(syncError)
    }
}

final class ResponseBox: @unchecked Sendable {
    private let lock = NSLock()
    private var _response: HTTPResponse?
    private var _count = 0
    func set(_ r: HTTPResponse) { lock.withLock { _response = r; _count += 1 } }
    var response: HTTPResponse? { lock.withLock { _response } }
    var count: Int { lock.withLock { _count } }
}

struct Harness {
    let node: FakeNode
    let api: APIHandler

    init(node: FakeNode = FakeNode(), configure: (inout APIConfiguration) -> Void = { _ in }) {
        self.node = node
        var config = APIConfiguration(
            advertisedAddress: "localhost:4001", bindAddress: "[::]:4001", version: "v10.3.0",
            clock: { 0 })
        configure(&config)
        api = APIHandler(node: node, configuration: config)
    }

    func call(
        _ method: String, _ path: String, query: String = "", headers: [(name: String, value: String)] = [],
        body: [UInt8] = []
    ) -> HTTPResponse {
        let box = ResponseBox()
        api.handle(HTTPRequest(method: method, path: path, rawQuery: query, headers: headers, body: body)) {
            box.set($0)
        }
        precondition(box.count == 1, "handler must respond exactly once")
        return box.response!
    }

    func call(_ method: String, _ path: String, query: String = "", headers: [(name: String, value: String)] = [],
              json: String) -> HTTPResponse {
        call(method, path, query: query, headers: [("Content-Type", "application/json")] + headers, body: Array(json.utf8))
    }
}

extension HTTPResponse {
    var text: String {
        if case .bytes(let b) = body { return String(decoding: b, as: UTF8.self) }
        return "<stream>"
    }
    var bytes: [UInt8] {
        if case .bytes(let b) = body { return b }
        return []
    }
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
    func headerCount(_ name: String) -> Int {
        headers.filter { $0.name.lowercased() == name.lowercased() }.count
    }
}

func basic(_ user: String, _ pass: String) -> (name: String, value: String) {
    ("Authorization", "Basic " + Data("\(user):\(pass)".utf8).base64EncodedString())
}
