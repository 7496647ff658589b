#!/usr/bin/env bash
# Stops the Elasticsearch stand-ins demo/setup.sh started (one per node).
#   plugins/elasticsearch-rebuild/demo/teardown.sh DEMO_DIR
set -euo pipefail
HERE="$1/elasticsearch-rebuild"
for f in "$HERE"/standin-*.pid "$HERE"/standin.pid; do
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null && grep -q tandem_es_standin "/proc/$pid/cmdline" 2>/dev/null; then
    kill "$pid"
  fi
  rm -f "$f"
done
echo "elasticsearch-rebuild: stand-ins stopped"
