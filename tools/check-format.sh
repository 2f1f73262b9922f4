#!/usr/bin/env bash
# Checks that the C++/CUDA sources git tracks under src/ include/ tests/ bench/ (*.cpp *.hpp
# *.h *.cu) are formatted as .clang-format says, with clang-format 14 (clang-format-14, else
# clang-format; CLANG_FORMAT=/path overrides). Lists the files that are not and exits 1; fix
# them with tools/format.sh. Changes nothing. Run by tools/test.sh before the builds.
# Usage: tools/check-format.sh [PATH...]   (paths limit the check, e.g. src/io)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

clang_format="${CLANG_FORMAT:-}"
if [ -z "$clang_format" ]; then
  for c in clang-format-14 clang-format; do
    if command -v "$c" >/dev/null; then clang_format="$c"; break; fi
  done
fi
if [ -z "$clang_format" ] || ! command -v "$clang_format" >/dev/null; then
  echo "check-format: no clang-format-14 or clang-format found: install clang-format-14" \
       "(tools/install-deps.sh does) or set CLANG_FORMAT" >&2
  exit 2
fi
version=$("$clang_format" --version)
case "$version" in
  *"version 14."*) ;;
  *) echo "check-format: warning: .clang-format is tuned for clang-format 14, $clang_format is: $version" >&2 ;;
esac

if [ $# -eq 0 ]; then set -- src include tests bench; fi
mapfile -d '' files < <(git ls-files -z -- "$@" | grep -zE '\.(cpp|hpp|h|cu)$' || true)
bad=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue  # deleted in the working tree, not yet in the index
  if ! "$clang_format" --style=file "$f" | cmp -s - "$f"; then bad+=("$f"); fi
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "check-format: ${#bad[@]} of ${#files[@]} files are not formatted per .clang-format ($clang_format):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  echo "check-format: run tools/format.sh to format them in place" >&2
  exit 1
fi
echo "check-format: all ${#files[@]} files formatted ($clang_format)"
