import Foundation
import Synchronization
import Testing

@testable import SQLiteDB

@Suite struct CopyTests {
    /// A database using every feature the dump must carry.
    func populated(_ dir: TempDir) throws -> Connection {
        let c = try Connection.open(path: dir.file("src.sqlite"))
        let results = try c.execute([
            stmt("CREATE TABLE foo (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, score REAL, data BLOB, flag BOOLEAN)"),
            stmt("CREATE TABLE \"odd \"\"name\"\"\" (\"a col\" TEXT)"),
            stmt("CREATE INDEX foo_name ON foo(name)"),
            stmt("CREATE VIEW foo_view AS SELECT name FROM foo"),
            stmt("CREATE TRIGGER foo_trigger AFTER INSERT ON foo BEGIN UPDATE foo SET score = score WHERE id = NEW.id; END"),
            stmt("INSERT INTO foo(name, score, data, flag) VALUES(?, ?, ?, ?)", positional(.text("it's \"quoted\""), .real(1.25), .blob([0, 1, 2, 255]), .bool(true))),
            stmt("INSERT INTO foo(name, score, data, flag) VALUES(NULL, -3e-7, NULL, 0)"),
            stmt("INSERT INTO \"odd \"\"name\"\"\" VALUES('line\nbreak')"),
        ])
        for r in results { if case .error(let e, _) = r { Issue.record("setup: \(e)") } }
        return c
    }

    @Test func dumpFormat() throws {
        let dir = TempDir()
        let c = try Connection.open(path: dir.file("db.sqlite"))
        #expect(try c.dump() == "PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCOMMIT;\n")
        _ = try c.execute([
            stmt("CREATE TABLE foo (id INTEGER NOT NULL PRIMARY KEY, name TEXT)"),
            stmt("INSERT INTO foo(name) VALUES('fiona')"),
            stmt("CREATE TABLE seq (id INTEGER PRIMARY KEY AUTOINCREMENT, v INT)"),
            stmt("INSERT INTO seq(v) VALUES(1.5)"),
            stmt("CREATE INDEX foo_name ON foo(name)"),
        ])
        let expected = """
            PRAGMA foreign_keys=OFF;
            BEGIN TRANSACTION;
            CREATE TABLE foo (id INTEGER NOT NULL PRIMARY KEY, name TEXT);
            INSERT INTO "foo" VALUES(1,'fiona');
            CREATE TABLE seq (id INTEGER PRIMARY KEY AUTOINCREMENT, v INT);
            INSERT INTO "seq" VALUES(1,1.5);
            DELETE FROM "sqlite_sequence";
            INSERT INTO "sqlite_sequence" VALUES('seq',1);
            CREATE INDEX foo_name ON foo(name);
            COMMIT;

            """
        #expect(try c.dump() == expected)
        let onlyFoo = try c.dump(tables: ["foo"])
        #expect(onlyFoo.contains("INSERT INTO \"foo\""))
        #expect(!onlyFoo.contains("seq"))
        #expect(onlyFoo.contains("CREATE INDEX foo_name"))
    }

    @Test func dumpLoadsBackThroughConnection() throws {
        let dir = TempDir()
        let source = try populated(dir)
        let dump = try source.dump()
        let copy = try Connection.open(path: dir.file("copy.sqlite"))
        // A dump is one multi-statement text carrying its own BEGIN/COMMIT.
        let results = try copy.execute([stmt(dump)])
        #expect(errorText(results.first) == nil)
        #expect(try copy.dump() == dump)
        #expect(try select(copy, "SELECT name, score, data, flag FROM foo ORDER BY id").values == [
            [.text("it's \"quoted\""), .real(1.25), .blob([0, 1, 2, 255]), .bool(true)],
            [.null, .real(-3e-7), .null, .bool(false)],
        ])
        // AUTOINCREMENT state came along.
        _ = try copy.execute([stmt("INSERT INTO foo(name) VALUES('next')")])
        #expect(try select(copy, "SELECT max(id) FROM foo").values == [[.integer(3)]])
    }

    @Test func dumpLoadsIntoTheSQLiteShell() throws {
        let dir = TempDir()
        let source = try populated(dir)
        let dumpPath = dir.file("dump.sql")
        try source.dump().write(toFile: dumpPath, atomically: true, encoding: .utf8)
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        shell.arguments = [dir.file("shell.sqlite"), ".read " + dumpPath]
        let stderr = Pipe()
        shell.standardError = stderr
        try shell.run()
        shell.waitUntilExit()
        let errors = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(shell.terminationStatus == 0)
        #expect(errors == "")
        let loaded = try Connection.open(path: dir.file("shell.sqlite"))
        #expect(try loaded.dump() == source.dump())
    }

    @Test func backupRoundTrip() throws {
        let dir = TempDir()
        let source = try populated(dir)
        let path = dir.file("backup.sqlite")
        try source.backup(to: path)
        let header = Connection.readPrefix(path, count: 20) ?? []
        #expect(Connection.isValidSQLiteData(header))
        #expect(!Connection.isWALModeEnabled(header))  // rollback-journal copy
        #expect(Connection.isValidSQLiteFile(path))
        let copy = try Connection.open(path: path, mode: .readOnly)
        #expect(try copy.dump() == source.dump())
        #expect(try copy.integrityCheck(full: true) == "ok")
        // Overwrites an existing file.
        _ = try source.execute([stmt("DELETE FROM foo")])
        try source.backup(to: path, vacuum: true)
        let again = try Connection.open(path: path, mode: .readOnly)
        #expect(try select(again, "SELECT COUNT(*) FROM foo").values == [[.integer(0)]])
    }

    /// A copy in many small steps with write-back reads one view of the database, whatever another
    /// connection commits meanwhile, and leaves no transaction open behind it.
    @Test func backupInStepsWithWriteBack() throws {
        let dir = TempDir()
        let source = try populated(dir)
        _ = try source.execute([stmt("CREATE TABLE big (id INTEGER PRIMARY KEY, v BLOB)")])
        for _ in 0..<20 {
            _ = try source.execute([stmt("INSERT INTO big(v) SELECT randomblob(4000) FROM (SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5)")])
        }
        let before = try source.dump()
        // Another connection commits row after row while the copy runs, 4 pages per step.
        let writer = try Connection.open(path: dir.file("src.sqlite"))
        let stop = Atomic<Bool>(false)
        let done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) let w = writer
        Thread.detachNewThread {
            var n = 0
            while !stop.load(ordering: .relaxed) && n < 100_000 {
                _ = try? w.execute([stmt("INSERT INTO big(v) VALUES(randomblob(4000))")])
                n += 1
            }
            done.signal()
        }
        let path = dir.file("steps.sqlite")
        try source.backup(to: path, writeBackBytes: 16 << 10)
        stop.store(true, ordering: .relaxed)
        done.wait()
        let header = Connection.readPrefix(path, count: 20) ?? []
        #expect(!Connection.isWALModeEnabled(header))  // rollback-journal copy
        let copy = try Connection.open(path: path, mode: .readOnly)
        #expect(try copy.integrityCheck(full: true) == "ok")
        let copied = try select(copy, "SELECT COUNT(*) FROM big").values.first?.first
        guard case .integer(let rows)? = copied else { Issue.record("no count: \(String(describing: copied))"); return }
        #expect(rows >= 100)
        if rows == 100 { #expect(try copy.dump() == before) }
        // The read transaction pinned for the copy is over: the source sees the writer's rows.
        let now = try select(source, "SELECT COUNT(*) FROM big").values.first?.first
        guard case .integer(let total)? = now else { Issue.record("no count"); return }
        #expect(total >= rows)
        _ = try source.execute([stmt("INSERT INTO big(v) VALUES(1)")])
        #expect(try select(writer, "SELECT COUNT(*) FROM big WHERE v = 1").values == [[.integer(1)]])
    }

    @Test func serializeAndDeserialize() throws {
        let dir = TempDir()
        let source = try populated(dir)
        let bytes = try source.serialize()
        #expect(Connection.isValidSQLiteData(bytes))
        #expect(Connection.isWALModeEnabled(bytes))
        #expect(Int64(bytes.count) == (try source.dbSize()))
        let memory = try Connection.openInMemory(deserializing: bytes)
        #expect(try memory.dump() == source.dump())
        // The deserialized copy is writable and independent.
        _ = try memory.execute([stmt("DELETE FROM foo")])
        #expect(try select(source, "SELECT COUNT(*) FROM foo").values == [[.integer(2)]])
        #expect(throws: DatabaseError.self) { try memory.deserialize(Array("not a database at all".utf8)) }
    }

    @Test func checkpointAndSizes() throws {
        let dir = TempDir()
        let c = try Connection.open(path: dir.file("db.sqlite"), walAutocheckpoint: 0)
        _ = try c.execute([stmt("CREATE TABLE t (v)"), stmt("INSERT INTO t VALUES(randomblob(10000))")])
        #expect(c.walSize > 0)
        let result = try c.checkpoint(mode: .truncate)
        #expect(!result.busy)
        #expect(c.walSize == 0)
        #expect(try c.pageSize() == 4096)
        #expect(try c.dbSize() == c.fileSize)
        #expect(try c.integrityCheck() == "ok")
        #expect(Connection.sqliteVersion.hasPrefix("3."))
        #expect(!(try c.compileOptions()).isEmpty)
        let pragmas = try c.statusPragmas()
        #expect(pragmas["journal_mode"] == "wal")
        #expect(pragmas["wal_autocheckpoint"] == "0")
        #expect(pragmas["busy_timeout"] == "5000")
    }

    @Test func openOptions() throws {
        let dir = TempDir()
        let c = try Connection.open(path: dir.file("db.sqlite"), foreignKeys: true, synchronous: .off, busyTimeoutMs: 250)
        let pragmas = try c.statusPragmas()
        #expect(pragmas["foreign_keys"] == "1")
        #expect(pragmas["synchronous"] == "0")
        #expect(pragmas["busy_timeout"] == "250")
        _ = try c.execute([stmt("CREATE TABLE p (id INTEGER PRIMARY KEY)"), stmt("CREATE TABLE ch (p INTEGER REFERENCES p(id))")])
        #expect(errorText(try c.execute([stmt("INSERT INTO ch VALUES(9)")]).first) == "FOREIGN KEY constraint failed")
    }

    @Test func validFileDetection() throws {
        let dir = TempDir()
        _ = try populated(dir)
        #expect(Connection.isValidSQLiteFile(dir.file("src.sqlite")))
        #expect(!Connection.isValidSQLiteFile(dir.file("missing")))
        try "SQLite format 3\0 but not really a database, just text padding padding padding padding padding padding"
            .write(toFile: dir.file("fake"), atomically: true, encoding: .utf8)
        #expect(!Connection.isValidSQLiteFile(dir.file("fake")))
        #expect(!Connection.isValidSQLiteData(Array("hello".utf8)))
    }
}

@Suite struct SettingsTests {
    @Test func runtimeSettings() throws {
        let dir = TempDir()
        let c = try Connection.open(path: dir.file("db.sqlite"), synchronous: .off)
        #expect(try c.synchronous() == 0)
        try c.setSynchronous(.full)
        #expect(try c.synchronous() == 2)
        try c.setBusyTimeout(milliseconds: 1234)
        #expect(try c.busyTimeout() == 1234)
        #expect(try c.walAutocheckpoint() == 1000)
        try c.setWALAutocheckpoint(pages: 0)
        #expect(try c.walAutocheckpoint() == 0)
        c.close()
        #expect(!c.isOpen)
        #expect(throws: DatabaseError.self) { try c.execute([stmt("SELECT 1")]) }
    }
}
