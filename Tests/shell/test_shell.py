"""The `raftlite` shell against a real raftlited: through a pipe (plain output, SQL from stdin) and through a
pseudo-terminal (prompt, line editing, history, dot-commands)."""
import base64
import fcntl
import http.server
import os
import pty
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import termios
import threading
import time
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "../.."))
SCRATCH = os.path.join(ROOT, ".build-shell")
RAFTLITE = os.environ.get("RAFTLITE", os.path.join(SCRATCH, "debug/raftlite"))
RAFTLITED = os.environ.get("RAFTLITED", os.path.join(SCRATCH, "debug/raftlited"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def binaries():
    missing = [p for p in (RAFTLITE, RAFTLITED) if not os.path.exists(p)]
    if missing:
        subprocess.run(
            ["swift", "build", "--product", "raftlite", "--product", "raftlited", "--scratch-path", SCRATCH],
            cwd=ROOT, check=True)
    for p in (RAFTLITE, RAFTLITED):
        assert os.path.exists(p), f"{p} was not built"
    return RAFTLITE, RAFTLITED


@pytest.fixture(scope="module")
def node(binaries):
    data = tempfile.mkdtemp(prefix="raftlite-shell-")
    http_port, raft_port = free_port(), free_port()
    log = open(os.path.join(data, "node.log"), "w")
    proc = subprocess.Popen(
        [binaries[1], "-node-id", "1", "-http-addr", f"127.0.0.1:{http_port}",
         "-raft-addr", f"127.0.0.1:{raft_port}", os.path.join(data, "data")],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, open(os.path.join(data, "node.log")).read()
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


@pytest.fixture
def home(tmp_path):
    """A HOME of its own, so the shell's history file is the test's."""
    h = tmp_path / "home"
    h.mkdir()
    return h


def shell(args, stdin, home=None, env_extra=None, timeout=60):
    env = dict(os.environ)
    env.pop("RQLITE_HOST", None)
    if home is not None:
        env["HOME"] = str(home)
    env.update(env_extra or {})
    return subprocess.run([RAFTLITE] + args, input=stdin, capture_output=True, text=True, env=env, timeout=timeout)


# MARK: pipe


def test_pipe_creates_inserts_and_prints_aligned_table(binaries, node, home):
    r = shell(["-H", "127.0.0.1", "-p", str(node)],
              "CREATE TABLE t(x INTEGER, y TEXT);\nINSERT INTO t VALUES(1, \"a\");\nSELECT * FROM t;\n.tables\n",
              home=home)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    first, rest = r.stdout.split("\n", 1)
    assert re.fullmatch(r"\d+ rows? affected", first)  # CREATE TABLE
    assert rest == (
        "1 row affected\n"
        "+---+---+\n"
        "| x | y |\n"
        "+---+---+\n"
        "| 1 | a |\n"
        "+---+---+\n"
        "+------+\n"
        "| name |\n"
        "+------+\n"
        "| t    |\n"
        "+------+\n")
    assert "127.0.0.1" not in r.stdout  # no prompt when stdin is not a terminal
    assert "\x1b" not in r.stdout  # no colours or cursor movement
    assert not (home / ".raftlite_history").exists()


def test_pipe_multiline_statements_modes_and_settings(binaries, node, home):
    sql = (
        "CREATE TABLE m(id INTEGER PRIMARY KEY, name TEXT, score REAL);\n"
        "INSERT INTO m(name, score) VALUES('fiona', 1.5), ('declan', NULL);\n"
        "SELECT id,\n"
        "       name\n"
        "  FROM m ORDER BY id; SELECT count(*) AS n FROM m;\n"
        ".mode csv\nSELECT * FROM m ORDER BY id;\n"
        ".mode json\nSELECT * FROM m ORDER BY id;\n"
        ".mode line\nSELECT name FROM m WHERE id = 1;\n"
        ".mode column\n.changes on\nINSERT INTO m(name) VALUES('erin');\n"
        ".timer on\nSELECT 1 AS one;\n.timer off\n"
        ".consistency strong\n.consistency\nSELECT name FROM m WHERE id = 3;\n"
        ".show\n"
        "-- a comment line\n"
        "INSERT INTO m(name) VALUES('semi;colon');\n"
        "SELECT name FROM m WHERE name LIKE '%;%';\n")
    r = shell(["-H", "127.0.0.1", "-p", str(node)], sql, home=home)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "+----+--------+\n| id | name   |\n+----+--------+\n| 1  | fiona  |\n| 2  | declan |\n+----+--------+\n" in out
    assert "| n |\n+---+\n| 2 |\n" in out
    assert "id,name,score\n1,fiona,1.5\n2,declan,\n" in out
    assert '[{"id":1,"name":"fiona","score":1.5},\n{"id":2,"name":"declan","score":null}]\n' in out
    assert "name = fiona\n" in out
    assert "1 row affected\nlast insert ID: 3\n" in out
    assert "Run Time: " in out
    assert "strong\n" in out
    assert "| erin |" in out
    assert " consistency: strong\n" in out and "        mode: column\n" in out
    assert "| semi;colon |" in out


def test_pipe_aligns_wide_characters(binaries, node, home):
    r = shell(["-p", str(node)], "SELECT '日本' AS w UNION ALL SELECT 'abcde' UNION ALL SELECT 'é';\n", home=home)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "+-------+\n| w     |\n+-------+\n| 日本  |\n| abcde |\n| é     |\n+-------+\n"


def test_pipe_errors_are_reported_and_set_exit_status(binaries, node, home):
    r = shell(["-H", "127.0.0.1", "-p", str(node)],
              "SELEKT 1;\nSELECT * FROM no_such_table;\n.nosuchcommand\nSELECT 42 AS answer;\n", home=home)
    assert r.returncode == 1
    assert 'Error: near "SELEKT": syntax error' in r.stderr
    assert "Error: no such table: no_such_table" in r.stderr
    assert 'Error: unknown command or invalid arguments: ".nosuchcommand"' in r.stderr
    assert "| 42     |" in r.stdout  # the shell keeps going after an error


def test_closed_port_is_a_clear_error(binaries, home):
    port = free_port()
    r = shell(["-H", "127.0.0.1", "-p", str(port)], "SELECT 1;\n", home=home)
    assert r.returncode == 1
    assert f"Error: cannot connect to 127.0.0.1:{port}: Connection refused" in r.stderr
    assert r.stdout == ""


def test_alternatives_take_over_when_the_host_is_down(binaries, node, home):
    r = shell(["-H", "127.0.0.1", "-p", str(free_port()), "-a", f"127.0.0.1:{node}"], "SELECT 7 AS seven;\n.show\n",
              home=home)
    assert r.returncode == 0, r.stderr
    assert "| 7     |" in r.stdout
    assert f"host: 127.0.0.1:{node}" in r.stdout


def test_rqlite_host_environment(binaries, node, home):
    r = shell([], "SELECT 8 AS eight;\n", home=home, env_extra={"RQLITE_HOST": f"http://127.0.0.1:{node}"})
    assert r.returncode == 0, r.stderr
    assert "| 8     |" in r.stdout


def test_https_and_bad_flags_are_refused(binaries, home):
    r = shell(["-s", "https"], "", home=home)
    assert r.returncode != 0
    assert "not supported yet" in r.stderr
    r = shell(["-u", "nocolon"], "", home=home)
    assert r.returncode != 0
    assert "username:password" in r.stderr
    r = shell(["-v"], "", home=home)
    assert r.returncode == 0 and r.stdout.startswith("raftlite v")


def test_read_output_and_status_commands(binaries, node, home, tmp_path):
    script = tmp_path / "script.sql"
    script.write_text("CREATE TABLE r(a);\nINSERT INTO r VALUES('from-file');\n")
    out = tmp_path / "out.txt"
    r = shell(["-p", str(node)],
              f".read {script}\n.output {out}\nSELECT a FROM r;\n.output\nSELECT 'back' AS w;\n"
              ".nodes\n.status store.raft\n.ready\n.leader\n.help\n", home=home)
    assert r.returncode == 0, r.stderr
    assert "| from-file |" in out.read_text()
    assert "from-file" not in r.stdout
    assert "| back |" in r.stdout
    assert "leader: true" in r.stdout  # .nodes and .leader
    assert "state: Leader" in r.stdout  # .status store.raft
    assert "[+]db ok" in r.stdout  # .ready
    assert ".backup FILE" in r.stdout and ".consistency" in r.stdout  # .help


def test_schema_and_admin_commands(binaries, node, home, tmp_path):
    sysdump = tmp_path / "sysdump.txt"
    r = shell(["-p", str(node)],
              f".sysdump {sysdump}\n"
              "CREATE TABLE s(a INTEGER, b TEXT);\nCREATE INDEX s_a ON s(a);\n.schema s\n.indexes\n"
              ".snapshot\n.snapshot 10\n.snapshot x\n.reap\n.expvar\n.remove 99\n.stepdown 1\n.mode bogus\n"
              ".consistency bogus\n.timer maybe\n", home=home)
    out, err = r.stdout, r.stderr
    assert "| CREATE TABLE s(a INTEGER, b TEXT) |" in out and "| CREATE INDEX s_a ON s(a)" in out
    assert "sqlite_" not in out  # the node's own bookkeeping table is not listed
    assert out.count("snapshot taken") + out.count("no new data to snapshot") + err.count("Error: server responded with") >= 2
    assert 'Error: trailing logs must be an integer, got "x"' in err
    assert "Error: server responded with" in err  # removing an unknown node, stepping down to the leader itself
    assert 'Error: invalid mode "bogus"' in err and 'Error: invalid consistency level "bogus"' in err
    assert "Error: invalid option 'maybe' for .timer" in err
    assert r.returncode == 1
    dump = sysdump.read_text()
    for path in ("/status?pretty", "/nodes?pretty", "/readyz", "/debug/vars"):
        assert f"=== 127.0.0.1:{node}{path}\n200 OK\n" in dump
    assert f"system dump written to {sysdump}" in out


def test_backup_dump_and_restore(binaries, node, home, tmp_path):
    backup, dump = tmp_path / "b.sqlite", tmp_path / "d.sql"
    r = shell(["-p", str(node)], f"CREATE TABLE bk(v);\nINSERT INTO bk VALUES(1);\n.backup {backup}\n.dump {dump}\n",
              home=home)
    for path, done in ((backup, "backup file written successfully"), (dump, "SQL text file written successfully")):
        if done in r.stdout:
            assert path.exists()
        else:
            # The node may not serve backups yet: the shell must say so clearly and leave no partial file.
            assert "Error: server responded with 50" in r.stderr
            assert not path.exists()
    if backup.exists():
        assert backup.read_bytes().startswith(b"SQLite format 3\x00")
        r = shell(["-p", str(node)], f".restore {backup}\nSELECT count(*) AS c FROM bk;\n", home=home)
        assert "database restored successfully" in r.stdout or "Error: server responded with" in r.stderr
    sql = tmp_path / "load.sql"
    sql.write_text("CREATE TABLE loaded(v);\nINSERT INTO loaded VALUES(5);\n")
    r = shell(["-p", str(node)], f".restore {sql}\n.restore {tmp_path}/missing.sql\n", home=home)
    assert "database restored successfully" in r.stdout or "Error: server responded with" in r.stderr
    assert "Error: cannot open" in r.stderr and "missing.sql" in r.stderr


# MARK: redirects and credentials, through a small fake node


class Redirector(http.server.BaseHTTPRequestHandler):
    """Answers every request 301 to the real node (as a follower does with ?redirect), after checking
    Basic credentials bob:secret."""
    protocol_version = "HTTP/1.1"
    target = 0

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.headers.get("Authorization") != "Basic " + base64.b64encode(b"bob:secret").decode():
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(301)
        self.send_header("Location", f"http://127.0.0.1:{self.target}{self.path}")
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_DELETE = handle_any

    def log_message(self, *args):
        pass


@pytest.fixture
def redirector(node):
    handler = type("H", (Redirector,), {"target": node})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_follows_leader_redirects_with_credentials(binaries, node, redirector, home):
    r = shell(["-p", str(redirector), "-u", "bob:secret"],
              "CREATE TABLE rd(v);\nINSERT INTO rd VALUES('moved');\nSELECT v FROM rd;\n.ready\n", home=home)
    assert r.returncode == 0, r.stderr
    assert "| moved |" in r.stdout
    assert "[+]db ok" in r.stdout
    r = shell(["-p", str(redirector)], "SELECT 1;\n", home=home)
    assert r.returncode == 1
    assert "Error: unauthorized" in r.stderr


# MARK: backups and restores, through a small fake node that serves them


BACKUP = b"SQLite format 3\x00" + bytes(range(256)) * (3 * 4096)  # 3 MiB and a header


class BackupServer(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    loads = []

    def do_GET(self):
        if self.path.startswith("/db/backup") and "fmt=sql" in self.path:
            # Chunked, as a streamed dump would be.
            self.send_response(200)
            self.send_header("Content-Type", "application/sql")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i in range(3):
                chunk = f"INSERT INTO t VALUES({i});\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path.startswith("/db/backup"):
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(BACKUP)))
            self.end_headers()
            for i in range(0, len(BACKUP), 65536):
                self.wfile.write(BACKUP[i:i + 65536])
        else:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.loads.append((self.path, self.headers.get("Content-Type"), body))
        reply = b'{"results":[]}' if self.path.startswith("/db/load") else b""
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def backup_server():
    handler = type("B", (BackupServer,), {"loads": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], handler.loads
    server.shutdown()
    server.server_close()


def test_backup_streams_to_file_and_restore_uploads_it(binaries, backup_server, home, tmp_path):
    port, loads = backup_server
    backup, dump, sql = tmp_path / "b.sqlite", tmp_path / "d.sql", tmp_path / "in.sql"
    sql.write_text("CREATE TABLE x(a);\n")
    r = shell(["-p", str(port)],
              f".backup {backup}\n.dump {dump} t1 t2\n.restore {backup}\n.restore {sql}\n.boot {backup}\n.boot {sql}\n",
              home=home)
    assert backup.read_bytes() == BACKUP
    assert dump.read_text() == "INSERT INTO t VALUES(0);\nINSERT INTO t VALUES(1);\nINSERT INTO t VALUES(2);\n"
    assert r.stdout.count("database restored successfully") == 2
    assert "backup file written successfully" in r.stdout and "SQL text file written successfully" in r.stdout
    assert "node booted successfully" in r.stdout
    assert "is not a SQLite database file" in r.stderr  # .boot of SQL text is refused before sending
    assert [(p, t) for p, t, _ in loads] == [
        ("/db/load", "application/octet-stream"), ("/db/load", "text/plain"), ("/boot", "application/octet-stream")]
    assert loads[0][2] == BACKUP and loads[1][2] == b"CREATE TABLE x(a);\n" and loads[2][2] == BACKUP
    assert "\r" not in r.stderr  # no progress line when standard error is not a terminal


def test_backup_progress_on_a_terminal(binaries, backup_server, home, tmp_path):
    port, _ = backup_server
    c = spawn(port, home)
    try:
        c.expect_exact(f"127.0.0.1:{port}> ")
        c.send(f".backup {tmp_path}/p.sqlite\r")
        c.expect(r"Backing up: [0-9.]+ [KM]iB of 3\.0 MiB \(\d+%\)")
        c.expect_exact("backup file written successfully")
        c.send(".quit\r")
        c.expect_eof()
    finally:
        c.close()
    assert (tmp_path / "p.sqlite").read_bytes() == BACKUP


@pytest.fixture
def silent_port():
    """A port that accepts connections (in the kernel's backlog) and never answers."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    yield s.getsockname()[1]
    s.close()


def test_http_timeout(binaries, silent_port, home):
    started = time.monotonic()
    r = shell(["-p", str(silent_port), "-t", "500ms"], "SELECT 1;\n", home=home)
    assert r.returncode == 1
    assert f"Error: timed out waiting for 127.0.0.1:{silent_port}" in r.stderr
    assert time.monotonic() - started < 20


def test_ctrl_c_abandons_a_request_not_the_shell(binaries, silent_port, home):
    c = spawn(silent_port, home)
    try:
        prompt = f"\r\n127.0.0.1:{silent_port}> "
        c.expect_exact(f"Error: timed out waiting for 127.0.0.1:{silent_port}")  # the greeting gives up after 5 s
        c.expect_exact(prompt)
        c.send("SELECT 1;\r")
        time.sleep(0.5)
        c.send("\x03")
        c.expect_exact("Error: interrupted")
        c.expect_exact(prompt)
        c.send(".quit\r")
        c.expect_eof()
    finally:
        c.close()
    assert c.exitstatus == 0


# MARK: pseudo-terminal

UP, LEFT, RIGHT, HOME_KEY, END_KEY = "\x1b[A", "\x1b[D", "\x1b[C", "\x1b[H", "\x1b[F"
BACKSPACE, CTRL_A, CTRL_E, CTRL_U, CTRL_K, CTRL_W, CTRL_C, CTRL_D = "\x7f", "\x01", "\x05", "\x15", "\x0b", "\x17", "\x03", "\x04"


class Terminal:
    """The shell on a pseudo-terminal (Python's pty module): send keys, wait for text."""

    def __init__(self, argv, env, stdout=None):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
        # A session of its own with the terminal as its controlling terminal, so Ctrl-C raises SIGINT.
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=stdout or slave, stderr=slave, env=env,
                                     start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
        os.close(slave)
        self.fd = master
        self.buffer = ""
        self.exitstatus = None

    def send(self, keys):
        time.sleep(0.02)
        os.write(self.fd, keys.encode())

    def _read(self, deadline, waiting_for):
        ready, _, _ = select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"timed out waiting for {waiting_for!r}; screen tail: {self.buffer[-600:]!r}")
        try:
            data = os.read(self.fd, 65536)
        except OSError:  # EIO: the shell has exited and closed the terminal
            data = b""
        if data:
            self.buffer += data.decode("utf-8", errors="replace")
        return bool(data)

    def expect_exact(self, text, timeout=30):
        deadline = time.monotonic() + timeout
        while text not in self.buffer:
            if not self._read(deadline, text):
                raise AssertionError(f"end of output while waiting for {text!r}; screen tail: {self.buffer[-600:]!r}")
        self.buffer = self.buffer[self.buffer.index(text) + len(text):]

    def expect(self, pattern, timeout=30):
        deadline = time.monotonic() + timeout
        while (m := re.search(pattern, self.buffer)) is None:
            if not self._read(deadline, pattern):
                raise AssertionError(f"end of output while waiting for {pattern!r}; screen tail: {self.buffer[-600:]!r}")
        self.buffer = self.buffer[m.end():]

    def expect_eof(self, timeout=30):
        deadline = time.monotonic() + timeout
        while self._read(deadline, "end of output"):
            pass
        self.exitstatus = self.proc.wait(timeout=max(1.0, deadline - time.monotonic()))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.fd)


def spawn(node, home, extra_env=None, args=(), stdout=None):
    env = dict(os.environ)
    env.pop("RQLITE_HOST", None)
    env["HOME"] = str(home)
    env["TERM"] = "xterm"
    env.update(extra_env or {})
    return Terminal([RAFTLITE, "-H", "127.0.0.1", "-p", str(node), *args], env, stdout=stdout)


def test_terminal_session(binaries, node, home):
    # A fresh prompt follows a line break; the editor's redraws of the line being typed start with a bare \r.
    prompt = f"\r\n127.0.0.1:{node}> "
    c = spawn(node, home)
    try:
        c.expect(rf"Connected to 127\.0\.0\.1:{node} running version v\S+\.")
        c.expect_exact(prompt)
        c.send("CREATE TABLE p(x INTEGER, y TEXT);\r")
        c.expect(r"\d+ rows? affected")
        c.expect_exact(prompt)
        c.send("INSERT INTO p VALUES(7, 'seven');\r")
        c.expect_exact("1 row affected")
        c.expect_exact(prompt)

        # A typo fixed with backspace and the arrow keys: "SELCT y FROM pp" -> "SELECT y FROM p WHERE x = 7;"
        c.send("SELCT y FROM pp" + BACKSPACE + " WHERE x = 7;" + HOME_KEY + RIGHT * 3 + "E" + END_KEY + "\r")
        c.expect_exact("| seven |")
        c.expect_exact(prompt)

        # History: up arrow recalls the corrected statement.
        c.send(UP + "\r")
        c.expect_exact("| seven |")
        c.expect_exact(prompt)

        # Ctrl-U clears the line; Ctrl-A/Ctrl-E/Ctrl-K/Ctrl-W edit it.
        c.send("garbage" + CTRL_U + ".tables" + "\r")
        c.expect(r"\| p +\|")  # the width depends on the other tables the suite created
        c.expect_exact(prompt)
        c.send("SELECT 5 AS five; junk" + CTRL_W + BACKSPACE + CTRL_A + CTRL_E + LEFT * 3 + CTRL_K + "ve;\r")
        c.expect_exact("| five |")
        c.expect_exact(prompt)

        # A comment alone is not the start of a statement; a statement over several lines gets a
        # continuation prompt.
        c.send("-- just a comment\r")
        c.expect_exact(prompt)
        c.send("SELECT y\r")
        c.expect_exact("...> ")
        c.send("FROM p;\r")
        c.expect_exact("| seven |")
        c.expect_exact(prompt)

        # Ctrl-C abandons the line.
        c.send("SELECT nothing" + CTRL_C)
        c.expect_exact("^C")
        c.expect_exact(prompt)

        c.send(".timer on\r")
        c.expect_exact(prompt)
        c.send("SELECT 1 AS one;\r")
        c.expect_exact("Run Time: ")
        c.expect_exact(prompt)

        c.send(".consistency strong\r")
        c.expect_exact(prompt)
        c.send(".consistency\r")
        c.expect_exact("strong")
        c.expect_exact(prompt)
        c.send("SELECT x FROM p;\r")
        c.expect_exact("| 7 |")
        c.expect_exact(prompt)

        c.send(".nodes\r")
        c.expect_exact("leader: true")
        c.expect_exact(prompt)

        c.send("SELEKT 1;\r")
        c.expect_exact('Error: near "SELEKT": syntax error')
        c.expect_exact(prompt)

        c.send(".quit\r")
        c.expect_eof()
    finally:
        c.close()
    assert c.exitstatus == 0
    history = (home / ".raftlite_history").read_text().splitlines()
    assert "SELECT y FROM p WHERE x = 7;" in history
    assert history[-1] == ".quit"

    # The history survives into the next session; Ctrl-D on an empty line leaves.
    c = spawn(node, home)
    try:
        c.expect_exact(prompt)
        c.send(UP + UP)  # .quit, then SELEKT 1;
        c.expect_exact("SELEKT 1;")
        c.send(CTRL_U + CTRL_D)
        c.expect_eof()
    finally:
        c.close()
    assert c.exitstatus == 0


def test_terminal_to_a_closed_port(binaries, home):
    port = free_port()
    c = spawn(port, home)
    try:
        c.expect_exact(f"Error: cannot connect to 127.0.0.1:{port}: Connection refused")
        c.expect_exact(f"127.0.0.1:{port}> ")
        c.send("SELECT 1;\r")
        c.expect_exact(f"Error: cannot connect to 127.0.0.1:{port}: Connection refused")
        c.send(".exit\r")
        c.expect_eof()
    finally:
        c.close()
    assert c.exitstatus == 0


def test_terminal_with_output_to_a_file(binaries, node, home, tmp_path):
    """raftlite > results.txt: editing happens on the terminal (standard error), results go to the file."""
    results = tmp_path / "results.txt"
    with open(results, "w") as f:
        c = spawn(node, home, stdout=f)
    try:
        c.expect_exact(f"\r\n127.0.0.1:{node}> ")
        c.send("SELECT 'tofile' AS w;\r")
        c.expect_exact(f"\r\n127.0.0.1:{node}> ")
        c.send(".quit\r")
        c.expect_eof()
    finally:
        c.close()
    assert c.exitstatus == 0
    assert results.read_text() == "+--------+\n| w      |\n+--------+\n| tofile |\n+--------+\n"


def test_history_size_zero_deletes_history(binaries, node, home):
    (home / ".raftlite_history").write_text("SELECT 1;\n")
    c = spawn(node, home, {"RAFTLITE_HISTFILESIZE": "0"})
    try:
        c.expect_exact(f"127.0.0.1:{node}> ")
        c.send(".quit\r")
        c.expect_eof()
    finally:
        c.close()
    assert not (home / ".raftlite_history").exists()
