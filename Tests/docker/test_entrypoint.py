"""The Docker packaging, tested without a Docker engine.

- docker/docker-entrypoint.sh is run as the image runs it, outside a container:
  * against a stand-in daemon that reports its argument vector and PID, for the exact command line the
    entrypoint builds (rqlite's defaults, user flags in every Go spelling, ENABLE_FK, DATA_DIR, delays);
  * against the real raftlited (env RAFTLITED, default .build/debug/raftlited) on 127.0.0.1 free ports:
    the node starts with the environment's settings (seen in /status and /nodes), user flags win, ENABLE_FK
    turns foreign keys on, SIGTERM to the entrypoint's PID stops the daemon gracefully (the entrypoint
    exec'd it), the image's health check script follows /readyz, the binary placed as the image places
    it finds the dashboard, and the compose file's cluster command forms a 3-node cluster.
- docker/Dockerfile: its runtime packages exist in Debian bookworm's package lists (apt-cache), they are
  the runtime halves of the -dev packages the build stage installs, and they provide every C library
  the binary links; plus the image layout rqlite users expect.
- docker/compose.yaml parses and describes three distinct nodes that bootstrap together.
"""

import functools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
ENTRYPOINT = DOCKER / "docker-entrypoint.sh"
HEALTHCHECK = DOCKER / "docker-healthcheck.sh"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
RAFTLITED = os.environ.get("RAFTLITED", str(REPO / ".build/debug/raftlited"))

# The variables the entrypoint reads: cleared from the inherited environment so that a CI runner that
# happens to set one (KUBERNETES_SERVICE_HOST on a Kubernetes runner) cannot change what is tested.
ENTRYPOINT_VARS = [
    "HTTP_ADDR", "HTTP_ADV_ADDR", "RAFT_ADDR", "RAFT_ADV_ADDR", "NODE_ID", "DATA_DIR", "ENABLE_FK",
    "START_DELAY", "KUBERNETES_SERVICE_HOST", "SQLITE_EXTENSIONS", "CUSTOM_SQLITE_EXTENSIONS_PATH", "RAFTLITED",
]


# ---- helpers ---------------------------------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, predicate, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def entrypoint_env(**values):
    env = {k: v for k, v in os.environ.items() if k not in ENTRYPOINT_VARS}
    env.update({k: v for k, v in values.items() if v is not None})
    return env


def http_get(port, path, timeout=2):
    """(status, body) of GET http://127.0.0.1:<port><path>, or (None, error) when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


def fqdn():
    """What the entrypoint uses for the advertised addresses: `hostname -f`, else `hostname`."""
    r = subprocess.run(["hostname", "-f"], capture_output=True, text=True)
    if r.returncode == 0:
        return r.stdout.strip()
    return subprocess.run(["hostname"], capture_output=True, text=True, check=True).stdout.strip()


def load_compose():
    yaml = pytest.importorskip("yaml", reason="PyYAML (Debian python3-yaml) is needed to read compose.yaml")
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture
def tmp():
    d = Path(tempfile.mkdtemp(prefix="raftlite-docker-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def fake_daemon(tmp):
    """A stand-in for raftlited that prints its PID, then its arguments, NUL-separated, and exits."""
    path = tmp / "fake-raftlited"
    path.write_text('#!/bin/sh\nprintf \'%s\\0\' "$$"\nfor a in "$@"; do printf \'%s\\0\' "$a"; done\n')
    path.chmod(0o755)
    return str(path)


def run_entrypoint(args, fake, timeout=20, **env):
    """Runs the entrypoint with RAFTLITED=fake; returns (pid, argv the daemon got, completed process)."""
    proc = subprocess.Popen([str(ENTRYPOINT), *args], env=entrypoint_env(RAFTLITED=fake, **env),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    assert proc.returncode == 0, err.decode()
    fields = out.decode().split("\0")[:-1]
    return proc.pid, fields[1:], int(fields[0])


def default_args(data_dir="/raftlite/file/data"):
    host = subprocess.run(["hostname"], capture_output=True, text=True, check=True).stdout.strip()
    full = fqdn()
    return ["-node-id", host, "-http-addr", "0.0.0.0:4001", "-http-adv-addr", f"{full}:4001",
            "-raft-addr", "0.0.0.0:4002", "-raft-adv-addr", f"{full}:4002"], data_dir


@pytest.fixture(scope="session")
def raftlited():
    if not os.access(RAFTLITED, os.X_OK):
        pytest.fail(f"raftlited not found at {RAFTLITED}: build it (swift build --product raftlited) "
                    "or point RAFTLITED at a binary")
    return RAFTLITED


class Node:
    """The entrypoint started on the real daemon, every address on 127.0.0.1."""

    def __init__(self, tmp, name, args=("run",), **env):
        self.http_port, self.raft_port = free_port(), free_port()
        self.data_dir = tmp / name / "data"  # not created: the daemon creates it, as in a fresh volume
        self.log_path = tmp / f"{name}.log"
        self.env = dict(
            HTTP_ADDR=f"127.0.0.1:{self.http_port}", HTTP_ADV_ADDR=f"127.0.0.1:{self.http_port}",
            RAFT_ADDR=f"127.0.0.1:{self.raft_port}", RAFT_ADV_ADDR=f"127.0.0.1:{self.raft_port}",
            DATA_DIR=str(self.data_dir))
        self.env.update(env)
        self.args = list(args)
        self.proc = None

    def start(self, raftlited):
        self.log = open(self.log_path, "w")
        # A session of its own: should the entrypoint ever stop exec'ing, the cleanup still reaches the
        # daemon through the process group the entrypoint's PID leads.
        self.proc = subprocess.Popen([str(ENTRYPOINT), *self.args], env=entrypoint_env(RAFTLITED=raftlited, **self.env),
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def output(self):
        return self.log_path.read_text() if self.log_path.exists() else ""

    def wait_ready(self, timeout=60):
        def ready():
            assert self.proc.poll() is None, f"node exited with {self.proc.returncode}:\n{self.output()}"
            return http_get(self.http_port, "/readyz")[0] == 200
        wait_until(f"{self.args} ready", ready, timeout)
        return self

    def status(self):
        code, body = http_get(self.http_port, "/status")
        assert code == 200, body
        return json.loads(body)

    def stop(self, timeout=30):
        """SIGTERM to the entrypoint's PID; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"no graceful stop within {timeout}s:\n{self.output()}")
        self.log.close()
        return self.proc.returncode


@pytest.fixture
def nodes(tmp):
    started = []

    def make(name, args=("run",), **env):
        n = Node(tmp, name, args, **env)
        started.append(n)
        return n

    yield make
    for n in started:
        if n.proc is None:
            continue
        try:
            os.killpg(n.proc.pid, signal.SIGKILL)  # the group led by this entrypoint's PID, nothing else
        except ProcessLookupError:
            pass
        n.proc.wait()
        if not n.log.closed:
            n.log.close()


# ---- the command line the entrypoint builds (stand-in daemon) -------------------------------------


def test_run_injects_rqlites_defaults_and_the_data_directory_last(fake_daemon):
    defaults, data = default_args()
    _, argv, _ = run_entrypoint(["run"], fake_daemon)
    assert argv == defaults + [data]


def test_no_arguments_is_run(fake_daemon):
    defaults, data = default_args()
    _, argv, _ = run_entrypoint([], fake_daemon)
    assert argv == defaults + [data]


def test_environment_replaces_each_default(fake_daemon):
    _, argv, _ = run_entrypoint(
        ["run"], fake_daemon, NODE_ID="node one", HTTP_ADDR="127.0.0.1:5001", HTTP_ADV_ADDR="n1:5001",
        RAFT_ADDR="127.0.0.1:5002", RAFT_ADV_ADDR="n1:5002", DATA_DIR="/tmp/some where/data")
    assert argv == ["-node-id", "node one", "-http-addr", "127.0.0.1:5001", "-http-adv-addr", "n1:5001",
                    "-raft-addr", "127.0.0.1:5002", "-raft-adv-addr", "n1:5002", "/tmp/some where/data"]


def test_flags_are_merged_between_the_defaults_and_the_data_directory(fake_daemon):
    defaults, data = default_args("/d")
    user = ["-bootstrap-expect", "3", "-join", "n1:4002,n2:4002,n3:4002"]
    _, argv, _ = run_entrypoint(user, fake_daemon, DATA_DIR="/d")
    assert argv == defaults + user + [data]
    # `run` followed by flags: the same command line.
    _, argv, _ = run_entrypoint(["run", *user], fake_daemon, DATA_DIR="/d")
    assert argv == defaults + user + [data]


@pytest.mark.parametrize("spelling", ["-{} {}", "-{}={}", "--{} {}", "--{}={}"])
def test_a_flag_given_by_the_user_is_not_defaulted(fake_daemon, spelling):
    user = []
    for flag, value in [("node-id", "x"), ("http-addr", "127.0.0.1:6001"), ("http-adv-addr", "h:6001"),
                        ("raft-addr", "127.0.0.1:6002"), ("raft-adv-addr", "h:6002")]:
        user += spelling.format(flag, value).split(" ")
    _, argv, _ = run_entrypoint(user, fake_daemon, NODE_ID="ignored", HTTP_ADDR="1.1.1.1:1", DATA_DIR="/d")
    assert argv == user + ["/d"]


def test_only_the_flags_given_lose_their_default(fake_daemon):
    _, argv, _ = run_entrypoint(["-node-id", "x"], fake_daemon, NODE_ID="ignored", HTTP_ADDR="127.0.0.1:7001",
                                HTTP_ADV_ADDR="a:7001", RAFT_ADDR="127.0.0.1:7002", RAFT_ADV_ADDR="a:7002", DATA_DIR="/d")
    assert argv == ["-http-addr", "127.0.0.1:7001", "-http-adv-addr", "a:7001", "-raft-addr", "127.0.0.1:7002",
                    "-raft-adv-addr", "a:7002", "-node-id", "x", "/d"]
    # A longer flag sharing a prefix is a different flag: -node-idx does not count as -node-id.
    _, argv, _ = run_entrypoint(["-node-idx", "y"], fake_daemon, NODE_ID="n", HTTP_ADDR="h:1", HTTP_ADV_ADDR="h:1",
                                RAFT_ADDR="h:2", RAFT_ADV_ADDR="h:2", DATA_DIR="/d")
    assert argv[:2] == ["-node-id", "n"]


def test_enable_fk_adds_fk_unless_the_user_set_it(fake_daemon):
    common = dict(NODE_ID="n", HTTP_ADDR="h:1", HTTP_ADV_ADDR="h:1", RAFT_ADDR="h:2", RAFT_ADV_ADDR="h:2", DATA_DIR="/d")
    _, argv, _ = run_entrypoint(["run"], fake_daemon, ENABLE_FK="true", **common)
    assert argv.count("-fk") == 1 and argv[-1] == "/d"
    _, argv, _ = run_entrypoint(["-fk=false"], fake_daemon, ENABLE_FK="true", **common)
    assert "-fk" not in argv and "-fk=false" in argv
    _, argv, _ = run_entrypoint(["run"], fake_daemon, ENABLE_FK="", **common)
    assert "-fk" not in argv


def test_the_daemon_replaces_the_entrypoint_process(fake_daemon):
    """exec: the daemon runs with the entrypoint's PID, so it is PID 1 in the container and gets SIGTERM."""
    pid, _, daemon_pid = run_entrypoint(["run"], fake_daemon, NODE_ID="n", HTTP_ADV_ADDR="h:1", RAFT_ADV_ADDR="h:2")
    assert daemon_pid == pid


def test_any_other_command_is_executed_verbatim(fake_daemon):
    r = subprocess.run([str(ENTRYPOINT), "echo", "hello", "-node-id", "x"], env=entrypoint_env(RAFTLITED=fake_daemon),
                       capture_output=True, text=True, timeout=20)
    assert (r.returncode, r.stdout) == (0, "hello -node-id x\n"), r.stderr
    r = subprocess.run([str(ENTRYPOINT), "sh", "-c", "exit 7"], env=entrypoint_env(RAFTLITED=fake_daemon),
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 7


@pytest.mark.parametrize("var", ["SQLITE_EXTENSIONS", "CUSTOM_SQLITE_EXTENSIONS_PATH"])
def test_sqlite_extensions_are_refused(fake_daemon, var):
    r = subprocess.run([str(ENTRYPOINT), "run"], env=entrypoint_env(RAFTLITED=fake_daemon, **{var: "sqlean"}),
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 1
    assert r.stdout == ""  # the daemon was never started
    assert "SQLITE_EXTENSIONS and CUSTOM_SQLITE_EXTENSIONS_PATH are not supported yet" in r.stderr


def test_start_delay_is_slept_before_the_daemon_starts(fake_daemon):
    start = time.monotonic()
    run_entrypoint(["run"], fake_daemon, START_DELAY="1", NODE_ID="n", HTTP_ADV_ADDR="h:1", RAFT_ADV_ADDR="h:2")
    assert time.monotonic() - start >= 1.0


def test_kubernetes_waits_five_seconds_unless_start_delay_says_otherwise(fake_daemon):
    start = time.monotonic()
    run_entrypoint(["run"], fake_daemon, KUBERNETES_SERVICE_HOST="10.0.0.1", START_DELAY="0",
                   NODE_ID="n", HTTP_ADV_ADDR="h:1", RAFT_ADV_ADDR="h:2")
    assert time.monotonic() - start < 4.0
    start = time.monotonic()
    run_entrypoint(["run"], fake_daemon, KUBERNETES_SERVICE_HOST="10.0.0.1",
                   NODE_ID="n", HTTP_ADV_ADDR="h:1", RAFT_ADV_ADDR="h:2")
    assert time.monotonic() - start >= 5.0


@pytest.mark.parametrize("script", [ENTRYPOINT, HEALTHCHECK])
def test_scripts_are_posix_sh_and_executable(script):
    assert os.access(script, os.X_OK), f"{script} is not executable"
    assert script.read_text().startswith("#!/bin/sh\n")
    for shell in ["sh", "dash"]:
        if shutil.which(shell):
            r = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr


# ---- the real daemon -------------------------------------------------------------------------------


def test_the_environment_configures_a_real_node_and_sigterm_stops_it_gracefully(raftlited, nodes):
    node = nodes("n1", NODE_ID="docker-node-1").start(raftlited)
    node.wait_ready()
    # exec: the process behind the entrypoint's PID is raftlited itself, with the built command line.
    cmdline = Path(f"/proc/{node.proc.pid}/cmdline").read_bytes().split(b"\0")[:-1]
    assert os.path.basename(cmdline[0].decode()) == os.path.basename(raftlited)
    assert cmdline[-1].decode() == str(node.data_dir)
    store = node.status()["store"]
    assert store["node_id"] == "docker-node-1"
    assert store["addr"] == f"127.0.0.1:{node.raft_port}"
    assert store["dir"] == str(node.data_dir)
    assert store["db_conf"]["fk_constraints"] is False
    assert node.status()["http"]["bind_addr"] == f"127.0.0.1:{node.http_port}"
    code, body = http_get(node.http_port, "/nodes?ver=2")
    assert code == 200, body
    (member,) = json.loads(body)["nodes"]
    assert (member["id"], member["api_addr"], member["addr"]) == (
        "docker-node-1", f"http://127.0.0.1:{node.http_port}", f"127.0.0.1:{node.raft_port}")
    assert node.data_dir.is_dir()
    # `docker stop`: SIGTERM to PID 1, which is the daemon; a graceful shutdown exits 0.
    assert node.stop() == 0, node.output()
    assert http_get(node.http_port, "/readyz")[0] is None


def test_user_flags_override_the_environment_on_a_real_node(raftlited, nodes):
    node = nodes("n1", args=["-node-id", "from-flag"], NODE_ID="from-env").start(raftlited)
    node.wait_ready()
    assert node.status()["store"]["node_id"] == "from-flag"
    assert node.stop() == 0, node.output()


def test_enable_fk_turns_foreign_keys_on_in_a_real_node(raftlited, nodes):
    node = nodes("n1", NODE_ID="fk", ENABLE_FK="1").start(raftlited)
    node.wait_ready()
    assert node.status()["store"]["db_conf"]["fk_constraints"] is True
    assert node.stop() == 0, node.output()


def test_a_bad_flag_fails_the_container_with_the_daemons_message_and_status(raftlited, tmp):
    """A flag raftlited does not know stops start-up with Go's message and status 2 (not a hang)."""
    r = subprocess.run([str(ENTRYPOINT), "-no-such-flag", "x"],
                       env=entrypoint_env(RAFTLITED=raftlited, NODE_ID="n", HTTP_ADDR=f"127.0.0.1:{free_port()}",
                                          HTTP_ADV_ADDR="127.0.0.1:1", RAFT_ADDR=f"127.0.0.1:{free_port()}",
                                          RAFT_ADV_ADDR="127.0.0.1:2", DATA_DIR=str(tmp / "data")),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "flag provided but not defined: -no-such-flag" in r.stderr


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl (used by the image's health check) is not installed")
def test_the_health_check_follows_readyz(raftlited, nodes):
    node = nodes("n1", NODE_ID="health").start(raftlited)

    def check(addr):
        return subprocess.run([str(HEALTHCHECK)], env=entrypoint_env(HTTP_ADDR=addr), capture_output=True,
                              text=True, timeout=20).returncode

    node.wait_ready()
    assert check(f"127.0.0.1:{node.http_port}") == 0
    assert check(f"0.0.0.0:{node.http_port}") == 0  # a wildcard bind is checked on the loopback
    assert node.stop() == 0, node.output()
    assert check(f"127.0.0.1:{node.http_port}") != 0


def test_the_compose_clusters_command_forms_a_three_node_cluster(raftlited, nodes):
    """Each compose service's command and environment, with its host name mapped to 127.0.0.1 ports."""
    services = load_compose()["services"]
    cluster = {name: nodes(name) for name in services}
    raft_of = {name: f"127.0.0.1:{n.raft_port}" for name, n in cluster.items()}
    for name, node in cluster.items():
        service = services[name]
        args = []
        for word in service["command"]:
            for host, addr in raft_of.items():
                word = word.replace(f"{services[host]['hostname']}:4002", addr)
            args.append(word)
        assert args != service["command"]
        node.args = args
        node.env["NODE_ID"] = service["environment"]["NODE_ID"]
    for node in cluster.values():
        node.start(raftlited)
    for node in cluster.values():
        node.wait_ready(timeout=90)
    first = next(iter(cluster.values()))
    code, body = http_get(first.http_port, "/nodes?ver=2")
    assert code == 200, body
    members = json.loads(body)["nodes"]
    assert sorted(m["id"] for m in members) == sorted(s["environment"]["NODE_ID"] for s in services.values())
    assert all(m["voter"] for m in members)
    for node in cluster.values():
        assert node.stop() == 0, node.output()


# ---- Dockerfile ------------------------------------------------------------------------------------


def dockerfile_stages():
    """The Dockerfile's instructions (continuations joined, comments dropped), split into stages."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.lstrip().startswith("#") and not current:
            continue
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        current += raw
        if current.strip():
            lines.append(" ".join(current.split()))
        current = ""
    stages = []
    for line in lines:
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def apt_installed(stage):
    """The package names of every `apt-get install` in a stage."""
    packages = []
    for line in stage:
        for command in re.split(r"&&|;", line):
            words = command.split()
            if "apt-get" in words and "install" in words:
                packages += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return packages


def test_dockerfile_is_a_two_stage_build_running_as_rqlite_does():
    build, runtime = dockerfile_stages()
    assert re.match(r"FROM \$\{SWIFT_IMAGE\} AS build", build[0])
    text = DOCKERFILE.read_text()
    swift_image = re.search(r"^ARG SWIFT_IMAGE=(\S+)$", text, re.M).group(1)
    assert re.fullmatch(r"swift:6\.\d+(\.\d+)?-bookworm", swift_image)
    assert re.search(r"^ARG RUNTIME_IMAGE=debian:bookworm-slim$", text, re.M)
    assert runtime[0] == "FROM ${RUNTIME_IMAGE}"
    assert sorted(apt_installed(build)) == sorted(["libmicrohttpd-dev", "libsqlite3-dev", "zlib1g-dev", "pkg-config"])
    assert any("swift build -c release --product raftlited --static-swift-stdlib" in l for l in build)
    assert "USER raftlite" in runtime
    assert any(re.search(r"groupadd --gid 1000 raftlite", l) and re.search(r"useradd --uid 1000 --gid 1000", l) for l in runtime)
    assert "VOLUME /raftlite/file" in runtime
    assert "EXPOSE 4001 4002" in runtime
    assert any(l.startswith("HEALTHCHECK ") and "docker-healthcheck.sh" in l for l in runtime)
    assert 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' in runtime
    assert 'CMD ["run"]' in runtime
    # What is copied from the build context exists.
    for line in build + runtime:
        if line.startswith("COPY ") and "--from=" not in line:
            for src in [w for w in line.split()[1:-1] if not w.startswith("--")]:
                assert list(REPO.glob(src)), f"{src} missing from the build context"


def test_the_dashboard_lands_where_the_daemon_looks_for_it():
    """Config.swift's defaultPublicDir: <binary dir>/../share/raftlite/public."""
    _, runtime = dockerfile_stages()
    config = (REPO / "Sources/raftlited/Config.swift").read_text()
    assert '"../share/raftlite/public"' in config
    binary = next(l.split()[-1] for l in runtime if l.startswith("COPY --from=build") and l.endswith("/raftlited"))
    share = next(l.split()[-1] for l in runtime if l.startswith("COPY --from=build") and "share/raftlite" in l)
    expected = os.path.normpath(os.path.join(os.path.dirname(binary), "../share/raftlite")) + "/"
    assert share == expected
    assert (REPO / "public/index.html").exists()


def test_the_images_layout_serves_the_dashboard(raftlited, tmp, nodes):
    """The binary and public/ placed where the Dockerfile copies them (under a temporary root): the
    daemon finds the dashboard by itself, as it will in the image."""
    _, runtime = dockerfile_stages()
    binary = next(l.split()[-1] for l in runtime if l.startswith("COPY --from=build") and l.endswith("/raftlited"))
    share = next(l.split()[-1] for l in runtime if l.startswith("COPY --from=build") and "share/raftlite" in l)
    root = tmp / "root"
    (root / binary.lstrip("/")).parent.mkdir(parents=True)
    shutil.copy2(raftlited, root / binary.lstrip("/"))  # a copy, not a link: the daemon resolves /proc/self/exe
    shutil.copytree(REPO / "public", root / share.lstrip("/") / "public")
    elsewhere = tmp / "cwd"
    elsewhere.mkdir()
    node = nodes("n1", NODE_ID="layout")
    node.log = open(node.log_path, "w")
    node.proc = subprocess.Popen([str(ENTRYPOINT), "run"], cwd=elsewhere, stdout=node.log, stderr=subprocess.STDOUT,
                                 env=entrypoint_env(RAFTLITED=str(root / binary.lstrip("/")), **node.env),
                                 start_new_session=True)
    node.wait_ready()
    code, body = http_get(node.http_port, "/console/")
    assert code == 200, body
    assert body == (REPO / "public/index.html").read_text()
    assert node.stop() == 0, node.output()


def test_dockerignore_keeps_build_output_and_data_out_of_the_context():
    patterns = (REPO / ".dockerignore").read_text().split()
    for p in [".build*", "test-artifacts", "data", ".git"]:
        assert p in patterns


@functools.lru_cache(maxsize=None)
def apt_lists_problem():
    """Why the bookworm package lists cannot be consulted here, or None (apt-cache is slow: asked once)."""
    if shutil.which("apt-cache") is None:
        return "apt-cache is not installed: not a Debian system"
    release = {}
    for line in Path("/etc/os-release").read_text().splitlines():
        key, _, value = line.partition("=")
        release[key] = value.strip('"')
    if release.get("ID") != "debian" or release.get("VERSION_CODENAME") != "bookworm":
        return f"the package lists here are {release.get('PRETTY_NAME')}'s, not Debian bookworm's"
    policy = subprocess.run(["apt-cache", "policy"], capture_output=True, text=True).stdout
    if not re.search(r"bookworm\S*/main \S+ Packages", policy):
        return "apt has no Debian bookworm package lists (run apt-get update)"
    return None


def apt_lists_or_skip():
    problem = apt_lists_problem()
    if problem:
        pytest.skip(problem)


@functools.lru_cache(maxsize=None)
def apt_records():
    """Package name -> its `apt-cache show` record, for every package either stage installs (one call)."""
    build, runtime = dockerfile_stages()
    names = sorted(set(apt_installed(build) + apt_installed(runtime)))
    out = subprocess.run(["apt-cache", "show", "--no-all-versions", *names], capture_output=True, text=True).stdout
    records = {}
    for record in out.split("\n\n"):
        m = re.search(r"^Package: (\S+)$", record, re.M)
        if m:
            records.setdefault(m.group(1), record)
    return records


def test_every_package_the_image_installs_exists_in_debian_bookworm():
    apt_lists_or_skip()
    build, runtime = dockerfile_stages()
    records = apt_records()
    for package in apt_installed(build) + apt_installed(runtime):
        assert package in records, f"{package} is not in bookworm"


def test_the_runtime_libraries_are_those_the_dev_packages_build_against():
    apt_lists_or_skip()
    build, runtime = dockerfile_stages()
    runtime_packages = set(apt_installed(runtime))
    for dev in [p for p in apt_installed(build) if p.endswith("-dev")]:
        depends = re.search(r"^Depends: (.*)$", apt_records()[dev], re.M).group(1)
        names = {re.split(r"[\s(:]", d.strip())[0] for d in re.split(r"[,|]", depends)}
        assert names & runtime_packages, f"{dev} depends on {sorted(names)}, none installed at run time"


def test_the_runtime_packages_provide_every_c_library_raftlited_links(raftlited):
    """NEEDED entries of the binary that are not Swift's own runtime (linked statically in the image)
    must come from a runtime package, or from the C/C++ runtime every Debian image has."""
    apt_lists_or_skip()
    if shutil.which("readelf") is None or shutil.which("dpkg") is None:
        pytest.skip("readelf or dpkg is not installed")
    _, runtime = dockerfile_stages()
    allowed = set(apt_installed(runtime)) | {"libc6", "libgcc-s1", "libstdc++6"}
    dynamic = subprocess.run(["readelf", "-d", raftlited], capture_output=True, text=True, check=True).stdout
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dynamic)
    swift_runtime = re.compile(r"^(libswift|libFoundation|lib_Foundation|libdispatch|libBlocksRuntime)")
    c_libraries = [lib for lib in needed if not swift_runtime.match(lib)]
    assert any(lib.startswith("libmicrohttpd") for lib in c_libraries), needed
    owners = subprocess.run(["dpkg", "-S", *[f"*/{lib}" for lib in c_libraries]], capture_output=True, text=True).stdout
    for lib in c_libraries:
        packages = {line.split(":")[0] for line in owners.splitlines() if line.endswith("/" + lib)}
        assert packages, f"no Debian package owns {lib}"
        assert packages & allowed, f"{lib} comes from {sorted(packages)}, not installed in the runtime image"


# ---- compose.yaml ----------------------------------------------------------------------------------


def test_compose_file_describes_a_three_node_cluster():
    doc = load_compose()
    services = doc["services"]
    assert len(services) == 3
    node_ids = [s["environment"]["NODE_ID"] for s in services.values()]
    hostnames = [s["hostname"] for s in services.values()]
    assert len(set(node_ids)) == 3 and len(set(hostnames)) == 3
    join = ",".join(f"{h}:4002" for h in hostnames)
    host_ports = []
    volumes = []
    for name, s in services.items():
        assert s["command"] == ["-bootstrap-expect", "3", "-join", join], name
        assert s["environment"]["HTTP_ADV_ADDR"] == f"{s['hostname']}:4001"
        assert s["environment"]["RAFT_ADV_ADDR"] == f"{s['hostname']}:4002"
        assert s["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
        assert s["restart"] in ("unless-stopped", "always", "on-failure")
        assert "docker-healthcheck.sh" in " ".join(s["healthcheck"]["test"])
        (port,) = s["ports"]
        host_ip, host_port, container_port = port.split(":")
        assert (host_ip, container_port) == ("127.0.0.1", "4001"), port
        host_ports.append(host_port)
        (volume,) = s["volumes"]
        volume_name, mount = volume.split(":")
        assert mount == "/raftlite/file" and volume_name in doc["volumes"]
        volumes.append(volume_name)
    assert sorted(host_ports) == ["4001", "4011", "4021"]
    assert len(set(volumes)) == 3
