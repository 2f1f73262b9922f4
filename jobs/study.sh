#!/usr/bin/env bash
# The study (issue 16, item 6): bigger than the embedded default, on one node with mpirun
# (2 ranks), within about 60 minutes on a 2-core machine. Configurations, and why each dial
# has its value (pilot timings): configs/study/README.md. Report: OUT/report/study.md;
# docs/study.md describes it.
#   pipeline        jobs/pipeline.sh on configs/study: a 0.78M-parameter qwen2
#                   (configs/study/model.json) warm-started on 5-node graph paths, the
#                   anchors, the sensitivity study files, disa/flowrl/grpo/gspo/sft x the
#                   seeds of DISA_SEEDS, the evaluation on the test prompts, report/results.md
#   sweep-beta      jobs/sweep-beta.sh (DISA_LAUNCH=mpirun): DISA anchored and trained at each
#                   beta of the matched-sharpness grid (tools/matched_sharpness.py
#                   --choose-betas: p*(C) brackets FlowRL's pi(C) on the eval prompts), and
#                   anchors only at the betas of SENS_BETAS; then each trained policy
#                   evaluated (MATCH_SEEDS) -> OUT/sweep-beta/beta-<B>/{anchors.h5,train/,train-seed-<s>/,eval/seed-<s>.h5}
#   sweep-proposal  jobs/sweep-proposal.sh: q = pi_ref, the strong model (OUT/strong) and
#                   the mixtures of ALPHAS -> OUT/sweep-proposal/<name>/anchors.h5
#   regressor       jobs/regressor-study.sh on the study's reference and task
#                   -> OUT/regressor-study/ (report/regressor_study.md)
#   matched         tools/matched_sharpness.py: DISA_beta vs FlowRL against p*_beta
#                   -> OUT/report/matched/
#   report          tools/study_report.py -> OUT/report/study.md (with DISA_DOCS=1 also
#                   docs/study.md and docs/study/: the only way this job touches tracked files)
# Every stage prints its wall time and appends it to OUT/logs/stage_times.tsv; name stages to
# rerun only those: jobs/study.sh runs/study matched report.
# Usage: jobs/study.sh [OUT_DIR] [STAGE...]                                       [runs/study]
# Environment (all optional):
#   DISA_BIN, DISA_NP [2], DISA_PYTHON [.venv/bin/python], DISA_SEEDS ["1 2 3"],
#   DISA_ALGORITHMS ["disa flowrl grpo gspo sft"]       as jobs/pipeline.sh
#   STUDY_CONFIG_DIR   the stage INI files                                  [configs/study]
#   STUDY_SAMPLES      samples per prompt from pi_ref of the pipeline's study files  [128]
#   MATCH_COUNT        betas of the matched-sharpness grid (trained and evaluated)      [4]
#   MATCH_SEEDS        DISA's training seeds at each of them (jobs/sweep-beta.sh TRAIN_SEEDS;
#                      seed 1, train-disa.ini's own, is always among them)       [DISA_SEEDS]
#   MATCH_BETAS        that grid, given instead of chosen from FlowRL's pi(C)
#   SENS_BETAS         further betas anchored only, for the sensitivity overlay   ["1 8"]
#   ALPHAS             mixture weights of the proposal sweep                   ["0.5"]
#   REG_NS             samples per prompt of the regressor measurements    ["2 4 8 32"]
#   REG_PROMPTS        prompts of the regressor measurements                        [300]
#   REG_TRAIN_ANCHORS  anchors DISA is trained with there        ["raw shrinkage exact"]
#   REG_SEEDS          their training seeds                                      ["1 2 3"]
#   STUDY_SMOKE=1      tiny counts and steps everywhere (OUT/smoke-configs/, written from
#                      configs/study/): proves that every stage runs, in a few minutes
#   DISA_DOCS=1        also regenerate docs/study.md (refused with STUDY_SMOKE=1)
#   DISA_DRY_RUN=1     print the commands instead of running them (creates nothing)
set -euo pipefail
DISA_SCRIPT=jobs/study.sh
DISA_ROOT=${DISA_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# shellcheck source=jobs/common.sh
source "$DISA_ROOT/jobs/common.sh"
out="${1:-runs/study}"
shift || true
all="pipeline sweep-beta sweep-proposal regressor matched report"
stages="${*:-$all}"
for s in $stages; do
  [[ " $all " == *" $s "* ]] || disa_die "unknown stage '$s' ($all)"
done
py="${DISA_PYTHON:-.venv/bin/python}"
np="${DISA_NP:-2}"
smoke="${STUDY_SMOKE:-0}"
docs="${DISA_DOCS:-}"
if [ -n "$docs" ] && [ "$docs" != 1 ]; then disa_die "DISA_DOCS: 1 (regenerate docs/study.md) or empty, not '$docs'"; fi
if [ "$smoke" = 1 ] && [ -n "$docs" ]; then disa_die "DISA_DOCS=1 with STUDY_SMOKE=1: a smoke run does not regenerate docs/study.md"; fi
cfg="${STUDY_CONFIG_DIR:-configs/study}"
[ -f "$cfg/anchor.ini" ] || disa_die "no $cfg/anchor.ini (STUDY_CONFIG_DIR)"
seeds="${DISA_SEEDS:-1 2 3}"
match_count="${MATCH_COUNT:-4}"
sens_betas="${SENS_BETAS:-1 8}"
alphas="${ALPHAS:-0.5}"
reg_ns="${REG_NS:-2 4 8 32}"
reg_prompts="${REG_PROMPTS:-300}"
reg_anchors="${REG_TRAIN_ANCHORS:-raw shrinkage exact}"
reg_seeds="${REG_SEEDS:-1 2 3}"
# The pipeline's sensitivity files: 32 prompts, 128 samples from pi_ref and 64 from each
# other proposal (the pipeline's default 256 costs a minute more; configs/study/README.md).
pipe_env=("DISA_STUDY_SAMPLES=${STUDY_SAMPLES:-128}")
if [ "$smoke" = 1 ]; then
  # Smoke dials: every stage runs on a handful of prompts for a few steps.
  seeds="${DISA_SEEDS:-1 2}"
  match_count="${MATCH_COUNT:-2}"
  reg_seeds="${REG_SEEDS:-1}"
  sens_betas="${SENS_BETAS:-8}"
  reg_ns="${REG_NS:-2 4}"
  reg_prompts="${REG_PROMPTS:-24}"
  reg_anchors="${REG_TRAIN_ANCHORS:-raw shrinkage}"
  pipe_env=(DISA_STUDY_PROMPTS=8 DISA_STUDY_SAMPLES=16)
  smoke_cfg="$out/smoke-configs"
  if ! disa_dry_run; then
    mkdir -p "$smoke_cfg"
    cp "$cfg"/*.ini "$cfg"/model.json "$smoke_cfg/"
    sed -i -E 's/^steps = .*/steps = 3/; s/^count = .*/count = 24/; s/^exact-prompts = .*/exact-prompts = 8/;
      s/^prompts-per-step = .*/prompts-per-step = 4/; s/^group-size = .*/group-size = 4/; s/^batch-size = .*/batch-size = 8/;
      s/^checkpoint-every = .*/checkpoint-every = 3/; s/^exact-every = .*/exact-every = 3/; s/^log-every = .*/log-every = 1/' \
      "$smoke_cfg"/*.ini
    # 60 steps at the tiny scale's constant 3e-3: enough for some correct anchors (SFT needs them)
    sed -i -E 's/^steps = .*/steps = 60/; s/^eval-prompts = .*/eval-prompts = 16/; s/^lr = .*/lr = 0.003/;
      s/^schedule = .*/schedule = constant/' "$smoke_cfg/warm-start.ini"
    sed -i -E 's/^steps = .*/steps = 20/; s/^eval-prompts = .*/eval-prompts = 16/' "$smoke_cfg/warm-start-strong.ini"
    sed -i -E 's/^samples = .*/samples = 8/; s/^bootstrap = .*/bootstrap = 20/' "$smoke_cfg/anchor.ini"
    sed -i -E 's/^count = .*/count = 16/; s/^samples = .*/samples = 4/' "$smoke_cfg/eval.ini"
  fi
  cfg="$smoke_cfg"
fi

source jobs/mpirun-flags.sh
disa_dry_run || mkdir -p "$out/logs"
start=$(date +%s)
stage_start() {
  echo "=== study stage $1 ($(date '+%H:%M:%S'))"
  t0=$(date +%s)
}
stage_end() {
  local dt=$(($(date +%s) - t0))
  echo "=== study stage $1: $dt s"
  disa_dry_run || printf '%s\t%s\n' "$1" "$dt" >>"$out/logs/stage_times.tsv"
}
# quoted COMMAND...: run it (dry run: print it)
quoted() {
  if disa_dry_run; then disa_quote "$@"; else "$@"; fi
}
# logged NAME COMMAND...: run it with its output in OUT/logs/NAME.log, timed (dry run: print it)
# shellcheck source=jobs/run-step.sh
source jobs/run-step.sh
logged() { disa_run_step "$@"; }
has_stage() { [[ " $stages " == *" $1 "* ]]; }
if ! disa_dry_run && [[ " $stages " == *" pipeline "* ]]; then rm -f "$out/logs/stage_times.tsv"; fi
# The scripts of the other stages, with the study's configurations and outputs (env is
# passed explicitly: DISA_DOCS is the pipeline's docs path, never this job's flag).
sub_env=(env -u DISA_DOCS "DISA_BIN=$DISA_BIN" "DISA_NP=$np" "DISA_PYTHON=$py" "DISA_DRY_RUN=${DISA_DRY_RUN:-0}")
sweep_env=("${sub_env[@]}" DISA_LAUNCH=mpirun DISA_ENV=0 RESUME=0 SCALE=study "CONFIG_DIR=$cfg" "RUN_DIR=$out"
  "REFERENCE=$out/reference")
match_seeds="${MATCH_SEEDS:-$seeds}"
[[ " $match_seeds " == *" 1 "* ]] || match_seeds="1 $match_seeds"  # sweep-beta.sh's run is seed 1
flowrl_evals=()
for s in $seeds; do flowrl_evals+=(--flowrl "$out/eval/flowrl/seed-$s.h5"); done
betas_file="$out/logs/matched_betas.txt"

if has_stage pipeline; then
  stage_start pipeline
  "${sub_env[@]}" "DISA_CONFIG_DIR=$cfg" "DISA_SEEDS=$seeds" \
    "DISA_ALGORITHMS=${DISA_ALGORITHMS:-disa flowrl grpo gspo sft}" "${pipe_env[@]}" \
    bash jobs/pipeline.sh "$out"
  stage_end pipeline
fi
if has_stage sweep-beta; then
  stage_start sweep-beta
  # The matched-sharpness grid: from FlowRL's final pi(C) on the eval prompts.
  if [ -n "${MATCH_BETAS:-}" ]; then
    match_betas=$MATCH_BETAS
  elif disa_dry_run; then
    quoted "$py" tools/matched_sharpness.py --reference "$out/eval/reference.h5" "${flowrl_evals[@]}" \
      --choose-betas "$match_count"
    match_betas="0.5 1 2 4"
    echo "# (dry run: the grid is chosen by the line above when the job runs; shown with $match_betas)"
  else
    match_betas=$("$py" tools/matched_sharpness.py --reference "$out/eval/reference.h5" "${flowrl_evals[@]}" \
      --choose-betas "$match_count")
  fi
  # a rerun starts afresh (disa anchor and disa train refuse to overwrite their outputs)
  disa_dry_run || { rm -rf "${out:?}/sweep-beta" && echo "$match_betas" >"$betas_file"; }
  echo "== matched-sharpness betas: $match_betas; anchors only: $sens_betas"
  "${sweep_env[@]}" "BETAS=$match_betas" SWEEP_TRAIN=1 "TRAIN_SEEDS=$match_seeds" bash jobs/sweep-beta.sh
  anchor_only=""
  for b in $sens_betas; do [[ " $match_betas " == *" $b "* ]] || anchor_only+=" $b"; done
  if [ -n "$anchor_only" ]; then
    "${sweep_env[@]}" "BETAS=${anchor_only# }" SWEEP_TRAIN=0 bash jobs/sweep-beta.sh
  fi
  # every seed's policy (train/ for seed 1, train-seed-<s>/) evaluated -> beta-B/eval/seed-<s>.h5
  for b in $match_betas; do
    d="$out/sweep-beta/beta-$b"
    disa_dry_run || mkdir -p "$d/eval"
    for s in $match_seeds; do
      policy="$d/train/policy"
      [ "$s" = 1 ] || policy="$d/train-seed-$s/policy"
      logged "eval-beta-$b-seed-$s" mpirun_np "$DISA_BIN" eval --config "$cfg/eval.ini" \
        --eval.model "$policy" --eval.reference "$out/reference" --eval.out "$d/eval/seed-$s.h5"
    done
  done
  stage_end sweep-beta
fi
if has_stage sweep-proposal; then
  stage_start sweep-proposal
  disa_dry_run || rm -rf "${out:?}/sweep-proposal"
  "${sweep_env[@]}" "STRONG_MODEL=$out/strong" "ALPHAS=$alphas" bash jobs/sweep-proposal.sh
  stage_end sweep-proposal
fi
if has_stage regressor; then
  stage_start regressor
  "${sub_env[@]}" "CONFIG_DIR=$cfg" "REFERENCE=$out/reference" STUDY_TASKS=graph_paths GRAPH_PATHS_OPTS= \
    "STUDY_NS=$reg_ns" "STUDY_PROMPTS=$reg_prompts" "TRAIN_ANCHORS=$reg_anchors" "DISA_SEEDS=$reg_seeds" \
    "TRAIN_N=$(echo "$reg_ns" | awk '{print $2 ? $2 : $1}')" \
    bash jobs/regressor-study.sh "$out/regressor-study" anchor fit train report
  stage_end regressor
fi
if has_stage matched; then
  stage_start matched
  if disa_dry_run; then match_betas=${MATCH_BETAS:-0.5 1 2 4}
  elif [ -f "$betas_file" ]; then match_betas=$(cat "$betas_file")
  else disa_die "no $betas_file: run the sweep-beta stage first"; fi
  disa_args=()
  for b in $match_betas; do
    for s in $match_seeds; do disa_args+=(--disa "$b=$out/sweep-beta/beta-$b/eval/seed-$s.h5"); done
  done
  logged matched "$py" tools/matched_sharpness.py --reference "$out/eval/reference.h5" "${flowrl_evals[@]}" \
    "${disa_args[@]}" -o "$out/report/matched"
  stage_end matched
fi
if has_stage report; then
  stage_start report
  report_args=()
  [ "$smoke" = 1 ] && report_args+=(--smoke)
  [ "$docs" = 1 ] && report_args+=(--docs docs/study.md)
  logged report "$py" tools/study_report.py "$out" "${report_args[@]}"
  stage_end report
fi
echo "study: done in $(($(date +%s) - start)) s; outputs in $out/ (report: $out/report/study.md)"
