#!/usr/bin/env bash
# Configures and builds disa into build/ (Release, Ninja, LibTorch precompiled header).
# Extra arguments go to CMake's configure step, e.g. tools/build.sh -DDISA_WITH_CUDA=ON.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs="${DISA_BUILD_JOBS:-$(nproc)}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j"$jobs"
