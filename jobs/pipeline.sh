#!/usr/bin/env bash
# The main job on the embedded default (configs/tiny/*.ini), on one node with mpirun:
#   1. disa model init   a tiny random qwen2 model
#   2. disa sft          warm start on graph-path demonstrations -> the reference pi_ref
#   3. disa anchor       importance-sampled log Z anchors -> the partition file
#   4. disa eval         Mean@k, Pass@k, diversity, exact metrics of the policy -> eval.h5
#                        (until `disa train` lands, the policy evaluated is the reference)
# Every stage is a separate command whose output is a file the next reads, so a stage
# can be rerun alone. Training and evaluation stages join as they land.
# Usage: jobs/pipeline.sh [OUT_DIR]   (DISA_NP ranks, default 2; DISA_BUILD build dir)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-runs/pipeline}"
np="${DISA_NP:-2}"
disa="${DISA_BUILD:-build}/disa"
cfg=configs/tiny
source jobs/mpirun-flags.sh
mkdir -p "$out"
start=$(date +%s)
run() {  # run NAME COMMAND...: one stage, timed, logged to OUT/NAME.log
  local name=$1
  shift
  local t0
  t0=$(date +%s)
  echo "== $name: $*"
  "$@" 2>&1 | tee "$out/$name.log"
  echo "== $name: $(( $(date +%s) - t0 )) s"
}
# shellcheck disable=SC2086
mpirun_np() { mpirun $DISA_MPIRUN_FLAGS -np "$np" "$@"; }

run env mpirun_np "$disa" env
[ -d "$out/init" ] || run init "$disa" model init --arch qwen2 --size tiny --seed 3 --out "$out/init"
run sft mpirun_np "$disa" sft --config "$cfg/sft.ini" --sft.model "$out/init" --sft.out "$out/reference"
run anchor mpirun_np "$disa" anchor --config "$cfg/anchor.ini" --anchor.reference "$out/reference" \
  --anchor.out "$out/anchors.h5"
run eval mpirun_np "$disa" eval --config "$cfg/eval.ini" --eval.model "$out/reference" \
  --eval.reference "$out/reference" --eval.out "$out/eval-reference.h5"
echo "pipeline: done in $(( $(date +%s) - start )) s; outputs in $out/"
