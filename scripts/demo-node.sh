#!/usr/bin/env bash
# One node of the demo pair (make demo) dies or comes back, as a host would:
#   scripts/demo-node.sh kill NODE [BUILD_DIR]
#       kill -9 of NODE's tandemd, the rsync daemon it ran (its own process
#       group), its PostgreSQL (postmaster and backends) and its Redis: an
#       unplanned failure of the whole host. Its files stay as they were.
#   scripts/demo-node.sh start NODE [BUILD_DIR]
#       the host comes back: its Redis is started again (as the kvstore demo
#       starts it, with its AOF) and its tandemd, which finds the peer at a
#       higher epoch if it was promoted meanwhile and fences itself.
#       PostgreSQL stays down: `tandemctl rejoin` rewinds and starts it.
# NODE is alpha or beta; BUILD_DIR defaults to ./build.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
DEMO="$REPO/.demo"
die() { echo "demo-node: $*" >&2; exit 1; }

action=${1:-}
node=${2:-}
BUILD="${3:-build}"
case "$BUILD" in /*) ;; *) BUILD="$REPO/$BUILD" ;; esac
case "$action" in kill|start) ;; *) die "usage: demo-node.sh kill|start alpha|beta [BUILD_DIR]" ;; esac
case "$node" in alpha|beta) ;; *) die "unknown node '$node': the demo's nodes are alpha and beta" ;; esac
[ -f "$DEMO/$node/tandem.toml" ] || die "no demo pair under $DEMO: run make demo first"

# Waits until every pid given is gone (a zombie counts as gone).
wait_gone() {
  local pid
  for pid in "$@"; do
    for _ in $(seq 1 100); do
      [ -d "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ] || break
      sleep 0.05
    done
  done
}

kill_node() {
  local pids=() kids=() pid pgid f
  f=$DEMO/$node/tandemd.pid
  if [ -s "$f" ]; then
    pid=$(cat "$f")
    if grep -q tandemd "/proc/$pid/cmdline" 2>/dev/null; then
      kill -KILL "$pid" && pids+=("$pid")
    fi
  fi
  f=$DEMO/postgres-wal/$node/data/postmaster.pid
  if [ -f "$f" ]; then
    pid=$(head -n 1 "$f")
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      pgid=$(ps -o pgid= -p "$pid" | tr -d ' ')
      if [ "$pgid" = "$pid" ]; then
        kill -KILL -- "-$pid" 2>/dev/null || true
      else
        mapfile -t kids < <(ps -o pid= --ppid "$pid")
        kill -KILL "$pid" "${kids[@]}" 2>/dev/null || true
      fi
      pids+=("$pid")
    fi
  fi
  f=$DEMO/kvstore-dualwrite/$node/redis.pid
  if [ -s "$f" ]; then
    pid=$(cat "$f")
    grep -q redis "/proc/$pid/cmdline" 2>/dev/null && kill -KILL "$pid" && pids+=("$pid")
  fi
  while read -r f; do
    pid=$(cat "$f" 2>/dev/null || true)
    if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- '--daemon'; then
      kill -KILL "$pid" 2>/dev/null && pids+=("$pid") || true
    fi
  done < <(find "$DEMO/$node/data" -name rsyncd.pid 2>/dev/null)
  wait_gone "${pids[@]}"
  echo "demo-node: $node is down (kill -9 of tandemd, PostgreSQL, Redis, rsync daemon: ${#pids[@]} processes)"
}

start_node() {
  local tandemd=$BUILD/bin/tandemd pid port f
  [ -x "$tandemd" ] || die "$tandemd not found: build first"
  f=$DEMO/$node/tandemd.pid
  if [ -s "$f" ] && grep -q tandemd "/proc/$(cat "$f")/cmdline" 2>/dev/null; then
    die "$node's tandemd is already running (pid $(cat "$f"))"
  fi
  # The kvstore demo's setup starts whichever of its Redis servers is not running.
  if [ -x "$REPO/plugins/kvstore-dualwrite/demo/setup.sh" ] && [ -d "$DEMO/kvstore-dualwrite" ]; then
    bash "$REPO/plugins/kvstore-dualwrite/demo/setup.sh" "$DEMO" "$BUILD" >/dev/null
  fi
  (setsid "$tandemd" --config "$DEMO/$node/tandem.toml" >>"$DEMO/$node/tandemd.log" 2>&1 </dev/null &
   echo $! >"$DEMO/$node/tandemd.pid")
  pid=$(cat "$DEMO/$node/tandemd.pid")
  port=$(sed -n 's/^listen = "127.0.0.1:\([0-9]*\)"$/\1/p' "$DEMO/$node/tandem.toml" | head -n 1)
  for _ in $(seq 1 120); do
    if curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$port/v1/status"; then
      if curl -s "http://127.0.0.1:$port/v1/status" | grep -q '"fenced":true'; then
        echo "demo-node: $node is back, FENCED (its peer was promoted): run tandemctl --config $DEMO/$node/tandem.toml rejoin"
      else
        echo "demo-node: $node is back (API 127.0.0.1:$port)"
      fi
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$DEMO/$node/tandemd.log" >&2; die "$node's tandemd exited"; }
    sleep 0.5
  done
  die "$node's API did not answer on 127.0.0.1:$port within 60 s; see $DEMO/$node/tandemd.log"
}

"${action}_node"
