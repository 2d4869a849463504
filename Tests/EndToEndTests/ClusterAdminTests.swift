import Foundation
import Testing
import TestSupport

/// Membership and leadership operations on a real cluster: read replicas, stepdown, removal.
@Suite(.serialized) struct ClusterAdminTests {
    func leaderID(_ port: Int) throws -> String {
        try HTTP.get(port, "/status?key=store.leader.node_id").text.trimmingCharacters(in: CharacterSet(charactersIn: "\"\n"))
    }

    @Test func readReplicaJoinsAsNonVoterAndServesAutoReadsLocally() throws {
        let cluster = try RaftliteCluster(count: 3)
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady())
        let replicaDir = cluster.directory + "/replica"
        let replica = try RaftliteProcess(
            dataDirectory: replicaDir, nodeID: "r1",
            extraArguments: ["-raft-non-voter", "-join", "127.0.0.1:\(cluster.raftPorts[0])", "-raft-heartbeat-timeout", "500ms"])
        defer { replica.stop() }
        #expect(replica.waitUntilReady(), "\(replica.log)")
        let leader = try #require(cluster.leader())
        _ = try HTTP.post(cluster.httpPorts[leader], "/db/execute", json: #"["CREATE TABLE t (v)", "INSERT INTO t VALUES(3)"]"#)
        // `auto` is `none` on a read replica: answered from its own copy.
        #expect(eventually(timeout: 10) {
            try HTTP.get(replica.httpPort, "/db/query?level=auto&q=SELECT%20v%20FROM%20t").text.contains("[[3]]")
        })
        let voters = try HTTP.get(cluster.httpPorts[0], "/nodes?ver=2").text
        #expect(!voters.contains(#""id":"r1""#), "non-voters are hidden without ?nonvoters: \(voters)")
        let all = try HTTP.get(cluster.httpPorts[0], "/nodes?ver=2&nonvoters").text
        #expect(all.contains(#""id":"r1""#) && all.contains(#""voter":false"#), "\(all)")

        // Removal through a follower is forwarded to the leader.
        let follower = (leader + 1) % 3
        let r = try HTTP.request(cluster.httpPorts[follower], "DELETE", "/remove", body: Array(#"{"id":"r1"}"#.utf8))
        #expect(r.status == 200, "\(r.status) \(r.text)")
        #expect(eventually(timeout: 10) { !(try HTTP.get(cluster.httpPorts[0], "/nodes?ver=2&nonvoters").text.contains("r1")) })
        #expect(try HTTP.request(cluster.httpPorts[0], "DELETE", "/remove", body: Array(#"{"nope":1}"#.utf8)).status == 400)
    }

    @Test func stepdownMovesLeadershipAndReportsRqliteErrors() throws {
        let cluster = try RaftliteCluster(count: 3)
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady())
        let leader = try #require(cluster.leader())
        let current = String(leader + 1)
        let follower = (leader + 1) % 3
        var r = try HTTP.request(
            cluster.httpPorts[follower], "POST", "/leader?wait", headers: [("Content-Type", "application/json")],
            body: Array("{\"id\":\"\(current)\"}".utf8))
        #expect(r.status == 500 && r.text == "stepdown: cannot step down to the current Leader\n", "\(r.status) \(r.text)")
        r = try HTTP.request(
            cluster.httpPorts[follower], "POST", "/leader?wait", headers: [("Content-Type", "application/json")],
            body: Array(#"{"id":"99"}"#.utf8))
        #expect(r.status == 500 && r.text == "stepdown: node not found in cluster\n", "\(r.status) \(r.text)")
        let target = String(follower + 1)
        r = try HTTP.request(
            cluster.httpPorts[leader], "POST", "/leader?wait", headers: [("Content-Type", "application/json")],
            body: Array("{\"id\":\"\(target)\"}".utf8))
        #expect(r.status == 200, "\(r.status) \(r.text)")
        #expect(eventually(timeout: 10) { try leaderID(cluster.httpPorts[0]) == target })
    }

    @Test func gracefulShutdownOfTheLeaderHandsOverLeadership() throws {
        let cluster = try RaftliteCluster(count: 3)
        defer { cluster.stopAll() }
        #expect(cluster.waitUntilReady())
        let leader = try #require(cluster.leader())
        cluster.stop(leader)
        // With -raft-shutdown-stepdown (default) a successor is in place by the time the old leader exits.
        let survivor = cluster.running[0]
        #expect(eventually(timeout: 3) {
            let id = try leaderID(cluster.httpPorts[survivor])
            return !id.isEmpty && id != String(leader + 1)
        })
    }
}
