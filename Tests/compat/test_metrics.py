"""/metrics scraped from a real node and parsed by the Prometheus client library's own text parser."""
import json
import urllib.request

from prometheus_client.parser import text_string_to_metric_families



def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return {f.name: f for f in text_string_to_metric_families(r.read().decode())}


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def value(family, **labels):
    for s in family.samples:
        if all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError(f"no sample {labels} in {family.name}")


def test_metrics_describe_raft_requests_and_fsyncs(node):
    post(node, "/db/execute", ["CREATE TABLE t (v)"])
    for i in range(5):
        post(node, "/db/execute", [["INSERT INTO t VALUES(?)", i]])
    m = scrape(node)
    assert value(m["raftlite_raft_role"], role="leader") == 1
    assert value(m["raftlite_raft_role"], role="follower") == 0
    assert value(m["raftlite_raft_term"]) >= 1
    assert value(m["raftlite_raft_applied_index"]) >= 6
    assert value(m["raftlite_raft_commit_index"]) >= value(m["raftlite_raft_applied_index"])
    assert value(m["raftlite_node_ready"]) == 1
    # Request counts and latency histograms per endpoint.
    assert value(m["raftlite_http_requests"], endpoint="execute", method="POST", status="200") == 6
    h = m["raftlite_http_request_duration_seconds"]
    assert h.type == "histogram"
    assert value(h, endpoint="execute", le="+Inf") == 6
    # Every acknowledged write went through an fsync of the log.
    f = m["raftlite_log_fsync_seconds"]
    assert f.type == "histogram"
    assert next(s.value for s in f.samples if s.name.endswith("_count")) >= 6


def test_backup_counters(node):
    post(node, "/db/execute", ["CREATE TABLE b (v)"])
    for _ in range(2):
        with urllib.request.urlopen(f"http://127.0.0.1:{node}/db/backup", timeout=10) as r:
            assert r.read(16) == b"SQLite format 3\x00"
    m = scrape(node)
    assert value(m["raftlite_backups"]) == 2
