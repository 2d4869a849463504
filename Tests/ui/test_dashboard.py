"""End-to-end test of the status dashboard served at /console/.

Starts the real `raftlited` binary (env RAFTLITED, default .build/debug/raftlited) on free ports, drives
headless Chromium through the DevTools protocol over `--remote-debugging-pipe` (Python standard library
only: no Selenium, no network), and checks what a person would see: node id, role and phase, the SQL
console, and the honest "unreachable" state once the node is gone. Saves screenshots to test-artifacts/.

Chromium comes from the Debian package `chromium` (env CHROMIUM overrides the binary). The test is skipped,
with the reason, only when no Chromium binary can be found.
"""

import base64
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import http.client
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
REFRESH_S = 2.0


# ---- helpers ---------------------------------------------------------------------------------------


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, predicate, timeout, interval=0.1):
    """Polls `predicate` until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")


def find_chromium():
    candidates = [os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "headless_shell"]
    for c in candidates:
        if c and shutil.which(c):
            return shutil.which(c)
    return None


class Daemon:
    """One raftlited process on 127.0.0.1 with its own data directory."""

    def __init__(self, binary, workdir, node_id="1", join=None, extra=()):
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self.node_id = node_id
        self.http_port = free_port()
        self.raft_port = free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.log_path = Path(workdir) / "raftlited.log"
        self.data = Path(workdir) / "data"
        args = [
            str(binary),
            "-node-id", node_id,
            "-http-addr", f"127.0.0.1:{self.http_port}",
            "-raft-addr", f"127.0.0.1:{self.raft_port}",
            "-public-dir", str(REPO / "public"),
            *(["-join", join] if join else []),
            *extra,
            str(self.data),
        ]
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, cwd=workdir)

    def get(self, path, timeout=2.0):
        try:
            with urllib.request.urlopen(self.base + path, timeout=timeout) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def wait_ready(self, timeout=60.0):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"raftlited exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                status, body = self.get("/readyz", timeout=1.0)
            except OSError:
                return False
            return status == 200 and "[+]store ok" in body

        wait_until("/readyz to report ready", ready, timeout)

    def terminate(self, timeout=15.0):
        """SIGTERM by PID, then wait; SIGKILL only if it does not exit in time."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.log.close()

    def kill(self):
        """SIGKILL by PID: the node vanishes without saying goodbye to the cluster."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self.log.close()

    def log_tail(self, n=4000):
        try:
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""


class CDPError(Exception):
    pass


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe (fds 3 and 4 of the child)."""

    def __init__(self, binary, profile_dir, width=1280, height=900):
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()

        def child_fds():
            # Move the pipe ends out of the way first so the dup2 calls cannot clobber each other.
            a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [
            binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-background-timer-throttling",
            "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            "--hide-scrollbars",
            "--force-color-profile=srgb",
            f"--window-size={width},{height}",
            f"--user-data-dir={profile_dir}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.stderr = open(Path(profile_dir).parent / "chromium.log", "wb")
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self.stderr,
            stderr=subprocess.STDOUT,
            pass_fds=(3, 4),
            preexec_fn=child_fds,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.wfd = to_chrome_w
        self.rfile = os.fdopen(from_chrome_r, "rb", buffering=0)
        self.next_id = 0
        self.lock = threading.Lock()
        self.pending = {}
        self.events = []
        self.closed = False
        self.reader = threading.Thread(target=self._read_loop, daemon=True)
        self.reader.start()
        self.session = None

    def _read_loop(self):
        buf = b""
        while True:
            try:
                chunk = self.rfile.read(65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self.lock:
                        slot = self.pending.get(msg["id"])
                    if slot is not None:
                        slot["msg"] = msg
                        slot["event"].set()
                else:
                    with self.lock:
                        self.events.append(msg)
        self.closed = True
        with self.lock:
            for slot in self.pending.values():
                slot["event"].set()

    def send(self, method, params=None, session=True, timeout=30.0):
        with self.lock:
            self.next_id += 1
            mid = self.next_id
            slot = {"event": threading.Event(), "msg": None}
            self.pending[mid] = slot
        msg = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            n = os.write(self.wfd, data)
            data = data[n:]
        if not slot["event"].wait(timeout):
            raise CDPError(f"{method}: no reply within {timeout}s")
        with self.lock:
            del self.pending[mid]
        reply = slot["msg"]
        if reply is None:
            raise CDPError(f"{method}: browser closed the pipe")
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def open_page(self, width, height):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)[
            "sessionId"
        ]
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.set_viewport(width, height, mobile=False)

    def set_viewport(self, width, height, mobile):
        self.viewport = (width, height, mobile)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )

    def set_color_scheme(self, scheme):
        self.send("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": scheme}]})

    def navigate(self, url):
        reply = self.send("Page.navigate", {"url": url})
        if reply.get("errorText"):
            raise CDPError(f"navigate {url}: {reply['errorText']}")

    def eval(self, expression):
        reply = self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in reply:
            raise CDPError(f"evaluate {expression!r}: {reply['exceptionDetails']}")
        return reply.get("result", {}).get("value")

    def text(self, selector):
        return self.eval(
            f"(function(){{var e=document.querySelector({json.dumps(selector)});"
            f"return e?e.textContent.trim():null}})()"
        )

    def key(self, key, code, keycode, modifiers=0):
        for kind in ("rawKeyDown", "keyUp"):
            self.send(
                "Input.dispatchKeyEvent",
                {
                    "type": kind,
                    "key": key,
                    "code": code,
                    "windowsVirtualKeyCode": keycode,
                    "nativeVirtualKeyCode": keycode,
                    "modifiers": modifiers,
                },
            )

    def screenshot(self, path, full_page=True):
        """PNG of the viewport, or of the whole page by growing the viewport to the page's height (so
        sticky elements stay where a person sees them)."""
        width, height, mobile = self.viewport
        if full_page:
            full = self.eval("Math.ceil(document.documentElement.scrollHeight)")
            self.set_viewport(width, max(height, int(full)), mobile)
            self.eval("new Promise(function(r){requestAnimationFrame(function(){requestAnimationFrame(r)})})")
        try:
            data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        finally:
            if full_page:
                self.set_viewport(width, height, mobile)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(base64.b64decode(data))

    def exceptions(self):
        with self.lock:
            return [e for e in self.events if e.get("method") == "Runtime.exceptionThrown"]

    def close(self):
        try:
            if not self.closed:
                self.send("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
        try:
            os.close(self.wfd)
        except OSError:
            pass
        self.stderr.close()


# ---- fixtures --------------------------------------------------------------------------------------


@pytest.fixture
def workdir():
    d = tempfile.mkdtemp(prefix="raftlite-ui-")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def daemon_binary():
    binary = Path(os.environ.get("RAFTLITED", REPO / ".build" / "debug" / "raftlited"))
    if not binary.is_absolute():
        binary = REPO / binary
    assert binary.exists(), f"raftlited binary not found at {binary} (build it, or set RAFTLITED)"
    return binary


@pytest.fixture
def daemon(workdir):
    d = Daemon(daemon_binary(), workdir)
    try:
        d.wait_ready()
        yield d
    finally:
        d.terminate()


@pytest.fixture
def cluster(workdir):
    """Three real nodes on 127.0.0.1: node 1 bootstraps alone, nodes 2 and 3 join it."""
    binary = daemon_binary()
    fast = ["-raft-heartbeat-timeout", "500ms"]
    nodes = []
    try:
        first = Daemon(binary, workdir / "node1", node_id="1", extra=fast)
        nodes.append(first)
        first.wait_ready()
        join = f"127.0.0.1:{first.raft_port}"
        for i in (2, 3):
            # Node 2 lets other origins read its API, so the leader's page can show its own term and
            # indexes; node 3 does not, so the page has to make do with the leader's replication view.
            cors = ["-http-allow-origin", "*"] if i == 2 else []
            nodes.append(Daemon(binary, workdir / f"node{i}", node_id=str(i), join=join, extra=fast + cors))
        for n in nodes:
            n.wait_ready()
        yield nodes
    finally:
        for n in nodes:
            n.terminate()


@pytest.fixture
def browser(workdir):
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (apt-get install -y chromium, or set CHROMIUM)")
    profile = workdir / "chromium-profile"
    profile.mkdir()
    b = Chromium(binary, profile)
    try:
        b.open_page(1280, 900)
        yield b
    finally:
        b.close()


# ---- the test --------------------------------------------------------------------------------------


def run_sql(browser, sql):
    """Types SQL into the console like a user and runs it with Ctrl+Enter; returns the output text."""
    browser.eval(
        "(function(){var t=document.getElementById('sql-input');t.focus();t.value='';"
        "t.setSelectionRange(0,0);document.getElementById('sql-output').textContent='';})()"
    )
    browser.send("Input.insertText", {"text": sql})
    browser.key("Enter", "Enter", 13, modifiers=2)  # Ctrl+Enter
    return wait_until(
        f"result of {sql!r}",
        lambda: (
            browser.eval(
                "(function(){var o=document.getElementById('sql-output');"
                "return o.getAttribute('aria-busy')?'':o.textContent.trim()})()"
            )
            or None
        ),
        timeout=15,
    )


def test_dashboard(daemon, browser):
    # `/` sends people to the dashboard.
    conn = http.client.HTTPConnection("127.0.0.1", daemon.http_port, timeout=5)
    conn.request("GET", "/")
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status in (301, 302), f"GET / answered {resp.status}"
    assert resp.getheader("Location", "").endswith("/console/"), resp.getheader("Location")

    browser.navigate(daemon.base + "/console/")
    wait_until("the page to load", lambda: browser.eval("document.readyState") == "complete", 15)
    assert browser.eval("!!document.getElementById('panel-sql')"), "dashboard markup missing"
    assert browser.eval(
        "getComputedStyle(document.querySelector('.card')).borderRadius !== '0px'"
    ), "stylesheet not applied (is static/style.css served as text/css?)"

    # This node's status, live.
    wait_until("node id 1", lambda: browser.text("#node-id") == "1", 10)
    wait_until("role Leader", lambda: browser.text("#raft-state") == "Leader", 10)
    wait_until("phase ready", lambda: browser.text("#phase") == "ready", 10)
    wait_until("state Live", lambda: browser.text("#conn-label") == "Live", 10)
    assert "Updated" in browser.text("#last-updated")
    wait_until("readiness", lambda: browser.text("#ready") == "ready", 10)
    wait_until("the nodes table", lambda: "Leader" in (browser.text("#nodes-body") or ""), 10)
    assert browser.eval("document.getElementById('unreachable-banner').hidden") is True

    # SQL console: a write, another write, a read rendered as a table.
    out = run_sql(browser, "CREATE TABLE t(x)")
    assert "rows affected" in out or "OK" in out, out
    assert browser.eval("document.querySelectorAll('#sql-output .error-text').length") == 0, out
    out = run_sql(browser, "INSERT INTO t VALUES(42)")
    assert "rows affected: 1" in out, out
    assert "last insert id: 1" in out, out
    run_sql(browser, "SELECT * FROM t")
    cells = browser.eval(
        "Array.from(document.querySelectorAll('#sql-output table tbody td')).map(function(td){return td.textContent})"
    )
    headers = browser.eval(
        "Array.from(document.querySelectorAll('#sql-output table thead th')).map(function(th){return th.firstChild.textContent})"
    )
    assert cells == ["42"], cells
    assert headers == ["x"], headers

    # A failing statement is shown as an error, in red.
    out = run_sql(browser, "SELECT * FROM nope")
    assert "no such table" in out, out
    assert browser.eval("document.querySelectorAll('#sql-output .error-text').length") == 1
    run_sql(browser, "SELECT * FROM t")

    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "dashboard.png")

    # A phone-sized viewport: no horizontal scrolling of the page itself.
    browser.set_viewport(390, 844, mobile=True)
    wait_until(
        "layout to fit a phone",
        lambda: browser.eval("document.documentElement.scrollWidth <= window.innerWidth + 1"),
        5,
    )
    browser.screenshot(ARTIFACTS / "dashboard-mobile.png")
    browser.set_viewport(1280, 900, mobile=False)
    browser.set_color_scheme("dark")
    browser.screenshot(ARTIFACTS / "dashboard-dark.png")
    browser.set_color_scheme("light")

    # The node goes away: the page must say so, and not keep presenting old data as current.
    daemon.terminate()
    wait_until(
        "the page to show unreachable",
        lambda: browser.text("#conn-label") == "Unreachable"
        and browser.eval("document.getElementById('unreachable-banner').hidden") is False,
        timeout=5 * REFRESH_S,
    )
    assert "unreachable" in browser.text("#unreachable-banner").lower()
    assert browser.eval("document.body.classList.contains('is-stale')") is True
    assert "Last update" in browser.text("#last-updated")
    # Nor does it keep claiming the cluster is healthy.
    assert browser.eval("document.getElementById('cluster-banner').dataset.health") == "unknown"
    assert browser.text("#cluster-leader") == "—"
    browser.screenshot(ARTIFACTS / "dashboard-unreachable.png", full_page=False)

    # The page never threw.
    assert browser.exceptions() == [], json.dumps(browser.exceptions(), indent=2)[:4000]


def node_rows(browser):
    """The nodes table as a person reads it: {id: {reachable, role, cells...}}."""
    return browser.eval(
        """(function(){var out={};document.querySelectorAll('#nodes-body tr[data-node-id]').forEach(function(tr){
          var c=tr.children;out[tr.getAttribute('data-node-id')]={reachable:tr.getAttribute('data-reachable'),
          id:c[0].textContent.trim(),role:c[2].textContent.trim(),reach:c[3].textContent.trim(),
          term:c[4].textContent.trim(),commit:c[5].textContent.trim(),applied:c[6].textContent.trim(),
          lastlog:c[7].textContent.trim(),lag:c[8].textContent.trim(),contact:c[9].textContent.trim()}});
          return out})()"""
    )


def banner(browser):
    return browser.eval(
        """(function(){var b=document.getElementById('cluster-banner');return {health:b.getAttribute('data-health'),
          title:document.getElementById('cluster-health').textContent.trim(),
          detail:document.getElementById('cluster-detail').textContent.trim(),
          tolerance:document.getElementById('cluster-tolerance').textContent.trim(),
          voters:document.getElementById('cluster-voters').textContent.trim()}})()"""
    )


def leader_of(nodes):
    for n in nodes:
        try:
            code, body = n.get("/status", timeout=2.0)
        except OSError:
            continue
        if code == 200:
            lid = (json.loads(body).get("store") or {}).get("leader", {}).get("node_id")
            if lid:
                return lid
    return None


def test_dashboard_cluster(cluster, browser):
    leader_id = wait_until("a leader", lambda: leader_of(cluster), 30)
    leader = next(n for n in cluster if n.node_id == leader_id)
    followers = [n for n in cluster if n.node_id != leader_id]
    # The victim is a follower; node 3 (no CORS) when it is one, so node 2's own status stays visible.
    followers.sort(key=lambda n: n.node_id != "3")
    victim, survivor = followers[0], followers[1]

    browser.navigate(leader.base + "/console/")
    wait_until("the page to load", lambda: browser.eval("document.readyState") == "complete", 15)

    # All three members listed and reachable, the leader marked, replication progress from the leader.
    def all_listed():
        rows = node_rows(browser)
        return set(rows) == {"1", "2", "3"} and all(r["reachable"] == "true" for r in rows.values()) and rows
    rows = wait_until("three reachable nodes", all_listed, 15)
    assert rows[leader_id]["role"] == "Leader", rows
    assert "this node" in rows[leader_id]["id"], rows
    for f in followers:
        assert rows[f.node_id]["role"] == "Follower", rows
    wait_until(
        "followers' match index and lag",
        lambda: all(
            node_rows(browser)[f.node_id]["lastlog"] not in ("", "—") and node_rows(browser)[f.node_id]["lag"] not in ("", "—")
            for f in followers
        ),
        10,
    )
    assert rows[leader_id]["term"] not in ("", "—"), rows
    if survivor.node_id == "2":
        # Read cross-origin from node 2 itself.
        wait_until("node 2's own term and indexes", lambda: node_rows(browser)["2"]["applied"] not in ("", "—"), 10)

    b = wait_until("banner healthy", lambda: (lambda b: b if b["health"] == "healthy" else None)(banner(browser)), 10)
    assert b["title"] == "Healthy", b
    assert b["tolerance"] == "1", b
    assert b["voters"] == "3 / 3", b
    assert "1 more failure" in b["detail"], b

    # Snapshots and auto-backups panels say what they know.
    code, _ = http_post(leader, "/snapshot")
    assert code == 200, code
    wait_until("the snapshot to be shown", lambda: "index" in (browser.text("#kv-snapshots") or ""), 10)
    backups = browser.text("#panel-backups")
    assert "not configured" in backups.lower() or "Destination" in backups, backups

    # The SQL console, at a chosen read level.
    out = run_sql(browser, "CREATE TABLE fruit(id INTEGER PRIMARY KEY, name TEXT)")
    assert "rows affected" in out or "OK" in out, out
    out = run_sql(browser, "INSERT INTO fruit(name) VALUES('apple'), ('pear')")
    assert "rows affected: 2" in out, out
    browser.eval("(function(){var s=document.getElementById('sql-level');s.value='strong';"
                 "s.dispatchEvent(new Event('change'))})()")
    out = run_sql(browser, "SELECT name FROM fruit ORDER BY id")
    assert "level strong" in out, out
    cells = browser.eval(
        "Array.from(document.querySelectorAll('#sql-output table tbody td')).map(function(td){return td.textContent})"
    )
    assert cells == ["apple", "pear"], cells

    # Request rates come from /metrics deltas; the console's statements went through /db/request.
    wait_until("request rates", lambda: browser.eval("!document.getElementById('traffic-rates').hidden"), 10)
    assert "/db/request" in browser.text("#kv-traffic"), browser.text("#kv-traffic")

    # Real writes and reads against the leader show up as rates with a mean latency.
    def traffic_shown():
        http_post(leader, "/db/execute", json.dumps(["INSERT INTO fruit(name) VALUES('plum')"]).encode())
        leader.get("/db/query?q=" + urllib.parse.quote("SELECT COUNT(*) FROM fruit"))
        w, r = browser.text("#rate-write"), browser.text("#rate-read")
        return w not in ("0", "—") and r not in ("0", "—") and "ms" in browser.text("#lat-write") and (w, r)
    wait_until("write and read rates", traffic_shown, 15, interval=0.05)

    # A follower dies without warning: the table says so, and the banner counts it.
    victim.kill()
    rows = wait_until(
        f"node {victim.node_id} shown unreachable",
        lambda: (lambda r: r if r.get(victim.node_id, {}).get("reachable") == "false" else None)(node_rows(browser)),
        10 * REFRESH_S,
    )
    assert "unreachable" in rows[victim.node_id]["reach"], rows
    # No stale numbers presented as current.
    assert all(rows[victim.node_id][k] == "—" for k in ("term", "commit", "applied", "lastlog", "lag")), rows
    assert rows[leader_id]["role"] == "Leader", rows
    b = wait_until("banner degraded", lambda: (lambda b: b if b["health"] == "degraded" else None)(banner(browser)), 10)
    assert b["tolerance"] == "0", b
    assert b["voters"] == "2 / 3", b
    assert f"node {victim.node_id}" in b["detail"].lower(), b
    assert "Degraded" in b["title"], b
    # This node itself is still live: the page is not stale.
    assert browser.text("#conn-label") == "Live"

    ARTIFACTS.mkdir(exist_ok=True)
    browser.eval("window.scrollTo(0,0)")
    browser.screenshot(ARTIFACTS / "dashboard-cluster.png")
    browser.set_viewport(390, 844, mobile=True)
    wait_until(
        "layout to fit a phone",
        lambda: browser.eval("document.documentElement.scrollWidth <= window.innerWidth + 1"),
        5,
    )
    browser.screenshot(ARTIFACTS / "dashboard-cluster-mobile.png")
    # What a phone shows first: the banner and, scrolled to it, the members.
    browser.screenshot(ARTIFACTS / "dashboard-cluster-mobile-top.png", full_page=False)
    browser.eval("document.getElementById('panel-nodes').scrollIntoView()")
    browser.screenshot(ARTIFACTS / "dashboard-cluster-mobile-nodes.png", full_page=False)
    browser.eval("window.scrollTo(0,0)")
    browser.set_viewport(1280, 900, mobile=False)
    browser.set_color_scheme("dark")
    browser.screenshot(ARTIFACTS / "dashboard-cluster-dark.png")
    browser.set_color_scheme("light")

    # A surviving follower's page: it has no replication view, but reachability and health still hold.
    browser.navigate(survivor.base + "/console/")
    wait_until("the follower's page to load", lambda: browser.eval("document.readyState") == "complete", 15)
    rows = wait_until(
        "the follower's table",
        lambda: (lambda r: r if r.get(victim.node_id, {}).get("reachable") == "false" and r.get(leader_id) else None)(
            node_rows(browser)
        ),
        10,
    )
    assert rows[leader_id]["role"] == "Leader", rows
    assert "this node" in rows[survivor.node_id]["id"], rows
    assert rows[survivor.node_id]["term"] not in ("", "—"), rows
    b = wait_until("banner degraded", lambda: (lambda b: b if b["health"] == "degraded" else None)(banner(browser)), 10)
    assert b["tolerance"] == "0", b
    assert "leader" in browser.text("#nodes-footnote").lower(), browser.text("#nodes-footnote")
    browser.screenshot(ARTIFACTS / "dashboard-cluster-follower.png", full_page=False)

    assert browser.exceptions() == [], json.dumps(browser.exceptions(), indent=2)[:4000]


def http_post(node, path, body=b""):
    headers = {"Content-Type": "application/json"} if body else {}
    req = urllib.request.Request(node.base + path, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


# Lets a test rewrite this page's /status responses (window.__patchStatus(obj)), to show states a healthy
# single node cannot be put in on demand: recovery in progress, no leader, auto-backups configured.
STATUS_SHIM = """
(function () {
  var orig = window.fetch;
  window.fetch = function (input, init) {
    return orig.apply(this, arguments).then(function (resp) {
      var url = new URL(typeof input === 'string' ? input : input.url, location.href);
      if (url.pathname !== '/status' || !window.__patchStatus || !resp.ok) return resp;
      return resp.clone().json().then(function (obj) {
        window.__patchStatus(obj);
        return new Response(JSON.stringify(obj), { status: resp.status, headers: resp.headers });
      });
    });
  };
})();
"""


def test_dashboard_states(daemon, browser):
    browser.send("Page.addScriptToEvaluateOnNewDocument", {"source": STATUS_SHIM})
    browser.navigate(daemon.base + "/console/")
    wait_until("the page to load", lambda: browser.eval("document.readyState") == "complete", 15)
    wait_until("banner healthy", lambda: browser.eval("document.getElementById('cluster-banner').dataset.health") == "healthy", 10)
    assert browser.text("#cluster-tolerance") == "0"  # a single voter tolerates no failure
    assert "not configured" in browser.text("#panel-backups").lower()

    # Keyboard: the skip link comes first; from the read level, Tab reaches Run and Enter runs it.
    browser.eval("document.activeElement && document.activeElement.blur(); window.scrollTo(0,0)")
    browser.key("Tab", "Tab", 9)
    assert browser.eval("document.activeElement.className") == "skip-link"
    browser.eval("(function(){document.getElementById('sql-input').value='SELECT 7 AS n';"
                 "document.getElementById('sql-level').focus()})()")
    browser.key("Tab", "Tab", 9)
    assert browser.eval("document.activeElement.id") == "sql-run"
    # A real key press (keyDown with text), which is what activates a focused button.
    for kind in ("keyDown", "keyUp"):
        browser.send("Input.dispatchKeyEvent", {"type": kind, "key": "Enter", "code": "Enter",
                                               "windowsVirtualKeyCode": 13, "text": "\r" if kind == "keyDown" else ""})
    wait_until("the keyboard-run query", lambda: browser.eval(
        "Array.from(document.querySelectorAll('#sql-output table tbody td')).map(function(t){return t.textContent}).join()"
    ) == "7", 10)

    # Auto-backups configured: destination, last upload and its result, when the next one is due.
    browser.eval(
        """window.__patchStatus = function (s) {
          s.auto_backups = { upload_destination: 's3://backups/raftlite.sqlite.gz', upload_interval: '5m0s',
            last_upload_time: new Date(Date.now() - 30000).toISOString(), last_upload_duration: '412.5ms',
            last_index: 12345, num_uploads_ok: 7, num_uploads_fail: 1, num_uploads_skipped: 3, num_uploads_skipped_id: 0 };
        }"""
    )
    wait_until("the backup panel", lambda: "s3://backups" in (browser.text("#kv-backups") or ""), 10)
    text = browser.text("#kv-backups")
    for want in ("uploaded", "12345", "7 ok", "1 failed", "in 4 min", "413 ms"):
        assert want in text, (want, text)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "dashboard-backups.png", full_page=False)

    # This node recovering: store not open, phase and progress shown, cluster state honestly unknown.
    browser.eval(
        """window.__patchStatus = function (s) {
          s.node.phase = 'replaying log'; s.node.phase_detail = 'applying entries after the snapshot';
          s.node.progress = { label: 'log entries', done: 420, total: 1000, unit: 'entries' };
          s.store = { open: false };
        }"""
    )
    wait_until("phase replaying log", lambda: browser.text("#phase") == "replaying log", 10)
    wait_until("progress", lambda: "420 / 1000 entries" in (browser.text("#phase-progress-label") or ""), 10)
    assert browser.eval("document.getElementById('phase-progress-bar').value") == 42
    assert browser.eval("document.getElementById('cluster-banner').dataset.health") == "unknown"
    assert "replaying log" in browser.text("#cluster-detail")
    browser.screenshot(ARTIFACTS / "dashboard-recovering.png", full_page=False)

    # No leader known: said plainly.
    browser.eval("window.__patchStatus = function (s) { s.store.leader = {}; }")
    wait_until("banner no leader", lambda: browser.eval("document.getElementById('cluster-banner').dataset.health") == "noleader", 10)
    assert browser.text("#cluster-health") == "No leader"

    assert browser.exceptions() == [], json.dumps(browser.exceptions(), indent=2)[:4000]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
