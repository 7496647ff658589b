#!/usr/bin/env bash
# make demo: one Elasticsearch stand-in per node, as in the seed's topology
# (alpha 127.0.0.1:19200, beta 127.0.0.1:19201), and the `search` store for
# alpha and beta, each reading its own node's PostgreSQL of the postgres-wal
# demo (alpha 15432, beta 15433). warm_standby is on: the secondary keeps its
# own index current from its standby, so a promotion only catches up.
#   plugins/elasticsearch-rebuild/demo/setup.sh DEMO_DIR BUILD_DIR
set -euo pipefail
DEMO_DIR=$1
BUILD_DIR=$2
HERE="$DEMO_DIR/elasticsearch-rebuild"
mkdir -p "$HERE"

STANDIN="$BUILD_DIR/bin/tandem_es_standin"
[ -x "$STANDIN" ] || STANDIN="$BUILD_DIR/tests/es_standin/tandem_es_standin"
start_standin() {  # NODE PORT
  if ! curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$2/"; then
    [ -x "$STANDIN" ] || { echo "elasticsearch-rebuild demo: $STANDIN not built (target tandem_es_standin)" >&2; exit 1; }
    setsid "$STANDIN" --port "$2" >> "$HERE/standin-$1.log" 2>&1 < /dev/null &
    echo $! > "$HERE/standin-$1.pid"
    for _ in $(seq 1 50); do curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$2/" && break; sleep 0.1; done
  fi
}
start_standin alpha 19200
start_standin beta 19201

cat > "$HERE/items.json" <<'JSON'
{"settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"}},
 "mappings": {"properties": {"id": {"type": "long"}, "title": {"type": "text"}, "updated_at": {"type": "date"}}}}
JSON

# The demo table on alpha's PostgreSQL, when that server is running; every
# insert and update sets updated_at (what the warm refresh follows). Without
# it the store still loads: health reports the source as unreachable.
pg_note="PostgreSQL 127.0.0.1:15432 not running: the search store reports its source unreachable"
if command -v psql >/dev/null && psql -XAtq -h 127.0.0.1 -p 15432 -U postgres -d postgres -c "SELECT 1" >/dev/null 2>&1; then
  psql -XAtq -h 127.0.0.1 -p 15432 -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TABLE IF NOT EXISTS items (id bigint PRIMARY KEY, title text NOT NULL,
                                  updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE OR REPLACE FUNCTION items_touch() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END$$;
DROP TRIGGER IF EXISTS items_touch ON items;
CREATE TRIGGER items_touch BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION items_touch();
INSERT INTO items (id, title) SELECT g, 'demo item ' || g FROM generate_series(1, 1000) AS g ON CONFLICT DO NOTHING;
SQL
  pg_note="table items (1000 rows) on PostgreSQL 127.0.0.1:15432"
fi

write_store() {  # FILE PG_PORT ES_PORT
  cat > "$1" <<TOML
[stores.search]
plugin = "elasticsearch-rebuild"
urls = ["http://127.0.0.1:$3"]
source = "host=127.0.0.1 port=$2 dbname=postgres user=postgres connect_timeout=3"
sync_interval = "10s"
warm_standby = true
warm_interval = "5s"

[[stores.search.indices]]
alias = "items"
query = "SELECT id, title, updated_at FROM items"
id_column = "id"
updated_column = "updated_at"
mapping_file = "$HERE/items.json"
keep_old = 1
TOML
}
write_store "$HERE/primary.toml" 15432 19200
write_store "$HERE/secondary.toml" 15433 19201
echo "elasticsearch-rebuild: ES stand-ins alpha http://127.0.0.1:19200, beta http://127.0.0.1:19201; store 'search' (alias items, warm on the secondary) on both nodes; $pg_note"
