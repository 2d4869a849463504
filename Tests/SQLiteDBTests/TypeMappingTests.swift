import Testing

@testable import SQLiteDB

@Suite struct TypeMappingTests {
    @Test func declaredTypesAreLowerCasedAndValuesMapped() throws {
        let dir = TempDir()
        let c = try Connection.open(path: dir.file("db.sqlite"))
        _ = try c.execute([
            stmt("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n NUMERIC, v VARCHAR(10), j JSON, c CLOB)"),
            stmt("INSERT INTO t VALUES(?, ?, ?, ?, ?, ?, ?, ?)", positional(
                .integer(Int64.max), .real(1.5), .text("héllo"), .blob([0, 1, 255]), .integer(7),
                .blob(Array("vc".utf8)), .blob(Array("{\"a\":1}".utf8)), .blob(Array("clob".utf8)))),
        ])
        let r = try select(c, "SELECT * FROM t")
        #expect(r.columns == ["i", "r", "s", "b", "n", "v", "j", "c"])
        #expect(r.types == ["integer", "real", "text", "blob", "numeric", "varchar(10)", "json", "clob"])
        // BLOB bytes in a text-affinity column come back as text; in a BLOB column as bytes.
        #expect(r.values == [[
            .integer(Int64.max), .real(1.5), .text("héllo"), .blob([0, 1, 255]), .integer(7),
            .text("vc"), .text("{\"a\":1}"), .text("clob"),
        ]])
    }

    @Test func undeclaredTypesAreInferredFromTheFirstRow() throws {
        let dir = TempDir()
        let c = try Connection.open(path: dir.file("db.sqlite"))
        let r = try select(c, "SELECT 1 AS a, 2.5 AS b, 'x' AS c, NULL AS d, x'414243' AS e")
        #expect(r.columns == ["a", "b", "c", "d", "e"])
        // A blob in an undeclared column is text for rqlite (type "" has text affinity), so it infers "text".
        #expect(r.types == ["integer", "real", "text", "", "text"])
        #expect(r.values == [[.integer(1), .real(2.5), .text("x"), .null, .text("ABC")]])
        // Inference happens once, from the first row only.
        let mixed = try select(c, "SELECT NULL AS v UNION ALL SELECT 5")
        #expect(mixed.types == [""])
        #expect(mixed.values == [[.null], [.integer(5)]])
        let blobLater = try select(c, "SELECT 1 AS v UNION ALL SELECT x'00ff'")
        #expect(blobLater.types == ["integer"])
        #expect(blobLater.values == [[.integer(1)], [.blob([0, 255])]])
    }

    @Test func zeroRowsKeepColumnsAndTypes() throws {
        let dir = TempDir()
        let c = try openFoo(dir)
        let r = try select(c, "SELECT id, name, age + 1 FROM foo")
        #expect(r.columns == ["id", "name", "age + 1"])
        #expect(r.types == ["integer", "text", ""])
        #expect(r.values.isEmpty)
    }

    @Test func booleanColumns() throws {
        let dir = TempDir()
        let c = try Connection.open(path: dir.file("db.sqlite"))
        _ = try c.execute([
            stmt("CREATE TABLE t (id INTEGER PRIMARY KEY, b BOOLEAN)"),
            stmt("INSERT INTO t(b) VALUES(?), (?), (1), (0), (-1), (2), ('yes'), (NULL)", positional(.bool(true), .bool(false))),
        ])
        let r = try select(c, "SELECT b FROM t ORDER BY id")
        #expect(r.types == ["boolean"])
        // go-sqlite3: INTEGER in a BOOLEAN column is `v > 0`; other storage classes are untouched.
        #expect(r.values == [[.bool(true)], [.bool(false)], [.bool(true)], [.bool(false)], [.bool(false)], [.bool(true)], [.text("yes")], [.null]])
        // .bool binds as 0/1.
        #expect(try select(c, "SELECT typeof(b), b + 0 FROM t WHERE id = 1").values == [[.text("integer"), .integer(1)]])
    }

    @Test func timeColumns() throws {
        let dir = TempDir()
        let c = try Connection.open(path: dir.file("db.sqlite"))
        _ = try c.execute([stmt("CREATE TABLE t (id INTEGER PRIMARY KEY, d DATETIME, ts TIMESTAMP, dt DATE, other TEXT)")])
        let cases: [(SQLValue, String)] = [
            (.text("2024-01-02 03:04:05"), "2024-01-02T03:04:05Z"),
            (.text("2024-01-02T03:04:05Z"), "2024-01-02T03:04:05Z"),
            (.text("2024-01-02T03:04:05.120Z"), "2024-01-02T03:04:05.12Z"),
            (.text("2024-01-02 03:04:05.123456789123"), "2024-01-02T03:04:05.123456789Z"),
            (.text("2024-01-02 03:04:05+01:30"), "2024-01-02T03:04:05+01:30"),
            (.text("2024-01-02T03:04:05-07:00"), "2024-01-02T03:04:05-07:00"),
            (.text("2024-01-02 03:04:05+00:00"), "2024-01-02T03:04:05Z"),
            (.text("2024-01-02 3:04"), "2024-01-02T03:04:00Z"),
            (.text("2024-01-02T03:04"), "2024-01-02T03:04:00Z"),
            (.text("2024-01-02"), "2024-01-02T00:00:00Z"),
            (.text("2024-02-29"), "2024-02-29T00:00:00Z"),
            // Unparseable text becomes Go's zero time, as go-sqlite3 returns it.
            (.text("2023-02-29"), "0001-01-01T00:00:00Z"),
            (.text("yesterday"), "0001-01-01T00:00:00Z"),
            (.text("2024-01-02 24:00:00"), "0001-01-01T00:00:00Z"),
            (.integer(1_700_000_000), "2023-11-14T22:13:20Z"),
            (.integer(1_700_000_000_123), "2023-11-14T22:13:20.123Z"),
            (.integer(0), "1970-01-01T00:00:00Z"),
            (.integer(-86_400), "1969-12-31T00:00:00Z"),
            (.integer(-1_700_000_000_123), "1916-02-18T01:46:39.877Z"),
        ]
        for (i, (stored, _)) in cases.enumerated() {
            _ = try c.execute([stmt("INSERT INTO t(id, d, ts, dt, other) VALUES(?, ?, ?, ?, ?)", positional(.integer(Int64(i)), stored, stored, stored, stored))])
        }
        let r = try select(c, "SELECT d, ts, dt, other FROM t ORDER BY id")
        #expect(r.types == ["datetime", "timestamp", "date", "text"])
        for (i, (stored, expected)) in cases.enumerated() {
            let row = r.values[i]
            #expect(row[0] == .text(expected), "row \(i): \(stored)")
            #expect(row[1] == .text(expected))
            #expect(row[2] == .text(expected))
        }
        // Other columns are untouched; REAL in a time column stays REAL.
        #expect(r.values[0][3] == .text("2024-01-02 03:04:05"))
        _ = try c.execute([stmt("INSERT INTO t(id, d) VALUES(100, 1.5)")])
        #expect(try select(c, "SELECT d FROM t WHERE id = 100").values == [[.real(1.5)]])
    }

    @Test func timeOutsideRFC3339RangeIsAnError() throws {
        let dir = TempDir()
        let c = try Connection.open(path: dir.file("db.sqlite"))
        _ = try c.execute([stmt("CREATE TABLE t (d DATETIME)"), stmt("INSERT INTO t VALUES(300000000000)")])
        let result = try c.query([stmt("SELECT d FROM t")])
        #expect(errorText(result.first) == "Time.MarshalText: year outside of range [0,9999]")
    }

    @Test func invalidUTF8BecomesOneReplacementPerBadByte() throws {
        #expect(GoString.decode([0x61, 0xE2, 0x82, 0x62]) == "a\u{FFFD}\u{FFFD}b")
        #expect(GoString.decode([0xED, 0xA0, 0x80]) == "\u{FFFD}\u{FFFD}\u{FFFD}")
        #expect(GoString.decode(Array("ok €".utf8)) == "ok €")
        let dir = TempDir()
        let c = try Connection.open(path: dir.file("db.sqlite"))
        let r = try select(c, "SELECT CAST(x'61e28262' AS TEXT)")
        #expect(r.values == [[.text("a\u{FFFD}\u{FFFD}b")]])
    }

    @Test func nullAndEmptyValues() throws {
        let dir = TempDir()
        let c = try Connection.open(path: dir.file("db.sqlite"))
        _ = try c.execute([
            stmt("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, b BLOB)"),
            stmt("INSERT INTO t(s, b) VALUES(?, ?), (?, ?)", positional(.text(""), .blob([]), .null, .null)),
        ])
        let r = try select(c, "SELECT s, b, typeof(s), typeof(b) FROM t ORDER BY id")
        #expect(r.values == [
            [.text(""), .blob([]), .text("text"), .text("blob")],
            [.null, .null, .text("null"), .text("null")],
        ])
    }
}
