#!/usr/bin/env bash
# Stops the PostgreSQL servers demo/setup.sh (and the plugin) started. Data is kept.
set -euo pipefail
DEMO_DIR=${1:?usage: teardown.sh DEMO_DIR}
base=$(cd "$DEMO_DIR" 2>/dev/null && pwd)/postgres-wal
[ -d "$base" ] || exit 0
BIN=/usr/lib/postgresql/15/bin
[ -x "$BIN/pg_ctl" ] || BIN=$(pg_config --bindir)
as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }
for node in alpha beta; do
  data="$base/$node/data"
  if [ -f "$data/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    as_pg "$BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
done
echo "postgres-wal: stopped the demo's PostgreSQL servers under $base"
