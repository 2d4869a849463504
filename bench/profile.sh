#!/usr/bin/env bash
# profile.sh - where the time of concurrent single-statement writes goes on a 3-node cluster.
#
# usage: bench/profile.sh            (starts the cluster through bench/cluster.sh, which runs this
#                                     script again as its LOAD with the leader's address)
# Env knobs [defaults]: CONNS [64] connections, DUR [10] seconds of measured load, PERF_RECORD [1]
# CPU profile of the leader (perf record -g, 499 Hz), TRACE [1] per-thread syscall times of the
# leader (perf trace -s, a separate 5 s run: it slows the node, so its req/s is not a figure).
# Prints RESULT lines: the load (httpload), per node: CPU time, context switches, fdatasync/pwrite64/
# sendmsg/futex counts and writes per fdatasync; the leader's top symbols; the leader's threads'
# time in fdatasync and futex waits.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${LEADER_PID:-}" ]; then
  # not yet inside a cluster: start one with this script as its load
  LOAD="$HERE/profile.sh" READY_S=${READY_S:-60} exec "$HERE/cluster.sh"
fi
EP=${1:?usage: profile.sh (run through cluster.sh)}
SHARED_BENCH=${SHARED_BENCH:-$(cd "$HERE/../../shared/bench" && pwd)}
CONNS=${CONNS:-64}; DUR=${DUR:-10}; PERF_RECORD=${PERF_RECORD:-1}; TRACE=${TRACE:-1}
T="bench_prof_$$"
TMP=$(mktemp -d /tmp/raftlite-prof.XXXXXX)
AUX=()
cleanup() { local p; for p in "${AUX[@]}"; do kill -INT "$p" 2>/dev/null; done; sleep 0.3
  for p in "${AUX[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
gcc -O2 -o "$TMP/httpload" "$SHARED_BENCH/httpload.c" || exit 2
PAD=$(python3 -c "print('x'*244)")
curl -s -m 10 -XPOST "http://$EP/db/execute" -H 'Content-Type: application/json' \
  -d "[\"CREATE TABLE $T (id INTEGER PRIMARY KEY, v TEXT)\"]" >/dev/null
INS="[\"INSERT INTO $T(v) VALUES('v{n}_$PAD')\"]"
load() { timeout $(( $1 + 60 )) "$TMP/httpload" -q -u "http://$EP/db/execute" -m POST -b "$INS" -e '"error"' -c "$CONNS" -d "$1" -w 5 -T $(( $1 + 30 )); }

# 1) counters on every node while the load runs (tracepoint counting: cheap)
EVENTS=task-clock,context-switches,syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_pwrite64,syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendto,syscalls:sys_enter_futex
load 3 >/dev/null   # warm-up
i=0
for pid in $NODE_PIDS; do
  i=$((i+1))
  perf stat -x, -e "$EVENTS" -p "$pid" -o "$TMP/stat.n$i" -- sleep "$DUR" >/dev/null 2>&1 &
  AUX+=($!)
done
if [ "$PERF_RECORD" = 1 ]; then
  perf record -q -F 499 -g -p "$LEADER_PID" -o "$TMP/perf.data" -- sleep "$DUR" >/dev/null 2>&1 &
  AUX+=($!)
fi
LINE=$(load "$DUR")
wait "${AUX[@]}" 2>/dev/null; AUX=()
echo "RESULT profile load $(echo "$LINE" | sed -E 's/^httpload //; s/url=[^ ]+ //; s/method=[^ ]+ //')"
RPS=$(echo "$LINE" | sed -nE 's/.* req_per_s=([0-9.]+).*/\1/p')
i=0
for pid in $NODE_PIDS; do
  i=$((i+1)); role=follower; [ "$pid" = "$LEADER_PID" ] && role=leader
  python3 - "$TMP/stat.n$i" "$i" "$role" "$DUR" "${RPS:-0}" <<'EOF'
import sys
path, node, role, dur, rps = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
v = {}
for l in open(path):
    f = l.strip().split(",")
    if len(f) < 3 or l.startswith("#"): continue
    try: v[f[2].split(":")[-1]] = float(f[0])
    except ValueError: pass
fds = v.get("sys_enter_fdatasync", 0) + v.get("sys_enter_fsync", 0)
print(f"RESULT profile node={node} role={role} cpu_ms_per_s={v.get('task-clock',0)/dur:.0f} "
      f"ctx_switches_per_s={v.get('context-switches',0)/dur:.0f} fdatasync_per_s={fds/dur:.0f} "
      f"pwrite64_per_s={v.get('sys_enter_pwrite64',0)/dur:.0f} sendmsg_per_s={(v.get('sys_enter_sendmsg',0)+v.get('sys_enter_sendto',0))/dur:.0f} "
      f"futex_per_s={v.get('sys_enter_futex',0)/dur:.0f} writes_per_fdatasync={(rps*dur/fds if fds else 0):.1f} "
      f"cpu_us_per_write={(v.get('task-clock',0)*1000/(rps*dur) if rps else 0):.0f}")
EOF
done
if [ "$PERF_RECORD" = 1 ] && [ -s "$TMP/perf.data" ]; then
  echo "INFO leader CPU profile (self time, top 25 symbols):"
  perf report -i "$TMP/perf.data" --no-children --sort comm,dso,symbol --stdio 2>/dev/null |
    grep -E '^ +[0-9]' | head -25 | sed 's/^/PROFILE /' | cut -c1-200
  echo "INFO leader CPU by thread:"
  perf report -i "$TMP/perf.data" --no-children --sort comm --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -10 | sed 's/^/PROFILE /'
fi

# 2) per-thread syscall time on the leader (perf trace slows the node: a separate, shorter run)
if [ "$TRACE" = 1 ]; then
  timeout 30 perf trace -s -p "$LEADER_PID" -o "$TMP/trace.txt" -- sleep 5 >/dev/null 2>&1 &
  TP=$!; AUX+=("$TP")
  sleep 0.5
  LINE=$(load 4)
  wait "$TP" 2>/dev/null; AUX=()
  echo "RESULT profile traced-load $(echo "$LINE" | sed -E 's/^httpload //; s/url=[^ ]+ //; s/method=[^ ]+ //')"
  # per thread: name, events, then the syscalls with the most total time
  python3 - "$TMP/trace.txt" <<'EOF'
import re, sys
thread, rows = None, []
for l in open(sys.argv[1]):
    m = re.match(r"\s*(\S.*?) \((\d+)\), (\d+) events", l)
    if m: thread = f"{m.group(1)}({m.group(2)})"; continue
    m = re.match(r"\s+(\w+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", l)
    if m and thread:
        rows.append((float(m.group(4)), thread, m.group(1), int(m.group(2)), float(m.group(5)), float(m.group(7))))
for total, thread, sc, calls, mn, mx in sorted(rows, reverse=True)[:20]:
    print(f"TRACE thread={thread} syscall={sc} calls={calls} total_ms={total:.1f} avg_ms={total/calls:.3f} max_ms={mx:.1f}")
EOF
fi
curl -s -m 5 -XPOST "http://$EP/db/execute" -H 'Content-Type: application/json' -d "[\"DROP TABLE IF EXISTS $T\"]" >/dev/null
exit 0
