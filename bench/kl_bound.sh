#!/usr/bin/env bash
# Measurement of DISA's KL(p* || pi) lower bound (docs/kl-bound.md; not a test): trains DISA
# from a finished pipeline's reference and anchors with configs/tiny/train-disa.ini plus the
# given options, then evaluates the policy on the held-out prompts (configs/tiny/eval.ini,
# test split) and on the 200 training prompts. bench/kl_bound_table.py summarises the outputs.
# Usage: bench/kl_bound.sh RUN_DIR OUT_DIR SEED [disa train options...]
#   RUN_DIR  a finished jobs/pipeline.sh directory (reference/, anchors.h5)
#   OUT_DIR  gets train/, eval-test.h5, eval-train.h5 and the logs (replaced if present)
#   ANCHORS  environment: another partition file (another beta or prompt count)
#   DISA_BIN environment: the binary (default build/disa)
# With OUT_DIR = .../reference the policy is RUN_DIR/reference itself (no training).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
run_dir=$1 out=$2 seed=$3
shift 3
disa="${DISA_BIN:-build/disa}"
source jobs/mpirun-flags.sh
rm -rf "$out"
mkdir -p "$out"
policy="$run_dir/reference"
if [ "$(basename "$out")" != reference ]; then
  # shellcheck disable=SC2086
  nice -n 10 mpirun $DISA_MPIRUN_FLAGS -np 2 "$disa" train --config configs/tiny/train-disa.ini \
    --train.model "$run_dir/reference" --train.anchors "${ANCHORS:-$run_dir/anchors.h5}" --train.seed "$seed" \
    --train.out "$out/train" "$@" > "$out/train.log" 2>&1 || { tail -n 20 "$out/train.log"; exit 1; }
  policy="$out/train/policy"
fi
for split in test train; do
  extra=()
  [ "$split" = train ] && extra=(--task.split train --task.count 200)
  # shellcheck disable=SC2086
  nice -n 10 mpirun $DISA_MPIRUN_FLAGS -np 2 "$disa" eval --config configs/tiny/eval.ini --eval.model "$policy" \
    --eval.reference "$run_dir/reference" --eval.out "$out/eval-$split.h5" "${extra[@]}" > "$out/eval-$split.log" 2>&1 \
    || { tail -n 20 "$out/eval-$split.log"; exit 1; }
done
echo "kl_bound: $out done"
