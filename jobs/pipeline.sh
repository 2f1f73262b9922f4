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
#        "disa flowrl grpo gspo sft"; DISA_SEEDS, the training seeds, default "1 2 3";
#        DISA_CONFIG_DIR, the stage INI files, default configs/tiny (jobs/study.sh: configs/study;
#        with a model.json there, init writes a random model of that size with
#        tools/make_model.py instead of `disa model init --size tiny`); DISA_PYTHON, default
#        .venv/bin/python; DISA_STUDY_PROMPTS and DISA_STUDY_SAMPLES, the study stage's prompts
#        and samples per prompt from pi_ref, default 32 and 256; DISA_DRY_RUN=1 prints the
#        commands instead of running them)
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
cfg="${DISA_CONFIG_DIR:-configs/tiny}"
[ -f "$cfg/anchor.ini" ] || { echo "pipeline: DISA_CONFIG_DIR: no $cfg/anchor.ini" >&2; exit 2; }
py="${DISA_PYTHON:-.venv/bin/python}"
dry_run() { [ "${DISA_DRY_RUN:-0}" = 1 ]; }
source jobs/mpirun-flags.sh
dry_run || mkdir -p "$out"
start=$(date +%s)
# shellcheck source=jobs/run-step.sh
source jobs/run-step.sh
DISA_STEP_ECHO='pass rate|wrote|step +[0-9]+/|summary|done|error|warn'
run() { disa_run_step "$@"; }  # run NAME COMMAND...: one step, timed, logged to OUT/logs/NAME.log
# shellcheck disable=SC2086
mpirun_np() { mpirun $DISA_MPIRUN_FLAGS -np "$np" "$@"; }
has_stage() { [[ " $stages " == *" $1 "* ]]; }

if has_stage init; then
  run env mpirun_np "$disa" env
  if [ -f "$cfg/model.json" ]; then
    # A model size that `disa model init` has no preset for: the tiny preset's tokenizer
    # and model files, resized by tools/make_model.py (HF transformers, seed 3).
    run init-base "$disa" model init --arch qwen2 --size tiny --seed 3 --out "$out/init-base"
    run init "$py" tools/make_model.py --base "$out/init-base" --config "$cfg/model.json" --seed 3 \
      --out "$out/init"
  else
    run init "$disa" model init --arch qwen2 --size tiny --seed 3 --out "$out/init"
  fi
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
  dry_run || mkdir -p "$out/study"
  # DISA_STUDY_PROMPTS (32) prompts, DISA_STUDY_SAMPLES (256) samples from pi_ref and half
  # as many from each other proposal.
  ss="${DISA_STUDY_SAMPLES:-256}"
  study=(--config "$cfg/anchor.ini" --anchor.reference "$out/reference" --task.count "${DISA_STUDY_PROMPTS:-32}"
    --anchor.bootstrap 0)
  run study-ref mpirun_np "$disa" anchor "${study[@]}" --anchor.samples "$ss" --anchor.out "$out/study/ref.h5"
  run study-strong mpirun_np "$disa" anchor "${study[@]}" --anchor.samples $((ss / 2)) --proposal.kind model \
    --proposal.model "$out/strong" --anchor.out "$out/study/strong.h5"
  run study-mixture mpirun_np "$disa" anchor "${study[@]}" --anchor.samples $((ss / 2)) --proposal.kind mixture \
    --proposal.model "$out/strong" --proposal.alpha 0.5 --anchor.out "$out/study/mixture.h5"
fi
if has_stage train; then
  for alg in $algorithms; do
    for s in $seeds; do
      # rerunning the stage replaces its output (disa train refuses to overwrite)
      dry_run || rm -rf "${out:?}/train/$alg/seed-$s"
      run "train-$alg-seed-$s" mpirun_np "$disa" train --config "$cfg/train-$alg.ini" \
        --train.model "$out/reference" --train.anchors "$out/anchors.h5" --train.seed "$s" \
        --train.out "$out/train/$alg/seed-$s"
    done
  done
fi
if has_stage eval; then
  dry_run || mkdir -p "$out/eval"
  run eval-reference mpirun_np "$disa" eval --config "$cfg/eval.ini" --eval.model "$out/reference" \
    --eval.reference "$out/reference" --eval.out "$out/eval/reference.h5"
  for alg in $algorithms; do
    dry_run || mkdir -p "$out/eval/$alg"
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
  run report "$py" tools/make_report.py "$out" --wall-time "$elapsed" "${docs[@]}"
  dry_run || cat "$out/report/results_table.md" 2>/dev/null || true
fi
echo "pipeline: done in $(( $(date +%s) - start )) s; outputs in $out/ (report: $out/report/results.md)"
