import Foundation
import Testing
import TestSupport

/// Backups, loads and boot against real processes: the round trip backup → load on a fresh cluster in
/// every format, loads replicated to every node, and bad images refused without changing anything.
@Suite(.serialized) struct BackupTests {
    static let fast = ["-raft-heartbeat-timeout", "500ms", "-raft-election-timeout", "500ms"]
    let digest = "SELECT group_concat(id || ':' || name, ',') FROM (SELECT * FROM foo ORDER BY id)"

    func gunzip(_ data: [UInt8]) throws -> [UInt8] {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(data).write(to: URL(fileURLWithPath: dir + "/x.gz"))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-d", dir + "/x.gz"]
        try p.run()
        p.waitUntilExit()
        return try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/x")))
    }

    /// Runs the `sqlite3` shell on a file with SQL on stdin; returns stdout.
    func sqlite3(_ path: String, _ sql: String) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        p.arguments = [path]
        let input = Pipe()
        let output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try p.run()
        input.fileHandleForWriting.write(Data(sql.utf8))
        try input.fileHandleForWriting.close()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: out, as: UTF8.self)
    }

    @Test func backupInEveryFormatLoadsBackIntoAFreshCluster() throws {
        let source = try RaftliteCluster(count: 3, extraArguments: Self.fast)
        defer { source.stopAll() }
        #expect(source.waitUntilReady())
        let leader = try #require(source.leader())
        _ = try HTTP.post(
            source.httpPorts[leader], "/db/execute",
            json: #"["CREATE TABLE foo (id INTEGER PRIMARY KEY, name TEXT)", "INSERT INTO foo VALUES(1, 'fiona')", "INSERT INTO foo VALUES(2, 'x<y & \"z\"')"]"#)
        let expected = try HTTP.get(source.httpPorts[leader], "/db/query?level=strong&q=" + percentEncode(digest)).text
        let follower = (leader + 1) % 3

        // Binary (WAL-mode header), from a follower that catches up with the leader first.
        let binary = try HTTP.get(source.httpPorts[follower], "/db/backup")
        #expect(binary.status == 200 && binary.header("content-type") == "application/octet-stream")
        #expect(Array(binary.body.prefix(16)) == Array("SQLite format 3\0".utf8))
        #expect(binary.body.count > 19 && binary.body[18] == 2 && binary.body[19] == 2, "binary backups are WAL-mode files")
        let delete = try HTTP.get(source.httpPorts[leader], "/db/backup?fmt=delete")
        #expect(delete.body[18] == 1 && delete.body[19] == 1, "fmt=delete is a rollback-journal file")
        let gz = try HTTP.get(source.httpPorts[leader], "/db/backup?compress")
        #expect(Array(gz.body.prefix(2)) == [0x1f, 0x8b])
        #expect(try gunzip(gz.body).prefix(16) == binary.body.prefix(16))
        let sql = try HTTP.get(source.httpPorts[leader], "/db/backup?fmt=sql")
        #expect(sql.header("content-type") == "application/sql")
        #expect(sql.text.hasPrefix("PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE foo"))
        #expect(!sql.text.contains("sqlite_raftlite"), "the node's bookkeeping stays out of dumps")
        #expect(try HTTP.get(source.httpPorts[leader], "/db/backup?fmt=sql&vacuum").status == 500)

        // The SQL dump is loadable by the sqlite3 shell.
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try sqlite3(dir + "/shell.db", sql.text)
        #expect(try sqlite3(dir + "/shell.db", "SELECT count(*) FROM foo;") == "2\n")

        // Each format restores the same data on a fresh cluster, on every node.
        for (name, body, contentType) in [
            ("binary", binary.body, "application/octet-stream"), ("delete", delete.body, "application/octet-stream"),
            ("sql", sql.body, "text/plain"),
        ] {
            let target = try RaftliteCluster(count: 3, extraArguments: Self.fast)
            defer { target.stopAll() }
            #expect(target.waitUntilReady())
            let t = try #require(target.leader())
            let r = try HTTP.request(
                target.httpPorts[(t + 1) % 3], "POST", "/db/load", headers: [("Content-Type", contentType)], body: body)
            #expect(r.status == 200, "\(name): \(r.status) \(r.text)")
            #expect(eventually(timeout: 15) {
                try (0..<3).allSatisfy { try target.localQuery($0, digest) == expected }
            }, "\(name): not identical on every node")
        }
    }

    @Test func invalidImagesAreRefusedAndChangeNothing() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = try RaftliteProcess(dataDirectory: dir + "/data", nodeID: "1")
        defer { node.stop() }
        #expect(node.waitUntilReady())
        _ = try HTTP.post(node.httpPort, "/db/execute", json: #"["CREATE TABLE foo (id INTEGER PRIMARY KEY, name TEXT)", "INSERT INTO foo VALUES(1, 'a')"]"#)
        let before = try HTTP.get(node.httpPort, "/db/query?q=" + percentEncode(digest)).text
        var truncated = try HTTP.get(node.httpPort, "/db/backup?fmt=delete").body
        truncated = Array(truncated.prefix(truncated.count / 2))
        for bad in [Array("SQLite format 3\0 but then garbage".utf8), truncated] {
            let r = try HTTP.request(node.httpPort, "POST", "/db/load", body: bad)
            #expect(r.status == 400 && r.text == "invalid SQLite data\n", "\(r.status) \(r.text)")
            let b = try HTTP.request(node.httpPort, "POST", "/boot", body: bad)
            #expect(b.status == 400 || b.status == 503, "\(b.status) \(b.text)")
        }
        #expect(try HTTP.get(node.httpPort, "/db/query?q=" + percentEncode(digest)).text == before)
    }

    @Test func bootReplacesASingleNodeDatabase() throws {
        let dir = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let node = try RaftliteProcess(dataDirectory: dir + "/data", nodeID: "1")
        defer { node.stop() }
        #expect(node.waitUntilReady())
        _ = try sqlite3(dir + "/image.db", "CREATE TABLE foo (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO foo VALUES(9, 'booted');")
        let image = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir + "/image.db")))
        let r = try HTTP.request(node.httpPort, "POST", "/boot", body: image)
        #expect(r.status == 200, "\(r.status) \(r.text)")
        #expect(try HTTP.get(node.httpPort, "/db/query?q=" + percentEncode(digest)).text.contains("9:booted"))
        // The image survives a restart (it is in the snapshot and the log).
        node.stop()
        let again = try RaftliteProcess(dataDirectory: dir + "/data", nodeID: "1")
        defer { again.stop() }
        #expect(again.waitUntilReady())
        #expect(try HTTP.get(again.httpPort, "/db/query?q=" + percentEncode(digest)).text.contains("9:booted"))
    }
}
