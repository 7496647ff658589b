#!/usr/bin/env bash
# Runs the test suite of a sanitizer build (make test-asan, make test-tsan)
# and fails if any instrumented process reported anything.
#
# usage: scripts/sanitized-ctest.sh BUILD_DIR [ctest args...]
#
# The tests start tandemd, tandemctl and helper programs whose stderr is often
# captured or discarded, so a report from one of them could pass unseen.
# Every sanitizer therefore writes its reports to files under
# BUILD_DIR/sanitizer-reports/ (log_path), and this script fails the run when
# any such file exists afterwards, printing them all.
set -uo pipefail
build_dir=$(cd "$1" && pwd)
shift
reports="$build_dir/sanitizer-reports"
rm -rf "$reports"
mkdir -p "$reports"

# Suppressions are for third-party code only; each entry says why.
supp="$(cd "$(dirname "$0")/.." && pwd)/tests/sanitizers"
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:strict_init_order=1:detect_stack_use_after_return=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export TSAN_OPTIONS="log_path=$reports/tsan:second_deadlock_stack=1:suppressions=$supp/tsan.supp${TSAN_OPTIONS:+:$TSAN_OPTIONS}"

cd "$build_dir" && ctest "$@"
ctest_status=$?

shopt -s nullglob
found=("$reports"/*)
if [ ${#found[@]} -gt 0 ]; then
  for f in "${found[@]}"; do
    echo "=== sanitizer report: $f"
    cat "$f"
  done
  echo "FAILED: ${#found[@]} sanitizer report(s) in $reports" >&2
  exit 1
fi
[ $ctest_status -eq 0 ] && echo "no sanitizer reports"
exit $ctest_status
