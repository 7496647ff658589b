#!/usr/bin/env bash
# Benchmark: what does postgres-wal's monitoring cost the primary?
# pgbench TPS on a primary (with a streaming standby) while the plugin, loaded
# from the built .so as tandemd loads it, syncs every second (lag queries on
# pg_stat_replication), divided by pgbench TPS without it — same run, rounds
# alternating which goes first; the result is the median of the per-round
# ratios (pairs run back to back see the same background load). Target >= 0.97.
# Usage: tests/bench/pg_monitoring_overhead.sh [BUILD_DIR]   (default ./build)
# Env: ROUNDS (5), RUN_SECONDS (10), CLIENTS (4), SCALE (10). Loopback only;
# bounded: about ROUNDS * 2 * RUN_SECONDS + 30 s.
set -euo pipefail
BUILD=$(cd "${1:-./build}" && pwd)
ROUNDS=${ROUNDS:-5}; RUN_SECONDS=${RUN_SECONDS:-10}; CLIENTS=${CLIENTS:-4}; SCALE=${SCALE:-10}
DRIVER=$BUILD/bin/postgres_wal_bench_driver
SO=$BUILD/lib/tandem/plugins/tandem-postgres-wal.so
[ -x "$DRIVER" ] && [ -f "$SO" ] || { echo "build postgres_wal_bench_driver and tandem_postgres_wal in $BUILD first" >&2; exit 1; }
. "$(dirname "$0")/pg_common.sh"

pg_bench_dir
P1=$(free_port); P2=$(free_port)
init_primary "$P1"
make_standby "$P1" "$P2"
as_pg "$PG_BIN/pgbench" -h 127.0.0.1 -p "$P1" -U postgres -i -s "$SCALE" -q postgres >/dev/null 2>&1
driver_config "$WORK/primary.json" "$WORK/primary" "$P1" "$P2"

pgbench_tps() {
  as_pg "$PG_BIN/pgbench" -h 127.0.0.1 -p "$P1" -U postgres -n -c "$CLIENTS" -j 2 -T "$RUN_SECONDS" postgres 2>/dev/null |
    awk '/^tps = / {print $3; exit}'
}
with_monitor() {
  "$DRIVER" "$SO" "$WORK/primary.json" primary monitor $((RUN_SECONDS + 2)) > "$WORK/driver.out" 2>"$WORK/driver.err" &
  local pid=$!
  sleep 1
  local tps; tps=$(pgbench_tps)
  wait "$pid" || { echo "driver failed: $(cat "$WORK/driver.out" "$WORK/driver.err")" >&2; exit 1; }
  echo "$tps"
}

without=(); with=(); ratios=()
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then a=$(pgbench_tps); b=$(with_monitor); else b=$(with_monitor); a=$(pgbench_tps); fi
  without+=("$a"); with+=("$b"); ratios+=("$(awk -v a="$b" -v b="$a" 'BEGIN {printf "%.3f", a / b}')")
  printf 'round %d: without plugin %8.1f tps   with plugin (sync every 1 s) %8.1f tps   [%s]\n' "$r" "$a" "$b" \
    "$(tr -d '\n' < "$WORK/driver.out")"
done
mean() { printf '%s\n' "$@" | awk '{s += $1} END {printf "%.1f", s / NR}'; }
m_without=$(mean "${without[@]}"); m_with=$(mean "${with[@]}")
ratio=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
echo "pgbench -c $CLIENTS -T $RUN_SECONDS x $ROUNDS rounds, scale $SCALE"
echo "mean tps without plugin: $m_without"
echo "mean tps with plugin:    $m_with"
echo "per-round ratios: ${ratios[*]}"
echo "ratio with/without (median of rounds): $ratio (target >= 0.97)"
