#!/usr/bin/env bash
# Fails when a C++ file of the tree differs from what clang-format makes of it
# with the root .clang-format, naming each file and the command that fixes it.
#
#   format_check.sh SOURCE_DIR            every tracked *.cpp and *.h
#   format_check.sh SOURCE_DIR FILE...    only these files (the check's own test)
#
# Formatting is kept by running `make format` (or clang-format on what you
# touch) before committing; this check is what keeps the tree from drifting.
set -uo pipefail
src=$(cd "$1" && pwd)
shift
command -v clang-format >/dev/null || { echo "format check: clang-format is not installed (scripts/install-deps.sh installs it)" >&2; exit 2; }
if [ $# -gt 0 ]; then
  files=("$@")
elif git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git -C "$src" ls-files '*.cpp' '*.h' | sed "s|^|$src/|")
else
  mapfile -t files < <(find "$src/core" "$src/sdk" "$src/plugins" "$src/tests" -name '*.cpp' -o -name '*.h')
fi
[ ${#files[@]} -gt 0 ] || { echo "format check: no files found under $src" >&2; exit 2; }
bad=()
for f in "${files[@]}"; do
  clang-format --style="file:$src/.clang-format" "$f" | cmp -s - "$f" || bad+=("${f#"$src"/}")
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "format check: ${#bad[@]} of ${#files[@]} files are not formatted as .clang-format says:"
  printf '  %s\n' "${bad[@]}"
  echo "fix with: clang-format -i <file>   (or: make format)"
  exit 1
fi
echo "format check: ${#files[@]} files formatted as .clang-format says"
