import Testing

@testable import SQLiteDB

@Suite struct QueryRequestTests {
    @Test func writeViaQueryIsRejectedAndNothingChanges() throws {
        let dir = TempDir()
        let c = try openFoo(dir)
        let results = try c.query([
            stmt("INSERT INTO foo(name) VALUES('x')"),
            stmt("SELECT COUNT(*) FROM foo"),
            stmt("SELEKT"),
            stmt("CREATE TABLE bar (x)"),
        ])
        #expect(results.count == 4)
        #expect(errorText(results[0]) == "attempt to change database via query operation")
        #expect(rows(results[1]).values == [[.integer(0)]])
        #expect(errorText(results[2]) == "near \"SELEKT\": syntax error")
        #expect(errorText(results[3]) == "attempt to change database via query operation")
        #expect(try select(c, "SELECT COUNT(*) FROM sqlite_master WHERE name = 'bar'").values == [[.integer(0)]])
    }

    @Test func readOnlyConnectionRefusesWrites() throws {
        let dir = TempDir()
        let rw = try openFoo(dir)
        let ro = try Connection.open(path: dir.file("db.sqlite"), mode: .readOnly)
        #expect(errorText(try ro.execute([stmt("INSERT INTO foo(name) VALUES('x')")]).first) == "attempt to write a readonly database")
        #expect(try ro.pragmaInt("PRAGMA query_only") == 1)
        #expect(try rw.pragmaText("PRAGMA journal_mode") == "wal")
        #expect(throws: DatabaseError.self) { try Connection.open(path: dir.file("missing.sqlite"), mode: .readOnly) }
    }

    @Test func multiStatementQueryReturnsTheLastStatement() throws {
        let dir = TempDir()
        let c = try openFoo(dir)
        let r = try select(c, "SELECT 1 AS a; SELECT 2 AS b;")
        #expect(r.columns == ["b"])
        #expect(r.values == [[.integer(2)]])
    }

    @Test func requestMixesReadsAndWrites() throws {
        let dir = TempDir()
        let c = try openFoo(dir)
        let results = try c.request([
            stmt("INSERT INTO foo(name) VALUES('erin')"),
            stmt("SELECT COUNT(*) FROM foo"),
            stmt("SELECT * FROM bar"),
            stmt("EXPLAIN INSERT INTO foo(name) VALUES('x')"),
            stmt("INSERT INTO foo(name) VALUES('f') RETURNING name", forceQuery: true),
        ])
        #expect(results.count == 5)
        #expect(write(results[0]) == ExecuteResult(lastInsertID: 1, rowsAffected: 1))
        #expect(rows(results[1]).values == [[.integer(1)]])
        #expect(errorText(results[2]) == "no such table: bar")
        #expect(rows(results[3]).columns.first == "addr")  // EXPLAIN is a read
        #expect(rows(results[4]).values == [[.text("f")]])
        #expect(try select(c, "SELECT COUNT(*) FROM foo").values == [[.integer(2)]])
        #expect(try c.isReadOnly("EXPLAIN DELETE FROM foo"))
        #expect(try !c.isReadOnly("DELETE FROM foo"))
        #expect(throws: DatabaseError.self) { try c.isReadOnly("SELEKT") }
    }

    @Test func requestTransactionAbortsOnFailedReadOrWrite() throws {
        let dir = TempDir()
        let c = try openFoo(dir)
        let results = try c.request(
            [
                stmt("INSERT INTO foo(name) VALUES('a')"), stmt("SELECT abs(-9223372036854775807 - 1)"),
                stmt("INSERT INTO foo(name) VALUES('b')"),
            ],
            transaction: true)
        #expect(results.count == 2)
        #expect(errorText(results[1]) == "integer overflow")
        #expect(try select(c, "SELECT COUNT(*) FROM foo").values == [[.integer(0)]])
        // A statement that fails to prepare (classification) records its error but, as in rqlite's
        // db.Request, does not abort the transaction.
        let prepared = try c.request(
            [stmt("INSERT INTO foo(name) VALUES('a')"), stmt("SELECT * FROM nope"), stmt("INSERT INTO foo(name) VALUES('b')")],
            transaction: true)
        #expect(prepared.count == 3)
        #expect(errorText(prepared[1]) == "no such table: nope")
        #expect(try select(c, "SELECT COUNT(*) FROM foo").values == [[.integer(2)]])
    }

    static let endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"

    @Test func queryTimeoutInterrupts() throws {
        let dir = TempDir()
        let c = try openFoo(dir)
        let start = ContinuousClock.now
        let results = try c.query([stmt(Self.endless), stmt("SELECT 1")], timeout: 0.2)
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(errorText(results[0]) == "query timeout")
        // After the deadline every later statement times out too.
        #expect(errorText(results[1]) == "query timeout")
        // The connection is usable afterwards, without a deadline.
        #expect(try select(c, "SELECT 42").values == [[.integer(42)]])
    }

    @Test func executeTimeoutInterruptsAndRollsBack() throws {
        let dir = TempDir()
        let c = try openFoo(dir)
        let results = try c.execute(
            [
                stmt("INSERT INTO foo(name) VALUES('before')"),
                stmt("INSERT INTO foo(age) " + Self.endless),
                stmt("INSERT INTO foo(name) VALUES('after')"),
            ], transaction: true, timeout: 0.2)
        #expect(results.count == 2)
        #expect(errorText(results[1]) == "execute timeout")
        #expect(try select(c, "SELECT COUNT(*) FROM foo").values == [[.integer(0)]])
        // Request: reads report query timeout.
        let request = try c.request([stmt(Self.endless)], timeout: 0.2)
        #expect(errorText(request[0]) == "query timeout")
        // Without a timeout nothing is interrupted.
        let quick = try c.execute([stmt("INSERT INTO foo(name) VALUES('x')")], timeout: 5)
        #expect(write(quick[0]).rowsAffected == 1)
    }

    @Test func interruptFromAnotherThread() async throws {
        let dir = TempDir()
        let c = try openFoo(dir)
        let task = Task.detached { try c.query([stmt(Self.endless)]) }
        try await Task.sleep(for: .milliseconds(200))
        c.interrupt()
        let results = try await task.value
        #expect(errorText(results[0]) == "interrupted")
    }

    @Test func statementCacheIsBoundedAndReused() throws {
        let dir = TempDir()
        let c = try Connection.open(path: dir.file("db.sqlite"), statementCacheCapacity: 2)
        for i in 0..<5 { _ = try c.query([stmt("SELECT \(i)")]) }
        #expect(c.cachedStatementCount == 2)
        // Reusing a cached statement with new parameters gives fresh results.
        #expect(try select(c, "SELECT ?", positional(.integer(1))).values == [[.integer(1)]])
        #expect(try select(c, "SELECT ?", positional(.integer(2))).values == [[.integer(2)]])
        // Multi-statement text is never cached.
        let before = c.cachedStatementCount
        _ = try c.query([stmt("SELECT 1; SELECT 2")])
        #expect(c.cachedStatementCount == before)
    }

    @Test func concurrentReaderSeesSnapshotWhileWriterCommits() throws {
        let dir = TempDir()
        let rw = try openFoo(dir)
        _ = try rw.execute([stmt("INSERT INTO foo(name) VALUES('one')")])
        let ro = try Connection.open(path: dir.file("db.sqlite"), mode: .readOnly)
        try ro.run("BEGIN")
        #expect(try select(ro, "SELECT COUNT(*) FROM foo").values == [[.integer(1)]])
        // The writer commits while the reader's transaction is open (WAL: no SQLITE_BUSY).
        let w = try rw.execute([stmt("INSERT INTO foo(name) VALUES('two')")])
        #expect(write(w[0]).rowsAffected == 1)
        #expect(try select(ro, "SELECT COUNT(*) FROM foo").values == [[.integer(1)]])
        try ro.run("COMMIT")
        #expect(try select(ro, "SELECT COUNT(*) FROM foo").values == [[.integer(2)]])
    }

    @Test func readerThreadRunsWhileWriterWrites() async throws {
        let dir = TempDir()
        let rw = try openFoo(dir)
        let ro = try Connection.open(path: dir.file("db.sqlite"), mode: .readOnly)
        let reader = Task.detached { () -> [String] in
            var errors: [String] = []
            var last: Int64 = 0
            for _ in 0..<300 {
                let r = try ro.query([stmt("SELECT COUNT(*) FROM foo")])
                if case .rows(let rows) = r[0], case .integer(let n) = rows.values[0][0] {
                    if n < last { errors.append("count went back from \(last) to \(n)") }
                    last = n
                } else {
                    errors.append("\(r[0])")
                }
            }
            return errors
        }
        for i in 0..<300 {
            let r = try rw.execute([stmt("INSERT INTO foo(name) VALUES(?)", positional(.text("n\(i)")))])
            #expect(write(r[0]).rowsAffected == 1)
        }
        #expect(try await reader.value == [])
        #expect(try select(ro, "SELECT COUNT(*) FROM foo").values == [[.integer(300)]])
    }
}
