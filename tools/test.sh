#!/usr/bin/env bash
# The README's test command: installs the system packages (idempotent), builds, and runs
# the whole test suite with ctest (MPI tests at 1 and 2 ranks).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/install-deps.sh
start=$(date +%s)
bash tools/build.sh
built=$(date +%s)
echo "build: $((built - start)) s"
cd build
ctest --output-on-failure -j"$(nproc)" "$@"
echo "tests: $(( $(date +%s) - built )) s"
