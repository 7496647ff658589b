#!/usr/bin/env bash
# make demo: config-rsync between two directories on this host.
#   alpha (primary, API 127.0.0.1:7480) serves DEMO_DIR/config-rsync/alpha/etc
#   with the plugin's own read-only rsync daemon on 127.0.0.1:18730;
#   beta (secondary, API 127.0.0.1:7481) pulls it into .../beta/etc and, after
#   a failover, serves on 18731 while alpha pulls.
# The plugin starts its daemon itself (inside tandemd), so nothing is started
# here: this writes the sample trees and the two store tables. Idempotent.
set -euo pipefail
DEMO_DIR=${1:?usage: setup.sh DEMO_DIR BUILD_DIR}
BUILD_DIR=${2:-build}
command -v rsync >/dev/null || { echo "config-rsync demo: rsync is not installed (scripts/install-deps.sh)" >&2; exit 1; }

base=$(cd "$(dirname "$DEMO_DIR")" && pwd)/$(basename "$DEMO_DIR")/config-rsync
mkdir -p "$base/alpha/etc/myapp/conf.d" "$base/beta/etc"
# Sample files only on first setup: later runs keep the operator's edits.
if [ ! -e "$base/alpha/etc/myapp/app.conf" ]; then
  cat >"$base/alpha/etc/myapp/app.conf" <<'CONF'
# myapp main configuration (edit me on alpha and watch beta follow)
listen = 0.0.0.0:8080
workers = 4
log_level = info
CONF
  printf 'max_body = 10m\n' >"$base/alpha/etc/myapp/conf.d/limits.conf"
  printf 'upstream = 127.0.0.1:9000\n' >"$base/alpha/etc/myapp/conf.d/upstream.conf"
  printf 'feature flags file with spaces in its name\n' >"$base/alpha/etc/myapp/feature flags.conf"
fi

write_table() {  # node serve_port peer_port
  local node=$1 serve=$2 peer=$3
  cat <<TOML
[stores.config]
plugin = "config-rsync"
remote = "rsync://{peer}:$peer"
serve_port = $serve
serve_address = "127.0.0.1"
allowed_root = "$base/$node"
delete = true
excludes = ["*.swp", "*~"]
sync_interval = "60s"

[[stores.config.paths]]
name = "myapp"
path = "$base/$node/etc/myapp"
TOML
}
write_table alpha 18730 18731 >"$base/primary.toml"
write_table beta 18731 18730 >"$base/secondary.toml"
echo "config-rsync: alpha serves $base/alpha/etc/myapp on rsync://127.0.0.1:18730/myapp, beta pulls into $base/beta/etc/myapp (edit a file on alpha; it appears on beta within ~2 s)"
