#!/usr/bin/env bash
# Submits the whole pipeline as Slurm jobs chained with --dependency=afterok, from a login
# node, and prints the job ids:
#   warm-start (only where CONFIG_DIR has warm-start.ini) -> anchor -> train ALGORITHM (one
#   job each) -> eval ALGORITHM (one job each); and eval of the reference itself after
#   warm-start.
# A job starts only when the one it reads from ended successfully; if a stage fails, the
# jobs after it stay pending with reason DependencyNeverSatisfied (scancel them, fix, and
# resubmit from that stage: STAGES=...). Each job's resources come from its #SBATCH header.
#   jobs/submit-pipeline.sh                        (run it from anywhere; jobs run in the repo)
#   SCALE=gpu-7b REFERENCE=/models/Qwen2.5-7B-Instruct jobs/submit-pipeline.sh
#   DISA_DRY_RUN=1 SCALE=gpu-1.5b REFERENCE=/m/ref jobs/submit-pipeline.sh   (print the sbatch lines)
# Environment: SCALE, CONFIG_DIR, RUN_DIR, REFERENCE, DISA_BIN, DEVICE, ... (jobs/common.sh;
# exported to the jobs, as sbatch exports the environment by default), and
#   ALGORITHMS         the trainings                      ["disa flowrl grpo gspo sft"]
#   STAGES             the stages to submit               ["warm-start anchor train eval"]
#   EVAL_REFERENCE     1: also evaluate the reference     [1 when STAGES has warm-start or anchor]
#   DISA_SBATCH_ARGS   extra sbatch options for every job, word-split
#                      (e.g. "--account=abc --partition=gpu --nodes=2"; Slurm's own SBATCH_*
#                      input variables such as SBATCH_ACCOUNT work too)
#   AFTER              a job id the first submitted job waits for (afterok)
set -euo pipefail
DISA_SCRIPT=jobs/submit-pipeline.sh
DISA_ROOT=${DISA_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# shellcheck source=jobs/common.sh
source "$DISA_ROOT/jobs/common.sh"

if [ -n "${CONFIG:-}" ]; then
  disa_die "CONFIG names one stage's file and would apply to every job: use CONFIG_DIR (or SCALE) here"
fi
read -r -a algorithms <<<"${ALGORITHMS:-disa flowrl grpo gspo sft}"
read -r -a stages <<<"${STAGES:-warm-start anchor train eval}"
read -r -a sbatch_args <<<"${DISA_SBATCH_ARGS:-}"
has_stage() {
  local s
  for s in "${stages[@]}"; do if [ "$s" = "$1" ]; then return 0; fi; done
  return 1
}

# Everything is checked before the first job is submitted.
do_warm_start=0
if has_stage warm-start && [ -f "$CONFIG_DIR/warm-start.ini" ]; then do_warm_start=1; fi
disa_reference
if has_stage anchor; then disa_config anchor.ini && unset CONFIG; fi
if has_stage train; then
  for a in "${algorithms[@]}"; do
    case "$a" in
      disa | flowrl | grpo | gspo | sft) ;;
      *) disa_die "unknown algorithm '$a' in ALGORITHMS (disa, flowrl, grpo, gspo or sft)" ;;
    esac
    disa_config "train-$a.ini" && unset CONFIG
  done
fi
if has_stage eval; then disa_config eval.ini && unset CONFIG; fi
if ! disa_dry_run; then
  command -v sbatch >/dev/null 2>&1 || disa_die "sbatch not found: run this on a Slurm login node (or DISA_DRY_RUN=1 to print the sbatch lines)"
  [ -x "$DISA_BIN" ] || disa_die "no disa binary at '$DISA_BIN' (build it first, or set DISA_BIN)"
  mkdir -p logs "$RUN_DIR"
fi

fake_id=900000
submitted=()
# submit NAME DEPENDENCY SCRIPT [ARGS...]: sbatch one job; sets JOB to its id.
submit() {
  local name=$1 dep=$2
  shift 2
  local cmd=(sbatch --parsable --job-name="$name")
  if [ -n "$dep" ]; then cmd+=(--dependency="afterok:$dep"); fi
  cmd+=("${sbatch_args[@]}" "$@")
  if disa_dry_run; then
    fake_id=$((fake_id + 1))
    JOB=$fake_id
    disa_quote "${cmd[@]}"
  else
    echo "+ $(disa_quote "${cmd[@]}")"
    JOB=$("${cmd[@]}")
    JOB=${JOB%%;*}
  fi
  submitted+=("$name $JOB")
}

echo "== $DISA_SCRIPT: scale $SCALE ($CONFIG_DIR), run dir $RUN_DIR, reference $REFERENCE$(disa_dry_run && echo ' (dry run: job ids are placeholders)')"
JOB=${AFTER:-}
warm_start_job=${AFTER:-}
if [ "$do_warm_start" = 1 ]; then
  submit disa-warm-start "$JOB" jobs/warm-start.sbatch
  warm_start_job=$JOB
fi
anchor_job=$warm_start_job
if has_stage anchor; then
  submit disa-anchor "$warm_start_job" jobs/anchor.sbatch
  anchor_job=$JOB
fi
eval_reference=0
if has_stage warm-start || has_stage anchor; then eval_reference=1; fi
if has_stage eval && [ "${EVAL_REFERENCE:-$eval_reference}" = 1 ]; then
  submit disa-eval-reference "$warm_start_job" jobs/eval.sbatch reference
fi
for a in "${algorithms[@]}"; do
  train_job=$anchor_job
  if has_stage train; then
    submit "disa-train-$a" "$anchor_job" jobs/train.sbatch "$a"
    train_job=$JOB
  fi
  if has_stage eval; then submit "disa-eval-$a" "$train_job" jobs/eval.sbatch "$a"; fi
done

echo "== submitted jobs (name id):"
printf '%s\n' "${submitted[@]}"
echo "== watch: squeue -u \$USER; logs: logs/<name>_<id>.out; outputs: $RUN_DIR/"
