#!/usr/bin/env bash
# A real single-node Slurm test of the job scripts (called by .ci/run after tools/test.sh).
# It installs Debian's Slurm (22.05) and munge when missing, starts a private munged,
# slurmctld and slurmd (its own key, ports, state, spool and logs in a temporary directory;
# nothing of the system's configuration is read or changed), and checks on this node:
#   * srun --mpi=list offers pmix, and `srun -n 2 disa smoke` forms one 2-rank MPI world
#     through PMIx (communicator and parallel HDF5);
#   * a stage that fails (an unknown option in train-disa.ini) fails its job, the job's log
#     names the failing step (`== disa train: exit status N`) and the error, and the job that
#     depends on it stays pending with reason DependencyNeverSatisfied;
#   * jobs/submit-pipeline.sh on the embedded default (configs/tiny, ALGORITHMS="disa sft":
#     warm-start -> anchor -> train x2 -> eval x2, and eval of the reference) runs to the end,
#     every job COMPLETED with exit code 0; meanwhile the running anchor job (after 2 rounds)
#     and the running disa training (after its step-30 checkpoint) are requeued with
#     `scontrol requeue` (which sends SIGTERM: each stops at its next boundary with a
#     checkpoint), and each resumes (RESUME=1): the anchor redoes only the missing
#     batches, the training continues from the step it stopped at (>= 30); and the running sft training gets
#     SIGTERM (scancel --signal=TERM, as at a time limit): it checkpoints, exits 75, the
#     batch script requeues its own job, and the training continues;
#   * the results equal those of the uninterrupted mpirun pipeline (jobs/pipeline.sh, the same
#     stages, 2 ranks): the warm-started reference bitwise, the partition file's trajectories
#     bitwise (canonical order) and anchors/diagnostics to 1e-12 relative, each training's
#     train.h5 metrics (all but the timings) and final policy bitwise (docs/train.md: resume
#     is bitwise on CPU), and every eval file (.h5, .md, .json) exists with samples and
#     metrics equal to the pipeline's.
# Prints one PASS/FAIL line per check and a summary line; exits 1 when any check failed
# (2 when it could not run). Every wait is bounded; the daemons it started are stopped (by
# pid) on exit. It writes nothing in the repository: runs and logs go to the working
# directory.
# Usage: tools/slurm-test.sh      (as root, or with passwordless sudo; needs build/disa)
# Environment:
#   DISA_BIN            the disa binary                              [build/disa]
#   DISA_PYTHON         a Python with h5py and numpy                 [.venv/bin/python]
#   SLURM_TEST_DIR      working directory, created (must not exist)  [mktemp -d /tmp/disa-slurm-test.XXXXXX]
#   SLURM_TEST_KEEP     1: keep the working directory (else removed, unless a check failed)
#   SLURM_TEST_TIMEOUT  seconds the pipeline's jobs may take in all   [900]
#   SLURM_TEST_INSTALL  0: do not install missing packages (fail)    [1]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
me=tools/slurm-test.sh
t_start=$(date +%s)

if [ "$(id -u)" != 0 ]; then
  # slurmd must run as root to start jobs; so does the package installation.
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    exec sudo -n -E bash "$root/$me" "$@"
  fi
  echo "$me: error: needs root (slurmd and apt-get) or passwordless sudo" >&2
  exit 2
fi

DISA_BIN=$(realpath -m "${DISA_BIN:-$root/build/disa}")
PY=${DISA_PYTHON:-$root/.venv/bin/python}
timeout_chain=${SLURM_TEST_TIMEOUT:-900}
# The run is outside any Slurm job and ignores the caller's job-script settings.
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(SLURM_|SBATCH_|SALLOC_|SRUN_|DISA_|NCCL_)' || true)
for v in SCALE CONFIG CONFIG_DIR RUN_DIR REFERENCE ALGORITHM ALGORITHMS DEVICE THREADS RESUME \
  POLICY EVAL_OUT TRAIN_OUT ANCHORS INIT_MODEL INIT_ARGS INIT_POLICY STAGES EVAL_REFERENCE AFTER WARM_START_OUT; do
  unset "$v"
done
export DISA_PYTHON=$PY

passed=0
failed=0
pass() {
  echo "PASS: $*"
  passed=$((passed + 1))
}
fail() {
  echo "FAIL: $*"
  failed=$((failed + 1))
}
die() {  # die MESSAGE: the test cannot go on (counts as a failed check)
  fail "$*"
  exit 1
}
log_tail() {  # log_tail FILE: its last lines, indented
  if [ -f "$1" ]; then tail -n "${2:-25}" "$1" | sed 's/^/    | /'; else echo "    (no file $1)"; fi
}

W=""
versions=""
# jobs/submit-pipeline.sh creates logs/ in the repository (ignored by git; the jobs' logs go
# to the working directory here): removed at the end when it was not there before and is empty.
logs_existed=0
if [ -e "$root/logs" ]; then logs_existed=1; fi
daemon_pids=()  # munged slurmctld slurmd, in start order
stop_daemons() {
  if [ ${#daemon_pids[@]} -gt 1 ]; then
    # End our jobs first (proctrack/linuxproc: slurmd kills the processes it tracks).
    local ids
    ids=$(squeue -h -o %i 2>/dev/null | paste -sd' ' -) || true
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086
      scancel $ids 2>/dev/null || true
      local t=0
      while [ -n "$(squeue -h -o %i 2>/dev/null)" ] && [ "$t" -lt 30 ]; do
        sleep 1
        t=$((t + 1))
      done
    fi
  fi
  local i pid t
  for ((i = ${#daemon_pids[@]} - 1; i >= 0; i--)); do
    pid=${daemon_pids[$i]}
    kill -TERM "$pid" 2>/dev/null || continue
    t=0
    while kill -0 "$pid" 2>/dev/null && [ "$t" -lt 100 ]; do
      sleep 0.1
      t=$((t + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    wait "$pid" 2>/dev/null || true
  done
  daemon_pids=()
}
finish() {
  local rc=$?
  trap - EXIT INT TERM
  stop_daemons
  if [ "$logs_existed" = 0 ]; then rmdir "$root/logs" 2>/dev/null || true; fi
  if [ "$rc" != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
  local verdict=PASSED
  if [ "$failed" != 0 ]; then verdict=FAILED; fi
  local where=""
  if [ -n "$W" ]; then
    if [ "${SLURM_TEST_KEEP:-0}" = 1 ] || [ "$failed" != 0 ]; then
      where="; working directory kept: $W"
    else
      rm -rf "$W"
    fi
  fi
  echo "slurm-test: $verdict: $passed checks passed, $failed failed; wall time $(($(date +%s) - t_start)) s; ${versions:-Slurm not installed}$where"
  if [ "$rc" != 0 ]; then exit "$rc"; fi
  if [ "$failed" != 0 ]; then exit 1; fi
  exit 0
}
trap finish EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- packages
packages=(slurmctld slurmd slurm-client slurm-wlm-basic-plugins munge libpmix2)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then missing+=("$p"); fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "${SLURM_TEST_INSTALL:-1}" = 0 ]; then
    echo "$me: error: missing packages ${missing[*]} (SLURM_TEST_INSTALL=0)" >&2
    exit 2
  fi
  echo "$me: apt-get install ${missing[*]}"
  # The packages' maintainer scripts would start the system's munge and Slurm services:
  # a policy-rc.d that denies service starts (unless one is there) keeps them stopped.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    made_policy=1
  fi
  install_rc=0
  (export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}") || install_rc=$?
  if [ "$made_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
  if [ "$install_rc" != 0 ]; then
    echo "$me: error: apt-get install ${missing[*]} failed (exit status $install_rc)" >&2
    exit 2
  fi
fi
pkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo '?'; }
slurm_version=$(slurmd -V 2>/dev/null | awk '{ print $2 }' || true)
versions="Slurm ${slurm_version:-?} (slurmd $(pkg_version slurmd)), munge $(pkg_version munge), PMIx $(pkg_version libpmix2)"
echo "== $me: $versions"

[ -x "$DISA_BIN" ] || { echo "$me: error: no disa binary at $DISA_BIN (build it first: bash tools/build.sh, or set DISA_BIN)" >&2; exit 2; }
"$PY" -c 'import h5py, numpy' 2>/dev/null || { echo "$me: error: $PY cannot import h5py and numpy (run tools/install-deps.sh, or set DISA_PYTHON)" >&2; exit 2; }
ncpu=$(nproc)
if [ "$ncpu" -lt 2 ]; then
  echo "$me: error: the pipeline runs 2 ranks with a CPU each; this machine has $ncpu CPU" >&2
  exit 2
fi
# jobs/pipeline.sh runs 2 ranks with the default threads (hardware threads / ranks per node):
# the Slurm jobs get as many CPUs per task, so that both runs compute with equal thread counts.
cpt=$((ncpu / 2))

# ---------------------------------------------------------------- working directory, cleanup
if [ -n "${SLURM_TEST_DIR:-}" ]; then
  W=$(realpath -m "$SLURM_TEST_DIR")
  if [ -e "$W" ]; then echo "$me: error: SLURM_TEST_DIR=$W exists; name a new directory" >&2; exit 2; fi
  mkdir -p "$W"
else
  W=$(mktemp -d /tmp/disa-slurm-test.XXXXXX)
fi
chmod 755 "$W"
case "$W" in *[[:space:]]*) echo "$me: error: the working directory '$W' has white space" >&2; exit 2 ;; esac


# ---------------------------------------------------------------- configuration, daemons
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=$((20000 + $$ % 20000))
while ! { port_free "$port" && port_free $((port + 1)); }; do port=$((port + 2)); done
host=$(hostname -s)
node_line=$(slurmd -C 2>/dev/null | head -n 1)
case "$node_line" in NodeName=*" CPUs="*) ;; *) die "slurmd -C printed no node line: '$node_line'" ;; esac
mkdir -p "$W"/{munge,munge-key,state,spool,log,logs,jobcomp}
chmod 700 "$W/munge-key"
chmod 755 "$W/munge"
mungekey --create --keyfile="$W/munge-key/munge.key" 2>"$W/log/mungekey.err" ||
  dd if=/dev/urandom of="$W/munge-key/munge.key" bs=1024 count=1 2>/dev/null
chmod 400 "$W/munge-key/munge.key"
socket=$W/munge/munge.socket
export SLURM_CONF=$W/slurm.conf
cat >"$SLURM_CONF" <<EOF
# written by $me: a private one-node cluster
ClusterName=disa-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire also delays a requeued job's restart (default 120 s)
AuthInfo=socket=$socket,cred_expire=10
StateSaveLocation=$W/state
SlurmdSpoolDir=$W/spool
SlurmctldPidFile=$W/slurmctld.pid
SlurmdPidFile=$W/slurmd.pid
SlurmctldLogFile=$W/log/slurmctld.log
SlurmdLogFile=$W/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=pmix
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# a requeued job becomes eligible after cred_expire; the backfill loop (every 30 s by
# default) is what starts it
SchedulerParameters=bf_interval=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$W/jobcomp/jobcomp.txt
# finished jobs stay visible to scontrol (there is no slurmdbd for sacct)
MinJobAge=86400
# jobs are not requeueable unless they ask (the stage scripts' #SBATCH --requeue)
JobRequeue=0
KillWait=10
ReturnToService=2
$node_line NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

munged -F --key-file="$W/munge-key/munge.key" --socket="$socket" --pid-file="$W/munge/munged.pid" \
  --log-file="$W/log/munged.log" --seed-file="$W/munge/munged.seed" >"$W/log/munged.out" 2>&1 &
daemon_pids+=($!)
for _ in $(seq 50); do [ -S "$socket" ] && break; sleep 0.1; done
if ! munge -S "$socket" -n </dev/null | unmunge -S "$socket" >/dev/null 2>&1; then
  log_tail "$W/log/munged.log"
  die "munged: no credential round trip on $socket"
fi
slurmctld -D >"$W/log/slurmctld.out" 2>&1 &
daemon_pids+=($!)
slurmd -D -N "$host" >"$W/log/slurmd.out" 2>&1 &
daemon_pids+=($!)
state=""
for _ in $(seq 60); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.5
done
if [ "$state" != idle ]; then
  for f in slurmctld.log slurmctld.out slurmd.log slurmd.out; do echo "  $f:"; log_tail "$W/log/$f" 10; done
  die "slurm: node $host not idle after 30 s (state '${state:-none}'; the daemons' logs are above)"
fi
pass "slurm: slurmctld and slurmd up (ports $port, $((port + 1))), node $host idle: $(sinfo -h -n "$host" -o '%c CPUs')"

# ---------------------------------------------------------------- PMIx
mpi_list=$(srun --mpi=list 2>&1 || true)
if grep -qw pmix <<<"$mpi_list"; then
  pass "srun --mpi=list offers pmix ($(grep -oE 'pmix_v[0-9]+' <<<"$mpi_list" | paste -sd, -))"
else
  die "srun --mpi=list has no pmix plugin: $mpi_list"
fi
if timeout 180 srun --mpi=pmix -n 2 --cpus-per-task="$cpt" "$DISA_BIN" smoke --smoke.out "$W/smoke.h5" >"$W/logs/smoke.out" 2>&1 &&
  grep -q 'disa smoke on 2 rank' "$W/logs/smoke.out"; then
  pass "srun --mpi=pmix -n 2 disa smoke: one MPI world of 2 ranks, parallel HDF5"
else
  log_tail "$W/logs/smoke.out"
  die "srun --mpi=pmix -n 2 disa smoke failed (output above)"
fi

# ---------------------------------------------------------------- helpers for jobs
# job_field ID FIELD: a field of `scontrol show job` (finished jobs stay for MinJobAge)
job_field() {
  scontrol show job -o "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}
job_log() { echo "$W/logs/$1_$2.out"; }  # job_log NAME ID
sbatch_args="--ntasks-per-node=2 --cpus-per-task=$cpt --gpus-per-node=0 --open-mode=append"
sbatch_args+=" --output=$W/logs/%x_%j.out --error=$W/logs/%x_%j.out"
# submit_pipeline OUT VAR=VALUE...: jobs/submit-pipeline.sh with the settings; sets the
# associative array JOBS (name -> id) from the list it prints.
declare -A JOBS
submit_pipeline() {
  local out=$1
  shift
  JOBS=()
  if ! env "$@" DISA_BIN="$DISA_BIN" DEVICE=cpu SCALE=tiny DISA_SBATCH_ARGS="$sbatch_args" \
    bash jobs/submit-pipeline.sh >"$out" 2>&1; then
    log_tail "$out"
    die "jobs/submit-pipeline.sh $* failed (output above)"
  fi
  local name id
  while read -r name id; do JOBS[$name]=$id; done < <(sed -n '/^== submitted jobs/,/^== watch/p' "$out" | grep -E '^disa-[a-z-]+ [0-9]+$')
  [ ${#JOBS[@]} -gt 0 ] || die "jobs/submit-pipeline.sh printed no job ids: $(cat "$out")"
}

# ---------------------------------------------------------------- a failing stage
# A copy of configs/tiny whose train-disa.ini has an unknown option: the train job fails at
# start, and its eval job (afterok) can never start.
cp -r configs/tiny "$W/configs-fail"
printf '# a deliberate error (%s)\nno-such-option = 1\n' "$me" >>"$W/configs-fail/train-disa.ini"
submit_pipeline "$W/logs/submit-fail.out" CONFIG_DIR="$W/configs-fail" RUN_DIR="$W/fail" \
  STAGES="train eval" ALGORITHMS=disa EVAL_REFERENCE=0 REFERENCE="$W/slurm/reference"
ft=${JOBS[disa-train-disa]:-}
fe=${JOBS[disa-eval-disa]:-}
if [ -z "$ft" ] || [ -z "$fe" ]; then die "the failing pipeline did not submit disa-train-disa and disa-eval-disa: ${!JOBS[*]}"; fi
deadline=$(($(date +%s) + 180))
while :; do
  st=$(job_field "$ft" JobState)
  reason=$(job_field "$fe" Reason)
  if [[ "$st" =~ ^(FAILED|COMPLETED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY)$ ]] && [ "$reason" = DependencyNeverSatisfied ]; then break; fi
  if [ "$st" = COMPLETED ]; then break; fi
  if [ "$(date +%s)" -gt "$deadline" ]; then break; fi
  sleep 1
done
flog=$(job_log disa-train-disa "$ft")
if [ "$st" = FAILED ] && [ "$(job_field "$ft" ExitCode)" != 0:0 ]; then
  pass "failing stage: job $ft (train disa, unknown option) FAILED, exit code $(job_field "$ft" ExitCode)"
else
  log_tail "$flog"
  fail "failing stage: job $ft (train disa, unknown option) is $st (exit code $(job_field "$ft" ExitCode)), expected FAILED"
fi
if grep -qE '^== disa train: exit status [1-9][0-9]* after' "$flog" && grep -q 'no-such-option' "$flog"; then
  pass "failing stage: its log names the step ($(grep -m1 -E '^== disa train: exit status' "$flog")) and the option ($(grep -m1 -o "[^ ]*no-such-option[^ ]*" "$flog"))"
else
  log_tail "$flog"
  fail "failing stage: the log $flog does not say that 'disa train' failed on 'no-such-option'"
fi
if [ "$(job_field "$fe" JobState)" = PENDING ] && [ "$reason" = DependencyNeverSatisfied ]; then
  pass "failing stage: the dependent job $fe (eval disa) is PENDING with reason DependencyNeverSatisfied"
else
  fail "failing stage: the dependent job $fe (eval disa) is $(job_field "$fe" JobState) with reason '$reason', expected PENDING/DependencyNeverSatisfied"
fi
scancel "$fe" 2>/dev/null || true

# ---------------------------------------------------------------- the pipeline under Slurm
# configs/tiny with the partition file flushed every round (anchor.checkpoint-seconds = 0:
# a resumable checkpoint each round, so that a requeue has batches to keep; it also makes
# the stage a few seconds longer, time for the test to requeue it).
cp -r configs/tiny "$W/configs"
sed -i 's/^\[anchor\]$/[anchor]\ncheckpoint-seconds = 0/' "$W/configs/anchor.ini"
grep -q '^checkpoint-seconds = 0$' "$W/configs/anchor.ini" || die "could not set checkpoint-seconds in $W/configs/anchor.ini"
S=$W/slurm
t_chain=$(date +%s)
submit_pipeline "$W/logs/submit.out" CONFIG_DIR="$W/configs" RUN_DIR="$S" ALGORITHMS="disa sft"
names=(disa-warm-start disa-anchor disa-eval-reference disa-train-disa disa-eval-disa disa-train-sft disa-eval-sft)
for n in "${names[@]}"; do [ -n "${JOBS[$n]:-}" ] || die "jobs/submit-pipeline.sh did not submit $n: $(cat "$W/logs/submit.out")"; done
echo "== submitted: $(for n in "${names[@]}"; do printf '%s=%s ' "$n" "${JOBS[$n]}"; done)"
anchor_job=${JOBS[disa-anchor]}
train_job=${JOBS[disa-train-disa]}
anchor_log=$(job_log disa-anchor "$anchor_job")
train_log=$(job_log disa-train-disa "$train_job")
ckpt=$S/train-disa/checkpoints/step-000030/COMPLETE
anchor_requeued=""  # the log line after which the job was requeued
train_requeued=""
# The sft training gets SIGTERM as at a time limit (scancel --signal=TERM: to the job's
# steps, as Slurm's --signal does): the stage checkpoints and exits 75, and the batch
# script requeues its own job (jobs/common.sh disa_requeue).
sft_job=${JOBS[disa-train-sft]}
sft_log=$(job_log disa-train-sft "$sft_job")
sft_signalled=""
deadline=$(($(date +%s) + timeout_chain))
chain_ok=0
# One `scontrol show job` per round (cheap enough to poll 5 times a second: the anchor
# stage runs only a few seconds on an idle machine, and the requeue must land inside it).
declare -A STATE REASON
snapshot() {
  STATE=()
  REASON=()
  local line
  while IFS= read -r line; do
    [[ "$line" =~ JobId=([0-9]+).*\ JobState=([A-Z_]+)\ Reason=([^ ]+) ]] || continue
    STATE[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
    REASON[${BASH_REMATCH[1]}]=${BASH_REMATCH[3]}
  done < <(scontrol show job -o 2>/dev/null)
}
while :; do
  snapshot
  pending=0
  bad=()
  for n in "${names[@]}"; do
    id=${JOBS[$n]}
    st=${STATE[$id]:-UNKNOWN}
    case "$st" in
      COMPLETED) ;;
      PENDING)
        pending=1
        if [ "${REASON[$id]}" = DependencyNeverSatisfied ]; then bad+=("$n ($id) PENDING: ${REASON[$id]}"); fi
        ;;
      RUNNING | CONFIGURING | COMPLETING | REQUEUED | RESIZING | SUSPENDED) pending=1 ;;
      *) bad+=("$n ($id) $st, exit code $(job_field "$id" ExitCode)") ;;
    esac
  done
  # Requeue the anchor job once its log shows 2 finished rounds (4 of 25 batches on disk).
  st=${STATE[$anchor_job]:-}
  if [ -z "$anchor_requeued" ] && [ "$st" = RUNNING ] &&
    line=$(grep -m1 -E 'info round ([2-9]|[1-9][0-9]+)/[0-9]+:' "$anchor_log" 2>/dev/null); then
    if scontrol requeue "$anchor_job"; then
      anchor_requeued=$line
      echo "== requeued the anchor job $anchor_job after: ${line##*info }"
    fi
  fi
  # Requeue the disa training once its step-30 checkpoint is complete (of 60 steps).
  st=${STATE[$train_job]:-}
  if [ -z "$train_requeued" ] && [ "$st" = RUNNING ] && [ -e "$ckpt" ] && [ ! -e "$S/train-disa/train.h5" ]; then
    if scontrol requeue "$train_job"; then
      train_requeued=$(grep -E 'info step +[0-9]+/' "$train_log" | tail -n 1)
      echo "== requeued the train job $train_job after its step-30 checkpoint (last step line: ${train_requeued##*info })"
    fi
  fi
  # SIGTERM to the sft training once its log shows step 10 (of 60).
  st=${STATE[$sft_job]:-}
  if [ -z "$sft_signalled" ] && [ "$st" = RUNNING ] &&
    line=$(grep -m1 -E 'info step +([1-9][0-9]+)/' "$sft_log" 2>/dev/null); then
    if scancel --signal=TERM "$sft_job"; then
      sft_signalled=$line
      echo "== SIGTERM to the steps of the sft train job $sft_job after: ${line##*info }"
    fi
  fi
  if [ ${#bad[@]} -gt 0 ]; then
    fail "pipeline under Slurm: ${bad[*]}"
    for n in "${names[@]}"; do
      st=$(job_field "${JOBS[$n]}" JobState)
      if [ "$st" != COMPLETED ] && [ "$st" != PENDING ]; then echo "  log of $n:"; log_tail "$(job_log "$n" "${JOBS[$n]}")"; fi
    done
    break
  fi
  if [ "$pending" = 0 ]; then
    chain_ok=1
    break
  fi
  if [ "$(date +%s)" -gt "$deadline" ]; then
    fail "pipeline under Slurm: not finished after $timeout_chain s (SLURM_TEST_TIMEOUT): $(squeue -h -o '%i %j %T %r' | paste -sd';' -)"
    break
  fi
  sleep 0.2
done
t_chain=$(($(date +%s) - t_chain))
if [ "$chain_ok" = 1 ]; then
  for n in "${names[@]}"; do
    id=${JOBS[$n]}
    ec=$(job_field "$id" ExitCode)
    if [ "$ec" = 0:0 ]; then
      pass "pipeline under Slurm: $n (job $id) COMPLETED, exit code 0:0, restarts $(job_field "$id" Restarts)"
    else
      fail "pipeline under Slurm: $n (job $id) COMPLETED with exit code $ec"
    fi
  done
  echo "== the pipeline under Slurm took $t_chain s"
  # JobRequeue=0 above: only the scripts' own #SBATCH --requeue makes the stages requeueable.
  not_rq=0
  for n in disa-anchor disa-train-disa disa-train-sft disa-eval-reference disa-eval-disa disa-eval-sft; do
    rq=$(job_field "${JOBS[$n]}" Requeue)
    if [ "$rq" != 1 ]; then
      fail "pipeline under Slurm: $n (job ${JOBS[$n]}) has Requeue=$rq: its #SBATCH --requeue was not applied"
      not_rq=1
    fi
  done
  if [ "$not_rq" = 0 ]; then pass "pipeline under Slurm: the anchor, train and eval jobs are requeueable (Requeue=1 from their #SBATCH --requeue; JobRequeue=0)"; fi
fi

# Requeue and resume: the job ran twice (Restarts=1), the first run was cut by the requeue,
# and the second continued from what the first left.
check_requeue() {  # check_requeue WHAT ID LOG REQUEUED_AFTER RESUME_REGEX
  local what=$1 id=$2 log=$3 after=$4 re=$5 restarts
  restarts=$(job_field "$id" Restarts)
  if [ -z "$after" ]; then
    fail "requeue $what: the job $id ended before the test could requeue it (state $(job_field "$id" JobState))"
  elif [ "$restarts" != 1 ]; then
    fail "requeue $what: job $id has Restarts=$restarts, expected 1"
  elif ! grep -q "CANCELLED AT .* DUE TO JOB REQUEUE" "$log"; then
    log_tail "$log"
    fail "requeue $what: the log $log does not show the requeue"
  elif ! grep -qE "$re" "$log"; then
    log_tail "$log"
    fail "requeue $what: the log $log has no line matching '$re' (the resumed run)"
  else
    pass "requeue $what: job $id requeued while running, resumed: $(grep -m1 -oE "$re" "$log")"
  fi
}
if [ "$chain_ok" = 1 ]; then
  check_requeue anchor "$anchor_job" "$anchor_log" "$anchor_requeued" \
    "resuming '[^']*': [1-9][0-9]* of [0-9]+ batches already done"
  if line=$(grep -m1 -oE "resuming '[^']*': [0-9]+ of [0-9]+ batches" "$anchor_log"); then
    read -r done_b total_b < <(sed -E 's/.*: ([0-9]+) of ([0-9]+) batches/\1 \2/' <<<"$line")
    if [ "$done_b" -gt 0 ] && [ "$done_b" -lt "$total_b" ]; then
      pass "requeue anchor: the resumed job redid only the $((total_b - done_b)) missing of $total_b batches"
    else
      fail "requeue anchor: the resumed job found $done_b of $total_b batches done (expected some, not all)"
    fi
  fi
  # SIGTERM: the stage stopped with exit code 75 and the job requeued itself.
  if [ -z "$sft_signalled" ]; then
    fail "SIGTERM train sft: the job $sft_job ended before the test could signal it"
  elif ! grep -q '^== disa train: exit status 75 after' "$sft_log" || ! grep -q "scontrol requeue $sft_job" "$sft_log"; then
    fail "SIGTERM train sft: the log $sft_log does not show exit status 75 and the self-requeue"
    log_tail "$sft_log"
  elif [ "$(job_field "$sft_job" Restarts)" != 1 ]; then
    fail "SIGTERM train sft: job $sft_job has Restarts=$(job_field "$sft_job" Restarts), expected 1"
  else
    pass "SIGTERM train sft: job $sft_job stopped with exit code 75 ($(cat "$sft_log" "${sft_log%.out}.err" 2>/dev/null | grep -m1 -oE 'SIGTERM after step [0-9]+ of [0-9]+')), requeued itself and resumed"
  fi
  # The requeue's SIGTERM stops the training at the end of its current step (>= 30) with a
  # checkpoint of that step, and the second run resumes from it.
  check_requeue "train disa" "$train_job" "$train_log" "$train_requeued" \
    "train: resumed from '[^']*step-0000(3[0-9]|[4-5][0-9])' \(step [3-5][0-9], written by 2 ranks"
fi

# ---------------------------------------------------------------- the same pipeline with mpirun
[ "$chain_ok" = 1 ] || exit 1  # nothing to compare
M=$W/mpirun
t_mpi=$(date +%s)
# One training seed, the default train.seed (1) that the Slurm jobs use.
if DISA_ALGORITHMS="disa sft" DISA_SEEDS=1 DISA_BIN=$DISA_BIN DISA_NP=2 timeout 900 \
  bash jobs/pipeline.sh "$M" init warm-start anchor train eval >"$W/logs/pipeline.out" 2>&1; then
  pass "jobs/pipeline.sh (mpirun, 2 ranks, uninterrupted): the same stages in $(($(date +%s) - t_mpi)) s"
else
  log_tail "$W/logs/pipeline.out"
  die "jobs/pipeline.sh (mpirun) failed (output above)"
fi

# ---------------------------------------------------------------- results: Slurm vs mpirun
cat >"$W/compare.py" <<'EOF'
"""compare.py KIND SLURM_FILE MPIRUN_FILE: the Slurm run's output equals the mpirun one's."""
import sys

import h5py
import numpy as np

kind, a_path, b_path = sys.argv[1:4]
problems = []
notes = []


def same_bits(name, x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or x.dtype != y.dtype:
        problems.append(f"{name}: shape/dtype {x.shape} {x.dtype} vs {y.shape} {y.dtype}")
    elif x.tobytes() != y.tobytes():
        both_nan = (x != x) & (y != y) if x.dtype.kind == "f" else np.zeros(x.shape, bool)
        n = int(np.count_nonzero((x != y) & ~both_nan))
        problems.append(f"{name}: {n} of {x.size} values differ" if n else f"{name}: bits differ")


def close(name, x, y, rtol):
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        problems.append(f"{name}: shape {x.shape} vs {y.shape}")
        return
    nan = np.isnan(x) | np.isnan(y)
    if (np.isnan(x) != np.isnan(y)).any():
        problems.append(f"{name}: NaN at different places")
    inf = np.isinf(x) | np.isinf(y)
    if (x[inf] != y[inf]).any():
        problems.append(f"{name}: infinities differ")
    ok = ~(nan | inf)
    rel = np.abs(x[ok] - y[ok]) / np.maximum(1.0, np.abs(y[ok]))
    worst = float(rel.max()) if rel.size else 0.0
    notes.append(worst)
    if worst > rtol:
        problems.append(f"{name}: max relative difference {worst:.3g} > {rtol:g}")


def ragged(f, group, order):
    off, val = f[group + "/offsets"][:], f[group + "/values"][:]
    return [val[off[i]:off[i + 1]].tobytes() for i in order]


with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
    if kind == "anchors":
        # Trajectories bitwise in canonical order (rows are in the order batches finished).
        oa = np.lexsort((a["trajectories/sample_index"][:], a["trajectories/prompt_index"][:]))
        ob = np.lexsort((b["trajectories/sample_index"][:], b["trajectories/prompt_index"][:]))
        for name, d in a["trajectories"].items():
            if name in ("tokens", "batches"):
                continue
            same_bits("trajectories/" + name, d[:][oa], b["trajectories"][name][:][ob])
        if ragged(a, "trajectories/tokens", oa) != ragged(b, "trajectories/tokens", ob):
            problems.append("trajectories/tokens differ")
        ba, bb = a["trajectories/batches"][:], b["trajectories/batches"][:]
        same_bits("trajectories/batches (id, rows)", ba[np.argsort(ba[:, 0])][:, [0, 2]], bb[np.argsort(bb[:, 0])][:, [0, 2]])
        for g in ("prompts/id", "prompts/text", "prompts/tokens/offsets", "prompts/tokens/values"):
            same_bits(g, a[g][:], b[g][:])
        for g in ("anchors", "diagnostics"):
            for name, d in b[g].items():
                if name not in a[g]:
                    problems.append(f"{g}/{name} missing")
                elif d.dtype.kind == "f":
                    close(f"{g}/{name}", a[g][name][:], d[:], 1e-12)
                else:
                    same_bits(f"{g}/{name}", a[g][name][:], d[:])
        summary = f"{len(oa)} trajectories bitwise equal, anchors and diagnostics within {max(notes):.2g} relative"
    elif kind == "train":
        timing = ("time_", "tokens_per_second")
        names = sorted(n for n in b["metrics"] if not n.startswith(timing))
        for n in names:
            if n not in a["metrics"]:
                problems.append(f"metrics/{n} missing")
            else:
                same_bits(f"metrics/{n}", a["metrics"][n][:], b["metrics"][n][:])
        # The checkpoints record the run's history: an interrupted run also holds the one
        # it wrote when it stopped. Every checkpoint of the uninterrupted run must be there.
        missing = sorted(set(b["checkpoints/step"][:].tolist()) - set(a["checkpoints/step"][:].tolist()))
        if missing:
            problems.append(f"checkpoints/step: the uninterrupted run's checkpoints {missing} are missing")
        for k in ("final_exact_kl", "final_exact_tv", "final_exact_policy_mass", "final_exact_target_mass",
                  "final_exact_kl_lower_bound", "skipped_updates", "steps"):
            if k in b.attrs and not np.array_equal(a.attrs.get(k), b.attrs[k]):
                problems.append(f"attribute {k}: {a.attrs.get(k)} vs {b.attrs[k]}")
        summary = f"{len(b['metrics/step'])} steps x {len(names)} metrics bitwise equal (timings excluded)"
    elif kind == "eval":
        count = 0

        def visit(name, d):
            global count
            if isinstance(d, h5py.Dataset) and name.split("/")[0] in ("samples", "prompts", "summary"):
                if name not in a:
                    problems.append(f"{name} missing")
                else:
                    same_bits(name, a[name][:], d[:])
                    count += 1

        b.visititems(visit)
        summary = f"{count} datasets (samples, per-prompt metrics, summary) bitwise equal"
    else:
        sys.exit(f"unknown kind {kind}")

if problems:
    print("; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else ""))
    sys.exit(1)
print(summary)
EOF
compare() {  # compare WHAT KIND SLURM_FILE MPIRUN_FILE
  local out
  if out=$("$PY" "$W/compare.py" "$2" "$3" "$4" 2>&1); then
    pass "$1 equal to the mpirun pipeline's: $out"
  else
    fail "$1 differs from the mpirun pipeline's ($3 vs $4): $out"
  fi
}
same_file() {  # same_file WHAT A B
  if cmp -s "$2" "$3"; then pass "$1: $(basename "$2") bitwise equal to the mpirun pipeline's"; else fail "$1: $2 differs from $3"; fi
}
same_file "warm start (Slurm) -> reference" "$S/reference/model.safetensors" "$M/reference/model.safetensors"
compare "anchors.h5 (Slurm, requeued once, resumed)" anchors "$S/anchors.h5" "$M/anchors.h5"
for a in disa sft; do
  what="train $a (Slurm)"
  if [ "$a" = disa ]; then what="train disa (Slurm, requeued after step 30, resumed)"; fi
  if [ "$a" = sft ]; then what="train sft (Slurm, stopped by SIGTERM, requeued itself, resumed)"; fi
  compare "$what: train.h5" train "$S/train-$a/train.h5" "$M/train/$a/seed-1/train.h5"
  same_file "$what: final policy" "$S/train-$a/policy/model.safetensors" "$M/train/$a/seed-1/policy/model.safetensors"
done
for e in reference disa sft; do
  missing_files=()
  for ext in h5 md json; do [ -s "$S/eval-$e.$ext" ] || missing_files+=("eval-$e.$ext"); done
  if [ ${#missing_files[@]} -gt 0 ]; then
    fail "eval $e (Slurm): missing ${missing_files[*]} in $S"
  else
    pass "eval $e (Slurm): eval-$e.h5, .md, .json written"
    mpirun_eval=$M/eval/$e/seed-1.h5
    if [ "$e" = reference ]; then mpirun_eval=$M/eval/reference.h5; fi
    compare "eval $e (Slurm): eval-$e.h5" eval "$S/eval-$e.h5" "$mpirun_eval"
  fi
done
