#!/bin/sh
# The image's HEALTHCHECK: healthy when the node's /readyz answers 200 (it has a leader and can serve).
# The port (and the interface, when it is not a wildcard) come from HTTP_ADDR, as the entrypoint uses
# it; a node started with an explicit -http-addr flag should set HTTP_ADDR to match. With -auth, the
# credentials file must give the anonymous user "*" the "ready" permission, as with rqlite.
addr="${HTTP_ADDR:-0.0.0.0:4001}"
port="${addr##*:}"
host="${addr%:*}"
case "$host" in
    "" | 0.0.0.0 | "[::]" | "::") host=127.0.0.1 ;;
esac
exec curl -fsS --max-time 4 -o /dev/null "http://$host:$port/readyz"
