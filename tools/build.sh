#!/usr/bin/env bash
# Configures and builds disa (Release, Ninja, LibTorch precompiled header).
#   tools/build.sh [CMAKE ARGS...]            -> build/       (CPU configuration)
#   DISA_CUDA=1 tools/build.sh [CMAKE ARGS...] -> build-cuda/  (-DDISA_WITH_CUDA=ON: NCCL
#                                                communicator and GPU binding)
# LibTorch is the one of the torch wheel in the project's virtual environment (.venv,
# made by tools/install-deps.sh: a CUDA LibTorch 2.x) unless DISA_TORCH_PREFIX names
# another install prefix (a cluster's LibTorch: the folder with lib/ and share/cmake/).
# The CUDA configuration uses the CUDA toolkit of CUDA_HOME (default /usr/local/cuda) and
# the wheel's own libnccl (nvidia-nccl-cu13), the NCCL that LibTorch itself loads.
# DISA_BUILD_DIR overrides the build folder; DISA_BUILD_JOBS the parallel jobs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
jobs="${DISA_BUILD_JOBS:-$(nproc)}"
python="${DISA_PYTHON:-$root/.venv/bin/python}"
args=(-G Ninja -DCMAKE_BUILD_TYPE=Release)

if [ -n "${DISA_TORCH_PREFIX:-}" ]; then
  torch_prefix="$DISA_TORCH_PREFIX"
else
  if [ ! -x "$python" ]; then
    echo "build: $python not found: run tools/install-deps.sh (it creates .venv with the torch wheel)," \
         "or set DISA_TORCH_PREFIX to a LibTorch install" >&2
    exit 1
  fi
  # The torch package folder: lib/ (the libraries) and share/cmake/ (TorchConfig.cmake).
  torch_prefix=$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
  args+=("-DDISA_PYTHON=$python")
fi
# The package folder itself first, so that find_library picks its lib/ before any system
# LibTorch (Debian's libtorch-dev installs /usr/lib/x86_64-linux-gnu/libtorch.so).
args+=("-DCMAKE_PREFIX_PATH=$torch_prefix;$torch_prefix/share/cmake")

if [ "${DISA_CUDA:-0}" = 1 ]; then
  build="${DISA_BUILD_DIR:-build-cuda}"
  cuda_home="${CUDA_HOME:-/usr/local/cuda}"
  args+=(-DDISA_WITH_CUDA=ON "-DCUDAToolkit_ROOT=$cuda_home" "-DCMAKE_CUDA_COMPILER=$cuda_home/bin/nvcc")
  if [ -z "${NCCL_ROOT:-}" ] && [ -x "$python" ]; then
    nccl=$("$python" -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null || true)
    [ -n "$nccl" ] && args+=("-DNCCL_ROOT=$nccl")
  fi
else
  build="${DISA_BUILD_DIR:-build}"
fi
echo "build: LibTorch from $torch_prefix into $build/"
cmake -S . -B "$build" "${args[@]}" "$@"
cmake --build "$build" -j"$jobs"
