#!/usr/bin/env bash
# abab.sh - Raftlite against etcd in one run, per ../shared/bench/README.md:
#   build -> [limits.sh -> etcd_anchor.sh (A) -> cluster.sh (B)] x PAIRS
# then per-pair ratios (ours / etcd) and their medians. A pair is discarded, as the shared README says,
# when the limits.sh run before it shows 4 KiB append fdatasync p50 > 1 ms, or when the 1-minute load
# average exceeds nproc at the start of any of its runs; discarded pairs are printed and marked, and
# the medians are given over the kept pairs and, separately and labelled as such, over every complete
# error-free pair whatever the machine conditions (pairs with request errors or a failed driver never count).
#
# usage: bench/abab.sh
# Env knobs [defaults]:
#   PAIRS [2]          A/B pairs (>= 2)
#   LIMITS_EACH [1]    run limits.sh before every pair (first full, later QUICK=1) so each pair has its
#                      own fsync/loadavg figures; 0: only once at the start (all pairs judged by it)
#   OUT [mktemp]       directory for the raw outputs of every run (kept; path printed at the end)
#   MAX_S [3600]       hard cap for the whole protocol
#   SUMMARIZE [unset]  a directory of an earlier run's raw outputs: only print its tables again
#   SHARED_BENCH [<repo>/../shared/bench]
#   SOURCE [tree]      what cluster.sh builds: tree (working tree) or head (last commit); RAFTLITED=path
#                      skips the build
# Anything else (DUR, SEQ_N, CONC, VAL_SIZE, READS, QUEUED) reaches both drivers unchanged, so both
# sides see the same value size, connection counts and durations.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
SHARED_BENCH=${SHARED_BENCH:-$(cd "$REPO/../shared/bench" 2>/dev/null && pwd)}
export SHARED_BENCH
PAIRS=${PAIRS:-2}; LIMITS_EACH=${LIMITS_EACH:-1}; MAX_S=${MAX_S:-3600}
[ "$PAIRS" -ge 2 ] 2>/dev/null || { echo "abab: PAIRS must be >= 2" >&2; exit 2; }
[ -x "$SHARED_BENCH/etcd_anchor.sh" ] || { echo "abab: shared instruments not found at $SHARED_BENCH" >&2; exit 2; }
if [ -n "${SUMMARIZE:-}" ]; then
  # only print the tables again from the raw outputs of an earlier run
  OUT=$SUMMARIZE; PAIRS=$(ls "$OUT"/etcd*.out 2>/dev/null | wc -l)
  [ "$PAIRS" -ge 1 ] || { echo "abab: no etcd*.out in $OUT" >&2; exit 2; }
  [ -f "$OUT/limits2.out" ] && LIMITS_EACH=1 || LIMITS_EACH=0
else
OUT=${OUT:-$(mktemp -d /tmp/raftlite-abab.XXXXXX)}
mkdir -p "$OUT"

CHILD=""; WATCHDOG=""
cleanup() {
  # stop the driver that is running (each one stops its own servers in its EXIT trap)
  if [ -n "$CHILD" ] && kill -0 "$CHILD" 2>/dev/null; then
    kill -TERM "$CHILD" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$CHILD" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$CHILD" 2>/dev/null
  fi
  [ -n "$WATCHDOG" ] && kill "$WATCHDOG" 2>/dev/null
}
trap cleanup EXIT
trap 'echo "abab: interrupted" >&2; exit 130' INT TERM
( trap 'kill "$SP" 2>/dev/null; exit 0' TERM; sleep "$MAX_S" & SP=$!; wait "$SP" && {
    echo "abab: MAX_S=$MAX_S exceeded, aborting" >&2; kill -TERM $$; } ) 2>/dev/null &
WATCHDOG=$!

# run NAME CMD...: one driver, output to $OUT/NAME.out (stderr to NAME.err), with the load average and
# the time it started, in the foreground but killable from the trap
run() {
  local name=$1; shift
  echo "START $name $(date -u +%FT%TZ) loadavg=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' ,)" | tee "$OUT/$name.out" >&2
  "$@" >>"$OUT/$name.out" 2>"$OUT/$name.err" &
  CHILD=$!
  wait "$CHILD"; local rc=$?
  CHILD=""
  echo "END $name rc=$rc $(date -u +%FT%TZ)" | tee -a "$OUT/$name.out" >&2
  [ "$rc" = 0 ] || { echo "abab: $name failed (rc=$rc); stderr:" >&2; tail -5 "$OUT/$name.err" >&2; }
  return 0
}

# Build once, before anything is measured, so no compile runs between A and B (SOURCE=head|tree is
# passed on to cluster.sh, which does the build).
if [ -z "${RAFTLITED:-}" ]; then
  echo "abab: building raftlited (release) ..." >&2
  RAFTLITED=$(BUILD_ONLY=1 "$HERE/cluster.sh" 2>"$OUT/build.log") && [ -x "$RAFTLITED" ] || {
    echo "abab: build failed, see $OUT/build.log" >&2; tail -5 "$OUT/build.log" >&2; exit 2; }
fi
export RAFTLITED

echo "INFO date=$(date -u +%FT%TZ) host=$(hostname) nproc=$(nproc) kernel=$(uname -r) pairs=$PAIRS out=$OUT" | tee "$OUT/info.txt"
for p in $(seq 1 "$PAIRS"); do
  if [ "$p" = 1 ]; then run "limits$p" "$SHARED_BENCH/limits.sh"
  elif [ "$LIMITS_EACH" = 1 ]; then run "limits$p" env QUICK=1 "$SHARED_BENCH/limits.sh"; fi
  run "etcd$p" "$SHARED_BENCH/etcd_anchor.sh"
  run "ours$p" "$HERE/cluster.sh"
done

fi  # SUMMARIZE

python3 - "$OUT" "$PAIRS" "$LIMITS_EACH" "$(nproc)" <<'EOF'
import math, os, re, statistics, sys
out, pairs, limits_each, nproc = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])

def lines(name):
    try: return open(os.path.join(out, name + ".out")).read().splitlines()
    except FileNotFoundError: return []

def kv(line):
    return dict(m.groups() for m in re.finditer(r"(\w+)=(\S+)", line))

def fnum(x):
    try: v = float(x)
    except (TypeError, ValueError): return None
    return v if math.isfinite(v) else None   # httpload prints -nan when nothing completed

def find(name, prefix, **want):
    """first RESULT line of run NAME starting with PREFIX whose key=value pairs include WANT"""
    for l in lines(name):
        if l.startswith(prefix):
            d = kv(l)
            if all(d.get(k) == str(v) for k, v in want.items()): return d
    return None

def start_load(name):
    for l in lines(name):
        if l.startswith("START "):
            d = kv(l); return fnum(d.get("loadavg", "").split(",")[0])
    return None

def ratio(a, b):
    return a / b if a is not None and b not in (None, 0) else None

rows, notes = [], []
for p in range(1, pairs + 1):
    lim = f"limits{p}" if (limits_each or p == 1) else "limits1"
    fs = find(lim, "RESULT fsync_lat", pattern="append", bytes="4096")
    rf = find(lim, "RESULT raft_floor", batch="1")
    fsync_p50_ms = fnum(fs and fs.get("median_us")); fsync_p50_ms = fsync_p50_ms / 1000 if fsync_p50_ms is not None else None
    floor_ms = fnum(rf and rf.get("round_p50_us")); floor_ms = floor_ms / 1000 if floor_ms is not None else None
    e, o = f"etcd{p}", f"ours{p}"
    eseq = find(e, "RESULT etcd3 proto=http op=put mode=seq")
    e16 = find(e, "RESULT etcd3 proto=http op=put mode=conc", conns=16)
    e64 = find(e, "RESULT etcd3 proto=http op=put mode=conc", conns=64)
    eread = find(e, "RESULT etcd3 proto=http op=range-serializable mode=seq")
    oseq = find(o, "RESULT sql write-1stmt seq")
    o16 = find(o, "RESULT sql write-1stmt conc", conns=16)
    o64 = find(o, "RESULT sql write-1stmt conc", conns=64)
    ob16 = next((find(o, f"RESULT sql {k} conc", conns=16) for k in
                 sorted({m.group(1) for l in lines(o) for m in [re.match(r"RESULT sql (write-bulk\d+) conc", l)] if m})), None)
    oread = find(o, "RESULT sql read-none seq")
    g = lambda d, k: fnum(d.get(k)) if d else None
    loads = [x for x in (start_load(lim) if lim == f"limits{p}" else None, start_load(e), start_load(o)) if x is not None]
    errs = sum(int(g(d, "errors") or 0) for d in (eseq, e16, e64, oseq, o16, o64, ob16) if d)
    missing = [n for n, d in (("etcd seq", eseq), ("etcd 16", e16), ("etcd 64", e64), ("ours seq", oseq),
                               ("ours 16", o16), ("ours 64", o64), ("ours bulk", ob16), ("limits fsync", fs)) if d is None]
    why, broken = [], []
    if fsync_p50_ms is not None and fsync_p50_ms > 1.0: why.append(f"fsync p50 {fsync_p50_ms:.2f} ms > 1 ms")
    if loads and max(loads) > nproc: why.append(f"loadavg {max(loads):.2f} > nproc {nproc}")
    if missing: broken.append("missing: " + ", ".join(missing))
    if errs: broken.append(f"{errs} request errors")
    for n in (e, o):
        rc = next((kv(l).get("rc") for l in lines(n) if l.startswith("END ")), None)
        if rc not in (None, "0"): broken.append(f"{n} exited with status {rc}")
    why += broken
    r = dict(pair=p, fsync=fsync_p50_ms, floor=floor_ms, load=max(loads) if loads else None,
             etcd_p50=g(eseq, "p50_ms"), etcd_p99=g(eseq, "p99_ms"), etcd16=g(e16, "req_per_s"), etcd64=g(e64, "req_per_s"),
             ours_p50=g(oseq, "p50_ms"), ours_p99=g(oseq, "p99_ms"), ours16=g(o16, "req_per_s"), ours64=g(o64, "req_per_s"),
             bulk16=g(ob16, "stmts_per_s"), ours_read=g(oread, "p50_ms"), etcd_read=g(eread, "p50_ms"))
    r["r_p50"] = ratio(r["ours_p50"], r["etcd_p50"]); r["r_p99"] = ratio(r["ours_p99"], r["etcd_p99"])
    r["r16"] = ratio(r["ours16"], r["etcd16"]); r["r64"] = ratio(r["ours64"], r["etcd64"])
    r["r_bulk"] = ratio(r["bulk16"], r["ours16"]); r["r_floor"] = ratio(r["ours_p50"], floor_ms)
    r["r_read"] = ratio(r["ours_read"], r["etcd_read"])
    r["kept"] = not why; r["valid"] = not broken; r["why"] = "; ".join(why)
    rows.append(r)

f = lambda x, d=2: "-" if x is None else f"{x:.{d}f}"
print()
print("ABSOLUTE (per pair)  fsync_p50_ms raft_floor_b1_p50_ms load1max | etcd: seq_p50_ms seq_p99_ms put/s@16 put/s@64 | ours: seq_p50_ms seq_p99_ms req/s@16 req/s@64 bulk100_stmts/s@16")
for r in rows:
    print(f"pair {r['pair']}: {f(r['fsync'],3)} {f(r['floor'],3)} {f(r['load'])} | {f(r['etcd_p50'],3)} {f(r['etcd_p99'],3)} "
          f"{f(r['etcd16'],0)} {f(r['etcd64'],0)} | {f(r['ours_p50'],3)} {f(r['ours_p99'],3)} {f(r['ours16'],0)} "
          f"{f(r['ours64'],0)} {f(r['bulk16'],0)}")
keys = [("r_p50", "seq write p50 / etcd put p50", "<= 1.5 (project), <= 1.0 (shared README)"),
        ("r_p99", "seq write p99 / etcd put p99", "<= 1.5"),
        ("r16", "write req/s @16 / etcd put/s @16", "-"),
        ("r64", "write req/s @64 / etcd put/s @64", ">= 1.0"),
        ("r_bulk", "bulk100 stmts/s / 1-stmt stmts/s (ours, @16)", ">= 20"),
        ("r_floor", "seq write p50 / raft_floor batch=1 p50", "<= 3 (stretch 2)"),
        ("r_read", "read level=none p50 / etcd serializable range p50", "<= 1.5 (optional)")]
print()
print("RATIOS (per pair)")
for r in rows:
    print(f"pair {r['pair']}: " + " ".join(f"{k}={f(r[k])}" for k, _, _ in keys) +
          ("  KEPT" if r["kept"] else f"  DISCARDED ({r['why']})"))
def med(sel, k):
    v = [r[k] for r in sel if r[k] is not None]
    return (statistics.median(v), len(v)) if v else (None, 0)
kept = [r for r in rows if r["kept"]]
valid = [r for r in rows if r["valid"]]
print()
print(f"MEDIANS  kept pairs: {len(kept)} of {len(rows)}; complete error-free pairs: {len(valid)}"
      + ("" if kept else "  (none kept: the 'valid' column ignores the machine-condition rule and is NOT a result under the shared README)"))
print(f"{'figure':52s} {'median(kept)':>12s} {'median(valid)':>13s}  target")
for k, label, target in keys:
    mk, _ = med(kept, k); mv, _ = med(valid, k)
    print(f"{label:52s} {f(mk):>12s} {f(mv):>13s}  {target}")
for k, label, target in keys:
    mk, nk = med(kept, k); mv, nv = med(valid, k)
    print(f"RESULT abab ratio={k} median_kept={f(mk, 3)} kept={nk} median_valid={f(mv, 3)} valid={nv}")
EOF
echo "abab: raw outputs in $OUT" >&2
