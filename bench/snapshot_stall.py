#!/usr/bin/env python3
"""Snapshot write stalls and crash-restart breakdown of one large Raftlite node.

Starts one raftlited on 127.0.0.1 (free ports, private data directory), writes SIZE_MB MiB through it
(2000-row INSERT ... SELECT requests of 4000-byte rows, as RecoveryStormTests does), then ROUNDS times:
POST /snapshot while a writer issues single-row INSERTs one after another, printing the snapshot time,
the writes' p50 outside and during the snapshot and the longest write during it. With CRASH=1 it then
writes a log tail (TAIL_PCT % more rows), SIGKILLs the node, restarts it and prints the time to /readyz
200 with the phases seen in /status and the restart's log lines with their times (copy vs replay).

usage: SIZE_MB=1024 ROUNDS=2 CRASH=1 python3 bench/snapshot_stall.py
Env: RAFTLITED [.build/debug/raftlited], SIZE_MB [400], ROUNDS [2], CRASH [0], TAIL_PCT [10],
     KEEP=1 keeps the data directory (printed), TRACE=1 runs `perf trace --duration 5` on the node during
     each snapshot (syncs, writes, truncates, unlinks, renames taking 5 ms or more: trace-<round>.txt
     next to the data directory; use with KEEP=1).
Every process it starts is stopped by PID on exit; the data directory is removed unless KEEP=1.
"""
import collections
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

RAFTLITED = os.environ.get("RAFTLITED", os.path.join(os.path.dirname(__file__), "..", ".build", "debug", "raftlited"))
SIZE_MB = int(os.environ.get("SIZE_MB", "400"))
ROUNDS = int(os.environ.get("ROUNDS", "2"))
CRASH = os.environ.get("CRASH", "0") == "1"
TAIL_PCT = int(os.environ.get("TAIL_PCT", "10"))
TRACE = os.environ.get("TRACE", "0") == "1"
ROW_BYTES = 4000
ROWS_PER_REQUEST = 2000
PAYLOAD = "replace(hex(zeroblob(500)), '00', printf('%08d', x))"

started = []  # Popen objects to stop by PID


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, timeout=600):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def execute(port, statements):
    status, text = request(port, "POST", "/db/execute", json.dumps(statements))
    if status != 200 or '"error"' in text:
        raise RuntimeError(f"{status} {text[:300]}")
    return text


def start(data, http_port, raft_port, log_path):
    log = open(log_path, "ab")
    p = subprocess.Popen(
        [RAFTLITED, "-http-addr", f"127.0.0.1:{http_port}", "-raft-addr", f"127.0.0.1:{raft_port}", "-node-id", "bench",
         "-raft-log-level", "INFO", "-raft-snap", "1000000", data],
        stdout=log, stderr=subprocess.STDOUT)
    started.append(p)
    return p


def wait_ready(port, p, deadline_s=900, on_poll=None):
    deadline = time.time() + deadline_s
    while time.time() < deadline:
        if p.poll() is not None:
            raise RuntimeError("raftlited exited")
        try:
            if on_poll:
                on_poll()
            if request(port, "GET", "/readyz", timeout=30)[0] == 200:
                return True
        except OSError:
            pass
        time.sleep(0.01)
    return False


def stop(p, sig=signal.SIGTERM):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def insert_rows(port, first, last):
    while first <= last:
        end = min(last, first + ROWS_PER_REQUEST - 1)
        execute(port, [[f"WITH RECURSIVE c(x) AS (SELECT ? UNION ALL SELECT x + 1 FROM c WHERE x < ?) "
                        f"INSERT INTO t(id, payload) SELECT x, {PAYLOAD} FROM c", first, end]])
        first = end + 1


class Writer(threading.Thread):
    next_id = 1  # shared by every round's writer: ids stay unique

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.running, self.samples, self.failures = port, True, [], []

    def run(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        while self.running:
            began = time.time()
            try:
                c.request("POST", "/db/execute", body=json.dumps([["INSERT INTO acks(id) VALUES(?)", Writer.next_id]]),
                          headers={"Content-Type": "application/json"})
                r = c.getresponse()
                text = r.read().decode()
                if r.status == 200 and '"rows_affected":1' in text:
                    self.samples.append((began, time.time() - began))
                else:
                    self.failures.append(text[:200])
            except Exception as e:  # noqa: BLE001 - recorded and reported
                self.failures.append(str(e))
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            Writer.next_id += 1

    def latencies(self, a, b):
        return [l for (t, l) in list(self.samples) if (a <= t < b) or (t < a and t + l > a)]


def summarize_trace(path, a_ms, b_ms):
    """Durations of the Raft worker's log fdatasyncs (the thread and fd with the most fdatasyncs) inside
    and outside the snapshot window; perf trace's times count from its first event (~ its start)."""
    rows = []
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*([\d.]+) \(\s*([\d.]+) ms\): \S+/(\d+) (\w+)\(fd: (\d+)", line)
            if m and m[4] == "fdatasync":
                rows.append((float(m[1]), float(m[2]), (m[3], m[5])))
    if not rows:
        return
    log = collections.Counter(r[2] for r in rows).most_common(1)[0][0]
    inside = [r[1] for r in rows if r[2] == log and a_ms <= r[0] <= b_ms]
    outside = [r[1] for r in rows if r[2] == log and not a_ms <= r[0] <= b_ms]
    for label, xs in (("outside", outside), ("during", inside)):
        print(f"  log fdatasync {label}: n={len(xs)} p50={pct(xs, 0.5):.2f} p99={pct(xs, 0.99):.2f} max={max(xs, default=0):.2f} ms")


def pct(values, p):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * p))]


def main():
    root = tempfile.mkdtemp(prefix="raftlite-snapstall.")
    data = os.path.join(root, "node")
    log_path = os.path.join(root, "node.log")
    http_port, raft_port = free_port(), free_port()
    print(f"raftlited: {RAFTLITED}\ndata: {root}\nsize: {SIZE_MB} MiB", flush=True)
    try:
        p = start(data, http_port, raft_port, log_path)
        assert wait_ready(http_port, p), "not ready"
        execute(http_port, ["CREATE TABLE t (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)",
                            "CREATE TABLE acks (id INTEGER PRIMARY KEY)"])
        rows = SIZE_MB * (1 << 20) // ROW_BYTES
        t0 = time.time()
        insert_rows(http_port, 1, rows)
        print(f"RESULT load_seconds={time.time() - t0:.1f} rows={rows}", flush=True)
        # Let the checkpointer settle, as between the phases of the storm test.
        time.sleep(2)
        for rnd in range(1, ROUNDS + 1):
            w = Writer(http_port)
            w.start()
            while len(w.samples) < 200:
                time.sleep(0.01)
            tracer = None
            if TRACE:
                trace_path = os.path.join(root, f"trace-{rnd}.txt")
                tracer = subprocess.Popen(
                    ["perf", "trace", "-p", str(p.pid), "--duration", os.environ.get("TRACE_MS", "5"), "-o", trace_path,
                     "-e", "fsync,fdatasync,sync_file_range,ftruncate,unlink,unlinkat,rename,renameat,write,pwrite64"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                started.append(tracer)
                traced_at = time.time()
                time.sleep(1)
            a = time.time()
            print(f"  snapshot {rnd} POST at {time.strftime('%H:%M:%S', time.localtime(a))}.{int(a % 1 * 1000):03d}", flush=True)
            status, text = request(http_port, "POST", "/snapshot")
            b = time.time()
            n = len(w.samples)
            while len(w.samples) < n + 200:
                time.sleep(0.01)
            if tracer:
                stop(tracer, signal.SIGINT)
                summarize_trace(trace_path, (a - traced_at) * 1000, (b - traced_at) * 1000)
            w.running = False
            w.join()
            during, outside = w.latencies(a, b), w.latencies(0, a)
            worst = max(((l, t) for (t, l) in w.samples if (a <= t < b) or (t < a and t + l > a)), default=(0, a))
            print(f"RESULT round={rnd} snapshot_status={status} snapshot_seconds={b - a:.2f} "
                  f"write_p50_ms_outside={pct(outside, 0.5) * 1000:.1f} write_p99_ms_outside={pct(outside, 0.99) * 1000:.1f} "
                  f"write_max_ms_outside={max(outside, default=0) * 1000:.1f} write_p50_ms_during={pct(during, 0.5) * 1000:.1f} "
                  f"write_p99_ms_during={pct(during, 0.99) * 1000:.1f} write_max_ms_during={worst[0] * 1000:.1f} "
                  f"max_at_s={worst[1] - a:.2f} writes_during={len(during)} failures={len(w.failures)}", flush=True)
            slow = sorted(((t - a, l) for (t, l) in w.samples if a <= t < b and l > 0.02))
            print("  slow writes (start s after POST, ms): " + ", ".join(f"{s:.2f}:{l * 1000:.0f}" for s, l in slow[:30]), flush=True)
        if CRASH:
            tail = max(ROWS_PER_REQUEST, rows * TAIL_PCT // 100)
            insert_rows(http_port, rows + 1, rows + tail)
            for i in range(600):
                execute(http_port, [["INSERT INTO acks(id) VALUES(?)", 10_000_000 + i]])
            q = "SELECT COUNT(*), SUM(id) FROM t"
            expected = request(http_port, "GET", "/db/query?level=none&q=" + urllib.parse.quote(q))[1]
            stop(p, signal.SIGKILL)
            mark = os.path.getsize(log_path)
            phases = {}

            def poll():
                try:
                    doc = json.loads(request(http_port, "GET", "/status", timeout=30)[1])
                    ph = doc.get("node", {}).get("phase")
                    if ph:
                        phases.setdefault(ph, time.time())
                except (OSError, ValueError):
                    pass

            t0 = time.time()
            p = start(data, http_port, raft_port, log_path)
            ok = wait_ready(http_port, p, on_poll=poll)
            ready = time.time() - t0
            got = request(http_port, "GET", "/db/query?level=none&q=" + urllib.parse.quote(q))[1]
            print(f"RESULT crash_restart_ready_seconds={ready:.2f} ready={ok} rows_match={got == expected}", flush=True)
            print("  phases first seen (s after launch): "
                  + ", ".join(f"{k}={v - t0:.2f}" for k, v in sorted(phases.items(), key=lambda kv: kv[1])), flush=True)
            with open(log_path, "rb") as f:
                f.seek(mark)
                for line in f.read().decode(errors="replace").splitlines():
                    if os.environ.get("ALL_LOG") == "1" or any(k in line for k in ("restor", "rebuild", "replay", "applied", "ready", "leader", "open", "discard", "copied")):
                        print("  LOG " + line[:220])
        stop(p)
    finally:
        for q in started:
            stop(q, signal.SIGKILL if q.poll() is None else signal.SIGTERM)
        if os.environ.get("KEEP") == "1":
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
