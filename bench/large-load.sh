#!/usr/bin/env bash
# large-load.sh - load and back up a large SQLite image on a 3-node cluster; print time and peak RSS.
#
# usage: LOAD=bench/large-load.sh MAX_S=3600 bench/cluster.sh     (cluster.sh builds, starts and stops
#        the nodes; this script is its load command, called as `large-load.sh <leader host:port>` with
#        NODE_PIDS, LEADER_PID and NODE_WORK exported)
# Env knobs [defaults]:
#   SIZE_MB  [1024]  image size: random 1000-byte blobs (incompressible), made by the sqlite3 shell
#   IMAGE    []      use this SQLite file instead of generating one
# Output:
#   RESULT large_load size_mib=<n> seconds=<s> mib_per_s=<r> peak_rss_mib=<n1>,<n2>,<n3> (node order of NODE_PIDS)
#   RESULT large_backup fmt=<binary|sql|compress> seconds=<s> bytes=<n> leader_peak_rss_mib=<n>
# Peak RSS is VmHWM from /proc/<pid>/status, reset before each phase by writing 5 to clear_refs.
# Needs no ports or processes of its own beyond curl and sqlite3; its files live under NODE_WORK.
set -u
LEADER_HTTP=$1
SIZE_MB=${SIZE_MB:-1024}
WORK=${NODE_WORK:-$(mktemp -d /tmp/raftlite-large.XXXXXX)}/large
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
read -r -a PIDS <<<"${NODE_PIDS:-}"

peak_mib() { awk '/^VmHWM:/ { printf "%d", $2 / 1024 }' "/proc/$1/status" 2>/dev/null; }
reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null; }
now() { date +%s.%N; }

if [ -n "${IMAGE:-}" ]; then
  cp "$IMAGE" "$WORK/image.db"
else
  echo "INFO generating a ${SIZE_MB} MiB image" >&2
  sqlite3 "$WORK/image.db" >/dev/null <<SQL
PRAGMA page_size=4096;
PRAGMA journal_mode=OFF;
CREATE TABLE t (id INTEGER PRIMARY KEY, b BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $(( SIZE_MB * 1024 )))
INSERT INTO t SELECT x, randomblob(1000) FROM c;
SQL
fi
BYTES=$(stat -c %s "$WORK/image.db")
EXPECT=$(sqlite3 "$WORK/image.db" "SELECT count(*) || ',' || sum(length(b)) FROM t")

for p in "${PIDS[@]}"; do reset_peak "$p"; done
T0=$(now)
# -T streams the file (--data-binary would read it into curl's memory first).
CODE=$(curl -s -o "$WORK/load.out" -w '%{http_code}' -X POST -H 'Content-Type: application/octet-stream' \
  -T "$WORK/image.db" "http://$LEADER_HTTP/db/load")
T1=$(now)
[ "$CODE" = 200 ] || { echo "large-load: load answered $CODE: $(cat "$WORK/load.out")" >&2; exit 1; }
PEAKS=""; for p in "${PIDS[@]}"; do PEAKS="$PEAKS${PEAKS:+,}$(peak_mib "$p")"; done
python3 -c "import sys; b,t0,t1=int(sys.argv[1]),float(sys.argv[2]),float(sys.argv[3]); print(f'RESULT large_load size_mib={b>>20} seconds={t1-t0:.1f} mib_per_s={(b/1048576)/(t1-t0):.1f} peak_rss_mib=$PEAKS')" "$BYTES" "$T0" "$T1"
# The data, read through the log (-L follows a redirect if leadership moved meanwhile).
GOT=""
for _ in $(seq 1 120); do
  GOT=$(curl -sL -m 10 "http://$LEADER_HTTP/db/query?level=strong&q=SELECT%20count(*)%20%7C%7C%20','%20%7C%7C%20sum(length(b))%20FROM%20t" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["values"][0][0])' 2>/dev/null)
  [ "$GOT" = "$EXPECT" ] && break
  sleep 0.5
done
[ "$GOT" = "$EXPECT" ] || { echo "large-load: loaded data differs: '$GOT' vs '$EXPECT'" >&2; exit 1; }
# A long commit can cost the leader its leadership (its worker is busy swapping the image in): wait for
# one, and back up from whichever node leads.
LEADER_NOW=""
for _ in $(seq 1 120); do
  LEADER_NOW=$(curl -s -m 5 "http://$LEADER_HTTP/status?key=store.leader.node_id" | tr -d '"[:space:]')
  case "$LEADER_NOW" in [0-9]*) break;; esac
  sleep 0.5
done
echo "INFO leader after the load: node ${LEADER_NOW:-none} (was $LEADER_HTTP)" >&2

for fmt in binary sql compress; do
  case $fmt in binary) q="/db/backup";; sql) q="/db/backup?fmt=sql";; compress) q="/db/backup?compress";; esac
  reset_peak "$LEADER_PID"
  T0=$(now)
  CODE=$(curl -sL -o "$WORK/backup" -w '%{http_code}' "http://$LEADER_HTTP$q")
  T1=$(now)
  [ "$CODE" = 200 ] || { echo "large-load: backup $fmt answered $CODE" >&2; exit 1; }
  python3 -c "import sys; t0,t1=float(sys.argv[1]),float(sys.argv[2]); print(f'RESULT large_backup fmt=$fmt seconds={t1-t0:.1f} bytes=$(stat -c %s "$WORK/backup") leader_peak_rss_mib=$(peak_mib "$LEADER_PID")')" "$T0" "$T1"
  rm -f "$WORK/backup"
done
