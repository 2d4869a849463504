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

    def __init__(self, binary, workdir):
        self.http_port = free_port()
        self.raft_port = free_port()
        self.base = f"http://127.0.0.1:{self.http_port}"
        self.log_path = Path(workdir) / "raftlited.log"
        self.data = Path(workdir) / "data"
        args = [
            str(binary),
            "-node-id", "1",
            "-http-addr", f"127.0.0.1:{self.http_port}",
            "-raft-addr", f"127.0.0.1:{self.raft_port}",
            "-public-dir", str(REPO / "public"),
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


@pytest.fixture
def daemon(workdir):
    binary = Path(os.environ.get("RAFTLITED", REPO / ".build" / "debug" / "raftlited"))
    if not binary.is_absolute():
        binary = REPO / binary
    assert binary.exists(), f"raftlited binary not found at {binary} (build it, or set RAFTLITED)"
    d = Daemon(binary, workdir)
    try:
        d.wait_ready()
        yield d
    finally:
        d.terminate()


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
    browser.screenshot(ARTIFACTS / "dashboard-unreachable.png", full_page=False)

    # The page never threw.
    assert browser.exceptions() == [], json.dumps(browser.exceptions(), indent=2)[:4000]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
