#!/usr/bin/env bash
# make demo: two redis-servers for the pair (alpha 16379, beta 16380) under
# DEMO_DIR/kvstore-dualwrite/, and the store tables for both nodes. The
# endpoint runs on alpha at 127.0.0.1:16400 (beta's, after a promotion, 16401).
#   setup.sh DEMO_DIR BUILD_DIR
set -euo pipefail
DEMO_DIR=${1:?usage: setup.sh DEMO_DIR BUILD_DIR}
DIR="$DEMO_DIR/kvstore-dualwrite"
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)

start_redis() {  # name port
  local name=$1 port=$2
  mkdir -p "$DIR/$name"
  if redis-cli -p "$port" ping >/dev/null 2>&1; then return 0; fi  # already running (idempotent)
  redis-server --port "$port" --bind 127.0.0.1 --dir "$DIR/$name" --save "" \
    --appendonly yes --appendfsync everysec --daemonize yes \
    --pidfile "$DIR/$name/redis.pid" --logfile "$DIR/$name/redis.log"
  for _ in $(seq 1 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "kvstore-dualwrite demo: redis-server $name on $port did not start (see $DIR/$name/redis.log)" >&2
  return 1
}
start_redis alpha 16379
start_redis beta 16380

cat > "$DIR/primary.toml" <<TOML
[stores.sessions]
plugin = "kvstore-dualwrite"
listen_address = "127.0.0.1"
listen_port = 16400
local_port = 16379
peer_host = "127.0.0.1"
peer_port = 16380
peer_down = "journal"
TOML
cat > "$DIR/secondary.toml" <<TOML
[stores.sessions]
plugin = "kvstore-dualwrite"
listen_address = "127.0.0.1"
listen_port = 16401
local_port = 16380
peer_host = "127.0.0.1"
peer_port = 16379
peer_down = "journal"
TOML
echo "kvstore-dualwrite: redis alpha 127.0.0.1:16379, beta 127.0.0.1:16380; endpoint on alpha at 127.0.0.1:16400 (try: redis-cli -p 16400 set k v)"
