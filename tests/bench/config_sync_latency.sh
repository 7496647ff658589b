#!/usr/bin/env bash
# Benchmark: how stale is the secondary's configuration after a change?
#
# Median time from a file change on the primary to the same content on the
# secondary, over 20 changes, printed next to the seed's schedule (rsync every
# 60 s: a change waits 30 s on average, 60 s at worst). Target: <= 2 s.
#
# Runs config_rsync_latency_driver (built from plugins/config-rsync/tests):
# two config-rsync plugin instances in one process on loopback, each with its
# built-in rsync daemon, the primary's inotify watcher reporting to the
# secondary as tandemd would; periodic interval 60 s, so only the prompt path
# can deliver. Also times a bare rsync pull of the same tree (the floor).
#
# Usage: tests/bench/config_sync_latency.sh [BUILD_DIR] [CHANGES]
# Bounded: 20 changes (default), each given at most 90 s.
set -euo pipefail
BUILD_DIR=${1:-./build}
CHANGES=${2:-20}
driver="$BUILD_DIR/bin/config_rsync_latency_driver"
if [ ! -x "$driver" ]; then
  echo "missing $driver: build it first, e.g." >&2
  echo "  cmake --build $BUILD_DIR --target config_rsync_latency_driver" >&2
  exit 2
fi
command -v rsync >/dev/null || { echo "rsync is not installed (scripts/install-deps.sh)" >&2; exit 2; }
exec timeout 1200 "$driver" --changes "$CHANGES" --files 200 2>/dev/null
