import Foundation

/// Several real `raftlited` processes on 127.0.0.1 forming one cluster, for end-to-end tests. Every
/// process is stopped by its PID when the cluster is stopped or deinitialised, and the data removed.
public final class RaftliteCluster {
    public let directory: String
    public private(set) var nodes: [RaftliteProcess?]
    public let httpPorts: [Int]
    public let raftPorts: [Int]
    let extra: [String]
    let bootstrapExpect: Bool

    /// Starts `count` nodes: node 1 alone then the others joining it, or all at once with
    /// `-bootstrap-expect count` when `bootstrapExpect` is set. Timeouts default to fast values.
    public init(
        count: Int, bootstrapExpect: Bool = false,
        extraArguments: [String] = ["-raft-heartbeat-timeout", "500ms", "-raft-election-timeout", "500ms"]
    ) throws {
        directory = makeTemporaryDirectory("raftlite-cluster")
        httpPorts = (0..<count).map { _ in freePort() }
        raftPorts = (0..<count).map { _ in freePort() }
        extra = extraArguments
        self.bootstrapExpect = bootstrapExpect
        nodes = Array(repeating: nil, count: count)
        if bootstrapExpect {
            for i in 0..<count { try start(i) }
        } else {
            try start(0)
            guard nodes[0]!.waitUntilReady() else { throw ClusterError("node 1 never became ready:\n\(nodes[0]!.log)") }
            for i in 1..<count { try start(i) }
        }
    }

    /// Starts (or restarts, on its existing data) node `i` (0-based; its node ID is `i + 1`).
    public func start(_ i: Int) throws {
        var args = extra
        if bootstrapExpect {
            args += ["-bootstrap-expect", String(httpPorts.count), "-join", raftPorts.map { "127.0.0.1:\($0)" }.joined(separator: ",")]
        } else if i > 0 {
            args += ["-join", "127.0.0.1:\(raftPorts[0])"]
        }
        nodes[i] = try RaftliteProcess(
            dataDirectory: "\(directory)/node\(i + 1)", httpPort: httpPorts[i], raftPort: raftPorts[i], nodeID: String(i + 1),
            extraArguments: args)
    }

    public func node(_ i: Int) -> RaftliteProcess { nodes[i]! }

    /// Indices of the nodes currently running.
    public var running: [Int] { nodes.indices.filter { nodes[$0] != nil } }

    /// Waits until every running node answers `/readyz` with 200.
    public func waitUntilReady(timeout: Double = 30) -> Bool {
        eventually(timeout: timeout) {
            try running.allSatisfy { try HTTP.get(httpPorts[$0], "/readyz").status == 200 }
        }
    }

    /// The index of the node that all running nodes agree is the leader, waiting for one.
    public func leader(timeout: Double = 20) -> Int? {
        var found: Int?
        _ = eventually(timeout: timeout) {
            var seen: Set<String> = []
            for i in running {
                let text = try HTTP.get(httpPorts[i], "/status?key=store.leader.node_id").text
                seen.insert(text)
            }
            guard seen.count == 1, let only = seen.first, let id = Int(only.trimmingCharacters(in: CharacterSet(charactersIn: "\"\n"))),
                running.contains(id - 1)
            else { return false }
            found = id - 1
            return true
        }
        return found
    }

    /// SIGKILL a node (a crash); its data stays for a restart.
    public func kill(_ i: Int) {
        nodes[i]?.kill9()
        nodes[i] = nil
    }

    /// Graceful stop (SIGTERM).
    public func stop(_ i: Int) {
        nodes[i]?.stop()
        nodes[i] = nil
    }

    /// The rows of a local (`level=none`) query on node `i`, as JSON text.
    public func localQuery(_ i: Int, _ sql: String) throws -> String {
        try HTTP.get(httpPorts[i], "/db/query?level=none&q=" + percentEncode(sql)).text
    }

    public func stopAll() {
        for i in nodes.indices { stop(i) }
    }

    deinit {
        for i in nodes.indices { nodes[i]?.kill9() }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

public struct ClusterError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

public func percentEncode(_ s: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
}
