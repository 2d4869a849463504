#!/bin/sh
# Entrypoint of the Raftlite image, following rqlite's image conventions so the same `docker run`
# lines, environment variables and orchestration manifests work unchanged:
#
#   run [flags]   start raftlited with the defaults below, any extra flags, then the data directory
#   -flag ...     the same: the defaults, the given flags, then the data directory
#   anything else run as given (`sh`, `raftlited -version`, ...)
#
# A default is added only when the command line does not already carry that flag (as `-f v`, `-f=v`,
# `--f v` or `--f=v`):
#   -http-addr      $HTTP_ADDR      (0.0.0.0:4001)
#   -http-adv-addr  $HTTP_ADV_ADDR  ($(hostname -f):4001)
#   -raft-addr      $RAFT_ADDR      (0.0.0.0:4002)
#   -raft-adv-addr  $RAFT_ADV_ADDR  ($(hostname -f):4002)
#   -node-id        $NODE_ID        ($(hostname))
#   -fk             when $ENABLE_FK is non-empty
# The data directory, $DATA_DIR (/raftlite/file/data), is always the last argument.
# $START_DELAY seconds are slept first; on Kubernetes (KUBERNETES_SERVICE_HOST set) 5 by default, so
# the headless service's DNS records exist before the node looks its peers up.
# $RAFTLITED is the daemon's path (/usr/local/bin/raftlited), overridable to test this script.
#
# The daemon is started with `exec`, so it is PID 1 in the container and receives `docker stop`'s
# SIGTERM itself (graceful shutdown: leadership hand-over, queued writes drained).
#
# Differences from rqlite's script: SQLITE_EXTENSIONS and CUSTOM_SQLITE_EXTENSIONS_PATH are refused,
# since raftlited does not load SQLite extensions yet; `run` keeps any flags that follow it; and the
# delay and the extension check apply only when the daemon is started, not to other commands.
set -eu

RAFTLITED="${RAFTLITED:-/usr/local/bin/raftlited}"

# has_flag NAME ARGS...: whether ARGS carry the flag NAME in any of Go's spellings.
has_flag() {
    name=$1
    shift
    for arg in "$@"; do
        case "$arg" in
            -"$name" | -"$name"=* | --"$name" | --"$name"=*) return 0 ;;
        esac
    done
    return 1
}

# The fully qualified host name, as rqlite uses; the short name when it does not resolve.
fqdn() {
    hostname -f 2>/dev/null || hostname
}

case "${1:-run}" in
    run)
        [ "$#" -gt 0 ] && shift
        ;;
    -*) ;;
    *)
        exec "$@"
        ;;
esac

if [ -n "${SQLITE_EXTENSIONS:-}" ] || [ -n "${CUSTOM_SQLITE_EXTENSIONS_PATH:-}" ]; then
    echo "SQLITE_EXTENSIONS and CUSTOM_SQLITE_EXTENSIONS_PATH are not supported yet: raftlited does not load SQLite extensions" >&2
    exit 1
fi

if [ -n "${KUBERNETES_SERVICE_HOST:-}" ] && [ -z "${START_DELAY:-}" ]; then
    START_DELAY=5
fi
if [ -n "${START_DELAY:-}" ]; then
    sleep "$START_DELAY"
fi

# "$@" now holds the user's flags. Append the data directory, then put each missing default in front,
# so the values keep their exact words (spaces included) without arrays.
user_has_fk=0
has_flag fk "$@" && user_has_fk=1
if has_flag node-id "$@"; then set_node_id=0; else set_node_id=1; fi
if has_flag http-addr "$@"; then set_http_addr=0; else set_http_addr=1; fi
if has_flag http-adv-addr "$@"; then set_http_adv=0; else set_http_adv=1; fi
if has_flag raft-addr "$@"; then set_raft_addr=0; else set_raft_addr=1; fi
if has_flag raft-adv-addr "$@"; then set_raft_adv=0; else set_raft_adv=1; fi

set -- "$@" "${DATA_DIR:-/raftlite/file/data}"
if [ -n "${ENABLE_FK:-}" ] && [ "$user_has_fk" -eq 0 ]; then
    set -- -fk "$@"
fi
if [ "$set_raft_adv" -eq 1 ]; then
    set -- -raft-adv-addr "${RAFT_ADV_ADDR:-$(fqdn):4002}" "$@"
fi
if [ "$set_raft_addr" -eq 1 ]; then
    set -- -raft-addr "${RAFT_ADDR:-0.0.0.0:4002}" "$@"
fi
if [ "$set_http_adv" -eq 1 ]; then
    set -- -http-adv-addr "${HTTP_ADV_ADDR:-$(fqdn):4001}" "$@"
fi
if [ "$set_http_addr" -eq 1 ]; then
    set -- -http-addr "${HTTP_ADDR:-0.0.0.0:4001}" "$@"
fi
if [ "$set_node_id" -eq 1 ]; then
    set -- -node-id "${NODE_ID:-$(hostname)}" "$@"
fi

exec "$RAFTLITED" "$@"
