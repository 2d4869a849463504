import API
import HTTPServer
import JSON
import SQLiteDB
import Testing

@Suite struct StatusTests {
    static func harness() -> Harness {
        let h = Harness()
        h.node.sections = [
            ("store", .object([("open", .bool(true)), ("raft", .object([("state", .string("Leader")), ("term", .integer(3))]))])),
            ("build", .object([("version", .string("v10.3.0"))])),
            ("http", .string("ignored: the API owns this section")),
        ]
        return h
    }

    @Test func composesSortedSections() {
        let r = StatusTests.harness().call("GET", "/status")
        #expect(r.status == 200)
        #expect(r.header("Content-Type") == "application/json; charset=utf-8")
        #expect(
            r.text
                == #"{"build":{"version":"v10.3.0"},"http":{"auth":"disabled","bind_addr":"[::]:4001","queue":{"_default":{"batch_size":128,"max_size":1024,"sequence_number":0,"timeout":"50ms"}},"tls":{"enabled":"false"}},"store":{"open":true,"raft":{"state":"Leader","term":3}}}"#
        )
    }

    @Test func httpSectionWithAuthAndOrigin() {
        let h = Harness {
            $0.auth = AuthStore(users: [AuthStore.User(username: "*", password: "", perms: ["all"])])
            $0.allowOrigin = "*"
            $0.extraHTTPStatus = [("cluster", .object([("timeout", .string("30s"))]))]
        }
        #expect(
            h.call("GET", "/status").text
                == #"{"http":{"allow_origin":"*","auth":"enabled","bind_addr":"[::]:4001","cluster":{"timeout":"30s"},"queue":{"_default":{"batch_size":128,"max_size":1024,"sequence_number":0,"timeout":"50ms"}},"tls":{"enabled":"false"}}}"#
        )
    }

    @Test func keySelection() {
        let h = StatusTests.harness()
        #expect(h.call("GET", "/status", query: "key=store.raft.state").text == #""Leader""#)
        #expect(h.call("GET", "/status", query: "key=store.raft").text == #"{"state":"Leader","term":3}"#)
        #expect(h.call("GET", "/status", query: "key=store.nope").text == "{}")
        // A non-object reached before the path ends is returned as is (rqlite's getSubJSON).
        #expect(h.call("GET", "/status", query: "key=store.open.x").text == "true")
        #expect(h.call("GET", "/status", query: "key=nope.x").text == "{}")
        #expect(h.call("GET", "/status", query: "key=http.auth").text == #""disabled""#)
    }

    @Test func pretty() {
        let h = StatusTests.harness()
        #expect(
            h.call("GET", "/status", query: "pretty").text == """
                {
                    "build": {
                        "version": "v10.3.0"
                    },
                    "http": {
                        "auth": "disabled",
                        "bind_addr": "[::]:4001",
                        "queue": {
                            "_default": {
                                "batch_size": 128,
                                "max_size": 1024,
                                "sequence_number": 0,
                                "timeout": "50ms"
                            }
                        },
                        "tls": {
                            "enabled": "false"
                        }
                    },
                    "store": {
                        "open": true,
                        "raft": {
                            "state": "Leader",
                            "term": 3
                        }
                    }
                }
                """)
        // With a key, rqlite re-encodes the selected value compactly, maps sorted, numbers as float64.
        h.node.sections = [("store", .object([("z", .integer(9007199254740993)), ("a", .object([("y", .integer(1)), ("b", .null)]))]))]
        #expect(h.call("GET", "/status", query: "pretty&key=store").text == #"{"a":{"b":null,"y":1},"z":9007199254740992}"#)
    }

    @Test func debugVars() {
        let h = Harness()
        h.node.vars = [
            ("store", .object([("num_restores", .integer(0))])),
            ("http", .object([("queued", .integer(1)), ("leader_not_found", .integer(2)), ("x", .object([("b", .string("<")), ("a", .bool(true))]))])),
            ("cmdline", .array([.string("raftlited"), .string("-http-addr")])),
            ("memstats", .object([("Alloc", .integer(1)), ("A", .integer(2))])),
        ]
        var r = h.call("GET", "/debug/vars")
        #expect(
            r.text
                == "{\n\"cmdline\": [\"raftlited\",\"-http-addr\"],\n\"http\": {\"leader_not_found\": 2, \"queued\": 1, \"x\": {\"a\": true, \"b\": \"\\u003c\"}},\n\"memstats\": {\"Alloc\":1,\"A\":2},\n\"store\": {\"num_restores\": 0}\n}\n"
        )
        #expect(r.header("Content-Type") == "application/json; charset=utf-8")
        r = h.call("POST", "/debug/vars", query: "key=store")
        #expect(r.text == "{\n\"store\": {\"num_restores\": 0}\n}\n")
        #expect(h.call("GET", "/debug/vars", query: "key=nope").text == "{\n\n}\n")
    }
}

@Suite struct NodesTests {
    static let nodes = [
        NodeInfo(id: "2", apiAddr: "", addr: "h2:4002", version: "", voter: true, reachable: false, leader: false,
                 error: "timeout waiting for node to respond"),
        NodeInfo(id: "1", apiAddr: "http://h1:4001", addr: "h1:4002", version: "v10.3.0", voter: true, reachable: true,
                 leader: true, time: 0.000095),
    ]

    @Test func legacyFormat() {
        let h = Harness()
        h.node.nodesResult = .success(NodesTests.nodes)
        let r = h.call("GET", "/nodes")
        #expect(
            r.text
                == #"{"1":{"id":"1","api_addr":"http://h1:4001","addr":"h1:4002","version":"v10.3.0","voter":true,"reachable":true,"leader":true,"time":0.000095,"time_s":"95µs"},"2":{"id":"2","addr":"h2:4002","version":"","voter":true,"reachable":false,"leader":false,"error":"timeout waiting for node to respond"}}"#
        )
        #expect(h.node.nodesCalls.first.map { $0.0 } == false)
        #expect(h.node.nodesCalls.first.map { $0.1 } == 30)
    }

    @Test func version2Format() {
        let h = Harness()
        h.node.nodesResult = .success(NodesTests.nodes)
        let r = h.call("GET", "/nodes", query: "ver=2&nonvoters&timeout=2s")
        #expect(
            r.text
                == #"{"nodes":[{"id":"1","api_addr":"http://h1:4001","addr":"h1:4002","version":"v10.3.0","voter":true,"reachable":true,"leader":true,"time":0.000095,"time_s":"95µs"},{"id":"2","addr":"h2:4002","version":"","voter":true,"reachable":false,"leader":false,"error":"timeout waiting for node to respond"}]}"#
        )
        #expect(h.node.nodesCalls.first.map { $0.0 } == true)
        #expect(h.node.nodesCalls.first.map { $0.1 } == 2)
    }

    @Test func prettyAndEmpty() {
        let h = Harness()
        h.node.nodesResult = .success([])
        #expect(h.call("GET", "/nodes").text == "{}")
        #expect(h.call("GET", "/nodes", query: "ver=2&pretty").text == "{\n    \"nodes\": []\n}")
    }

    @Test func storeNotOpen() {
        let h = Harness()
        h.node.nodesResult = .failure(.message("store not open"))
        let r = h.call("GET", "/nodes")
        #expect(r.status == 503)
        #expect(r.text == "store nodes: store not open\n")
        h.node.nodesResult = .failure(.message("raft: shutdown"))
        let other = h.call("GET", "/nodes")
        #expect(other.status == 500 && other.text == "store nodes: raft: shutdown\n")
    }

    @Test func leader() {
        let h = Harness()
        h.node.leaderResult = .success(NodesTests.nodes[1])
        let r = h.call("GET", "/leader")
        #expect(
            r.text
                == #"{"id":"1","api_addr":"http://h1:4001","addr":"h1:4002","version":"v10.3.0","voter":true,"reachable":true,"leader":true,"time":0.000095,"time_s":"95µs"}"#
        )
        h.node.leaderResult = .failure(.leaderNotFound)
        let n = h.call("GET", "/leader")
        #expect(n.status == 503 && n.text == "leader not found\n")
    }
}

@Suite struct ReadyzTests {
    static func harness() -> Harness {
        let h = Harness()
        h.node.leaderResult = .success(NodesTests.nodes[1])
        h.node.queryResult = .success(
            DatabaseResponse(results: [.rows(QueryRows(columns: ["1"], types: ["integer"], values: [[.integer(1)]]))]))
        return h
    }

    @Test func success() {
        let h = ReadyzTests.harness()
        let r = h.call("GET", "/readyz")
        #expect(r.status == 200)
        #expect(r.text == "[+]node ok\n[+]leader ok\n[+]store ok\n[+]db ok")
        #expect(r.header("Content-Type") == "text/plain; charset=utf-8")
        #expect(h.node.queries.last?.level == ReadLevel.none)
        #expect(h.node.queries.last?.statements == [Statement(sql: "SELECT 1")])
        let s = h.call("GET", "/readyz", query: "sync")
        #expect(s.text == "[+]node ok\n[+]leader ok\n[+]store ok\n[+]sync ok\n[+]db ok")
    }

    @Test func noLeaderFlag() {
        let h = ReadyzTests.harness()
        h.node.ready = Readiness(leaderKnown: false, storeReady: false)
        let r = h.call("GET", "/readyz", query: "noleader")
        #expect(r.status == 200 && r.text == "[+]node ok")
    }

    @Test func failures() {
        let h = ReadyzTests.harness()
        h.node.ready = Readiness(leaderKnown: false, storeReady: true)
        var r = h.call("GET", "/readyz")
        #expect(r.status == 503 && r.text == "[+]node ok\n[+]leader does not exist")
        h.node.ready = Readiness(leaderKnown: true, storeReady: true)
        h.node.leaderResult = .failure(.message("dial tcp: connection refused"))
        r = h.call("GET", "/readyz")
        #expect(r.status == 503 && r.text == "[+]node ok\n[+]leader not contactable: dial tcp: connection refused")
        h.node.leaderResult = .success(NodesTests.nodes[1])
        h.node.ready = Readiness(leaderKnown: true, storeReady: false)
        r = h.call("GET", "/readyz")
        #expect(r.status == 503 && r.text == "[+]node ok\n[+]leader ok\n[+]store not ready")
        h.node.ready = Readiness(leaderKnown: true, storeReady: true)
        h.node.syncError = "timeout waiting for commit index"
        r = h.call("GET", "/readyz", query: "sync")
        #expect(r.status == 503 && r.text == "[+]node ok\n[+]leader ok\n[+]store ok\n[+]sync timeout waiting for commit index")
        h.node.queryResult = .failure(.message("store not open"))
        r = h.call("GET", "/readyz")
        #expect(r.status == 503)
        #expect(r.text.hasPrefix("[+]node ok\n[+]leader ok\n[+]store ok\n[+]db not ok: (store not open"))
    }

    @Test func permissionAndMethod() throws {
        let h = Harness { $0.auth = AuthStore(users: []) }
        #expect(h.call("GET", "/readyz").status == 401)
        #expect(ReadyzTests.harness().call("POST", "/readyz").status == 405)
    }
}
