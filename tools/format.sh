#!/usr/bin/env bash
# Formats in place, per .clang-format, the C++/CUDA sources (*.cpp *.hpp *.h *.cu) under
# src/ include/ tests/ bench/ that git tracks or would track (new, not ignored), with
# clang-format 14 (clang-format-14, else clang-format; CLANG_FORMAT=/path overrides).
# With --check it changes nothing: it lists
# the files that are not formatted and exits 1 (tools/check-format.sh, run by
# tools/test.sh before the builds).
# Usage: tools/format.sh [--check] [PATH...]   (paths limit it, e.g. src/io)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
check=0
if [ "${1:-}" = --check ]; then
  check=1
  shift
fi
name=$([ "$check" = 1 ] && echo check-format || echo format)

clang_format="${CLANG_FORMAT:-}"
if [ -z "$clang_format" ]; then
  for c in clang-format-14 clang-format; do
    if command -v "$c" >/dev/null; then clang_format="$c"; break; fi
  done
fi
if [ -z "$clang_format" ] || ! command -v "$clang_format" >/dev/null; then
  echo "$name: no clang-format-14 or clang-format found: install clang-format-14" \
       "(tools/install-deps.sh does) or set CLANG_FORMAT" >&2
  exit 2
fi
version=$("$clang_format" --version)
case "$version" in
  *"version 14."*) ;;
  *) echo "$name: warning: .clang-format is tuned for clang-format 14, $clang_format is: $version" >&2 ;;
esac

if [ $# -eq 0 ]; then set -- src include tests bench; fi
mapfile -d '' files < <(git ls-files -z --cached --others --exclude-standard -- "$@" | grep -zE '\.(cpp|hpp|h|cu)$' || true)
existing=()
for f in "${files[@]}"; do
  if [ -f "$f" ]; then existing+=("$f"); fi  # skip files deleted in the working tree
done

if [ "$check" = 0 ]; then
  if [ ${#existing[@]} -gt 0 ]; then
    printf '%s\0' "${existing[@]}" | xargs -0 "$clang_format" --style=file -i
  fi
  echo "format: formatted ${#existing[@]} files ($clang_format)"
  exit 0
fi
bad=()
for f in "${existing[@]}"; do
  if ! "$clang_format" --style=file "$f" | cmp -s - "$f"; then bad+=("$f"); fi
done
if [ ${#bad[@]} -gt 0 ]; then
  echo "check-format: ${#bad[@]} of ${#existing[@]} files are not formatted per .clang-format ($clang_format):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  echo "check-format: run tools/format.sh to format them in place" >&2
  exit 1
fi
echo "check-format: all ${#existing[@]} files formatted ($clang_format)"
