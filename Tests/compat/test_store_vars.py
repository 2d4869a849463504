"""The store facts rqlite's tooling reads: /debug/vars store snapshot, restore and join counters, cluster request
counters, and the SQLite pragmas in /status store.sqlite3.pragmas. Real raftlited processes on 127.0.0.1, stopped (or killed) by their PIDs."""
import json
import shutil
import signal
import subprocess
import tempfile
import urllib.request

import pytest

import conftest
from conftest import RAFTLITED, free_port, wait_for


class Node(conftest.Node):
    """A node with the requests these tests make."""

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}", timeout=10) as r:
            return json.load(r)

    def post(self, path, body=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status

    def execute(self, *statements):
        req = urllib.request.Request(f"http://127.0.0.1:{self.http}/db/execute", data=json.dumps(statements).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            body = json.load(r)
        assert all("error" not in x for x in body["results"]), body

    def store_vars(self):
        return self.get("/debug/vars")["store"]

    def cluster_vars(self):
        return self.get("/debug/vars")["cluster"]

    def members(self):
        return {n["id"]: n["addr"] for n in self.get("/status")["store"]["nodes"]}


@pytest.fixture
def data():
    base = tempfile.mkdtemp(prefix="raftlite-storevars-")
    nodes = []
    yield base, nodes
    for n in nodes:
        n.stop()
        n.log.close()
    shutil.rmtree(base, ignore_errors=True)


def make(data, *args, node_id="1"):
    base, nodes = data
    n = Node(f"{base}/n{len(nodes)}", *args, node_id=node_id)
    nodes.append(n)
    return n


def test_pragmas_report_what_the_connections_use(data):
    n = make(data).start()
    pragmas = n.get("/status")["store"]["sqlite3"]["pragmas"]
    # Read-only connections: exactly rqlite's values.
    assert pragmas["ro"] == {"foreign_keys": "0", "journal_mode": "wal", "synchronous": "0", "wal_autocheckpoint": "1000"}
    # The write connection: WAL, no automatic checkpoints; synchronous=NORMAL (1) by design (Sources/Node/DESIGN.md).
    assert pragmas["rw"] == {"foreign_keys": "0", "journal_mode": "wal", "synchronous": "1", "wal_autocheckpoint": "0"}

    fk = make(data, "-fk").start()
    pragmas = fk.get("/status")["store"]["sqlite3"]["pragmas"]
    assert pragmas["ro"]["foreign_keys"] == "1" and pragmas["rw"]["foreign_keys"] == "1"


def test_snapshot_counters(data):
    n = make(data, "-raft-snap", "4", "-raft-snap-int", "100ms").start()
    zero = n.store_vars()
    for key in ["num_snapshots", "num_snapshots_failed", "num_user_snapshots", "num_user_snapshots_failed",
                "num_restores", "num_restores_failed", "num_restores_start_skipped"]:
        assert zero[key] == 0, (key, zero)

    n.execute("CREATE TABLE t (x)")
    for i in range(6):
        n.execute(f"INSERT INTO t VALUES({i})")
    taken = wait_for("a snapshot past -raft-snap", lambda: n.store_vars()["num_snapshots"])
    assert n.store_vars()["num_user_snapshots"] == 0

    n.execute("INSERT INTO t VALUES(99)")
    assert n.post("/snapshot") == 200
    after = n.store_vars()
    assert after["num_user_snapshots"] == 1, after
    assert after["num_snapshots"] >= taken + 1, after
    assert after["num_snapshots_failed"] == 0 and after["num_user_snapshots_failed"] == 0, after


def test_restore_counters_across_restarts(data):
    n = make(data, "-raft-snap", "1000").start()
    n.execute("CREATE TABLE t (x)", "INSERT INTO t VALUES(1)")
    assert n.post("/snapshot") == 200
    n.execute("INSERT INTO t VALUES(2)")

    # A crash: the database is rebuilt from the snapshot (one restore) plus the log.
    n.stop(signal.SIGKILL)
    n.start()
    v = n.store_vars()
    assert (v["num_restores"], v["num_restores_start_skipped"]) == (1, 0), v

    # A clean shutdown: the database is reused, so restoring the snapshot is skipped.
    n.stop(signal.SIGTERM)
    n.start()
    v = n.store_vars()
    assert (v["num_restores"], v["num_restores_start_skipped"]) == (0, 1), v
    rows = n.get("/db/query?q=SELECT+COUNT(*)+FROM+t&level=none")["results"][0]["values"]
    assert rows == [[2]]


def test_join_and_remove_counters(data):
    leader = make(data, node_id="1").start()
    assert leader.cluster_vars() == {"num_join_req": 0, "num_notify_req": 0, "num_remove_node_req": 0}

    follower = make(data, "-join", f"127.0.0.1:{leader.raft}", node_id="2").start()
    c, s = leader.cluster_vars(), leader.store_vars()
    assert (c["num_join_req"], s["num_joins"], s["num_ignored_joins"], s["num_removed_before_joins"]) == (1, 1, 0, 0)

    # Joins are counted by whichever node leads when they arrive; node 3 (wiped each time) never can.
    def joins():
        v = [n.store_vars() for n in (leader, follower)]
        return tuple(sum(x[k] for x in v) for k in ("num_joins", "num_ignored_joins", "num_removed_before_joins"))

    # A node joining through the follower: the follower receives the request and points it at the leader.
    third = make(data, "-join", f"127.0.0.1:{follower.raft}", node_id="3").start()
    assert follower.cluster_vars()["num_join_req"] >= 1
    assert joins() == (2, 0, 0)

    # The same ID and address joining again (its data lost): already a member, nothing to change.
    third.stop(signal.SIGKILL)
    shutil.rmtree(third.data)
    third.start()
    assert joins() == (2, 1, 0)

    # The same ID on a new Raft address: the old entry is removed before the node is added again.
    third.stop(signal.SIGKILL)
    shutil.rmtree(third.data)
    third.raft = free_port()
    third.start()
    assert joins() == (3, 1, 1)
    wait_for("the new address", lambda: leader.members().get("3") == f"127.0.0.1:{third.raft}")

    # Removal asked of a follower reaches the leader as a cluster request.
    asked, other = (follower, leader) if leader.get("/status")["store"]["raft"]["state"] == "Leader" else (leader, follower)
    req = urllib.request.Request(f"http://127.0.0.1:{asked.http}/remove", data=b'{"id":"3"}', method="DELETE")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200
    assert other.cluster_vars()["num_remove_node_req"] == 1
    wait_for("node 3 to leave the configuration", lambda: "3" not in leader.members())


def test_restarted_node_joins_again(data):
    leader = make(data, node_id="1").start()
    leader.execute("CREATE TABLE t (x)", "INSERT INTO t VALUES(1)")
    follower = make(data, "-join", f"127.0.0.1:{leader.raft}", node_id="2").start()
    make(data, "-join", f"127.0.0.1:{leader.raft}", node_id="3").start()  # a majority while node 2 is away
    assert leader.cluster_vars()["num_join_req"] == 2

    # Restarted on its data with the same -join: the join is sent again, and ignored as already done.
    follower.stop()
    follower.start()
    wait_for("the join sent again", lambda: leader.cluster_vars()["num_join_req"] == 3)
    assert leader.store_vars()["num_ignored_joins"] == 1

    # Restarted on a new Raft address: the leader replaces the old entry, so the node is reachable again
    # and receives what was written while it was away.
    follower.stop()
    leader.execute("INSERT INTO t VALUES(2)")
    follower.raft = free_port()
    follower.start()
    wait_for("the new address", lambda: leader.members().get("2") == f"127.0.0.1:{follower.raft}")
    assert leader.store_vars()["num_removed_before_joins"] == 1
    wait_for("the follower to catch up", lambda: follower.get(
        "/db/query?q=SELECT+COUNT(*)+FROM+t&level=none")["results"][0].get("values") == [[2]])


def test_single_node_restarted_with_join_refuses(data):
    alone = make(data, node_id="1").start()
    other = make(data, node_id="9").start()
    alone.stop()
    alone.args = ["-join", f"127.0.0.1:{other.raft}"]
    alone.proc = subprocess.Popen(
        [RAFTLITED, "-node-id", "1", "-http-addr", f"127.0.0.1:{alone.http}", "-raft-addr", f"127.0.0.1:{alone.raft}"]
        + alone.args + [alone.data], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = alone.proc.communicate(timeout=20)
    assert alone.proc.returncode != 0
    assert b"node is the only node in a single-node cluster, joining other clusters not supported" in err
