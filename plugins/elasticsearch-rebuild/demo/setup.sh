#!/usr/bin/env bash
# make demo: the Elasticsearch stand-in on 127.0.0.1:19200 (shared by both
# nodes, as one cluster would be) and the `search` store for alpha and beta,
# rebuilt from the postgres-wal demo's PostgreSQL (alpha 15432, beta 15433).
#   plugins/elasticsearch-rebuild/demo/setup.sh DEMO_DIR BUILD_DIR
set -euo pipefail
DEMO_DIR=$1
BUILD_DIR=$2
HERE="$DEMO_DIR/elasticsearch-rebuild"
PORT=19200
mkdir -p "$HERE"

STANDIN="$BUILD_DIR/bin/tandem_es_standin"
[ -x "$STANDIN" ] || STANDIN="$BUILD_DIR/tests/es_standin/tandem_es_standin"
if ! curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"; then
  [ -x "$STANDIN" ] || { echo "elasticsearch-rebuild demo: $STANDIN not built (target tandem_es_standin)" >&2; exit 1; }
  setsid "$STANDIN" --port "$PORT" >> "$HERE/standin.log" 2>&1 < /dev/null &
  echo $! > "$HERE/standin.pid"
  for _ in $(seq 1 50); do curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/" && break; sleep 0.1; done
fi

cat > "$HERE/items.json" <<'JSON'
{"settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"}},
 "mappings": {"properties": {"id": {"type": "long"}, "title": {"type": "text"}}}}
JSON

# The demo table on alpha's PostgreSQL, when that server is running. Without
# it the store still loads: health reports the source as unreachable.
pg_note="PostgreSQL 127.0.0.1:15432 not running: the search store reports its source unreachable"
if command -v psql >/dev/null && psql -XAtq -h 127.0.0.1 -p 15432 -U postgres -d postgres -c "SELECT 1" >/dev/null 2>&1; then
  psql -XAtq -h 127.0.0.1 -p 15432 -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE TABLE IF NOT EXISTS items (id bigint PRIMARY KEY, title text NOT NULL);
INSERT INTO items SELECT g, 'demo item ' || g FROM generate_series(1, 1000) AS g ON CONFLICT DO NOTHING;
SQL
  pg_note="table items (1000 rows) on PostgreSQL 127.0.0.1:15432"
fi

write_store() {  # FILE PG_PORT
  cat > "$1" <<TOML
[stores.search]
plugin = "elasticsearch-rebuild"
urls = ["http://127.0.0.1:$PORT"]
source = "host=127.0.0.1 port=$2 dbname=postgres user=postgres connect_timeout=3"
sync_interval = "10s"

[[stores.search.indices]]
alias = "items"
query = "SELECT id, title FROM items"
id_column = "id"
mapping_file = "$HERE/items.json"
keep_old = 1
TOML
}
write_store "$HERE/primary.toml" 15432
write_store "$HERE/secondary.toml" 15433
echo "elasticsearch-rebuild: ES stand-in on http://127.0.0.1:$PORT; store 'search' (alias items) on both nodes; $pg_note"
