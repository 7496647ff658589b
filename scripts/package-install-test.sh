#!/usr/bin/env bash
# The install test of the Debian packages (make package-test; ctest label
# `package` when configured with -DTANDEM_PACKAGE_TEST=ON):
#   scripts/package-install-test.sh DIR_WITH_THE_DEBS
# Installs tandem and tandem-dev with dpkg into a scratch root (its own dpkg
# database; maintainer scripts run outside a chroot with DPKG_ROOT set, so
# nothing on this machine is installed or touched), then checks: the files
# are where Debian and tandemd expect them, /etc/tandem/tandem.toml is a
# conffile, `tandemd --check` accepts the installed example, every shipped
# plugin loads from the installed plugin dir (tandemd --check reads its schema
# from the .so for a store table naming it; `tandemctl plugins` lists it
# there), the SDK example plugin builds against tandem-dev
# (find_package(TandemSDK)) and the installed tandemd loads it, the unit
# passes `systemd-analyze verify`, the man pages render, and removing then
# purging leaves nothing of the packages behind. Exit 0 when all hold.
set -euo pipefail

DEBS="${1:?usage: $0 DIR_WITH_THE_DEBS}"
shopt -s nullglob
main=("$DEBS"/tandem_*.deb)
dev=("$DEBS"/tandem-dev_*.deb)
[ ${#main[@]} -eq 1 ] && [ ${#dev[@]} -eq 1 ] || { echo "FAIL: need one tandem_*.deb and one tandem-dev_*.deb in $DEBS" >&2; exit 1; }

ROOT="$(mktemp -d /tmp/tandem-pkg-root.XXXXXX)"
WORK="$(mktemp -d /tmp/tandem-pkg-work.XXXXXX)"  # builds and configs outside the scratch root
trap 'rm -rf "$ROOT" "$WORK"' EXIT
failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

# A scratch dpkg database. Dependencies are those of this machine's packages,
# not installed in the scratch root: they are checked from the control field below.
mkdir -p "$ROOT/var/lib/dpkg/info" "$ROOT/var/lib/dpkg/updates"
touch "$ROOT/var/lib/dpkg/status" "$ROOT/var/lib/dpkg/available"
# Its output (the unmet dependencies it was told to ignore) is shown on failure only.
rootdpkg() {
  dpkg --root="$ROOT" --force-script-chrootless --force-depends --force-not-root --log=/dev/null "$@" \
    >"$ROOT/dpkg.out" 2>&1 || { cat "$ROOT/dpkg.out" >&2; return 1; }
}

# Dependencies: shlibdeps found the libraries the binaries and plugins link.
depends="$(dpkg-deb -f "${main[0]}" Depends)"
for lib in libc6 libstdc++6 libssl3 libpq5 libhiredis; do
  [[ "$depends" == *"$lib"* ]] && ok "tandem depends on $lib" || fail "tandem's Depends lacks $lib: $depends"
done
[[ "$(dpkg-deb -f "${dev[0]}" Depends)" == *"tandem (= "* ]] && ok "tandem-dev depends on tandem of its version" ||
  fail "tandem-dev's Depends: $(dpkg-deb -f "${dev[0]}" Depends)"

rootdpkg -i "${main[0]}" "${dev[0]}" || fail "dpkg -i into the scratch root"
for p in tandem tandem-dev; do
  [ "$(dpkg-query --root="$ROOT" -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] &&
    ok "$p installed" || fail "$p not installed in the scratch root"
done

plugins=(config-rsync postgres-wal kvstore-dualwrite elasticsearch-rebuild virtual-ip)
files=(usr/bin/tandemd usr/bin/tandemctl etc/tandem/tandem.toml lib/systemd/system/tandemd.service
  usr/share/man/man8/tandemd.8.gz usr/share/man/man1/tandemctl.1.gz
  usr/share/bash-completion/completions/tandemctl usr/share/doc/tandem/copyright
  usr/share/doc/tandem/changelog.Debian.gz usr/share/doc/tandem/http-api.md
  usr/share/doc/tandem/monitoring/tandem-alerts.yml usr/share/doc/tandem/examples/alpha.toml
  usr/include/tandem/sdk/plugin.h usr/lib/libtandem_sdk.a usr/lib/cmake/TandemSDK/TandemSDKConfig.cmake
  usr/share/doc/tandem-dev/copyright)
for p in "${plugins[@]}"; do files+=("usr/lib/tandem/plugins/tandem-$p.so" "usr/share/doc/tandem/plugins/$p/README.md"); done
missing=0
for f in "${files[@]}"; do [ -e "$ROOT/$f" ] || { fail "not installed: /$f"; missing=1; }; done
[ $missing -eq 0 ] && ok "${#files[@]} expected files installed"
grep -qx /etc/tandem/tandem.toml "$ROOT/var/lib/dpkg/info/tandem.conffiles" && ok "/etc/tandem/tandem.toml is a conffile" ||
  fail "/etc/tandem/tandem.toml is not a conffile"

# The installed daemon finds the installed plugins (relative to itself:
# $ROOT/usr/bin/../lib/tandem/plugins), whatever this machine has in /usr/lib.
TANDEMD="$ROOT/usr/bin/tandemd"
TANDEMCTL="$ROOT/usr/bin/tandemctl"
CONFIG="$ROOT/etc/tandem/tandem.toml"
out="$("$TANDEMD" --config "$CONFIG" --check 2>&1)" && ok "tandemd --check on the installed config: $out" ||
  fail "tandemd --check on the installed config: $out"
listing="$(env -u TANDEM_PLUGIN_PATH "$TANDEMCTL" --config "$CONFIG" plugins 2>&1)" || fail "tandemctl plugins: $listing"
for p in "${plugins[@]}"; do
  [[ "$listing" == *"$ROOT/usr/lib/tandem/plugins/tandem-$p.so"* ]] && ok "tandemctl plugins finds $p in the installed plugin dir" ||
    fail "tandemctl plugins does not list $ROOT/usr/lib/tandem/plugins/tandem-$p.so: $listing"
done
# Each plugin loaded by the daemon's own check, from a store table naming it.
for p in "${plugins[@]}"; do
  cfg="$ROOT/check-$p.toml"
  { cat "$CONFIG"; printf '\n[stores.s]\nplugin = "%s"\n' "$p"; } > "$cfg"
  out="$("$TANDEMD" --config "$cfg" --check 2>&1)" || true
  # Loaded means the plugin's schema was read from the .so: the bare table is
  # refused for a required key only that plugin declares.
  if [[ "$out" == *"store 's': missing required key"* ]]; then
    ok "tandemd --check loads $p from $ROOT/usr/lib/tandem/plugins"
  else
    fail "tandemd --check with a $p store: $out"
  fi
done

# tandem-dev is enough to build a plugin out of tree: the SDK's example,
# with find_package(TandemSDK) from the scratch root, loaded by the installed tandemd.
SRC="$(cd "$(dirname "$0")/.." && pwd)"
ECHO_BUILD="$WORK/echo-build"
if cmake -S "$SRC/sdk/examples/echo-plugin" -B "$ECHO_BUILD" -DCMAKE_PREFIX_PATH="$ROOT/usr" \
     -DCMAKE_BUILD_TYPE=Release >"$WORK/echo.log" 2>&1 && cmake --build "$ECHO_BUILD" -j2 >>"$WORK/echo.log" 2>&1; then
  cfg="$WORK/check-echo.toml"
  { cat "$CONFIG"; printf '\n[stores.e]\nplugin = "%s"\nmessage = "hi"\n' "$ECHO_BUILD/tandem-echo.so"; } > "$cfg"
  out="$("$TANDEMD" --config "$cfg" --check 2>&1)" && [[ "$out" == *"OK, 1 store"* ]] &&
    ok "the SDK example plugin builds against tandem-dev and the installed tandemd loads it" ||
    fail "installed tandemd --check with the example plugin: $out"
else
  fail "the SDK example plugin does not build against tandem-dev: $(tail -20 "$WORK/echo.log")"
fi

# The unit: systemd's own verification, against the scratch root's binaries.
unit="$ROOT/verify/tandemd.service"
mkdir -p "$ROOT/verify"
sed "s|/usr/bin/tandemd|$TANDEMD|g; s|/etc/tandem/|$ROOT/etc/tandem/|g" "$ROOT/lib/systemd/system/tandemd.service" > "$unit"
if command -v systemd-analyze >/dev/null; then
  out="$(SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no "$unit" 2>&1)" && [ -z "$out" ] &&
    ok "systemd-analyze verify tandemd.service" || fail "systemd-analyze verify: $out"
else
  fail "systemd-analyze not found"
fi
# Man pages render without warnings.
for m in man8/tandemd.8.gz man1/tandemctl.1.gz; do
  out="$(zcat "$ROOT/usr/share/man/$m" | LC_ALL=C.UTF-8 MANWIDTH=80 groff -man -Tutf8 -ww -z 2>&1)" && [ -z "$out" ] &&
    ok "$m renders cleanly" || fail "$m: $out"
done

# Remove keeps only the conffile; purge leaves nothing of the packages.
rootdpkg -r tandem-dev tandem || fail "dpkg -r"
[ ! -e "$ROOT/usr/bin/tandemd" ] && [ ! -e "$ROOT/usr/lib/tandem/plugins/tandem-postgres-wal.so" ] &&
  [ -e "$ROOT/etc/tandem/tandem.toml" ] && ok "dpkg -r removed the files and kept the conffile" ||
  fail "after dpkg -r: $(find "$ROOT/usr" "$ROOT/etc" -type f 2>/dev/null | head)"
# tandem-dev had no conffile: dpkg -r removed it entirely.
rootdpkg --purge tandem || fail "dpkg --purge"
left="$(find "$ROOT" -path "$ROOT/var/lib/dpkg" -prune -o -path "$ROOT/verify" -prune -o -name 'check-*.toml' -prune \
  -o -name dpkg.out -prune -o -type f -print)"
[ -z "$left" ] && ok "dpkg --purge left no file behind" || fail "left after purge: $left"
for p in tandem tandem-dev; do
  st="$(dpkg-query --root="$ROOT" -W -f='${Status}' "$p" 2>/dev/null || true)"
  [ -z "$st" ] || [ "$st" = "unknown ok not-installed" ] || [ "$st" = "purge ok not-installed" ] ||
    fail "$p after purge: $st"
done

if [ $failures -ne 0 ]; then
  echo "package install test: $failures failure(s)" >&2
  exit 1
fi
echo "package install test: all checks passed"
