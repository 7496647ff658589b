#!/usr/bin/env bash
# Stops the redis-servers setup.sh started.   teardown.sh DEMO_DIR
set -euo pipefail
DEMO_DIR=${1:?usage: teardown.sh DEMO_DIR}
DIR="$DEMO_DIR/kvstore-dualwrite"
for name in alpha beta; do
  pidfile="$DIR/$name/redis.pid"
  if [[ -f "$pidfile" ]]; then
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    fi
    rm -f "$pidfile"
  fi
done
echo "kvstore-dualwrite: demo redis-servers stopped"
