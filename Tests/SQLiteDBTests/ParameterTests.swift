import Testing

@testable import SQLiteDB

@Suite struct ParameterTests {
    @Test func namedWithEveryPrefix() throws {
        let dir = TempDir()
        let c = try openFoo(dir)
        let named = [Parameter(name: "name", value: .text("n")), Parameter(name: "age", value: .integer(9))]
        for sql in [
            "INSERT INTO foo(name, age) VALUES(:name, :age)",
            "INSERT INTO foo(name, age) VALUES(@name, @age)",
            "INSERT INTO foo(name, age) VALUES($name, $age)",
        ] {
            #expect(write(try c.execute([stmt(sql, named)]).first).rowsAffected == 1)
        }
        #expect(try select(c, "SELECT name, age FROM foo").values == Array(repeating: [.text("n"), .integer(9)], count: 3))
        // Named parameters in queries; unknown names are ignored; missing ones stay NULL.
        let q = try select(c, "SELECT :a, @b, $c", [
            Parameter(name: "a", value: .integer(1)), Parameter(name: "b", value: .text("two")),
            Parameter(name: "zzz", value: .integer(0)),
        ])
        #expect(q.values == [[.integer(1), .text("two"), .null]])
    }

    @Test func positionalAndMixed() throws {
        let dir = TempDir()
        let c = try Connection.open(path: dir.file("db.sqlite"))
        #expect(try select(c, "SELECT ?, ?", positional(.integer(1), .text("b"))).values == [[.integer(1), .text("b")]])
        #expect(try select(c, "SELECT ?2, ?1", positional(.text("x"), .text("y"))).values == [[.text("y"), .text("x")]])
        // Positional parameters bind by their position in the whole list, named ones by name.
        let mixed = try select(c, "SELECT ?, :n", [Parameter(value: .integer(5)), Parameter(name: "n", value: .text("named"))])
        #expect(mixed.values == [[.integer(5), .text("named")]])
        let mixed2 = try select(c, "SELECT :n, ?", [Parameter(name: "n", value: .text("named")), Parameter(value: .integer(5))])
        #expect(mixed2.values == [[.text("named"), .integer(5)]])
        // Extra positional parameters are ignored (go-sqlite3 only passes as many as the statement takes).
        #expect(try select(c, "SELECT ?", positional(.integer(1), .integer(2))).values == [[.integer(1)]])
    }

    @Test func valueKindsRoundTrip() throws {
        let dir = TempDir()
        let c = try Connection.open(path: dir.file("db.sqlite"))
        _ = try c.execute([stmt("CREATE TABLE t (v)")])
        let values: [SQLValue] = [
            .integer(Int64.min), .integer(Int64.max), .real(-0.25), .real(1e300), .text("quote ' \" \u{0}nul"),
            .blob(Array(0...255)), .null, .bool(true), .bool(false),
        ]
        for v in values { _ = try c.execute([stmt("INSERT INTO t VALUES(?)", [Parameter(value: v)])]) }
        let r = try select(c, "SELECT v, typeof(v) FROM t ORDER BY rowid")
        #expect(r.values.map { $0[0] } == [
            .integer(Int64.min), .integer(Int64.max), .real(-0.25), .real(1e300), .text("quote ' \" \u{0}nul"),
            .blob(Array(0...255)), .null, .integer(1), .integer(0),
        ])
        #expect(r.values.map { $0[1] } == ["integer", "integer", "real", "real", "text", "blob", "null", "integer", "integer"].map { SQLValue.text($0) })
    }
}
