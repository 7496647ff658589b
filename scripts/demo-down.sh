#!/usr/bin/env bash
# make demo-down: stops the demo pair's tandemd processes, then whatever each
# plugin's demo/setup.sh started (plugins/*/demo/teardown.sh). Files under
# .demo/ (logs, configs, state) are kept for reading; remove the folder to
# start from scratch. --daemons-only stops just the two tandemd.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
DEMO="$REPO/.demo"
daemons_only=0
[ "${1:-}" = "--daemons-only" ] && daemons_only=1

stop_pid() {
  local pidfile=$1 pid
  [ -s "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  # Only a tandemd we started: the pid file may be stale after a reboot.
  if kill -0 "$pid" 2>/dev/null && grep -q tandemd "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 120); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "demo: tandemd $pid did not stop within 60 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "demo: stopped tandemd ($(basename "$(dirname "$pidfile")"))"
  fi
  rm -f "$pidfile"
}

[ -d "$DEMO" ] || exit 0
stop_pid "$DEMO/alpha/tandemd.pid"
stop_pid "$DEMO/beta/tandemd.pid"
[ $daemons_only -eq 1 ] && exit 0

shopt -s nullglob
# A test instance made with `tandemctl clone-test --target .demo/test-instance`:
# its PostgreSQL and Redis copies (its tandemd, if started, is the operator's).
for data in "$DEMO"/test-instance/stores/*/data; do
  [ -s "$data/postmaster.pid" ] || continue
  runuser -u postgres -- "$(pg_config --bindir)/pg_ctl" -D "$data" -m fast -w stop >/dev/null &&
    echo "demo: stopped the test instance's PostgreSQL ($data)"
done
for pidfile in "$DEMO"/test-instance/stores/*/redis.pid; do
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid" && echo "demo: stopped the test instance's Redis ($pidfile)"
  fi
done
for teardown in "$REPO"/plugins/*/demo/teardown.sh; do
  plugin="$(basename "$(dirname "$(dirname "$teardown")")")"
  echo "demo: tearing down $plugin"
  (cd "$REPO" && bash "$teardown" "$DEMO") || echo "demo: $plugin's demo/teardown.sh failed (see above)" >&2
done
echo "demo: stopped; logs and state remain under $DEMO"
