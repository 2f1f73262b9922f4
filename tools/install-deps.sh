#!/usr/bin/env bash
# Installs everything disa needs on Debian 12: the system packages (apt) and the project's
# Python environment .venv (PyPI, pinned by tools/requirements.txt). Idempotent and
# non-interactive: a second run finds both complete and changes nothing.
# Usage: tools/install-deps.sh            (as root, or with sudo available)
# Environment: DISA_PIP_CACHE   pip's download cache (default ~/.cache/disa/pip): the torch
#                               wheel and its CUDA libraries are about 3.5 GB, downloaded once
#              DISA_VENV        where the environment goes (default .venv in the checkout)
#              CUDA_HOME        the CUDA toolkit (default /usr/local/cuda)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ccache time bc xz-utils
  # the formatter of tools/check-format.sh and tools/format.sh (.clang-format is for 14)
  clang-format-14
  # MPI and parallel HDF5 (the serial libhdf5-dev is not enough)
  openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools
  # libraries
  libboost-program-options-dev libgtest-dev googletest nlohmann-json3-dev
  libpcre2-dev libicu-dev libfmt-dev libspdlog-dev
  # the interpreter of the project's virtual environment (Debian's python3.11) and the
  # code task's sandbox (/usr/bin/python3)
  python3 python3-venv
)

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} system packages already installed"
else
  echo "install-deps: apt-get install ${#missing[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# LibTorch comes from the torch wheel (a CUDA build); its CMake configuration needs the
# CUDA toolkit's compiler and headers even for disa's CPU configuration.
cuda_home="${CUDA_HOME:-/usr/local/cuda}"
if [ ! -x "$cuda_home/bin/nvcc" ]; then
  echo "install-deps: no CUDA toolkit at $cuda_home (bin/nvcc): the torch wheel's LibTorch is a CUDA" \
       "build and its CMake configuration needs nvcc and the CUDA headers. Install the CUDA 13" \
       "toolkit there or set CUDA_HOME (docs/building.md)." >&2
  exit 1
fi

# The project's Python environment: a venv with every package pinned. A stamp holds the
# hash of the requirements it was made from, so an unchanged environment is left alone.
venv="${DISA_VENV:-$root/.venv}"
requirements="$root/tools/requirements.txt"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
stamp="$venv/.disa-requirements.sha256"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "install-deps: $venv is complete ($(grep -c '==' "$requirements") pinned packages of tools/requirements.txt)"
else
  cache="${DISA_PIP_CACHE:-$HOME/.cache/disa/pip}"
  mkdir -p "$cache"
  if [ ! -x "$venv/bin/python" ]; then
    echo "install-deps: creating the virtual environment $venv (/usr/bin/python3 -m venv)"
    /usr/bin/python3 -m venv "$venv"
  fi
  echo "install-deps: pip install -r tools/requirements.txt into $venv: torch 2.15.0 (CUDA 13.2" \
       "wheel with its nvidia-* libraries, about 3.5 GB to download, 6 GB installed), transformers," \
       "peft, tokenizers, safetensors, h5py, numpy, pandas, matplotlib; download cache $cache"
  start=$(date +%s)
  "$venv/bin/python" -m pip install --quiet --cache-dir "$cache" --upgrade pip
  "$venv/bin/python" -m pip install --quiet --cache-dir "$cache" --progress-bar off -r "$requirements"
  "$venv/bin/python" -c 'import torch, transformers, peft, tokenizers, safetensors, h5py, pandas, matplotlib'
  echo "$want" > "$stamp"
  echo "install-deps: $venv ready in $(( $(date +%s) - start )) s"
fi
echo "install-deps: done"
