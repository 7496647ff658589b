#!/usr/bin/env bash
# Redis's own test suite (external mode) against a plain redis-server and
# through the kvstore-dualwrite endpoint of a started pair, unit by unit.
#
#   tests/redis_suite/run.sh [BUILD_DIR] [UNIT ...]     (default ./build, the units below)
#
# The suite is test data, not product code: it is run from a temporary copy
# of $REDIS_SUITE (default ../shared/redis-tests-7.0.15 next to the repo,
# the Debian server's version), with only what external mode through an
# endpoint of one database needs changed in the copy:
#   * between units the harness resets the server with FLUSHALL and FUNCTION
#     FLUSH; the endpoint serves one database, so the copy sends FLUSHDB (the
#     same thing under --singledb); FUNCTION FLUSH is sent as is, failures ignored.
#   * a unit's config overrides (e.g. save "") are set with CONFIG SET, which
#     the endpoint refuses for server settings; the copy sets one only when
#     CONFIG GET shows a different value (setting the current value is a no-op).
# Tests tagged needs:debug or needs:repl are left out (as the issue measures),
# and so are those tagged needs:config-maxmemory (the suite's own tag for a
# server whose maxmemory cannot be set with CONFIG SET, which the endpoint
# refuses: each Redis evicting on its own would make the pair differ); in
# both runs, direct and through the endpoint, so the counts stay comparable.
# After each unit run through the endpoint, compare.py compares every key of
# the pair's two Redis servers (a difference fails the run).
#
# Prints per unit: passed / failed / aborted (an exception ends a unit early)
# for direct and endpoint, the compare result, and at the end the totals.
# Per-test results are kept in $RESULTS if set (else removed at exit):
# <unit>.direct.log, <unit>.endpoint.log and <unit>.lost (tests that pass
# directly but not through the endpoint).
# KV_SUITE_SAMPLE_RATE=N (default 0: off) runs the endpoint's divergence
# sampler during the units (N keys/s, sync every 200 ms): any "differs" warning
# in the endpoint's log is then a false alarm (the pair is compared equal after
# each unit) and is counted per unit, printed, and fails the run.
# Exit status: 1 when a compare found a difference, when the sampler warned, or
# (KV_SUITE_STRICT=1) when any test passing directly did not pass through the
# endpoint; else 0.
# Environment: KV_SUITE_PORT_BASE (fixed ports BASE..BASE+3, the harness's own
# near BASE+68..BASE+99; default: free ports), KV_SUITE_TIMEOUT (seconds without
# progress before a unit is abandoned, default 120), KV_SUITE_STRICT,
# KV_SUITE_SAMPLE_RATE.
# All 14 units take about 2-5 minutes (most of it the blocking and timing tests).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=$(cd "${1:-./build}" && pwd); shift || true
RUNNER="$BUILD_DIR/bin/kv_test_runner"
SUITE=${REDIS_SUITE:-$(cd "$HERE/../../.." && pwd)/shared/redis-tests-7.0.15}
[[ -d "$SUITE/tests" ]] || SUITE=/work/shared/redis-tests-7.0.15
BASE=${KV_SUITE_PORT_BASE:-}
STRICT=${KV_SUITE_STRICT:-0}
TIMEOUT=${KV_SUITE_TIMEOUT:-120}
SAMPLE_RATE=${KV_SUITE_SAMPLE_RATE:-0}
[[ "$SAMPLE_RATE" =~ ^[0-9]+$ ]] || { echo "run.sh: KV_SUITE_SAMPLE_RATE must be an integer" >&2; exit 2; }
SYNC_INTERVAL=1s; [[ $SAMPLE_RATE -gt 0 ]] && SYNC_INTERVAL=200ms
UNITS=("$@")
[[ ${#UNITS[@]} -gt 0 ]] || UNITS=(type/string type/incr type/hash type/list type/set type/zset expire keyspace
  scripting multi pubsub type/stream type/stream-cgroups functions)
TAGS="-needs:debug -needs:repl -needs:config-maxmemory"

[[ -x "$RUNNER" ]] || { echo "run.sh: $RUNNER not found; build target kv_test_runner first" >&2; exit 2; }
[[ -f "$SUITE/tests/test_helper.tcl" ]] || { echo "run.sh: Redis test suite not found at $SUITE (set REDIS_SUITE)" >&2; exit 2; }
for tool in redis-server redis-cli tclsh python3; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/tandem-kv-suite.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
RESULTS_KEPT=${RESULTS:-}
RESULTS=${RESULTS:-$WORK/results}
mkdir -p "$RESULTS"

# The suite's copy, with the one external-mode adaptation described above.
cp -r "$SUITE" "$WORK/suite"
sed -i -e 's/^    r flushall$/    r flushdb/' -e 's/^    r function flush$/    catch {r function flush}/' \
  -e 's/^        r config set \$param \$val$/        if {[lindex [r config get $param] 1] ne $val} {r config set $param $val}/' \
  "$WORK/suite/tests/support/server.tcl"
[[ $(grep -c '^    r flushdb$\|ne $val} {r config set' "$WORK/suite/tests/support/server.tcl") == 3 ]] ||
  { echo "run.sh: the suite's reset (r flushall) or config overrides (r config set) in run_external_server_test were not found; cannot adapt it" >&2; exit 2; }

. "$(dirname "$0")/../support/ports.sh" "$BUILD_DIR"
if [[ -n "$BASE" ]]; then
  DIRECT=$BASE; PRIMARY=$((BASE + 1)); SECONDARY=$((BASE + 2)); ENDPOINT=$((BASE + 3)); HARNESS=$((BASE + 100))
else
  # The harness listens on a port just below its base, probed then bound: two
  # runs at once (ctest in two build trees) on the suite's default base raced
  # for the same ports ("couldn't open socket: address already in use").
  DIRECT=$(free_port); PRIMARY=$(free_port); SECONDARY=$(free_port); ENDPOINT=$(free_port)
  HARNESS=$((30000 + RANDOM % 20000))
fi
for port in "$DIRECT" "$PRIMARY" "$SECONDARY"; do
  mkdir -p "$WORK/redis-$port"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/redis-$port" \
    --daemonize no > "$WORK/redis-$port/log" 2>&1 &
  PIDS+=($!)
  wait_port "$port" || exit 2
done
cat > "$WORK/kv.json" <<JSON
{"listen_port": $ENDPOINT, "local_port": $PRIMARY, "peer_host": "127.0.0.1", "peer_port": $SECONDARY,
 "sample_rate": $SAMPLE_RATE, "sync_interval": "$SYNC_INTERVAL", "journal_dir": "$WORK/journal"}
JSON
"$RUNNER" "$WORK/kv.json" "$WORK/data" > "$WORK/runner.log" 2>&1 &
PIDS+=($!)
wait_port "$ENDPOINT" || { cat "$WORK/runner.log" >&2; exit 2; }

run_unit() {  # port unit log
  (cd "$WORK/suite" && timeout $((TIMEOUT * 10)) ./runtest --host 127.0.0.1 --port "$1" --singledb \
    --baseport "$HARNESS" --timeout "$TIMEOUT" --tags "$TAGS" --single "unit/$2" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' > "$3")
}
count() { grep -c "^\[$1\]" "$2" || true; }  # status log
differs_lines() { grep -c "' differs: " "$WORK/runner.log" || true; }  # the sampler's warnings so far
passed_names() { sed -n 's/^\[ok\]: \(.*\) ([0-9]* ms)$/\1/p' "$1" | sort; }

printf '%-22s %24s   %24s   %s\n' "unit" "direct ok/err/abort" "endpoint ok/err/abort" "compare"
TOTAL_D=0; TOTAL_E=0; TOTAL_LOST=0; COMPARE_FAILS=0; TOTAL_DIFFERS=0
for unit in "${UNITS[@]}"; do
  name=${unit//\//-}
  run_unit "$DIRECT" "$unit" "$RESULTS/$name.direct.log"
  differs_before=$(differs_lines)
  run_unit "$ENDPOINT" "$unit" "$RESULTS/$name.endpoint.log"
  [[ $SAMPLE_RATE -gt 0 ]] && sleep 0.5  # a last sampler round over the unit's final keys
  differs=$(( $(differs_lines) - differs_before ))
  TOTAL_DIFFERS=$((TOTAL_DIFFERS + differs))
  if cmp_out=$(python3 "$HERE/compare.py" "127.0.0.1:$PRIMARY" "127.0.0.1:$SECONDARY" 2>&1); then
    cmp_res="same"
  else
    cmp_res="DIFFER"; COMPARE_FAILS=$((COMPARE_FAILS + 1))
    echo "$cmp_out" > "$RESULTS/$name.compare"
  fi
  comm -23 <(passed_names "$RESULTS/$name.direct.log") <(passed_names "$RESULTS/$name.endpoint.log") > "$RESULTS/$name.lost"
  d_ok=$(count ok "$RESULTS/$name.direct.log"); e_ok=$(count ok "$RESULTS/$name.endpoint.log")
  d=$(printf '%s/%s/%s' "$d_ok" "$(count err "$RESULTS/$name.direct.log")" "$(count exception "$RESULTS/$name.direct.log")")
  e=$(printf '%s/%s/%s' "$e_ok" "$(count err "$RESULTS/$name.endpoint.log")" "$(count exception "$RESULTS/$name.endpoint.log")")
  lost=$(wc -l < "$RESULTS/$name.lost")
  sampled=""; [[ $SAMPLE_RATE -gt 0 ]] && sampled="; sampler: $differs 'differs' warnings"
  printf '%-22s %24s   %24s   %s (%s passing directly fail through the endpoint%s)\n' "$unit" "$d" "$e" "$cmp_res" "$lost" "$sampled"
  TOTAL_D=$((TOTAL_D + d_ok)); TOTAL_E=$((TOTAL_E + e_ok)); TOTAL_LOST=$((TOTAL_LOST + lost))
  # Each unit starts from empty servers (the harness's own reset goes through the endpoint).
  redis-cli -p "$DIRECT" flushall > /dev/null
done
echo "total: direct $TOTAL_D passed, endpoint $TOTAL_E passed; $TOTAL_LOST tests pass directly but not through the endpoint; compare differences after $COMPARE_FAILS units"
SAMPLER_OK=1
if [[ $SAMPLE_RATE -gt 0 ]]; then
  echo "divergence sampler ($SAMPLE_RATE keys/s, every 200 ms): $TOTAL_DIFFERS 'differs' warnings in the endpoint's log"
  grep "' differs: " "$WORK/runner.log" | head -20
  # Self-check, so that "0 warnings" means something: a key written directly on
  # each Redis (bypassing the endpoint) must be reported within a few seconds.
  redis-cli -p "$SECONDARY" set run.sh:peer-only 1 > /dev/null
  redis-cli -p "$PRIMARY" set run.sh:local-only 1 > /dev/null
  found=0
  for _ in $(seq 1 100); do
    if grep -q "key 'run.sh:peer-only' differs" "$WORK/runner.log" &&
       grep -q "key 'run.sh:local-only' differs" "$WORK/runner.log"; then found=1; break; fi
    sleep 0.1
  done
  redis-cli -p "$SECONDARY" del run.sh:peer-only > /dev/null
  redis-cli -p "$PRIMARY" del run.sh:local-only > /dev/null
  if [[ $found == 1 ]]; then
    echo "sampler self-check: a key written directly on each Redis was reported"
  else
    echo "sampler self-check FAILED: keys written directly on one Redis were not reported within 10 s"; SAMPLER_OK=0
  fi
fi
cp "$WORK/runner.log" "$RESULTS/endpoint.log"
[[ -n "${RESULTS_KEPT:-}" ]] && echo "per-test results: $RESULTS (the endpoint's log: endpoint.log)"
if [[ $STRICT == 1 && $TOTAL_LOST -gt 0 ]]; then
  echo "tests passing directly but not through the endpoint:"; cat "$RESULTS"/*.lost
  exit 1
fi
[[ $COMPARE_FAILS -eq 0 && $TOTAL_DIFFERS -eq 0 && $SAMPLER_OK == 1 ]]
