#!/usr/bin/env bash
# The README's test command: installs what disa needs (tools/install-deps.sh: apt packages
# and the project's .venv, idempotent), checks the formatting of the sources first, as it
# fails fast (tools/check-format.sh; DISA_CHECK_FORMAT=0 skips it), builds both
# configurations -- build/ (CPU) and build-cuda/ (-DDISA_WITH_CUDA=ON: NCCL communicator
# and GPU binding, against the same CUDA LibTorch) -- and runs the whole test suite with
# ctest on each (MPI tests at 1 and 2 ranks; no GPU is needed: the CUDA build must work on
# CPU too).
# The two runs use different CPU kernels, standing in for a second CPU model: build/ runs
# with the ones this CPU selects (MKL's and ATen's widest vector code paths), build-cuda/
# with the portable ones (MKL_CBWR=COMPATIBLE: MKL's conditional-numerical-reproducibility
# baseline code path; ATEN_CPU_CAPABILITY=default: ATen's unvectorised kernels). Float
# results differ between the two in their last bits, so a test whose tolerance rests on
# one CPU's rounding fails one of them (docs/building.md, "Tolerances").
# DISA_KERNELS=native|portable forces one kernel set for every run.
# Extra arguments go to both ctest runs (e.g. -R tokenizer). DISA_TEST_CONFIGS selects the
# configurations ("cpu cuda" by default).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/install-deps.sh
if [ "${DISA_CHECK_FORMAT:-1}" != 0 ]; then bash tools/check-format.sh; fi
configs="${DISA_TEST_CONFIGS:-cpu cuda}"
status=0
for config in $configs; do
  case "$config" in
    cpu) dir=build; cuda=0 ;;
    cuda) dir=build-cuda; cuda=1 ;;
    *) echo "test: unknown configuration '$config' in DISA_TEST_CONFIGS (cpu, cuda)" >&2; exit 2 ;;
  esac
  start=$(date +%s)
  DISA_CUDA=$cuda bash tools/build.sh
  built=$(date +%s)
  echo "build ($config, $dir/): $((built - start)) s"
  if [ "$cuda" = 1 ]; then
    ldd "$dir/disa" | grep -E "libtorch_cuda|libnccl" || true
    "$dir/disa" env | grep -E "LibTorch|CUDA" || true
  fi
  kernels="${DISA_KERNELS:-$([ "$cuda" = 1 ] && echo portable || echo native)}"
  case "$kernels" in
    native) kernel_env=() ;;
    portable) kernel_env=(MKL_CBWR=COMPATIBLE ATEN_CPU_CAPABILITY=default) ;;
    *) echo "test: unknown DISA_KERNELS '$kernels' (native, portable)" >&2; exit 2 ;;
  esac
  (cd "$dir" && env "${kernel_env[@]}" ctest --output-on-failure -j"$(nproc)" "$@") || status=1
  echo "tests ($config, $dir/, $kernels CPU kernels): $(( $(date +%s) - built )) s"
done
exit $status
