#!/usr/bin/env bash
# The main job on the embedded default (configs/tiny/*.ini), on one node with mpirun:
#   init        disa model init  a tiny random qwen2 model
#   warm-start  disa warm-start  warm start on graph-path demonstrations -> reference/ (pi_ref)
#   strong      disa warm-start  a longer warm start -> strong/ (the "stronger" proposal)
#   anchor      disa anchor      importance-sampled log Z anchors of pi_ref -> anchors.h5
#   study       disa anchor      sensitivity study files: q = pi_ref with N = 256, q = strong,
#                                q = defensive mixture -> study/{ref,strong,mixture}.h5
#   train       disa train       disa, flowrl, grpo, gspo and sft from the same reference and
#                                the same anchors, once per training seed (--train.seed)
#                                -> train/<alg>/seed-<s>/{train.h5,policy/}
#   eval        disa eval        the reference -> eval/reference.h5, and every policy on the
#                                same test prompts -> eval/<alg>/seed-<s>.h5
#   report      tools/make_report.py   results table, plots, report/results.md (and
#                                docs/results.md with DISA_DOCS=path)
# Every stage is a separate command whose output is a file the next reads: name stages to
# rerun only those, e.g. `jobs/pipeline.sh runs/x train eval report`.
# Usage: jobs/pipeline.sh [OUT_DIR] [STAGE...]   (DISA_NP ranks, default 2; DISA_BIN the binary,
#        default DISA_BUILD/disa, DISA_BUILD default build; DISA_ALGORITHMS, default
#        "disa flowrl grpo gspo sft"; DISA_SEEDS, the training seeds, default "1 2 3")
# The report compares policies by per-prompt paired differences averaged over the seeds
# (tools/paired_stats.py); one seed works too, but then the between-seed spread is unknown.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-runs/pipeline}"
shift || true
stages="${*:-init warm-start strong anchor study train eval report}"
np="${DISA_NP:-2}"
disa="${DISA_BIN:-${DISA_BUILD:-build}/disa}"
algorithms="${DISA_ALGORITHMS:-disa flowrl grpo gspo sft}"
seeds="${DISA_SEEDS:-1 2 3}"
for s in $seeds; do
  [[ "$s" =~ ^[0-9]+$ ]] || { echo "pipeline: DISA_SEEDS: '$s' is not a non-negative integer" >&2; exit 2; }
done
cfg=configs/tiny
source jobs/mpirun-flags.sh
mkdir -p "$out"
start=$(date +%s)
run() {  # run NAME COMMAND...: one step, timed, logged to OUT/logs/NAME.log
  local name=$1
  shift
  local t0
  t0=$(date +%s)
  mkdir -p "$out/logs"
  echo "== $name: $*"
  "$@" > "$out/logs/$name.log" 2>&1 || { tail -n 30 "$out/logs/$name.log"; echo "== $name failed (log: $out/logs/$name.log)"; exit 1; }
  grep -E 'pass rate|wrote|step +[0-9]+/|summary|done|error|warn' "$out/logs/$name.log" | grep -v '^|' | tail -n 4 || true
  echo "== $name: $(( $(date +%s) - t0 )) s"
}
# shellcheck disable=SC2086
mpirun_np() { mpirun $DISA_MPIRUN_FLAGS -np "$np" "$@"; }
has_stage() { [[ " $stages " == *" $1 "* ]]; }

if has_stage init; then
  run env mpirun_np "$disa" env
  run init "$disa" model init --arch qwen2 --size tiny --seed 3 --out "$out/init"
fi
if has_stage warm-start; then
  run warm-start mpirun_np "$disa" warm-start --config "$cfg/warm-start.ini" --warm-start.model "$out/init" \
    --warm-start.out "$out/reference"
fi
if has_stage strong; then
  run strong mpirun_np "$disa" warm-start --config "$cfg/warm-start-strong.ini" --warm-start.model "$out/reference" \
    --warm-start.out "$out/strong"
fi
if has_stage anchor; then
  run anchor mpirun_np "$disa" anchor --config "$cfg/anchor.ini" --anchor.reference "$out/reference" \
    --anchor.out "$out/anchors.h5"
fi
if has_stage study; then
  # The first 32 prompts with many samples per prompt: tools/sensitivity.py splits them
  # into disjoint groups of N to measure the bias and variance of log Zhat against N,
  # beta (recomputed from the stored rewards and log-densities) and the proposal.
  mkdir -p "$out/study"
  study=(--config "$cfg/anchor.ini" --anchor.reference "$out/reference" --task.count 32 --anchor.bootstrap 0)
  run study-ref mpirun_np "$disa" anchor "${study[@]}" --anchor.samples 256 --anchor.out "$out/study/ref.h5"
  run study-strong mpirun_np "$disa" anchor "${study[@]}" --anchor.samples 128 --proposal.kind model \
    --proposal.model "$out/strong" --anchor.out "$out/study/strong.h5"
  run study-mixture mpirun_np "$disa" anchor "${study[@]}" --anchor.samples 128 --proposal.kind mixture \
    --proposal.model "$out/strong" --proposal.alpha 0.5 --anchor.out "$out/study/mixture.h5"
fi
if has_stage train; then
  for alg in $algorithms; do
    for s in $seeds; do
      # rerunning the stage replaces its output (disa train refuses to overwrite)
      rm -rf "${out:?}/train/$alg/seed-$s"
      run "train-$alg-seed-$s" mpirun_np "$disa" train --config "$cfg/train-$alg.ini" \
        --train.model "$out/reference" --train.anchors "$out/anchors.h5" --train.seed "$s" \
        --train.out "$out/train/$alg/seed-$s"
    done
  done
fi
if has_stage eval; then
  mkdir -p "$out/eval"
  run eval-reference mpirun_np "$disa" eval --config "$cfg/eval.ini" --eval.model "$out/reference" \
    --eval.reference "$out/reference" --eval.out "$out/eval/reference.h5"
  for alg in $algorithms; do
    mkdir -p "$out/eval/$alg"
    for s in $seeds; do
      run "eval-$alg-seed-$s" mpirun_np "$disa" eval --config "$cfg/eval.ini" \
        --eval.model "$out/train/$alg/seed-$s/policy" --eval.reference "$out/reference" \
        --eval.out "$out/eval/$alg/seed-$s.h5"
    done
  done
fi
elapsed=$(( $(date +%s) - start ))
if has_stage report; then
  docs=()
  [ -n "${DISA_DOCS:-}" ] && docs=(--docs "$DISA_DOCS")
  run report "${DISA_PYTHON:-.venv/bin/python}" tools/make_report.py "$out" --wall-time "$elapsed" "${docs[@]}"
  cat "$out/report/results_table.md" 2>/dev/null || true
fi
echo "pipeline: done in $(( $(date +%s) - start )) s; outputs in $out/ (report: $out/report/results.md)"
