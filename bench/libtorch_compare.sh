#!/usr/bin/env bash
# Benchmark (not a test): two builds of disa against different LibTorch releases, side by
# side in one run on the same inputs -- bench_model prefill/decode at batch 1 and 64 (the
# ~25M "small" qwen2 preset), `disa anchor` samples/s at 1 and 2 ranks, and the median
# `disa train` step time (DISA, 1 and 2 ranks). The builds alternate per measurement so
# that a drift of the machine hits both.
# Usage: bench/libtorch_compare.sh BUILD_A BUILD_B     (e.g. build-1.13 build)
#   make the second build with e.g. DISA_TORCH_PREFIX=/usr DISA_BUILD_DIR=build-1.13 \
#   tools/build.sh -DDISA_BUILD_TESTS=OFF   (Debian's libtorch-dev 1.13)
set -euo pipefail
[ $# -eq 2 ] || { sed -n 2,9p "$0"; exit 2; }
builds=("$1" "$2")
work="$(mktemp -d /tmp/disa-bench-libtorch.XXXXXX)"
trap 'rm -rf "$work"' EXIT
source "$(dirname "$0")/../jobs/mpirun-flags.sh"
cfg="$(dirname "$0")/../configs/tiny"
py="${DISA_PYTHON:-$(dirname "$0")/../.venv/bin/python}"
version() { "$1/disa" env 2>/dev/null | awk -F'|' '/^\| LibTorch  /{gsub(/ /,"",$3); print $3}'; }
a=$(version "${builds[0]}"); b=$(version "${builds[1]}")
echo "A = ${builds[0]} (LibTorch $a)    B = ${builds[1]} (LibTorch $b)    $(nproc) cores"

# Shared inputs, made once with build A (HF directories and HDF5 files are build-neutral).
d="${builds[0]}/disa"
"$d" model init --arch qwen2 --size tiny --seed 3 --out "$work/init" --log.level warn
# shellcheck disable=SC2086
mpirun $DISA_MPIRUN_FLAGS -np 2 "$d" warm-start --config "$cfg/warm-start.ini" --warm-start.model "$work/init" \
  --warm-start.out "$work/ref" --warm-start.steps 300 --warm-start.eval-samples 0 --log.level warn
# shellcheck disable=SC2086
mpirun $DISA_MPIRUN_FLAGS -np 2 "$d" anchor --config "$cfg/anchor.ini" --anchor.reference "$work/ref" \
  --anchor.out "$work/anchors.h5" --log.level warn

echo "== bench_model (qwen2 small, prompt 64, 32 new tokens, 2 threads; the no-cache column is 1 step) =="
for i in 0 1; do
  echo "-- ${builds[$i]}"
  "${builds[$i]}/bench/bench_model" --sizes small --batches 1,64 --threads 2 --nocache-steps 1
done

anchor_run() {  # build np -> seconds
  local start end
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  mpirun $DISA_MPIRUN_FLAGS -np "$2" "$1/disa" anchor --anchor.reference "$work/ref" --anchor.out "$work/a.h5" \
    --task.name graph_paths --task.graph-nodes 4 --task.graph-edge-probability 0.6 --task.count 64 \
    --task.max-solutions 64 --anchor.samples 32 --anchor.batch-size 64 --anchor.max-new-tokens 16 \
    --anchor.bootstrap 0 --anchor.threads 1 --log.level warn > "$work/a.log" 2>&1 ||
    { echo "anchor_run $1 -np $2 failed:" >&2; cat "$work/a.log" >&2; return 1; }
  end=$(date +%s.%N)
  rm -f "$work/a.h5"
  echo "$end - $start" | bc
}
train_run() {  # build np -> median step seconds
  rm -rf "$work/t"
  # shellcheck disable=SC2086
  mpirun $DISA_MPIRUN_FLAGS -np "$2" "$1/disa" train --config "$cfg/train-disa.ini" --train.model "$work/ref" \
    --train.anchors "$work/anchors.h5" --train.out "$work/t" --train.steps 12 --train.exact-every 0 \
    --train.checkpoint-every 0 --train.threads 1 --log.level warn > "$work/t.log" 2>&1 ||
    { echo "train_run $1 -np $2 failed:" >&2; cat "$work/t.log" >&2; return 1; }
  "$py" -c 'import sys,h5py,numpy as np; print("%.3f" % np.median(h5py.File(sys.argv[1])["metrics/time_step"][1:]))' "$work/t/train.h5"
}
echo "== disa anchor: 64 prompts x 32 samples, 16 new tokens (samples/s incl. start-up) =="
printf "%-6s %14s %14s\n" ranks "A samples/s" "B samples/s"
for np in 1 2; do
  ta=$(anchor_run "${builds[0]}" "$np"); tb=$(anchor_run "${builds[1]}" "$np")
  printf "%-6s %14.0f %14.0f\n" "$np" "$(echo "2048 / $ta" | bc -l)" "$(echo "2048 / $tb" | bc -l)"
done
echo "== disa train (configs/tiny/train-disa.ini, median step of 12, s) =="
printf "%-6s %10s %10s\n" ranks "A step" "B step"
for np in 1 2; do
  sa=$(train_run "${builds[0]}" "$np"); sb=$(train_run "${builds[1]}" "$np")
  printf "%-6s %10s %10s\n" "$np" "$sa" "$sb"
done
