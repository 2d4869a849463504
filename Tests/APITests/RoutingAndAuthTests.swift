import API
import Foundation
import HTTPServer
import JSON
import SQLiteDB
import Testing

@Suite struct RoutingTests {
    @Test func rootAndConsoleRedirects() {
        let h = Harness()
        var r = h.call("GET", "/")
        #expect(r.status == 302)
        #expect(r.header("Location") == "/console/")
        #expect(r.header("Content-Type") == "text/html; charset=utf-8")
        #expect(r.text == "<a href=\"/console/\">Found</a>.\n\n")
        r = h.call("POST", "")
        #expect(r.status == 302 && r.bytes.isEmpty && r.header("Content-Type") == nil)
        r = h.call("GET", "/console")
        #expect(r.status == 301)
        #expect(r.text == "<a href=\"/console/\">Moved Permanently</a>.\n\n")
        #expect(h.call("DELETE", "/console").status == 301)
    }

    @Test(arguments: ["/nope", "/db", "/db/", "/console2", "/leaderx", "/boot/", "/snapshotx", "/debug/varsx", "/licenses/x", "/reap/1"])
    func unknownPaths(path: String) {
        let r = Harness().call("GET", path)
        #expect(r.status == 404)
        #expect(r.bytes.isEmpty)
        #expect(r.header("X-RQLITE-VERSION") == "v10.3.0")
    }

    @Test func prefixRoutes() {
        let h = Harness()
        _ = h.call("POST", "/db/execute/anything", json: #"["x"]"#)
        #expect(h.node.executes.count == 1)
        _ = h.call("GET", "/db/queryfoo", query: "q=x")
        #expect(h.node.queries.count == 1)
        #expect(h.call("GET", "/statusxyz").status == 200)
        #expect(h.call("GET", "/readyz/extra").text.hasPrefix("[+]node ok"))
    }

    @Test(arguments: [
        ("GET", "/db/execute"), ("PUT", "/db/query"), ("GET", "/db/request"), ("POST", "/db/backup"), ("GET", "/db/load"),
        ("DELETE", "/db/sql"), ("GET", "/boot"), ("GET", "/snapshot"), ("GET", "/reap"), ("GET", "/remove"),
        ("POST", "/status"), ("POST", "/nodes"), ("DELETE", "/leader"), ("POST", "/readyz"), ("POST", "/console/index.html"),
        ("POST", "/licenses"),
    ])
    func wrongMethod(method: String, path: String) {
        let h = Harness()
        let r = h.call(method, path)
        #expect(r.status == 405)
        #expect(r.bytes.isEmpty)
    }

    @Test(arguments: ["/db/backup", "/db/load", "/boot", "/snapshot", "/reap", "/remove", "/leader"])
    func notYetImplemented(path: String) {
        let method = ["/db/backup"].contains(path) ? "GET" : path == "/remove" ? "DELETE" : "POST"
        let r = Harness().call(method, path)
        #expect(r.status == 501)
        #expect(r.text == "not implemented\n")
    }

    @Test func sqlPreviewNeedsQ() {
        let h = Harness()
        let r = h.call("GET", "/db/sql")
        #expect(r.status == 400 && r.text == "query not specified\n")
        #expect(h.call("GET", "/db/sql", query: "q=").text == "query parameter not set\n")
    }

    @Test func optionsBeforeEverything() {
        let h = Harness { $0.auth = AuthStore(users: []) }
        for path in ["/db/execute", "/nope", "/status"] {
            let r = h.call("OPTIONS", path, query: "timeout=bad")
            #expect(r.status == 200)
            #expect(r.bytes.isEmpty)
        }
    }

    @Test func commonHeaders() {
        var r = Harness().call("GET", "/nope")
        #expect(r.header("X-RQLITE-VERSION") == "v10.3.0")
        #expect(r.header("Access-Control-Allow-Methods") == "OPTIONS, GET, POST")
        #expect(r.header("Access-Control-Allow-Headers") == "Content-Type")
        #expect(r.header("Access-Control-Allow-Origin") == nil)
        #expect(r.header("WWW-Authenticate") == nil)
        #expect(r.header("Access-Control-Allow-Credentials") == nil)
        r = Harness {
            $0.allowOrigin = "https://example.com"
            $0.auth = AuthStore(users: [])
            $0.version = ""
        }.call("GET", "/nope")
        #expect(r.header("X-RQLITE-VERSION") == "unknown")
        #expect(r.header("Access-Control-Allow-Origin") == "https://example.com")
        #expect(r.header("Access-Control-Allow-Headers") == "Content-Type, Authorization")
        #expect(r.header("Access-Control-Allow-Credentials") == "true")
        #expect(r.header("WWW-Authenticate") == "Basic realm=\"rqlite\"")
    }

    @Test func handlerNeverCrashesOnOddRequests() {
        let h = Harness()
        let methods = ["GET", "POST", "HEAD", "DELETE", "PUT", "", "get"]
        let paths = ["", "/", "/db/execute", "/db/query", "/db/request", "/status", "/nodes", "/leader", "/readyz",
                     "/debug/vars", "/console/", "/console/../../etc/passwd", "/\u{0}", "/db/query/%zz"]
        let bodies: [[UInt8]] = [[], [0xFF, 0xFE], Array("[".utf8), Array("[[\"x\",{\"a\":[1,{}]}]]".utf8), Array(repeating: 0x5B, count: 5000)]
        for m in methods {
            for p in paths {
                for b in bodies {
                    let r = h.call(m, p, query: "q=x&key=a.b.c&ver=2", body: b)
                    #expect(r.status >= 200 && r.status < 600)
                }
            }
        }
    }
}

@Suite struct AuthTests {
    static let file = #"""
        [
          {"username": "admin", "password": "secret1", "perms": ["all"]},
          {"username": "mary",  "password": "secret2", "perms": ["query", "backup", "join"]},
          {"username": "exec",  "password": "e", "perms": ["execute"]},
          {"username": "*", "perms": ["status", "ready", "join-read-only"]}
        ]
        """#

    static func store() throws -> AuthStore { try AuthStore(json: Array(file.utf8)) }

    @Test func decisions() throws {
        let s = try AuthTests.store()
        #expect(s.allows(username: nil, password: nil, perm: .status))
        #expect(s.allows(username: "nobody", password: "x", perm: .ready))
        #expect(!s.allows(username: nil, password: nil, perm: .query))
        #expect(s.allows(username: "mary", password: "secret2", perm: .query))
        #expect(!s.allows(username: "mary", password: "wrong", perm: .query))
        #expect(!s.allows(username: "mary", password: "secret2", perm: .execute))
        #expect(s.allows(username: "admin", password: "secret1", perm: .remove))
        #expect(!s.allows(username: "admin", password: "Secret1", perm: .remove))
        #expect(s.allows(username: "mary", password: "secret2", perm: "join"))
    }

    @Test func httpEnforcement() throws {
        let store = try AuthTests.store()
        let h = Harness { $0.auth = store }
        var r = h.call("POST", "/db/execute", json: #"["x"]"#)
        #expect(r.status == 401)
        #expect(r.bytes.isEmpty)
        #expect(r.header("WWW-Authenticate") == "Basic realm=\"rqlite\"")
        r = h.call("POST", "/db/execute", headers: [basic("exec", "e")], json: #"["x"]"#)
        #expect(r.status == 200)
        // Permission is checked before the method.
        #expect(h.call("GET", "/db/execute").status == 401)
        #expect(h.call("GET", "/db/execute", headers: [basic("exec", "e")]).status == 405)
        // /db/request needs both query and execute.
        #expect(h.call("POST", "/db/request", headers: [basic("exec", "e")], json: #"["x"]"#).status == 401)
        #expect(h.call("POST", "/db/request", headers: [basic("mary", "secret2")], json: #"["x"]"#).status == 401)
        #expect(h.call("POST", "/db/request", headers: [basic("admin", "secret1")], json: #"["x"]"#).status == 200)
        // `*` grants status to anonymous clients.
        #expect(h.call("GET", "/status").status == 200)
        #expect(h.call("GET", "/console/").status == 401)
        #expect(h.call("GET", "/db/query", query: "q=x", headers: [("Authorization", "Basic !!!")]).status == 401)
        #expect(h.call("GET", "/db/query", query: "q=x", headers: [("authorization", "bAsIc " + Data("mary:secret2".utf8).base64EncodedString())]).status == 200)
    }

    @Test func inheritedFieldsQuirk() throws {
        let s = try AuthStore(json: Array(#"[{"username":"a","password":"p","perms":["query"]},{"username":"b"}]"#.utf8))
        #expect(s.allows(username: "b", password: "p", perm: .query))
    }

    @Test(arguments: [
        "", "{}", "[1]", #"[{"username": 1}]"#, #"[{"perms": "all"}]"#, #"[{"perms": [1]}]"#, "[", #"[{"password": null}]"#,
    ])
    func malformedFiles(text: String) {
        #expect(throws: AuthStore.LoadError.self) { try AuthStore(json: Array(text.utf8)) }
    }

    @Test func loadFromDisk() throws {
        let path = NSTemporaryDirectory() + "raftlite-auth-\(UInt32.random(in: 0...UInt32.max)).json"
        try Data(AuthTests.file.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let s = try AuthStore.load(path: path)
        #expect(s.allows(username: "mary", password: "secret2", perm: .backup))
        #expect(throws: AuthStore.LoadError.self) { try AuthStore.load(path: path + ".missing") }
    }

    @Test func basicHeaderParsing() {
        #expect(AuthStore.basicCredentials("Basic " + Data("u:p:x".utf8).base64EncodedString()).map { [$0.username, $0.password] } == ["u", "p:x"])
        #expect(AuthStore.basicCredentials("Bearer abc") == nil)
        #expect(AuthStore.basicCredentials("Basic " + Data("nocolon".utf8).base64EncodedString()) == nil)
        #expect(AuthStore.basicCredentials(nil) == nil)
    }
}

@Suite struct StaticFileTests {
    static func makeDir() throws -> String {
        let dir = NSTemporaryDirectory() + "raftlite-public-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir + "/static/js", withIntermediateDirectories: true)
        try Data("<html>hi</html>".utf8).write(to: URL(fileURLWithPath: dir + "/index.html"))
        try Data("console.log(1)".utf8).write(to: URL(fileURLWithPath: dir + "/static/js/app.js"))
        try Data("body{}".utf8).write(to: URL(fileURLWithPath: dir + "/static/style.css"))
        try Data([0, 1, 2]).write(to: URL(fileURLWithPath: dir + "/static/favicon.ico"))
        return dir
    }

    @Test func servesFiles() throws {
        let dir = try StaticFileTests.makeDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let h = Harness { $0.publicDirectory = dir }
        var r = h.call("GET", "/console/")
        #expect(r.status == 200 && r.text == "<html>hi</html>")
        #expect(r.header("Content-Type") == "text/html; charset=utf-8")
        r = h.call("GET", "/console/static/js/app.js")
        #expect(r.text == "console.log(1)")
        #expect(r.header("Content-Type") == "text/javascript; charset=utf-8")
        #expect(h.call("GET", "/console/static/style.css").header("Content-Type") == "text/css; charset=utf-8")
        r = h.call("GET", "/console/static/favicon.ico")
        #expect(r.bytes == [0, 1, 2])
        #expect(r.header("Content-Type") == "image/vnd.microsoft.icon")
        r = h.call("HEAD", "/console/index.html")
        #expect(r.status == 200 && r.header("Content-Type") == "text/html; charset=utf-8")
        r = h.call("GET", "/console/missing.html")
        #expect(r.status == 404 && r.text == "404 page not found\n")
        #expect(h.call("GET", "/console/static/").status == 404)
    }

    @Test func rejectsTraversal() throws {
        let dir = try StaticFileTests.makeDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let h = Harness { $0.publicDirectory = dir + "/static" }
        for p in ["/console/../index.html", "/console/js/../../index.html", "/console/..", "/console/a\\..\\b"] {
            let r = h.call("GET", p)
            #expect(r.status == 400, "\(p)")
            #expect(!r.text.contains("<html>"))
        }
    }

    @Test func noPublicDirectory() {
        #expect(Harness().call("GET", "/console/").status == 404)
    }
}
