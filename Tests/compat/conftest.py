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


DEADLINE = 20


def wait_for(what, condition, deadline=DEADLINE):
    """Polls `condition` until it returns something truthy (returned), failing after `deadline` seconds."""
    end = time.monotonic() + deadline
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


class Node:
    """One raftlited on 127.0.0.1 over a data directory that outlives it, so it can be restarted; stopped by
    its PID."""

    def __init__(self, data, *args, node_id="1"):
        self.data, self.args, self.node_id = data, list(args), node_id
        self.http, self.raft = free_port(), free_port()
        self.proc = None
        self.log = open(data + ".log", "a")

    @property
    def port(self):
        return self.http

    def start(self):
        self.proc = subprocess.Popen(
            [RAFTLITED, "-node-id", self.node_id, "-http-addr", f"127.0.0.1:{self.http}", "-raft-addr", f"127.0.0.1:{self.raft}"]
            + self.args + [self.data], stdout=self.log, stderr=subprocess.STDOUT)

        def ready():
            assert self.proc.poll() is None, open(self.data + ".log").read()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/readyz", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False
        wait_for("the node to be ready", ready, deadline=30)
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture
def node():
    data = tempfile.mkdtemp(prefix="raftlite-pyrqlite-")
    n = Node(data + "/db")
    try:
        yield n.start().http
    finally:
        n.stop()
        n.log.close()
        shutil.rmtree(data, ignore_errors=True)
