# shellcheck shell=bash
# Sourced helper of the Slurm job scripts (jobs/*.sbatch, jobs/sweep-*.sh) and of
# jobs/submit-pipeline.sh and jobs/mpirun-stage.sh: where things are (DISA_BIN, SCALE,
# CONFIG_DIR, RUN_DIR, REFERENCE), the refusal to run a batch script outside an sbatch job,
# the dry-run mode (DISA_DRY_RUN=1 prints the srun/sbatch/mpirun lines instead of running
# them, and needs no Slurm), the job banner, the srun launcher and the requeue of a job
# whose stage stopped with a resumable checkpoint (exit code 75).
# The caller sets DISA_ROOT (the repository) and DISA_SCRIPT (its own name for messages).
#
# Environment (all optional; paths relative to DISA_ROOT, where the jobs run):
#   DISA_BIN         the disa binary                         [$DISA_ROOT/build/disa]
#   SCALE            configuration scale: tiny, gpu-1.5b, gpu-7b           [tiny]
#   CONFIG_DIR       the stage INI files                     [configs/$SCALE]
#   CONFIG           one stage's INI file (overrides CONFIG_DIR/<stage>.ini; per job only)
#   RUN_DIR          outputs of the pipeline                 [runs/$SCALE]
#   REFERENCE        the reference pi_ref (HF model directory)
#                    [$RUN_DIR/reference when CONFIG_DIR has warm-start.ini; else required]
#   DEVICE           auto, cpu or cuda -> --<stage>.device   [the INI's; default auto]
#   THREADS          CPU threads per rank -> --<stage>.threads [$SLURM_CPUS_PER_TASK]
#   RESUME           1: pass --anchor.resume / --train.resume / --eval.resume (continue after a requeue,
#                    a time limit or a crash, with any rank count); 0: start afresh  [1]
#   DISA_ENV         1: run `disa env` on all ranks before the stage (logs CUDA/NCCL/MPI)  [1]
#   DISA_SRUN_MPI    srun --mpi plugin of the site (`srun --mpi=list`; empty: none)  [pmix]
#   DISA_SRUN_FLAGS  extra srun flags, word-split (e.g. "--cpu-bind=cores")
#   DISA_REQUEUE     1: when a stage run with its resume option exits with code 75 (it
#                    stopped on SIGTERM -- the --signal the batch scripts ask for ahead of
#                    the time limit, a preemption -- after writing a resumable checkpoint),
#                    requeue the job (scontrol requeue) so that it continues from there;
#                    0: the job ends with exit code 75 (resubmit it to continue)      [1]
#   DISA_DRY_RUN     1: print the commands instead of running them          [0]
#   DISA_LAUNCH      srun (a Slurm job) or mpirun: run the batch scripts on one node
#                    without Slurm, every stage as `mpirun $DISA_MPIRUN_FLAGS -np $DISA_NP`
#                    (jobs/mpirun-flags.sh) and every array task of a sweep in turn
#                    (jobs/study.sh runs the sweeps this way)                 [srun]

DISA_SCRIPT=${DISA_SCRIPT:-jobs/$(basename "$0")}
DISA_ROOT=$(cd "${DISA_ROOT:?DISA_ROOT must be set before sourcing jobs/common.sh}" && pwd)
DISA_BIN=${DISA_BIN:-$DISA_ROOT/build/disa}
SCALE=${SCALE:-tiny}
CONFIG_DIR=${CONFIG_DIR:-configs/$SCALE}
RUN_DIR=${RUN_DIR:-runs/$SCALE}
RESUME=${RESUME:-1}
export DISA_ROOT DISA_BIN SCALE CONFIG_DIR RUN_DIR RESUME
# Relative paths in the INI files (data/..., configs/eval-judge-prompt.txt) and in the
# variables above are relative to the repository.
cd "$DISA_ROOT" || exit 2

disa_dry_run() { [ "${DISA_DRY_RUN:-0}" = 1 ]; }
disa_mpirun_launch() { [ "${DISA_LAUNCH:-srun}" = mpirun ]; }
if disa_mpirun_launch; then
  # shellcheck source=jobs/mpirun-flags.sh
  source "$DISA_ROOT/jobs/mpirun-flags.sh"
fi

disa_die() {  # disa_die MESSAGE...: print "SCRIPT: error: MESSAGE" and exit 2
  echo "$DISA_SCRIPT: error: $*" >&2
  exit 2
}

# Batch scripts run only under sbatch (or in dry-run mode, which prints what they would run).
disa_require_slurm() {
  if [ -z "${SLURM_JOB_ID:-}" ] && ! disa_dry_run && ! disa_mpirun_launch; then
    cat >&2 <<EOF
$DISA_SCRIPT: error: this is a Slurm batch script and SLURM_JOB_ID is not set: it was not started by sbatch.
  submit it:                     sbatch $DISA_SCRIPT ...   (from the repository root; logs go to logs/)
  print the srun lines it runs:  DISA_DRY_RUN=1 bash $DISA_SCRIPT ...
  one node without Slurm:        jobs/mpirun-stage.sh <stage> ...
EOF
    exit 2
  fi
}

disa_quote() {  # disa_quote ARGS...: the arguments as one shell-quoted line
  local line
  line=$(printf '%q ' "$@")
  printf '%s\n' "${line% }"
}

# disa_exec COMMAND...: dry run: print the exact command line; else print it with "+ "
# and run it (its exit status ends the job under set -e, so dependent jobs do not start).
disa_exec() {
  if disa_dry_run; then
    disa_quote "$@"
    return 0
  fi
  local t0 rc=0 what=$1 a
  for a in "$@"; do  # name the step by the disa command it runs
    if [ "$a" = "$DISA_BIN" ]; then what=disa; elif [ "$what" = disa ]; then what="disa $a"; break; fi
  done
  t0=$(date +%s)
  echo "+ $(disa_quote "$@")"
  "$@" || rc=$?
  echo "== $what: exit status $rc after $(($(date +%s) - t0)) s"
  return "$rc"
}

# disa_srun ARGS...: one job step on every task of the allocation (one rank per GPU).
# --cpus-per-task is passed explicitly: srun does not inherit it from sbatch since Slurm 22.05.
disa_srun() {
  if disa_mpirun_launch; then  # one node without Slurm: DISA_NP ranks
    local mflags
    read -r -a mflags <<<"$DISA_MPIRUN_FLAGS"
    disa_exec mpirun "${mflags[@]}" -np "${DISA_NP:-2}" "$@"
    return
  fi
  local flags=(--kill-on-bad-exit=1)
  # unset: pmix; set but empty: no --mpi flag (the site's MpiDefault)
  if [ -n "${DISA_SRUN_MPI-pmix}" ]; then flags=(--mpi="${DISA_SRUN_MPI-pmix}" "${flags[@]}"); fi
  if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then flags+=(--cpus-per-task="$SLURM_CPUS_PER_TASK"); fi
  if [ -n "${DISA_SRUN_FLAGS:-}" ]; then
    local extra
    read -r -a extra <<<"$DISA_SRUN_FLAGS"
    flags+=("${extra[@]}")
  fi
  local rc=0
  disa_exec srun "${flags[@]}" "$@" || rc=$?
  if [ "$rc" = "$DISA_EXIT_RESUMABLE" ]; then disa_requeue "$@"; fi
  return "$rc"
}

# Exit code of a stage that stopped on SIGTERM after writing a resumable checkpoint
# (EX_TEMPFAIL; docs/runtime.md).
DISA_EXIT_RESUMABLE=75

# disa_requeue DISA_COMMAND...: called when a stage exited with DISA_EXIT_RESUMABLE. When
# DISA_REQUEUE=1 (the default) and the stage ran with its resume option (--anchor.resume,
# --train.resume, ...: RESUME=1), requeues this job (scontrol requeue: Slurm ends it and
# starts it again, with the same job id, when resources are free; the stage continues from
# its checkpoint) and exits 0. Otherwise, or when the requeue is refused, it says so and
# returns: the job ends with exit code 75 and the jobs that depend on it do not start.
disa_requeue() {
  local why="the stage stopped on a signal after writing a resumable checkpoint (exit code $DISA_EXIT_RESUMABLE)"
  local a resumes=0
  for a in "$@"; do
    case "$a" in --*.resume) resumes=1 ;; esac
  done
  if [ -z "${SLURM_JOB_ID:-}" ]; then return 0; fi
  if [ "${DISA_REQUEUE:-1}" != 1 ]; then
    echo "== $why; DISA_REQUEUE=$DISA_REQUEUE: the job is not requeued (resubmit it with RESUME=1 to continue)"
    return 0
  fi
  if [ "$resumes" = 0 ]; then
    echo "== $why; it ran without its resume option (RESUME=$RESUME), so a requeued job would start afresh: not requeued (resubmit it with RESUME=1 to continue)"
    return 0
  fi
  echo "== $why: scontrol requeue $SLURM_JOB_ID (the job starts again and continues from the checkpoint)"
  if scontrol requeue "$SLURM_JOB_ID"; then exit 0; fi
  echo "$DISA_SCRIPT: error: scontrol requeue $SLURM_JOB_ID failed (is the job requeueable? sbatch --requeue, the site's JobRequeue): resubmit it with RESUME=1 to continue" >&2
  return 0
}

# disa_config FILE: sets CONFIG to $CONFIG (if set) or CONFIG_DIR/FILE, which must exist.
disa_config() {
  CONFIG=${CONFIG:-$CONFIG_DIR/$1}
  if [ ! -f "$CONFIG" ]; then
    disa_die "no configuration '$CONFIG' (scale '$SCALE'; set SCALE, CONFIG_DIR or CONFIG; configs/README.md lists them)"
  fi
}

# disa_reference: sets REFERENCE (the warm start's output, or a released model at scales
# without warm-start.ini, which the user must name).
disa_reference() {
  if [ -z "${REFERENCE:-}" ]; then
    if [ -f "$CONFIG_DIR/warm-start.ini" ]; then
      REFERENCE=$RUN_DIR/reference
    else
      disa_die "set REFERENCE=/path/to/model: at scale '$SCALE' ($CONFIG_DIR has no warm-start.ini) the reference pi_ref is a released instruct model directory (see $CONFIG_DIR/anchor.ini)"
    fi
  fi
  export REFERENCE
}

# disa_stage_opts STAGE: sets the array DISA_STAGE_OPTS to the per-rank resource options
# of a stage: --STAGE.threads (CPUs per rank) and --STAGE.device when DEVICE is set.
disa_stage_opts() {
  DISA_STAGE_OPTS=()
  local threads=${THREADS:-${SLURM_CPUS_PER_TASK:-}}
  if [ -n "$threads" ]; then DISA_STAGE_OPTS+=("--$1.threads" "$threads"); fi
  if [ -n "${DEVICE:-}" ]; then DISA_STAGE_OPTS+=("--$1.device" "$DEVICE"); fi
}

disa_hosts() {  # the job's host names, space-separated
  local list=${SLURM_JOB_NODELIST:-${SLURM_NODELIST:-}}
  if [ -z "$list" ]; then
    echo "${HOSTNAME:-localhost}"
  elif command -v scontrol >/dev/null 2>&1 && scontrol show hostnames "$list" >/dev/null 2>&1; then
    scontrol show hostnames "$list" | paste -sd' ' -
  else
    echo "$list"
  fi
}

# disa_banner: job id, hosts, nodes and world size, printed at the start of every job
# (before anything can fail); the script then prints a "== <what>" line of its own.
disa_banner() {
  local mode=""
  if disa_dry_run; then mode=" (dry run: the commands are printed, not run)"; fi
  echo "== $DISA_SCRIPT$mode"
  echo "job id:      ${SLURM_JOB_ID:-none}${SLURM_ARRAY_TASK_ID:+ (array job ${SLURM_ARRAY_JOB_ID:-?}, task $SLURM_ARRAY_TASK_ID)}"
  echo "hosts:       $(disa_hosts)"
  echo "nodes:       ${SLURM_JOB_NUM_NODES:-${SLURM_NNODES:-1}}"
  echo "world size:  ${SLURM_NTASKS:-?} ranks (${SLURM_NTASKS_PER_NODE:-?} per node; ${SLURM_CPUS_PER_TASK:-?} CPUs per rank)"
  echo "GPUs:        ${SLURM_GPUS_ON_NODE:-${SLURM_GPUS_PER_NODE:-none requested}} per node; device ${DEVICE:-from the INI (auto)}"
  echo "binary:      $DISA_BIN"
  echo "scale:       $SCALE ($CONFIG_DIR); run dir $RUN_DIR"
  echo "started:     $(date '+%Y-%m-%d %H:%M:%S')"
}

# disa_prepare: the run directory, and `disa env` on every rank (build, CUDA, NCCL, MPI,
# node-local ranks) so that the log says where the job ran.
disa_prepare() {
  if ! disa_dry_run; then
    mkdir -p "$RUN_DIR"
    if [ ! -x "$DISA_BIN" ]; then disa_die "no disa binary at '$DISA_BIN' (build it, or set DISA_BIN)"; fi
  fi
  if [ "${DISA_ENV:-1}" = 1 ]; then disa_srun "$DISA_BIN" env; fi
}

# disa_array_tasks COUNT: the indices of a job array's list of COUNT values that this job
# runs: SLURM_ARRAY_TASK_ID (which must be below COUNT), or all of them in dry-run mode
# outside an array job.
disa_array_tasks() {
  local n=$1
  if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
    if [ "$SLURM_ARRAY_TASK_ID" -ge "$n" ]; then
      disa_die "array task $SLURM_ARRAY_TASK_ID, but the list has $n values: submit with sbatch --array=0-$((n - 1)) $DISA_SCRIPT"
    fi
    echo "$SLURM_ARRAY_TASK_ID"
  elif disa_dry_run || disa_mpirun_launch; then
    seq 0 $((n - 1)) | paste -sd' ' -
  else
    disa_die "not an array job (SLURM_ARRAY_TASK_ID is not set): submit with sbatch --array=0-$((n - 1)) $DISA_SCRIPT"
  fi
}
