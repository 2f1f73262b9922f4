#!/usr/bin/env bash
# Checks that the tracked C++/CUDA sources are formatted per .clang-format, changing
# nothing (tools/format.sh --check); exits 1 listing the files that are not.
# Usage: tools/check-format.sh [PATH...]
set -euo pipefail
exec bash "$(dirname "${BASH_SOURCE[0]}")/format.sh" --check "$@"
