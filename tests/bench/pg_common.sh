# Shared by pg_monitoring_overhead.sh and pg_promote_time.sh (sourced, not run):
# a throw-away PostgreSQL 15 primary + streaming standby on loopback, run as
# the OS user postgres, removed on exit.
PG_BIN=/usr/lib/postgresql/15/bin
[ -x "$PG_BIN/pg_ctl" ] || PG_BIN=$(pg_config --bindir)
as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }
. "$(dirname "${BASH_SOURCE[0]}")/../support/ports.sh" "$BUILD"

pg_bench_dir() {
  WORK=$(mktemp -d /tmp/tandem-pgbench.XXXXXX)
  chmod 755 "$WORK"
  chown postgres:postgres "$WORK"
  trap pg_bench_cleanup EXIT
}

pg_bench_cleanup() {
  for d in "$WORK"/primary "$WORK"/standby; do
    [ -f "$d/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$d" -m immediate -w stop >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}

# init_primary PORT
init_primary() {
  as_pg "$PG_BIN/initdb" -D "$WORK/primary" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
  cat >> "$WORK/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $1
unix_socket_directories = '$WORK'
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
wal_log_hints = on
wal_receiver_status_interval = 1s
CONF
  start_pg primary "$1"
}

# start_pg NAME PORT
start_pg() { as_pg "$PG_BIN/pg_ctl" -D "$WORK/$1" -l "$WORK/$1.log" -o "-p $2 -k $WORK" -w start >/dev/null; }

# make_standby PRIMARY_PORT STANDBY_PORT: base backup through slot bench_slot, started, streaming.
make_standby() {
  as_pg "$PG_BIN/psql" -XAtq -h 127.0.0.1 -p "$1" -U postgres -c \
    "SELECT pg_drop_replication_slot('bench_slot') FROM pg_replication_slots WHERE slot_name = 'bench_slot'" >/dev/null
  rm -rf "$WORK/standby"
  as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$1" -U postgres -D "$WORK/standby" -X stream -S bench_slot -C -R \
    -c fast >/dev/null
  start_pg standby "$2"
  for _ in $(seq 1 300); do
    [ "$(as_pg "$PG_BIN/psql" -XAt -h 127.0.0.1 -p "$2" -U postgres -c 'SELECT status FROM pg_stat_wal_receiver')" = streaming ] && return 0
    sleep 0.1
  done
  echo "standby did not start streaming; see $WORK/standby.log" >&2
  return 1
}

# driver_config FILE DATA_DIR PORT PEER_PORT
driver_config() {
  cat > "$1" <<JSON
{"data_dir": "$2", "bin_dir": "$PG_BIN", "port": $3, "peer_host": "127.0.0.1", "peer_port": $4,
 "replication_user": "postgres", "slot_name": "bench_slot", "postgres_options": "-k $WORK",
 "sync_interval": "1s"}
JSON
}
