# Shared by kv_proxy and slow_reader (sourced, not run): a throw-away pair of
# redis-servers on free loopback ports and the kvstore-dualwrite endpoint in
# front of them (hosted by kv_test_runner), in a temp dir removed on exit.
#
#   kv_bench_start NAME BUILD_DIR [EXTRA_JSON]   (EXTRA_JSON: more store keys, e.g. '"max_clients": 10')
# sets PRIMARY, SECONDARY, ENDPOINT (ports) and WORK; NAME prefixes messages.

kv_bench_cleanup() {
  for pid in "${KV_BENCH_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}

kv_bench_start() {
  KV_BENCH_NAME=$1
  local runner="$2/bin/kv_test_runner" extra=${3:+, $3}
  [[ -x "$runner" ]] || { echo "$KV_BENCH_NAME: $runner not found; build target kv_test_runner first" >&2; exit 2; }
  for tool in redis-server redis-cli python3; do
    command -v "$tool" >/dev/null || { echo "$KV_BENCH_NAME: $tool is not installed" >&2; exit 2; }
  done
  . "$(dirname "${BASH_SOURCE[0]}")/../support/ports.sh" "$2"
  WORK=$(mktemp -d "/tmp/$KV_BENCH_NAME.XXXXXX")
  KV_BENCH_PIDS=()
  trap kv_bench_cleanup EXIT
  PRIMARY=$(free_port); SECONDARY=$(free_port); ENDPOINT=$(free_port)
  for port in "$PRIMARY" "$SECONDARY"; do
    mkdir -p "$WORK/redis-$port"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK/redis-$port" \
      --daemonize no > "$WORK/redis-$port/log" 2>&1 &
    KV_BENCH_PIDS+=($!)
    wait_port "$port" 10
  done
  cat > "$WORK/kv.json" <<JSON
{"listen_port": $ENDPOINT, "local_port": $PRIMARY, "peer_host": "127.0.0.1", "peer_port": $SECONDARY,
 "sample_rate": 0, "journal_dir": "$WORK/journal"$extra}
JSON
  "$runner" "$WORK/kv.json" "$WORK/data" > "$WORK/runner.log" 2>&1 &
  KV_BENCH_PIDS+=($!)
  KV_RUNNER_PID=$!
  wait_port "$ENDPOINT" 10
}
