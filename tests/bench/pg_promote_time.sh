#!/usr/bin/env bash
# Benchmark: time from `promote` (the plugin's promote step, loaded from the
# built .so) to the first successful INSERT on the promoted standby, after the
# primary stopped (immediate shutdown, as a crash). Printed beside Patroni's
# default leader TTL (30 s: how long Patroni waits before it even starts a
# failover), with the ratio.
# Usage: tests/bench/pg_promote_time.sh [BUILD_DIR]   (default ./build)
# Env: ROUNDS (3). Loopback only; bounded: about ROUNDS * 15 s.
set -euo pipefail
BUILD=$(cd "${1:-./build}" && pwd)
ROUNDS=${ROUNDS:-3}
DRIVER=$BUILD/bin/postgres_wal_bench_driver
SO=$BUILD/lib/tandem/plugins/tandem-postgres-wal.so
[ -x "$DRIVER" ] && [ -f "$SO" ] || { echo "build postgres_wal_bench_driver and tandem_postgres_wal in $BUILD first" >&2; exit 1; }
. "$(dirname "$0")/pg_common.sh"

pg_bench_dir
P1=$(free_port); P2=$(free_port)
init_primary "$P1"
as_pg "$PG_BIN/psql" -XAtq -h 127.0.0.1 -p "$P1" -U postgres -c \
  "CREATE TABLE bench_promote(id bigserial PRIMARY KEY, at timestamptz)" >/dev/null
driver_config "$WORK/standby.json" "$WORK/standby" "$P2" "$P1"

times=()
for r in $(seq 1 "$ROUNDS"); do
  [ -f "$WORK/primary/postmaster.pid" ] || start_pg primary "$P1"
  make_standby "$P1" "$P2"
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/primary" -m immediate -w stop >/dev/null
  out=$("$DRIVER" "$SO" "$WORK/standby.json" secondary promote)
  ms=$(sed -n 's/.*first_insert_ms=\([0-9]*\).*/\1/p' <<<"$out")
  [ -n "$ms" ] || { echo "driver failed: $out" >&2; exit 1; }
  times+=("$ms")
  echo "round $r: $out"
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/standby" -m immediate -w stop >/dev/null
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
echo "promote -> first INSERT, median of $ROUNDS: ${median} ms"
echo "Patroni default leader TTL (ttl): 30000 ms"
awk -v m="$median" 'BEGIN {printf "ratio promote-to-write / Patroni TTL: %.4f\n", m / 30000}'
