#!/usr/bin/env bash
# Stops the Elasticsearch stand-in demo/setup.sh started.
#   plugins/elasticsearch-rebuild/demo/teardown.sh DEMO_DIR
set -euo pipefail
HERE="$1/elasticsearch-rebuild"
if [ -f "$HERE/standin.pid" ]; then
  pid=$(cat "$HERE/standin.pid")
  if kill -0 "$pid" 2>/dev/null && grep -q tandem_es_standin "/proc/$pid/cmdline" 2>/dev/null; then
    kill "$pid"
  fi
  rm -f "$HERE/standin.pid"
fi
echo "elasticsearch-rebuild: stand-in stopped"
