import Testing

@testable import SQLiteDB

@Suite struct ExecuteTests {
    @Test func writeResultsAndRqliteQuirkOfChanges() throws {
        let dir = TempDir()
        let c = try Connection.open(path: dir.file("db.sqlite"))
        let results = try c.execute([
            stmt("CREATE TABLE foo (id INTEGER NOT NULL PRIMARY KEY, name TEXT, age INTEGER)"),
            stmt("INSERT INTO foo(name, age) VALUES(?, ?)", positional(.text("fiona"), .integer(20))),
            stmt("INSERT INTO foo(name, age) VALUES(:name, :age)", [
                Parameter(name: "name", value: .text("declan")), Parameter(name: "age", value: .integer(3)),
            ]),
            stmt("INSERT INTO nope VALUES(1)"),
            stmt(""),
            stmt("UPDATE foo SET age = age + 1"),
        ])
        #expect(results.count == 5)  // the empty statement is skipped
        #expect(write(results[0]) == ExecuteResult())
        #expect(write(results[1]) == ExecuteResult(lastInsertID: 1, rowsAffected: 1))
        #expect(write(results[2]) == ExecuteResult(lastInsertID: 2, rowsAffected: 1))
        #expect(errorText(results[3]) == "no such table: nope")
        #expect(write(results[4]) == ExecuteResult(lastInsertID: 2, rowsAffected: 2))
        // go-sqlite3 reports sqlite3_changes/last_insert_rowid after any statement, so DDL following DML
        // repeats the connection's last values, exactly as rqlite does.
        let ddl = try c.execute([stmt("CREATE TABLE bar (x)")])
        #expect(write(ddl.first) == ExecuteResult(lastInsertID: 2, rowsAffected: 2))
    }

    @Test func withoutTransactionLaterStatementsRun() throws {
        let dir = TempDir()
        let c = try openFoo(dir)
        let results = try c.execute([
            stmt("INSERT INTO foo(id, name) VALUES(1, 'a')"),
            stmt("INSERT INTO foo(id, name) VALUES(1, 'dup')"),
            stmt("INSERT INTO foo(id, name) VALUES(2, 'b')"),
        ])
        #expect(results.count == 3)
        #expect(errorText(results[1]) == "UNIQUE constraint failed: foo.id")
        #expect(write(results[2]).lastInsertID == 2)
        #expect(try select(c, "SELECT COUNT(*) FROM foo").values == [[.integer(2)]])
    }

    @Test func transactionRollsBackEverythingAndStops() throws {
        let dir = TempDir()
        let c = try openFoo(dir)
        let results = try c.execute(
            [
                stmt("INSERT INTO foo(id, name) VALUES(1, 'a')"),
                stmt("INSERT INTO foo(id, name) VALUES(1, 'dup')"),
                stmt("INSERT INTO foo(id, name) VALUES(2, 'b')"),
            ], transaction: true)
        #expect(results.count == 2)
        #expect(write(results[0]).lastInsertID == 1)
        #expect(errorText(results[1]) == "UNIQUE constraint failed: foo.id")
        #expect(try select(c, "SELECT COUNT(*) FROM foo").values == [[.integer(0)]])
        #expect(c.isAutocommit)
        // And a successful transaction commits.
        let ok = try c.execute(
            [stmt("INSERT INTO foo(id, name) VALUES(1, 'a')"), stmt("INSERT INTO foo(id, name) VALUES(2, 'b')")],
            transaction: true)
        #expect(ok.count == 2)
        #expect(try select(c, "SELECT COUNT(*) FROM foo").values == [[.integer(2)]])
    }

    @Test func transactionInsideOpenTransactionUsesSavepoint() throws {
        let dir = TempDir()
        let c = try openFoo(dir)
        try c.run("BEGIN")
        _ = try c.execute([stmt("INSERT INTO foo(id) VALUES(10)")])
        let results = try c.execute(
            [stmt("INSERT INTO foo(id) VALUES(11)"), stmt("INSERT INTO foo(id) VALUES(10)")], transaction: true)
        #expect(errorText(results[1]) == "UNIQUE constraint failed: foo.id")
        #expect(!c.isAutocommit)  // the outer transaction survives
        try c.run("COMMIT")
        #expect(try select(c, "SELECT id FROM foo").values == [[.integer(10)]])
    }

    @Test func returningYieldsRows() throws {
        let dir = TempDir()
        let c = try openFoo(dir)
        let results = try c.execute(
            [stmt("INSERT INTO foo(name, age) VALUES('x', 7) RETURNING id, name", forceQuery: true)], timings: true)
        let r = rows(results.first)
        #expect(r.columns == ["id", "name"])
        #expect(r.types == ["integer", "text"])
        #expect(r.values == [[.integer(1), .text("x")]])
        #expect(r.time > 0)
        #expect(try select(c, "SELECT COUNT(*) FROM foo").values == [[.integer(1)]])
    }

    @Test func multiStatementTextRunsAllAndReportsTheLast() throws {
        let dir = TempDir()
        let c = try Connection.open(path: dir.file("db.sqlite"))
        let results = try c.execute([
            stmt("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES('a'); INSERT INTO t(v) VALUES('b');  ")
        ])
        #expect(results.count == 1)
        #expect(write(results[0]) == ExecuteResult(lastInsertID: 2, rowsAffected: 1))
        #expect(try select(c, "SELECT v FROM t ORDER BY id").values == [[.text("a")], [.text("b")]])
        // Positional parameters are consumed statement by statement.
        let p = try c.execute([
            stmt("INSERT INTO t(v) VALUES(?); INSERT INTO t(v) VALUES(?)", positional(.text("c"), .text("d")))
        ])
        #expect(write(p[0]) == ExecuteResult(lastInsertID: 4, rowsAffected: 1))
        #expect(try select(c, "SELECT v FROM t WHERE id > 2 ORDER BY id").values == [[.text("c")], [.text("d")]])
        // A trailing comment is an empty last statement: go-sqlite3 then reports 0/0.
        let trailing = try c.execute([stmt("INSERT INTO t(v) VALUES('e'); -- done")])
        #expect(write(trailing[0]) == ExecuteResult())
        #expect(try select(c, "SELECT COUNT(*) FROM t").values == [[.integer(5)]])
        // An error in a later statement reports that error; earlier statements stay applied.
        let failing = try c.execute([stmt("INSERT INTO t(v) VALUES('f'); INSERT INTO nope VALUES(1)")])
        #expect(errorText(failing[0]) == "no such table: nope")
        #expect(try select(c, "SELECT COUNT(*) FROM t").values == [[.integer(6)]])
    }

    @Test func notEnoughParameters() throws {
        let dir = TempDir()
        let c = try openFoo(dir)
        let results = try c.execute([stmt("INSERT INTO foo(name, age) VALUES(?, ?)", positional(.text("x")))])
        #expect(errorText(results[0]) == "not enough args to execute query: want 2 got 1")
        let q = try c.query([stmt("SELECT ?, ?", positional(.integer(1)))])
        #expect(errorText(q[0]) == "not enough args to execute query: want 2 got 1")
    }

    @Test func syntaxErrorMessage() throws {
        let dir = TempDir()
        let c = try openFoo(dir)
        #expect(errorText(try c.execute([stmt("SELEKT 1")]).first) == "near \"SELEKT\": syntax error")
    }

    @Test func timingsOnlyWhenAsked() throws {
        let dir = TempDir()
        let c = try openFoo(dir)
        #expect(write(try c.execute([stmt("INSERT INTO foo(name) VALUES('a')")]).first).time == 0)
        #expect(write(try c.execute([stmt("INSERT INTO foo(name) VALUES('a')")], timings: true).first).time > 0)
        #expect(rows(try c.query([stmt("SELECT * FROM foo")], timings: true).first).time > 0)
    }
}
