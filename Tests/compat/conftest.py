"""Fixtures shared by the compatibility tests: a real raftlited on 127.0.0.1, stopped by its PID."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

RAFTLITED = os.environ.get("RAFTLITED", os.path.join(os.path.dirname(__file__), "../../.build/debug/raftlited"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def node():
    data = tempfile.mkdtemp(prefix="raftlite-pyrqlite-")
    http_port, raft_port = free_port(), free_port()
    log = open(data + ".log", "w")
    proc = subprocess.Popen(
        [RAFTLITED, "-node-id", "1", "-http-addr", f"127.0.0.1:{http_port}", "-raft-addr", f"127.0.0.1:{raft_port}", data + "/db"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, open(data + ".log").read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "node never became ready"
            time.sleep(0.05)
        yield http_port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(data, ignore_errors=True)
        os.unlink(data + ".log")
