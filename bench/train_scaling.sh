#!/usr/bin/env bash
# Benchmark of `disa train` (not a test): step time, tokens/s and the time split
# (generate / score / backward / communicate) of each algorithm at 1 and 2 MPI ranks with
# the same global batch, read back from train.h5 (median over the steps after the first).
# Usage: bench/train_scaling.sh [BUILD_DIR] [RUN_DIR]
# RUN_DIR: a finished jobs/pipeline.sh directory (reference/ and anchors.h5); without it
# a tiny model is warm-started for 1500 steps and anchored first.
set -euo pipefail
build="${1:-build}"
disa="$build/disa"
work="$(mktemp -d /tmp/disa-bench-train.XXXXXX)"
source "$(dirname "$0")/../jobs/mpirun-flags.sh"
cfg="$(dirname "$0")/../configs/tiny"
run_dir="${2:-}"
if [ -z "$run_dir" ]; then
  run_dir="$work/run"
  "$disa" model init --arch qwen2 --size tiny --seed 3 --out "$run_dir/init" --log.level warn
  # shellcheck disable=SC2086
  mpirun $DISA_MPIRUN_FLAGS -np 2 "$disa" warm-start --config "$cfg/warm-start.ini" \
    --warm-start.model "$run_dir/init" --warm-start.out "$run_dir/reference" --warm-start.eval-samples 0 \
    --log.level warn
  # shellcheck disable=SC2086
  mpirun $DISA_MPIRUN_FLAGS -np 2 "$disa" anchor --config "$cfg/anchor.ini" --anchor.reference "$run_dir/reference" \
    --anchor.out "$run_dir/anchors.h5" --log.level warn
fi
printf "%-7s %5s %9s %10s %9s %9s %9s %9s\n" algo ranks "step(s)" "tokens/s" "gen(s)" "score(s)" "bwd(s)" "comm(s)"
for alg in disa flowrl grpo gspo sft; do
  for np in 1 2; do
    out="$work/$alg-np$np"
    # shellcheck disable=SC2086
    mpirun $DISA_MPIRUN_FLAGS -np "$np" "$disa" train --config "$cfg/train-$alg.ini" --train.model "$run_dir/reference" \
      --train.anchors "$run_dir/anchors.h5" --train.out "$out" --train.steps 12 --train.exact-every 0 \
      --train.checkpoint-every 0 --train.threads 1 --log.level warn > "$out.log" 2>&1
    "${DISA_PYTHON:-.venv/bin/python}" - "$out/train.h5" "$alg" "$np" <<'PY'
import sys, h5py, numpy as np
m = h5py.File(sys.argv[1], "r")["metrics"]
med = lambda k: float(np.median(m[k][1:]))
print("%-7s %5s %9.3f %10.0f %9.3f %9.3f %9.3f %9.3f" % (sys.argv[2], sys.argv[3], med("time_step"),
      med("tokens_per_second"), med("time_generate"), med("time_score"), med("time_backward"), med("time_communicate")))
PY
  done
done
rm -rf "$work"
