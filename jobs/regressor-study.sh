#!/usr/bin/env bash
# The frozen-regressor study (docs/regressor-study.md, issue 16 item 3), on one node with
# mpirun and the tiny scale: on the listable tasks graph_paths and countdown, for each N of
# STUDY_NS, `disa anchor` (q = pi_ref, N samples per prompt) and `disa anchor fit` (the
# weighted ridge g(x), out-of-fold predictions by K-fold CV, shrinkage c(x)); then DISA
# trained on graph_paths at N = TRAIN_N with each anchor of TRAIN_ANCHORS (raw, shrinkage,
# exact, regressor) for every seed of DISA_SEEDS; then tools/regressor_study.py: MSE to the
# exact log Z per estimator, task and N, and the exact KL to p* after training.
# Stages (name some to rerun only those, as jobs/pipeline.sh):
#   reference  disa model init + disa warm-start: a tiny reference per task (skipped for a
#              task whose reference is given: REFERENCE for graph_paths,
#              COUNTDOWN_REFERENCE for countdown)
#   anchor     disa anchor -> OUT/<task>/n-<N>/anchors.h5
#   fit        disa anchor fit -> OUT/<task>/n-<N>/regressor.h5
#   train      disa train -> OUT/train/<anchor>/seed-<s>/{train.h5,policy/}
#   report     tools/regressor_study.py -> OUT/report/ (regressor_study.md, .csv, .png)
# Usage: jobs/regressor-study.sh [OUT_DIR] [STAGE...]            [runs/regressor-study]
# Environment (all optional):
#   DISA_BIN, DISA_ROOT          as jobs/common.sh (the binary; the repository)
#   DISA_NP                      ranks                                               [2]
#   REFERENCE                    graph_paths reference (e.g. runs/quickstart/reference) [warm-started]
#   COUNTDOWN_REFERENCE          countdown reference                                [warm-started]
#   STUDY_TASKS                  "graph_paths countdown"
#   STUDY_NS                     samples per prompt                      ["2 4 8 16 64"]
#   STUDY_PROMPTS                prompts per task (train split)                   [300]
#   STUDY_FOLDS                  K of the cross-validation of disa anchor fit       [5]
#   TRAIN_N                      the N whose files the training stage uses          [4]
#   TRAIN_ANCHORS                --disa.anchor values                ["raw shrinkage exact"]
#   DISA_SEEDS                   training seeds                                 ["1 2 3"]
#   TRAIN_STEPS                  training steps           [configs/tiny/train-disa.ini: 60]
#   DISA_PYTHON                  Python with h5py/numpy/pandas/matplotlib          [.venv/bin/python]
#   CONFIG_DIR                   the INI files (anchor.ini, warm-start.ini, train-disa.ini) [configs/tiny]
#   GRAPH_PATHS_OPTS             graph_paths task options over the INI's; empty: the INI's
#                                [task] as is (jobs/study.sh)   ["--task.graph-nodes 4 --task.graph-edge-probability 0.6"]
#   DISA_DRY_RUN=1               print the commands instead of running them
set -euo pipefail
DISA_SCRIPT=jobs/regressor-study.sh
DISA_ROOT=${DISA_ROOT:-$(dirname "${BASH_SOURCE[0]}")/..}
# shellcheck source=jobs/common.sh
source "$DISA_ROOT/jobs/common.sh"
# shellcheck source=jobs/mpirun-flags.sh
source jobs/mpirun-flags.sh
out="${1:-runs/regressor-study}"
shift || true
stages="${*:-reference anchor fit train report}"
for s in $stages; do
  case "$s" in reference | anchor | fit | train | report) ;;
    *) disa_die "unknown stage '$s' (reference anchor fit train report)" ;; esac
done
np="${DISA_NP:-2}"
read -r -a tasks <<<"${STUDY_TASKS:-graph_paths countdown}"
read -r -a ns <<<"${STUDY_NS:-2 4 8 16 64}"
read -r -a train_anchors <<<"${TRAIN_ANCHORS:-raw shrinkage exact}"
read -r -a seeds <<<"${DISA_SEEDS:-1 2 3}"
prompts="${STUDY_PROMPTS:-300}"
folds="${STUDY_FOLDS:-5}"
train_n="${TRAIN_N:-4}"
py="${DISA_PYTHON:-.venv/bin/python}"
cfg=$CONFIG_DIR  # configs/tiny unless CONFIG_DIR or SCALE says otherwise (jobs/common.sh)
for t in "${tasks[@]}"; do
  case "$t" in graph_paths | countdown) ;; *) disa_die "STUDY_TASKS: '$t' is not a listable task (graph_paths, countdown)" ;; esac
done
for v in "${ns[@]}" "${seeds[@]}" "$prompts" "$folds" "$train_n" "$np"; do
  [[ "$v" =~ ^[0-9]+$ ]] || disa_die "'$v' is not a non-negative integer (STUDY_NS, DISA_SEEDS, STUDY_PROMPTS, STUDY_FOLDS, TRAIN_N, DISA_NP)"
done

# The task options. graph_paths: the tiny scale's (4 nodes, edge probability 0.6; at most
# 452 distinct train prompts). countdown: 3 operands from 1..9 (1..18 correct strings per
# prompt, responses of at most 9 characters: listable, and within 16 new tokens).
task_opts() {
  case "$1" in
    graph_paths) echo "--task.name graph_paths ${GRAPH_PATHS_OPTS---task.graph-nodes 4 --task.graph-edge-probability 0.6}" ;;
    countdown) echo "--task.name countdown --task.countdown-operands 3 --task.countdown-max-number 9" ;;
  esac
}
reference_of() {
  case "$1" in
    graph_paths) echo "${REFERENCE:-$out/reference-graph_paths}" ;;
    countdown) echo "${COUNTDOWN_REFERENCE:-$out/reference-countdown}" ;;
  esac
}

start=$(date +%s)
# shellcheck source=jobs/run-step.sh
source jobs/run-step.sh
run() { disa_run_step "$@"; }  # run NAME COMMAND...: one step, timed, logged to OUT/logs/NAME.log
# shellcheck disable=SC2086
mpirun_np() { mpirun $DISA_MPIRUN_FLAGS -np "$np" "$@"; }
has_stage() { [[ " $stages " == *" $1 "* ]]; }
if ! disa_dry_run; then
  [ -x "$DISA_BIN" ] || disa_die "no disa binary at '$DISA_BIN' (build it, or set DISA_BIN)"
  mkdir -p "$out"
fi

if has_stage reference; then
  made_init=0
  for t in "${tasks[@]}"; do
    if [ "$t" = graph_paths ] && [ -n "${REFERENCE:-}" ]; then continue; fi
    if [ "$t" = countdown ] && [ -n "${COUNTDOWN_REFERENCE:-}" ]; then continue; fi
    if [ "$made_init" = 0 ]; then
      if ! disa_dry_run; then rm -rf "${out:?}/init"; fi
      run init "$DISA_BIN" model init --arch qwen2 --size tiny --seed 3 --out "$out/init"
      made_init=1
    fi
    if ! disa_dry_run; then rm -rf "${out:?}/reference-$t"; fi
    # shellcheck disable=SC2046
    run "warm-start-$t" mpirun_np "$DISA_BIN" warm-start --config "$cfg/warm-start.ini" $(task_opts "$t") \
      --warm-start.model "$out/init" --warm-start.out "$(reference_of "$t")"
  done
fi
if has_stage anchor; then
  for t in "${tasks[@]}"; do
    for n in "${ns[@]}"; do
      dir=$out/$t/n-$n
      if ! disa_dry_run; then mkdir -p "$dir" && rm -f "$dir/anchors.h5"; fi
      # The same seed for every N: sample i of a prompt is the same draw in every file
      # (its stream depends on (seed, prompt, i) alone), so the N-sample files are nested.
      # shellcheck disable=SC2046
      run "anchor-$t-n$n" mpirun_np "$DISA_BIN" anchor --config "$cfg/anchor.ini" $(task_opts "$t") \
        --task.count "$prompts" --anchor.reference "$(reference_of "$t")" --anchor.samples "$n" \
        --anchor.bootstrap 0 --anchor.out "$dir/anchors.h5"
    done
  done
fi
if has_stage fit; then
  for t in "${tasks[@]}"; do
    for n in "${ns[@]}"; do
      dir=$out/$t/n-$n
      if ! disa_dry_run; then rm -f "$dir/regressor.h5"; fi
      run "fit-$t-n$n" mpirun_np "$DISA_BIN" anchor fit --fit.anchors "$dir/anchors.h5" \
        --fit.folds "$folds" --fit.out "$dir/regressor.h5"
    done
  done
fi
if has_stage train; then
  dir=$out/graph_paths/n-$train_n
  steps=()
  if [ -n "${TRAIN_STEPS:-}" ]; then steps=(--train.steps "$TRAIN_STEPS"); fi
  for a in "${train_anchors[@]}"; do
    case "$a" in raw | exact) extra=() ;; shrinkage | regressor) extra=(--disa.regressor "$dir/regressor.h5") ;;
      *) disa_die "TRAIN_ANCHORS: '$a' is not one of raw shrinkage exact regressor" ;; esac
    for s in "${seeds[@]}"; do
      if ! disa_dry_run; then rm -rf "${out:?}/train/$a/seed-$s"; fi
      # shellcheck disable=SC2046
      run "train-$a-seed-$s" mpirun_np "$DISA_BIN" train --config "$cfg/train-disa.ini" $(task_opts graph_paths) \
        --task.count "$prompts" --train.model "$(reference_of graph_paths)" --train.anchors "$dir/anchors.h5" \
        --disa.anchor "$a" "${extra[@]}" --train.seed "$s" "${steps[@]}" --train.out "$out/train/$a/seed-$s"
    done
  done
fi
elapsed=$(($(date +%s) - start))
if has_stage report; then
  run report "$py" tools/regressor_study.py "$out" --train-n "$train_n" --wall-time "$elapsed" -o "$out/report"
  if ! disa_dry_run; then cat "$out/report/regressor_study.md"; fi
fi
echo "regressor-study: done in $(($(date +%s) - start)) s; outputs in $out/ (report: $out/report/regressor_study.md)"
