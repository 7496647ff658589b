#!/usr/bin/env bash
# make package: the Debian packages (tandem, tandem-dev) built with CPack in
# their own build dir, then checked with lintian.
#   scripts/build-package.sh [BUILD_DIR [JOBS]]   (default build-package, 2)
# The build is optimised, without the test suites (so without the failover
# fault-injection points the tests compile in), installed under /usr with
# plugins in /usr/lib/tandem/plugins, and uses Debian's hardening flags
# (dpkg-buildflags). The .deb files end up in BUILD_DIR; their paths are the
# last lines printed. Exit status: non-zero when the build, CPack or lintian
# (an error, or a warning not listed in packaging/lintian-allowed.txt) fails.
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-build-package}"
JOBS="${2:-2}"
case "$BUILD" in /*) ;; *) BUILD="$REPO/$BUILD" ;; esac

export DEB_BUILD_MAINT_OPTIONS="hardening=+all"
CXXFLAGS="$(dpkg-buildflags --get CXXFLAGS) $(dpkg-buildflags --get CPPFLAGS)"
LDFLAGS="$(dpkg-buildflags --get LDFLAGS)"

cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTANDEM_BUILD_TESTS=OFF \
  -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_LIBDIR=lib \
  -DCMAKE_CXX_FLAGS="$CXXFLAGS" -DCMAKE_EXE_LINKER_FLAGS="$LDFLAGS" \
  -DCMAKE_SHARED_LINKER_FLAGS="$LDFLAGS" -DCMAKE_MODULE_LINKER_FLAGS="$LDFLAGS" >/dev/null
cmake --build "$BUILD" -j"$JOBS"
rm -f "$BUILD"/*.deb
(cd "$BUILD" && cpack -G DEB >/dev/null)

shopt -s nullglob
debs=("$BUILD"/*.deb)
[ ${#debs[@]} -eq 2 ] || { echo "package: expected 2 .deb files in $BUILD, found ${#debs[@]}" >&2; exit 1; }

# lintian: errors fail; so does any warning not explained in lintian-allowed.txt.
status=0
if command -v lintian >/dev/null; then
  out="$(lintian --tag-display-limit 0 --suppress-tags-from-file "$REPO/packaging/lintian-allowed.txt" "${debs[@]}" 2>&1)" || status=$?
  [ -z "$out" ] || echo "$out"
  if echo "$out" | grep -qE '^[EW]: '; then
    echo "package: lintian reports the problems above" >&2
    exit 1
  fi
  [ $status -eq 0 ] || { echo "package: lintian failed (exit $status)" >&2; exit 1; }
  echo "lintian: no errors or warnings (allowed and explained: packaging/lintian-allowed.txt)"
else
  echo "package: lintian is not installed (scripts/install-deps.sh installs it)" >&2
  exit 1
fi
printf '%s\n' "${debs[@]}"
