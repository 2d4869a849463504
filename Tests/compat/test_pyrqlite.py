"""Raftlite driven by pyrqlite, rqlite's Python DB-API client, unchanged: a real client must just work."""
import pytest
import pyrqlite.dbapi2 as dbapi2

def test_create_insert_select_with_parameters(node):
    conn = dbapi2.connect(host="127.0.0.1", port=node)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE foo (id INTEGER NOT NULL PRIMARY KEY, name TEXT, age INTEGER, score REAL)")
        cur.execute("INSERT INTO foo(name, age, score) VALUES(?, ?, ?)", ("fiona", 20, 1.5))
        assert cur.lastrowid == 1
        cur.executemany("INSERT INTO foo(name, age, score) VALUES(?, ?, ?)", [("declan", 3, 2.25), ("erin", 40, None)])
        cur.execute("SELECT name, age, score FROM foo ORDER BY id")
        assert cur.fetchall() == [("fiona", 20, 1.5), ("declan", 3, 2.25), ("erin", 40, None)]
        assert [d[0] for d in cur.description] == ["name", "age", "score"]
        cur.execute("SELECT name FROM foo WHERE age > ?", (10,))
        assert [r[0] for r in cur.fetchall()] == ["fiona", "erin"]
        cur.execute("UPDATE foo SET age = age + 1 WHERE name = ?", ("fiona",))
        assert cur.rowcount == 1
    conn.close()


def test_blobs_round_trip(node):
    conn = dbapi2.connect(host="127.0.0.1", port=node)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE b (id INTEGER PRIMARY KEY, data BLOB)")
        cur.execute("INSERT INTO b(data) VALUES(x'00ff10')")
        cur.execute("SELECT data FROM b")
        (value,) = cur.fetchone()
        assert bytes(value) == b"\x00\xff\x10"
    conn.close()


def test_sql_errors_are_reported(node):
    conn = dbapi2.connect(host="127.0.0.1", port=node)
    with conn.cursor() as cur:
        with pytest.raises(Exception) as excinfo:
            cur.execute("SELECT * FROM no_such_table")
        assert "no such table" in str(excinfo.value)
        with pytest.raises(Exception):
            cur.execute("INSERT INTO no_such_table VALUES(1)")
        # The connection still works after errors.
        cur.execute("SELECT 1 + 1")
        assert cur.fetchone() == (2,)
    conn.close()
