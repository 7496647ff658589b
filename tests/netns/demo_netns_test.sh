#!/usr/bin/env bash
# scripts/demo-netns.sh end to end: up, a partition both nodes notice, heal,
# a forced promotion fencing the old primary after the heal, and down leaving
# no namespace, process or state behind. Own namespace prefix (with this
# test's pid) and state dir, so it runs beside a person's demo.
# Usage: demo_netns_test.sh REPO BUILD_DIR. Exit 77 (skipped) without root/nft.
set -euo pipefail
REPO=$1
BUILD=$2
[ "$(id -u)" = 0 ] && command -v nft >/dev/null && command -v rsync >/dev/null ||
  { echo "skipped: needs root, nft and rsync"; exit 77; }

export TANDEM_DEMO_NETNS_PREFIX="tnd$$d"
export TANDEM_DEMO_NETNS_DIR
TANDEM_DEMO_NETNS_DIR=$(mktemp -d /tmp/tandem-demo-netns-test.XXXXXX)
SCRIPT="$REPO/scripts/demo-netns.sh"
CTL="$BUILD/bin/tandemctl"
fail() { echo "FAIL: $*" >&2; exit 1; }
cleanup() {
  "$SCRIPT" down >/dev/null 2>&1 || true
  rm -rf "$TANDEM_DEMO_NETNS_DIR"
}
trap cleanup EXIT

# peer_is NODE TEXT: within 20 s, NODE's status shows TEXT on its peer line.
peer_is() {
  local node=$1 want=$2 out=""
  for _ in $(seq 1 40); do
    out=$("$SCRIPT" exec "$node" "$CTL" --config "$TANDEM_DEMO_NETNS_DIR/$node/tandem.toml" status 2>&1 || true)
    grep -E '^peer ' <<<"$out" | grep -q -- "$want" && return 0
    sleep 0.5
  done
  fail "$node's peer never showed '$want': $out"
}

"$SCRIPT" up "$BUILD" >"$TANDEM_DEMO_NETNS_DIR.up.log" 2>&1 || { cat "$TANDEM_DEMO_NETNS_DIR.up.log"; rm -f "$TANDEM_DEMO_NETNS_DIR.up.log"; fail "up failed"; }
rm -f "$TANDEM_DEMO_NETNS_DIR.up.log"
ip netns list | grep -q "^$TANDEM_DEMO_NETNS_PREFIX-alpha" || fail "no alpha namespace"
peer_is alpha "reachable, role secondary"
peer_is beta "reachable, role primary"
# The peer channel is HTTPS (the polls above were verified against the demo's
# CA); plain HTTP to the API is answered only with a pointer to https.
plain=$("$SCRIPT" exec beta curl -s --max-time 5 "http://10.79.0.1:7480/v1/status" || true)
grep -q "this API speaks HTTPS" <<<"$plain" || fail "alpha's API answered plain HTTP: $plain"

"$SCRIPT" partition
peer_is alpha "NOT reachable"
peer_is beta "NOT reachable"
"$SCRIPT" exec beta "$CTL" --config "$TANDEM_DEMO_NETNS_DIR/beta/tandem.toml" promote --force >/dev/null ||
  fail "promote --force on beta failed"
"$SCRIPT" heal
peer_is beta "reachable, role primary, epoch 1"
out=""
for _ in $(seq 1 40); do
  out=$("$SCRIPT" exec alpha "$CTL" --config "$TANDEM_DEMO_NETNS_DIR/alpha/tandem.toml" status 2>&1 || true)
  grep -q FENCED <<<"$out" && break
  sleep 0.5
done
grep -q FENCED <<<"$out" || fail "alpha did not fence itself after the heal: $out"
"$SCRIPT" exec alpha "$CTL" --config "$TANDEM_DEMO_NETNS_DIR/alpha/tandem.toml" rejoin >/dev/null || fail "rejoin failed"
peer_is beta "reachable, role secondary, epoch 2"

# Each tandemd by pid and start time (field 22 of /proc/PID/stat): a pid the
# kernel hands to a new process after down (32768 pids wrap on a busy machine)
# is not a tandemd left running.
started() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null || echo gone; }
declare -A start_of
for pid in $(cat "$TANDEM_DEMO_NETNS_DIR"/*/tandemd.pid); do start_of[$pid]=$(started "$pid"); done
"$SCRIPT" down
ip netns list | grep -q "^$TANDEM_DEMO_NETNS_PREFIX-" && fail "namespaces left after down: $(ip netns list)"
gone() {  # pid: exited (a zombie waiting for its reaper counts), or the pid is another process now
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo gone)
  [ "$state" = gone ] || [ "$state" = Z ] || [ "$(started "$1")" != "${start_of[$1]}" ]
}
for pid in "${!start_of[@]}"; do
  # A process killed by down's SIGKILL can still be in the kernel's exit path
  # for a moment beside other tests (state R, no cmdline); give that 10 s.
  for _ in $(seq 1 20); do gone "$pid" && break; sleep 0.5; done
  state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo gone)
  gone "$pid" ||
    fail "tandemd $pid still running after down (state $state, $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null))"
done
echo "ok: up, partition (both sides saw it), promote --force, heal (alpha fenced), rejoin, down (nothing left)"
