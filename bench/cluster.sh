#!/usr/bin/env bash
# cluster.sh - build raftlited (release), start a 3-node Raftlite cluster on 127.0.0.1, run the shared
# SQL load driver (../shared/bench/sql_load.sh) against the leader, print its figures, clean up.
#
# usage: bench/cluster.sh            (from anywhere; prints RESULT lines, see bench/README.md)
# Env knobs [defaults]:
#   SHARED_BENCH [<repo>/../shared/bench]  the shared instruments (sql_load.sh, httpload.c)
#   RAFTLITED    [build it]    use this raftlited binary instead of building one
#   SCRATCH_PATH [<repo>/.build-bench]     SwiftPM scratch path of the release build
#   BUILD_MAX_S  [2400]        cap for the release build (the first one takes minutes on 2 cores)
#   MAX_S        [600]         cap for everything after the build (start, load, stop)
#   READY_S      [60]          deadline for all three nodes to answer /readyz and agree on a leader
#   SYSCOUNT     [0]           1: count fdatasync/pwrite64 system calls of every node per load phase
#                              with `perf stat -I` (tracepoints), and print entries carried per fsync
#   SOURCE       [tree]        tree: build the working tree; head: build the last commit (exported
#                              under $SCRATCH_PATH/head-src, built in $SCRATCH_PATH/head-build)
#   BUILD_ONLY   [0]           1: build, print the binary's path, exit (bench/abab.sh builds once)
#   LOAD         [$SHARED_BENCH/sql_load.sh]  the load command, run as `$LOAD <leader host:port>` with
#                              NODE_PIDS, LEADER_PID and NODE_WORK exported (bench/profile.sh uses it)
#   KEEP_LOGS    [0]           1: keep the node logs (path printed) instead of removing them
# Anything else in the environment (SEQ_N, CONC, DUR, BATCH, QUEUED, READS, VAL_SIZE) goes to
# sql_load.sh unchanged.
#
# Output: sql_load.sh's own RESULT/INFO lines unchanged, plus
#   RESULT cluster nodes=3 leader=<id> leader_http=<host:port> build=release raftlited=<path> ...
#   RESULT syscalls phase=<phase> node=<id> role=<leader|follower> fdatasync=<n> fdatasync_per_s=...
#     req_per_s=... reqs_per_fdatasync=...   (SYSCOUNT=1 only)
# Every process it starts is stopped by PID (TERM, then KILL) on exit; its temp dir is removed.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SHARED_BENCH=${SHARED_BENCH:-$(cd "$REPO/../shared/bench" 2>/dev/null && pwd)}
SCRATCH_PATH=${SCRATCH_PATH:-$REPO/.build-bench}
BUILD_MAX_S=${BUILD_MAX_S:-2400}; MAX_S=${MAX_S:-600}; READY_S=${READY_S:-60}
SYSCOUNT=${SYSCOUNT:-0}; KEEP_LOGS=${KEEP_LOGS:-0}
[ -n "$SHARED_BENCH" ] && [ -x "$SHARED_BENCH/sql_load.sh" ] || {
  echo "cluster: shared instruments not found (set SHARED_BENCH; expected $REPO/../shared/bench)" >&2; exit 2; }

WORK=""
PIDS=()          # raftlited nodes
AUX=()           # sql_load.sh, perf
WATCHDOG=""
cleanup() {
  local p alive
  for p in "${AUX[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq 1 50); do
    alive=0
    for p in "${PIDS[@]}" "${AUX[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for p in "${PIDS[@]}" "${AUX[@]}"; do kill -KILL "$p" 2>/dev/null; done
  [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
  if [ -n "$WORK" ]; then
    if [ "$KEEP_LOGS" = 1 ]; then
      rm -rf "$WORK"/n*/data; echo "INFO logs kept in $WORK" >&2
    else
      rm -rf "$WORK"
    fi
  fi
}
trap cleanup EXIT
trap 'echo "cluster: interrupted" >&2; exit 130' INT TERM

# 1) release build (own scratch path, own cap: the first build takes several minutes)
# SOURCE=tree builds the working tree as it is; SOURCE=head builds the last commit, exported into
# $SCRATCH_PATH/head-src (only changed files rewritten, so rebuilds stay incremental) - for a shared
# working tree that other edits leave uncompilable for a while.
BUILD_PKG=$REPO
if [ -z "${RAFTLITED:-}" ] && [ "${SOURCE:-tree}" = head ]; then
  BUILD_PKG="$SCRATCH_PATH/head-src"; SCRATCH_PATH="$SCRATCH_PATH/head-build"
  mkdir -p "$BUILD_PKG" "$SCRATCH_PATH"
  EXPORT=$(mktemp -d /tmp/raftlite-head.XXXXXX)
  git -C "$REPO" archive HEAD | tar -x -C "$EXPORT" || { rm -rf "$EXPORT"; echo "cluster: git archive failed" >&2; exit 2; }
  [ -f "$REPO/Package.resolved" ] && cp "$REPO/Package.resolved" "$EXPORT/"
  python3 - "$EXPORT" "$BUILD_PKG" <<'PYEOF'
import filecmp, os, shutil, sys
src, dst = sys.argv[1], sys.argv[2]
want = set()
for root, dirs, files in os.walk(src):
    for f in files:
        rel = os.path.relpath(os.path.join(root, f), src); want.add(rel)
        d = os.path.join(dst, rel)
        if not (os.path.isfile(d) and filecmp.cmp(os.path.join(src, rel), d, shallow=False)):
            os.makedirs(os.path.dirname(d), exist_ok=True); shutil.copy2(os.path.join(src, rel), d)
for root, dirs, files in os.walk(dst):
    for f in files:
        rel = os.path.relpath(os.path.join(root, f), dst)
        if rel not in want: os.remove(os.path.join(dst, rel))
PYEOF
  rm -rf "$EXPORT"
  echo "INFO building HEAD $(git -C "$REPO" rev-parse --short HEAD) from $BUILD_PKG" >&2
  BUILT_DESC="head@$(git -C "$REPO" rev-parse --short HEAD)"
fi
if [ -z "${RAFTLITED:-}" ]; then
  [ -n "${BUILT_DESC:-}" ] || BUILT_DESC="tree@$(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- Sources Package.swift 2>/dev/null || echo +edits)"
  echo "INFO building raftlited (release, scratch $SCRATCH_PATH)" >&2
  # The working tree is shared: a source edited mid-build fails it ("was modified during the build");
  # such a build is retried (3 attempts), any other failure is final.
  BUILD_END=$(( $(date +%s) + BUILD_MAX_S )); built=0
  for attempt in 1 2 3; do
    left=$(( BUILD_END - $(date +%s) )); [ "$left" -gt 0 ] || break
    if (cd "$BUILD_PKG" && timeout "$left" swift build -c release --product raftlited \
          --scratch-path "$SCRATCH_PATH" 2>&1 | tee -a /dev/stderr | tail -50 >"/tmp/raftlite-bench-build.$$"; \
        exit "${PIPESTATUS[0]}"); then built=1; break; fi
    grep -q "modified during the build" "/tmp/raftlite-bench-build.$$" || break
    echo "INFO a source changed during the build; retrying ($attempt)" >&2
  done
  rm -f "/tmp/raftlite-bench-build.$$"
  [ "$built" = 1 ] || { echo "cluster: release build failed or exceeded BUILD_MAX_S=$BUILD_MAX_S" >&2; exit 2; }
  RAFTLITED="$SCRATCH_PATH/release/raftlited"
fi
[ -x "$RAFTLITED" ] || { echo "cluster: no raftlited binary at $RAFTLITED" >&2; exit 2; }
if [ "${BUILD_ONLY:-0}" = 1 ]; then echo "$RAFTLITED"; exit 0; fi

# Watchdog over everything after the build.
( trap 'kill "$SP" 2>/dev/null; exit 0' TERM; sleep "$MAX_S" & SP=$!; wait "$SP" && {
    echo "cluster: MAX_S=$MAX_S exceeded, aborting" >&2; kill -TERM $$; } ) 2>/dev/null &
WATCHDOG=$!

WORK=$(mktemp -d /tmp/raftlite-bench.XXXXXX)

# 2) six free loopback ports (bound once by the kernel, released, then used at once)
read -r -a PORTS <<<"$(python3 - <<'EOF'
import socket
socks = []
for _ in range(6):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()
EOF
)"
[ "${#PORTS[@]}" = 6 ] || { echo "cluster: could not allocate ports" >&2; exit 1; }
HTTP=(); RAFT=()
for i in 1 2 3; do HTTP[$i]="127.0.0.1:${PORTS[$(( (i-1)*2 ))]}"; RAFT[$i]="127.0.0.1:${PORTS[$(( (i-1)*2+1 ))]}"; done

start_node() { # start_node ID [join args...]
  local id=$1; shift
  mkdir -p "$WORK/n$id/data"
  "$RAFTLITED" -node-id "$id" -http-addr "${HTTP[$id]}" -raft-addr "${RAFT[$id]}" "$@" "$WORK/n$id/data" \
    >"$WORK/n$id/log" 2>&1 &
  PIDS[$id]=$!
}

http_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$1$2" 2>/dev/null; }

# wait_until DEADLINE_EPOCH CMD...: poll CMD (0.1 s apart) until it succeeds or the deadline passes
wait_until() {
  local deadline=$1; shift
  while :; do
    "$@" && return 0
    [ "$(date +%s)" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}
alive_all() { local i; for i in "$@"; do kill -0 "${PIDS[$i]}" 2>/dev/null || { echo "cluster: node $i exited" >&2; tail -20 "$WORK/n$i/log" >&2; exit 1; }; done; }
ready() { local i; alive_all "$@"; for i in "$@"; do [ "$(http_code "${HTTP[$i]}" /readyz)" = 200 ] || return 1; done; }

DEADLINE=$(( $(date +%s) + READY_S ))
# 3) node 1 alone (single-node bootstrap), then 2 and 3 join through node 1's Raft address
start_node 1
wait_until "$DEADLINE" ready 1 || { echo "cluster: node 1 not ready within ${READY_S}s" >&2; tail -20 "$WORK/n1/log" >&2; exit 1; }
start_node 2 -join "${RAFT[1]}"
start_node 3 -join "${RAFT[1]}"
wait_until "$DEADLINE" ready 1 2 3 || {
  echo "cluster: nodes not ready within ${READY_S}s" >&2; for i in 1 2 3; do echo "--- n$i" >&2; tail -10 "$WORK/n$i/log" >&2; done; exit 1; }

# 4) leader: every node must name the same one, and the cluster must have three voters
leader_of() { curl -s -m 2 "http://${HTTP[$1]}/status?key=store.leader.node_id" 2>/dev/null | tr -d '"[:space:]'; }
voters_of() { curl -s -m 2 "http://${HTTP[$1]}/nodes?ver=2" 2>/dev/null | python3 -c '
import json,sys
try: d=json.load(sys.stdin); n=d.get("nodes",d)
except Exception: print(0); sys.exit()
print(sum(1 for x in (n if isinstance(n,list) else n.values()) if x.get("voter") and x.get("reachable")))' 2>/dev/null; }
LEADER=""
agreed() {
  local l1 l2 l3; l1=$(leader_of 1); l2=$(leader_of 2); l3=$(leader_of 3)
  case "$l1" in 1|2|3) ;; *) return 1;; esac
  [ "$l1" = "$l2" ] && [ "$l1" = "$l3" ] || return 1
  [ "$(voters_of "$l1")" = 3 ] || return 1
  LEADER=$l1
}
wait_until "$DEADLINE" agreed || {
  echo "cluster: no agreed leader with 3 reachable voters within ${READY_S}s (leaders: $(leader_of 1)/$(leader_of 2)/$(leader_of 3); nodes: $(curl -s -m 2 "http://${HTTP[1]}/nodes?ver=2"))" >&2; exit 1; }
LEADER_HTTP=${HTTP[$LEADER]}
echo "RESULT cluster nodes=3 leader=$LEADER leader_http=$LEADER_HTTP build=release source=${BUILT_DESC:-given} ready_s=$(( READY_S - (DEADLINE - $(date +%s)) )) raftlited=$RAFTLITED loadavg=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)"

# 5) optional system-call counts per node (perf tracepoints; cheap, unlike strace)
PERF_T0=""
if [ "$SYSCOUNT" = 1 ]; then
  if perf stat -e syscalls:sys_enter_fdatasync -- true >/dev/null 2>&1; then
    PERF_T0=$(date +%s.%N)
    for i in 1 2 3; do
      perf stat -I 200 -x, -e syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_pwrite64 \
        -p "${PIDS[$i]}" -o "$WORK/perf.n$i.csv" >/dev/null 2>&1 &
      AUX+=($!)
    done
  else
    echo "INFO SYSCOUNT=1 but perf tracepoints are unavailable; skipped" >&2; SYSCOUNT=0
  fi
fi

# 6) the shared load driver against the leader; each output line gets its arrival time (for SYSCOUNT)
export NODE_PIDS="${PIDS[1]} ${PIDS[2]} ${PIDS[3]}" LEADER_PID="${PIDS[$LEADER]}" NODE_WORK="$WORK"
${LOAD:-"$SHARED_BENCH/sql_load.sh"} "$LEADER_HTTP" > >(while IFS= read -r line; do
    printf '%s %s\n' "$(date +%s.%N)" "$line"; done > "$WORK/sql_load.out") &
LOAD=$!; AUX+=("$LOAD")
wait "$LOAD"; RC=$?
sleep 0.3   # let the timestamping reader drain
cut -d' ' -f2- "$WORK/sql_load.out"
[ "$RC" = 0 ] || echo "cluster: sql_load.sh exited with status $RC" >&2
alive_all 1 2 3

if [ "$SYSCOUNT" = 1 ]; then
  for p in "${AUX[@]}"; do [ "$p" = "$LOAD" ] || kill -INT "$p" 2>/dev/null; done
  sleep 0.5
  python3 - "$WORK" "$PERF_T0" "$LEADER" <<'EOF'
import sys, re
work, t0, leader = sys.argv[1], float(sys.argv[2]), sys.argv[3]
# phases: each RESULT line of sql_load arrives when its httpload run ends; the measured part of that
# run is the elapsed_s before it (warm-up requests come earlier and are left out)
phases = []
for line in open(f"{work}/sql_load.out"):
    ts, _, rest = line.partition(" ")
    m = re.match(r"RESULT sql (\S+) (\S+) conns=(\d+) completed=(\d+) .*?elapsed_s=([\d.]+) req_per_s=([\d.]+)", rest)
    if m:
        end = float(ts)
        phases.append((f"{m.group(1)}/{m.group(2)}/{m.group(3)}", end - float(m.group(5)), end,
                       int(m.group(4)), float(m.group(6))))
for i in (1, 2, 3):
    counts = []  # (abs time of interval end, event, count)
    try:
        for l in open(f"{work}/perf.n{i}.csv"):
            f = l.strip().split(",")
            if len(f) < 4 or l.startswith("#"): continue
            try: counts.append((t0 + float(f[0]), f[3].split(":")[-1], float(f[1])))
            except ValueError: pass
    except FileNotFoundError:
        continue
    role = "leader" if str(i) == leader else "follower"
    for name, a, b, completed, rps in phases:
        # an interval line at time t covers (t-0.2, t]; take intervals ending inside the window
        def total(ev): return sum(c for t, e, c in counts if e == ev and a + 0.1 < t <= b + 0.1)
        fds, pw = total("sys_enter_fdatasync") + total("sys_enter_fsync"), total("sys_enter_pwrite64")
        dur = max(b - a, 1e-9)
        print(f"RESULT syscalls phase={name} node={i} role={role} window_s={dur:.2f} fdatasync={fds:.0f} "
              f"fdatasync_per_s={fds/dur:.0f} pwrite64={pw:.0f} completed={completed} req_per_s={rps:.0f} "
              f"reqs_per_fdatasync={(rps*dur/fds if fds else 0):.2f}")
EOF
fi
exit "$RC"
