"""Automatic backups to a directory, observed the way rqlite's tooling observes them: the uploader counters in
/debug/vars, the auto_backups section of /status, and the files (timestamped names, gzip, METADATA.json)."""
import glob
import gzip
import json
import os
import re
import shutil
import sqlite3
import tempfile
import time
import urllib.request

import pytest

from conftest import Node, wait_for

def get_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.load(r)


def execute(port, statements):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/db/execute", data=json.dumps(statements).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        body = json.load(r)
    assert all("error" not in x for x in body["results"]), body


def uploader(port):
    return get_json(port, "/debug/vars")["uploader"]


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="raftlite-autobackup-")
    nodes = []
    yield d, nodes
    for n in nodes:
        n.stop()
        n.log.close()
    shutil.rmtree(d, ignore_errors=True)


def start(workdir, **options):
    d, nodes = workdir
    config = {"version": 1, "type": "file", "interval": "200ms",
              "sub": {"dir": os.path.join(d, "backups"), "name": "db.sqlite"}, **options}
    path = os.path.join(d, "config.json")
    with open(path, "w") as f:
        json.dump(config, f)
    node = Node(os.path.join(d, "data"), "-auto-backup", path)
    nodes.append(node)
    return node.start()


def rows(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT v FROM t ORDER BY v").fetchall()
    finally:
        conn.close()


def test_counters_are_integers_under_rqlites_names(workdir):
    node = start(workdir, no_compress=True)
    counters = uploader(node.port)
    for name in ("num_uploads_ok", "num_uploads_fail", "num_uploads_skipped", "num_uploads_skipped_id"):
        assert isinstance(counters[name], int), name
    assert counters["num_uploads_ok"] == 0
    # With nothing written, ticks are skipped and nothing lands in the directory.
    wait_for("skips", lambda: uploader(node.port)["num_uploads_skipped"] >= 2)
    assert glob.glob(os.path.join(workdir[0], "backups", "*.sqlite")) == []

    status = get_json(node.port, "/status")["auto_backups"]
    assert status["last_upload_time"] == "0001-01-01T00:00:00Z"
    assert status["last_index"] == "0"
    assert status["upload_interval"] == "200ms"
    assert status["upload_destination"] == f"dir:{workdir[0]}/backups, file:db.sqlite"


def test_timestamped_uploads_keep_every_version(workdir):
    node = start(workdir, no_compress=True, timestamp=True)
    execute(node.port, ["CREATE TABLE t (v)", "INSERT INTO t VALUES(1)"])
    wait_for("the first upload", lambda: uploader(node.port)["num_uploads_ok"] == 1)
    # Names have one-second resolution: write again only once the UTC clock has left the first name's second.
    first = os.path.basename(glob.glob(os.path.join(workdir[0], "backups", "*_db.sqlite"))[0])[:14]
    wait_for("the clock to pass the first name", lambda: time.strftime("%Y%m%d%H%M%S", time.gmtime()) > first)
    execute(node.port, ["INSERT INTO t VALUES(2)"])
    wait_for("the second upload", lambda: uploader(node.port)["num_uploads_ok"] == 2)

    files = sorted(glob.glob(os.path.join(workdir[0], "backups", "*_db.sqlite")))
    assert len(files) == 2, files
    for f in files:
        assert re.fullmatch(r"\d{14}_db\.sqlite", os.path.basename(f)), f
    assert rows(files[0]) == [(1,)]
    assert rows(files[1]) == [(1,), (2,)]
    with open(os.path.join(workdir[0], "backups", "METADATA.json")) as f:
        meta = json.load(f)
    assert meta["name"] == files[1]
    assert meta["id"] == get_json(node.port, "/status")["auto_backups"]["last_index"]
    assert isinstance(meta["timestamp"], int)


def test_compressed_upload_then_restart_skips_by_stored_index(workdir):
    node = start(workdir)
    execute(node.port, ["CREATE TABLE t (v)", "INSERT INTO t VALUES(7)"])
    wait_for("an upload", lambda: uploader(node.port)["num_uploads_ok"] == 1)
    backup = os.path.join(workdir[0], "backups", "db.sqlite")
    with gzip.open(backup) as f:
        plain = f.read()
    assert plain.startswith(b"SQLite format 3\0")
    assert uploader(node.port)["last_upload_bytes"] == os.path.getsize(backup)
    mtime = os.stat(backup).st_mtime_ns

    node.stop()
    node.start()
    wait_for("a skip by stored index", lambda: uploader(node.port)["num_uploads_skipped_id"] >= 1)
    counters = uploader(node.port)
    assert counters["num_uploads_ok"] == 0
    assert get_json(node.port, "/status")["auto_backups"]["num_uploads_skipped_id"] >= 1
    assert os.stat(backup).st_mtime_ns == mtime, "nothing re-uploaded after the restart"
