#!/usr/bin/env bash
# make demo: a PostgreSQL 15 pair on loopback for the postgres-wal plugin.
#   alpha (primary, API 127.0.0.1:7480): a cluster initdb'd here, port 15432.
#   beta (secondary, API 127.0.0.1:7481): an EMPTY data directory, port 15433;
#   the plugin in beta's tandemd builds the standby from it (pg_basebackup
#   through slot tandem_standby) on its first sync.
# Writes DEMO_DIR/postgres-wal/{primary,secondary}.toml. Idempotent. Runs
# PostgreSQL as the OS user postgres.
set -euo pipefail
DEMO_DIR=${1:?usage: setup.sh DEMO_DIR BUILD_DIR}
BUILD_DIR=${2:-build}
: "$BUILD_DIR"

BIN=/usr/lib/postgresql/15/bin
[ -x "$BIN/pg_ctl" ] || BIN=$(pg_config --bindir 2>/dev/null || true)
[ -x "$BIN/pg_ctl" ] || { echo "postgres-wal demo: PostgreSQL 15 not found (scripts/install-deps.sh)" >&2; exit 1; }
id postgres >/dev/null 2>&1 || { echo "postgres-wal demo: no OS user 'postgres'" >&2; exit 1; }

mkdir -p "$DEMO_DIR"
base=$(cd "$DEMO_DIR" && pwd)/postgres-wal
as_pg() { if [ "$(id -un)" = postgres ]; then "$@"; else runuser -u postgres -- "$@"; fi; }

mkdir -p "$base/alpha" "$base/beta/data"
chmod 755 "$base"
chown postgres:postgres "$base/alpha" "$base/beta" "$base/beta/data"
chmod 700 "$base/beta/data"
as_pg test -x "$base" || { echo "postgres-wal demo: user postgres cannot reach $base (make its parents traversable)" >&2; exit 1; }

# The replication role's password, generated once, readable by root only.
pwfile="$base/replicator.password"
[ -s "$pwfile" ] || { (umask 077; head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$pwfile"); }

if [ ! -f "$base/alpha/data/PG_VERSION" ]; then
  as_pg "$BIN/initdb" -D "$base/alpha/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
  cat >> "$base/alpha/data/postgresql.conf" <<CONF
# postgres-wal demo
listen_addresses = '127.0.0.1'
port = 15432
wal_level = replica
max_wal_senders = 10
max_replication_slots = 10
hot_standby = on
wal_log_hints = on
max_slot_wal_keep_size = '1GB'
CONF
  # The replication role authenticates with its password; everything else on
  # loopback is trusted (a demo only).
  sed -i "1i host replication replicator 127.0.0.1/32 scram-sha-256" "$base/alpha/data/pg_hba.conf"
fi
if ! as_pg "$BIN/pg_ctl" -D "$base/alpha/data" status >/dev/null 2>&1; then
  as_pg "$BIN/pg_ctl" -D "$base/alpha/data" -l "$base/alpha/postgresql-tandem.log" \
    -o "-p 15432 -k $base/alpha" -w start >/dev/null
fi
pw=$(cat "$pwfile")
as_pg "$BIN/psql" -XAtq -h 127.0.0.1 -p 15432 -U postgres -d postgres -v ON_ERROR_STOP=1 <<SQL >/dev/null
SET client_min_messages = warning;
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'replicator') THEN
    CREATE ROLE replicator WITH REPLICATION LOGIN;
  END IF;
END \$\$;
ALTER ROLE replicator PASSWORD '$pw';
CREATE TABLE IF NOT EXISTS demo_events(id bigserial PRIMARY KEY, at timestamptz DEFAULT now(), note text);
SQL

write_table() {  # file node_dir port peer_port
  cat > "$1" <<TOML
[stores.pg]
plugin = "postgres-wal"
data_dir = "$base/$2/data"
bin_dir = "$BIN"
port = $3
peer_host = "127.0.0.1"
peer_port = $4
replication_user = "replicator"
replication_password_file = "$pwfile"
slot_name = "tandem_standby"
synchronous = false
postgres_options = "-k $base/$2"
TOML
}
write_table "$base/primary.toml" alpha 15432 15433
write_table "$base/secondary.toml" beta 15433 15432
echo "postgres-wal: alpha primary on 127.0.0.1:15432 ($base/alpha/data); beta's standby (port 15433) is built by the plugin into $base/beta/data"
