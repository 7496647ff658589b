#!/usr/bin/env bash
# Stops what the config-rsync demo left running. setup.sh starts nothing; the
# plugin's rsync daemons stop with tandemd. A daemon orphaned by a killed
# tandemd is stopped here by its pid file (only if it is that rsync daemon).
set -euo pipefail
DEMO_DIR=${1:?usage: teardown.sh DEMO_DIR}
[ -d "$DEMO_DIR" ] || exit 0
find "$DEMO_DIR" -name rsyncd.pid -path '*rsyncd*' 2>/dev/null | while read -r pidfile; do
  pid=$(cat "$pidfile" 2>/dev/null || true)
  conf="$(dirname "$pidfile")/rsyncd.conf"
  if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--config=$conf"; then
    kill "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
done
echo "config-rsync: demo stopped (trees left in $DEMO_DIR/config-rsync)"
