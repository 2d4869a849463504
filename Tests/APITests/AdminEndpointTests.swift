import API
import Foundation
import HTTPServer
import JSON
import Testing

final class FakeAdmin: ClusterAdminService, @unchecked Sendable {
    private let lock = NSLock()
    private var _calls: [String] = []
    var removeResult: Result<String?, ServiceError> = .success(nil)
    var stepDownResult: Result<String?, ServiceError> = .success(nil)
    var snapshotResult: Result<SnapshotOutcome, ServiceError> = .success(.created)
    var reapResult: Result<(snapshotsReaped: Int, walsCheckpointed: Int), ServiceError> = .success((2, 3))
    var calls: [String] { lock.withLock { _calls } }
    private func record(_ s: String) { lock.withLock { _calls.append(s) } }

    func removeNode(id: String, redirect: Bool, timeout: Double, credentials: Credentials?,
                    completion: @escaping @Sendable (Result<String?, ServiceError>) -> Void) {
        record("remove \(id) redirect=\(redirect) timeout=\(timeout)")
        completion(removeResult)
    }

    func stepDown(targetID: String?, wait: Bool, redirect: Bool, timeout: Double, credentials: Credentials?,
                  completion: @escaping @Sendable (Result<String?, ServiceError>) -> Void) {
        record("stepdown \(targetID ?? "-") wait=\(wait)")
        completion(stepDownResult)
    }

    func snapshot(trailingLogs: Int?, completion: @escaping @Sendable (Result<SnapshotOutcome, ServiceError>) -> Void) {
        record("snapshot \(trailingLogs.map(String.init) ?? "-")")
        completion(snapshotResult)
    }

    func reap(completion: @escaping @Sendable (Result<(snapshotsReaped: Int, walsCheckpointed: Int), ServiceError>) -> Void) {
        record("reap")
        completion(reapResult)
    }
}

struct AdminHarness {
    let admin = FakeAdmin()
    let node = FakeNode()
    let api: APIHandler

    init() {
        api = APIHandler(
            database: node, status: node, admin: admin,
            configuration: APIConfiguration(advertisedAddress: "localhost:4001", version: "v1", clock: { 0 }))
    }

    func call(_ method: String, _ path: String, query: String = "", headers: [(name: String, value: String)] = [],
              body: String = "") -> HTTPResponse {
        let box = ResponseBox()
        api.handle(HTTPRequest(method: method, path: path, rawQuery: query, headers: headers, body: Array(body.utf8))) {
            box.set($0)
        }
        return box.response!
    }
}

@Suite struct AdminEndpointTests {
    @Test func remove() {
        let h = AdminHarness()
        var r = h.call("DELETE", "/remove", query: "timeout=3s", body: #"{"id":"node2"}"#)
        #expect(r.status == 200 && r.bytes.isEmpty)
        #expect(r.header("X-RQLITE-SERVED-BY") == "localhost:4001")
        #expect(h.admin.calls == ["remove node2 redirect=false timeout=3.0"])
        for bad in ["", "nope", "[]", #"{"id":1}"#, #"{"id":"a","x":"b"}"#, #"{"ID":"a"}"#] {
            r = h.call("DELETE", "/remove", body: bad)
            #expect(r.status == 400 && r.bytes.isEmpty, "\(bad)")
        }
        #expect(h.admin.calls.count == 1)
        h.admin.removeResult = .failure(.notLeader(leaderAPIURL: "http://l:4001"))
        r = h.call("DELETE", "/remove", query: "redirect", body: #"{"id":"n"}"#)
        #expect(r.status == 301 && r.header("Location") == "http://l:4001/remove?redirect")
        h.admin.removeResult = .failure(.message("node not found"))
        r = h.call("DELETE", "/remove", body: #"{"id":"n"}"#)
        #expect(r.status == 500 && r.text == "node not found\n")
        h.admin.removeResult = .success("leader:4002")
        #expect(h.call("DELETE", "/remove", body: #"{"id":"n"}"#).header("X-RQLITE-SERVED-BY") == "leader:4002")
    }

    @Test func stepDown() {
        let h = AdminHarness()
        var r = h.call("POST", "/leader", query: "wait", headers: [("Content-Type", "application/json")], body: #"{"id":"2"}"#)
        #expect(r.status == 200 && r.bytes.isEmpty)
        // The body is only read for exactly application/json.
        _ = h.call("POST", "/leader", headers: [("Content-Type", "application/json; charset=utf-8")], body: #"{"id":"3"}"#)
        _ = h.call("POST", "/leader")
        #expect(h.admin.calls == ["stepdown 2 wait=true", "stepdown - wait=false", "stepdown - wait=false"])
        r = h.call("POST", "/leader", headers: [("Content-Type", "application/json")], body: "{bad")
        #expect(r.status == 400 && r.text.hasPrefix("invalid JSON: "))
        h.admin.stepDownResult = .failure(.message("stepdown: cannot step down to the current Leader"))
        r = h.call("POST", "/leader")
        #expect(r.status == 500 && r.text == "stepdown: cannot step down to the current Leader\n")
        h.admin.stepDownResult = .failure(.message("store not open"))
        #expect(h.call("POST", "/leader").status == 503)
    }

    @Test func snapshotAndReap() {
        let h = AdminHarness()
        #expect(h.call("POST", "/snapshot", query: "trailing_logs=100").status == 200)
        h.admin.snapshotResult = .success(.nothingToSnapshot)
        #expect(h.call("POST", "/snapshot").status == 204)
        h.admin.snapshotResult = .failure(.message("snapshot failed"))
        let f = h.call("POST", "/snapshot")
        #expect(f.status == 500 && f.text == "snapshot failed\n")
        #expect(h.admin.calls == ["snapshot 100", "snapshot -", "snapshot -"])
        let r = h.call("POST", "/reap")
        #expect(r.status == 200 && r.text == #"{"snapshots_reaped":2,"wals_checkpointed":3}"#)
        #expect(r.header("Content-Type") == "application/json; charset=utf-8")
    }
}
