#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build (make fuzz) for a bounded time.
#
# usage: scripts/run-fuzzers.sh BUILD_DIR SECONDS [TARGET...]
#
# Each target starts from its seed corpus (tests/fuzz/<target>/corpus/) and
# its saved crash inputs (regressions/); what it learns goes to
# BUILD_DIR/fuzz-corpus/<target>/, so the tree keeps only the small seeds.
# A crash leaves its input in BUILD_DIR/fuzz-artifacts/<target>/; the run
# fails if any target crashed. Add a fixed crash's input to
# tests/fuzz/<target>/regressions/ so the normal suite replays it.
set -uo pipefail
build_dir=$(cd "$1" && pwd)
seconds=$2
shift 2
src="$(cd "$(dirname "$0")/.." && pwd)/tests/fuzz"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(resp http config journal)

failed=()
for t in "${targets[@]}"; do
  exe="$build_dir/bin/fuzz_$t"
  if [ ! -x "$exe" ]; then
    echo "fuzz_$t was not built" >&2
    failed+=("$t")
    continue
  fi
  corpus="$build_dir/fuzz-corpus/$t"
  artifacts="$build_dir/fuzz-artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  seeds=("$src/$t/corpus")
  [ -d "$src/$t/regressions" ] && seeds+=("$src/$t/regressions")
  echo "=== fuzz_$t for ${seconds}s"
  # -rss_limit_mb: the daemon's own limits are far below 2 GB; beyond that is a leak.
  ASAN_OPTIONS="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
    "$exe" "$corpus" "${seeds[@]}" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$build_dir/fuzz-$t.log" 2>&1
  status=$?
  grep -E '^(#[0-9]+ +DONE|INFO: seed|==[0-9]+==|SUMMARY|stat::(number_of_executed_units|new_units_added|peak_rss_mb)|Done )' \
    "$build_dir/fuzz-$t.log"
  if [ "$status" -ne 0 ]; then
    echo "fuzz_$t FAILED (exit $status); input(s) in $artifacts, log in $build_dir/fuzz-$t.log" >&2
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED fuzz targets: ${failed[*]}" >&2
  exit 1
fi
echo "every fuzz target ran ${seconds}s without a crash"
