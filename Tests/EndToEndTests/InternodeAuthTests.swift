import Foundation
import Testing
import TestSupport

/// Internode authentication (REFERENCE §6, §9.3) with real raftlited processes on 127.0.0.1: join and
/// forwarded requests carry credentials, and the receiving node checks them with its own `-auth` store.
/// Serialized: several processes each, and elections are timing-sensitive.
@Suite(.serialized) struct InternodeAuthTests {
    static let fast = ["-raft-heartbeat-timeout", "500ms", "-raft-election-timeout", "500ms"]
    /// Small join budget, so a refused joiner gives up (and exits, as rqlite does) quickly.
    static let quickJoin = ["-join-attempts", "2", "-join-interval", "200ms"]

    /// `*` may only read status and readiness: every join and write needs a named user.
    static let leaderUsers = """
        [
          {"username": "admin", "password": "pw-admin", "perms": ["all"]},
          {"username": "joiner", "password": "pw-join", "perms": ["join"]},
          {"username": "replica", "password": "pw-replica", "perms": ["join-read-only"]},
          {"username": "writer", "password": "pw-writer", "perms": ["execute", "query"]},
          {"username": "*", "password": "", "perms": ["status", "ready"]}
        ]
        """

    func writeFile(_ directory: String, _ name: String, _ text: String) -> String {
        let path = directory + "/" + name
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }

    func basic(_ user: String, _ password: String) -> (String, String) {
        ("Authorization", "Basic " + Data("\(user):\(password)".utf8).base64EncodedString())
    }

    func execute(_ port: Int, _ json: String, _ headers: [(String, String)]) throws -> RawHTTPResponse {
        try HTTP.post(port, "/db/execute", json: json, headers: headers)
    }

    /// Starts the first node, alone, and waits for it to lead.
    func startLeader(_ directory: String, auth: String) throws -> RaftliteProcess {
        let leader = try RaftliteProcess(
            dataDirectory: directory + "/node1", nodeID: "1", extraArguments: Self.fast + ["-auth", auth])
        #expect(leader.waitUntilReady(), "leader never became ready:\n\(leader.log)")
        return leader
    }

    func joiner(
        _ directory: String, id: String, leader: RaftliteProcess, auth: String, _ extra: [String]
    ) throws -> RaftliteProcess {
        try RaftliteProcess(
            dataDirectory: directory + "/node\(id)", nodeID: id,
            extraArguments: Self.fast + Self.quickJoin + ["-auth", auth, "-join", "127.0.0.1:\(leader.raftPort)"] + extra)
    }

    /// The members the leader's `/nodes?nonvoters` lists, by ID.
    func members(_ leader: RaftliteProcess) throws -> String {
        try HTTP.get(leader.httpPort, "/nodes?nonvoters&ver=2").text
    }

    @Test func joinAsNeedsAnAuthFileNamingTheUser() throws {
        let directory = makeTemporaryDirectory("raftlite-internode-auth")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let withoutAuth = try runRaftlited(["-join-as", "joiner", "-join", "127.0.0.1:1", directory + "/a"])
        #expect(withoutAuth.status == 1)
        #expect(withoutAuth.output.contains("-join-as requires -auth"), "\(withoutAuth.output)")
        let auth = writeFile(directory, "auth.json", Self.leaderUsers)
        let unknown = try runRaftlited(["-auth", auth, "-join-as", "nobody", "-join", "127.0.0.1:1", directory + "/b"])
        #expect(unknown.status == 1)
        #expect(unknown.output.contains("user nobody not found in auth file"), "\(unknown.output)")
        #expect(!unknown.output.contains("not supported yet"))
    }

    @Test func joinNeedsCredentialsWithTheRightPermission() throws {
        let directory = makeTemporaryDirectory("raftlite-internode-auth")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let auth = writeFile(directory, "auth.json", Self.leaderUsers)
        let leader = try startLeader(directory, auth: auth)
        defer { leader.stop() }

        // Anonymous: refused with `unauthorized`; the joiner gives up after its attempts and exits.
        let anonymous = try joiner(directory, id: "2", leader: leader, auth: auth, [])
        defer { anonymous.stop() }
        #expect(eventually(timeout: 30) { !anonymous.process.isRunning }, "anonymous joiner still running:\n\(anonymous.log)")
        #expect(anonymous.process.terminationStatus != 0)
        #expect(anonymous.log.contains("unauthorized"), "\(anonymous.log)")
        #expect(anonymous.log.contains("-join-as"), "\(anonymous.log)")

        // `join-read-only` is not enough to join as a voter...
        let replicaAsVoter = try joiner(directory, id: "3", leader: leader, auth: auth, ["-join-as", "replica"])
        defer { replicaAsVoter.stop() }
        #expect(eventually(timeout: 30) { !replicaAsVoter.process.isRunning }, "\(replicaAsVoter.log)")
        #expect(replicaAsVoter.process.terminationStatus != 0)
        #expect(replicaAsVoter.log.contains("unauthorized"), "\(replicaAsVoter.log)")

        // ... plain `join` is not enough to join as a non-voter...
        let joinerAsReplica = try joiner(
            directory, id: "4", leader: leader, auth: auth, ["-join-as", "joiner", "-raft-non-voter"])
        defer { joinerAsReplica.stop() }
        #expect(eventually(timeout: 30) { !joinerAsReplica.process.isRunning }, "\(joinerAsReplica.log)")
        #expect(joinerAsReplica.log.contains("unauthorized"), "\(joinerAsReplica.log)")

        var listed = try members(leader)
        for id in ["2", "3", "4"] { #expect(!listed.contains(#""id":"\#(id)""#), "\(listed)") }

        // ... but each joins in its own role.
        let replica = try joiner(directory, id: "5", leader: leader, auth: auth, ["-join-as", "replica", "-raft-non-voter"])
        defer { replica.stop() }
        let voter = try joiner(directory, id: "6", leader: leader, auth: auth, ["-join-as", "joiner"])
        defer { voter.stop() }
        #expect(replica.waitUntilReady(), "read replica never became ready:\n\(replica.log)")
        #expect(voter.waitUntilReady(), "voter never became ready:\n\(voter.log)")
        #expect(eventually(timeout: 10) {
            listed = try members(leader)
            return listed.contains(#""id":"5""#) && listed.contains(#""id":"6""#)
        }, "\(listed)")
        #expect(listed.range(of: #""id":"5"[^}]*"voter":false"#, options: .regularExpression) != nil, "\(listed)")
        #expect(listed.range(of: #""id":"6"[^}]*"voter":true"#, options: .regularExpression) != nil, "\(listed)")

        // Replication works through the authenticated join: a write on the leader reaches both.
        let admin = [basic("admin", "pw-admin")]
        #expect(try execute(leader.httpPort, #"["CREATE TABLE t (v)", "INSERT INTO t VALUES(1)"]"#, admin).status == 200)
        for node in [replica, voter] {
            #expect(eventually(timeout: 10) {
                try HTTP.get(node.httpPort, "/db/query?level=none&q=SELECT%20v%20FROM%20t", headers: admin).text
                    .contains("[[1]]")
            })
        }
    }

    @Test func bootstrapExpectNotifiesWithTheJoinAsCredentials() throws {
        let directory = makeTemporaryDirectory("raftlite-internode-auth")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let auth = writeFile(directory, "auth.json", Self.leaderUsers)
        let raftPorts = (0..<3).map { _ in freePort() }
        let targets = raftPorts.map { "127.0.0.1:\($0)" }.joined(separator: ",")
        // Notify needs `join`, which `*` lacks: the cluster forms only if every NOTIFY carries credentials.
        var nodes: [RaftliteProcess] = []
        defer { for node in nodes { node.stop() } }
        for i in 0..<3 {
            nodes.append(
                try RaftliteProcess(
                    dataDirectory: directory + "/node\(i + 1)", raftPort: raftPorts[i], nodeID: String(i + 1),
                    extraArguments: Self.fast + [
                        "-auth", auth, "-join-as", "joiner", "-bootstrap-expect", "3", "-join", targets,
                    ]))
        }
        for node in nodes { #expect(node.waitUntilReady(timeout: 40), "never ready:\n\(node.log)") }
        let listed = try members(nodes[0])
        #expect(listed.components(separatedBy: #""voter":true"#).count == 4, "\(listed)")
    }

    @Test func forwardedRequestsCarryTheClientsCredentialsAndTheLeaderChecksThem() throws {
        let directory = makeTemporaryDirectory("raftlite-internode-auth")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let leaderAuth = writeFile(directory, "leader-auth.json", Self.leaderUsers)
        // The follower's own file also grants `local` execute; the leader's does not know that user, so
        // the follower lets the request through and only the leader's re-check can refuse it.
        let followerAuth = writeFile(
            directory, "follower-auth.json",
            """
            [
              {"username": "joiner", "password": "pw-join", "perms": ["join"]},
              {"username": "admin", "password": "pw-admin", "perms": ["all"]},
              {"username": "writer", "password": "pw-writer", "perms": ["execute", "query"]},
              {"username": "local", "password": "pw-local", "perms": ["execute", "query", "load", "remove", "leader-ops"]},
              {"username": "*", "password": "", "perms": ["status", "ready"]}
            ]
            """)
        let leader = try startLeader(directory, auth: leaderAuth)
        defer { leader.stop() }
        let follower = try joiner(directory, id: "2", leader: leader, auth: followerAuth, ["-join-as", "joiner"])
        defer { follower.stop() }
        #expect(follower.waitUntilReady(), "follower never became ready:\n\(follower.log)")

        let writer = [basic("writer", "pw-writer")]
        #expect(try execute(leader.httpPort, #"["CREATE TABLE t (v)"]"#, writer).status == 200)
        let count = "/db/query?level=strong&q=" + percentEncode("SELECT COUNT(*) FROM t")

        // Valid credentials on both nodes: forwarded and applied.
        let ok = try execute(follower.httpPort, #"["INSERT INTO t VALUES(1)"]"#, writer)
        #expect(ok.status == 200 && ok.text.contains(#""rows_affected":1"#), "\(ok.status) \(ok.text)")
        let strongRead = try HTTP.get(follower.httpPort, count, headers: writer)
        #expect(strongRead.text.contains("[[1]]"), "forwarded strong read: \(strongRead.text)")

        // Missing or wrong credentials: refused by the follower itself (401, empty body).
        #expect(try execute(follower.httpPort, #"["INSERT INTO t VALUES(2)"]"#, []).status == 401)
        #expect(try execute(follower.httpPort, #"["INSERT INTO t VALUES(3)"]"#, [basic("writer", "wrong")]).status == 401)

        // Accepted by the follower, refused by the leader: 401 `unauthorized`, nothing written.
        let local = [basic("local", "pw-local")]
        let refused = try execute(follower.httpPort, #"["INSERT INTO t VALUES(4)"]"#, local)
        #expect(refused.status == 401, "\(refused.status) \(refused.text)")
        #expect(refused.text == "unauthorized\n", "\(refused.text)")
        let refusedRequest = try HTTP.post(follower.httpPort, "/db/request", json: #"["INSERT INTO t VALUES(5)"]"#, headers: local)
        #expect(refusedRequest.status == 401, "\(refusedRequest.status) \(refusedRequest.text)")
        let refusedRead = try HTTP.get(follower.httpPort, count, headers: local)
        #expect(refusedRead.status == 401, "\(refusedRead.status) \(refusedRead.text)")

        // The same for a database image loaded, a node removed, a stepdown: each forwarded, each refused.
        let admin = [basic("admin", "pw-admin")]
        let image = try HTTP.get(leader.httpPort, "/db/backup", headers: admin)
        #expect(image.status == 200 && image.body.count > 100)
        let refusedLoad = try HTTP.request(
            follower.httpPort, "POST", "/db/load", headers: local + [("Content-Type", "application/octet-stream")], body: image.body)
        #expect(refusedLoad.status == 401, "\(refusedLoad.status) \(refusedLoad.text)")
        let refusedRemove = try HTTP.request(follower.httpPort, "DELETE", "/remove", headers: local, body: Array(#"{"id":"1"}"#.utf8))
        #expect(refusedRemove.status == 401, "\(refusedRemove.status) \(refusedRemove.text)")
        let refusedStepdown = try HTTP.request(follower.httpPort, "POST", "/leader?wait", headers: local)
        #expect(refusedStepdown.status == 401, "\(refusedStepdown.status) \(refusedStepdown.text)")
        #expect(try members(leader).contains(#""id":"1""#))
        #expect(try HTTP.get(leader.httpPort, "/status?key=store.raft.state").text.contains("Leader"))
        // Allowed on both: the removal of a node that is not a member is forwarded and accepted.
        let removed = try HTTP.request(follower.httpPort, "DELETE", "/remove", headers: admin, body: Array(#"{"id":"9"}"#.utf8))
        #expect(removed.status == 200, "\(removed.status) \(removed.text)")

        let after = try HTTP.get(leader.httpPort, count, headers: writer).text
        #expect(after.contains("[[1]]"), "only the authorised write applied: \(after)")
        // The follower's copy holds the same single row.
        #expect(eventually(timeout: 10) {
            try HTTP.get(follower.httpPort, "/db/query?level=none&q=" + percentEncode("SELECT COUNT(*) FROM t"), headers: writer)
                .text.contains("[[1]]")
        })

        // Queued writes on the follower carry their client's credentials to the leader: an authorised
        // batch is written; a batch the leader refuses is dropped (401 with `wait`) without holding up
        // the batches behind it.
        let queued = try HTTP.post(follower.httpPort, "/db/execute?queue&wait", json: #"["INSERT INTO t VALUES(6)"]"#, headers: writer)
        #expect(queued.status == 200 && queued.text.contains("sequence_number"), "\(queued.status) \(queued.text)")
        let refusedQueued = try HTTP.post(follower.httpPort, "/db/execute?queue&wait", json: #"["INSERT INTO t VALUES(7)"]"#, headers: local)
        #expect(refusedQueued.status == 401 && refusedQueued.text == "unauthorized\n", "\(refusedQueued.status) \(refusedQueued.text)")
        let queuedAgain = try HTTP.post(follower.httpPort, "/db/execute?queue&wait", json: #"["INSERT INTO t VALUES(8)"]"#, headers: writer)
        #expect(queuedAgain.status == 200, "\(queuedAgain.status) \(queuedAgain.text)")
        let values = try HTTP.get(leader.httpPort, "/db/query?level=strong&q=" + percentEncode("SELECT v FROM t ORDER BY v"), headers: writer).text
        #expect(values.contains("[[1],[6],[8]]"), "queued writes: \(values)")
    }
}
