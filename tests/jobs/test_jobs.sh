#!/usr/bin/env bash
# Test of the job scripts and configurations (ctest: jobs_scripts), without Slurm or GPUs:
#   * bash -n on every jobs/*.sh and jobs/*.sbatch; every tracked script of jobs/, tools/
#     and bench/ with a #! line has git mode 755 (and only those);
#   * a batch script started outside Slurm without DISA_DRY_RUN refuses with its message;
#   * every batch script, jobs/submit-pipeline.sh, the sweeps and the mpirun scripts in
#     dry-run mode (fake SLURM_* variables) print the expected srun/sbatch/mpirun lines and
#     create nothing;
#   * every configs/**/*.ini is accepted by `disa <command> --config FILE --print-config`
#     (warm-start*.ini -> warm-start, anchor*.ini -> anchor, train-*.ini -> train, eval*.ini -> eval,
#     else the `disa <command> ... --config` named in its first lines): sections, option
#     names and value types (enumerated values are checked only when a stage runs);
#   * every option of every disa command line printed by the dry runs exists (checked
#     against the resolved configurations printed above: one disa start per file);
#   * a stage that exits with code 75 (stopped with a resumable checkpoint) makes the batch
#     script requeue its job (scontrol requeue) when it ran with its resume option, and not
#     with DISA_REQUEUE=0, RESUME=0 or without a resume option (fake srun and scontrol).
# Usage: tests/jobs/test_jobs.sh SOURCE_DIR DISA_BINARY     (exit 1 when any check fails)
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 SOURCE_DIR DISA_BINARY" >&2
  exit 2
fi
root=$(cd "$1" && pwd)
disa=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
[ -x "$disa" ] || { echo "FAIL: no disa binary at $disa" >&2; exit 1; }
cd "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Run as outside any Slurm job and without the scripts' settings, whatever ctest inherited.
while read -r v; do unset "$v"; done < <(compgen -e | grep -E '^(SLURM_|SBATCH_|DISA_|NCCL_)' || true)
for v in SCALE CONFIG CONFIG_DIR RUN_DIR REFERENCE ALGORITHM ALGORITHMS DEVICE THREADS RESUME \
  POLICY EVAL_OUT TRAIN_OUT ANCHORS INIT_MODEL INIT_ARGS INIT_POLICY BETAS ALPHAS BETA \
  STRONG_MODEL SWEEP_TRAIN STAGES EVAL_REFERENCE AFTER ANCHOR_CONFIG TRAIN_CONFIG WARM_START_OUT; do
  unset "$v"
done

failures=0
checks=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
ok() {
  checks=$((checks + 1))
}

# run NAME EXPECTED_RC [VAR=VALUE...] -- SCRIPT ARGS...: runs a script with env, output in $tmp/NAME.out
run() {
  local name=$1 want=$2 rc=0
  shift 2
  local envs=()
  while [ "$1" != -- ]; do
    envs+=("$1")
    shift
  done
  shift
  env "${envs[@]}" bash "$@" >"$tmp/$name.out" 2>&1 || rc=$?
  if { [ "$want" = 0 ] && [ "$rc" != 0 ]; } || { [ "$want" != 0 ] && [ "$rc" = 0 ]; }; then
    fail "$name: exit status $rc, expected $([ "$want" = 0 ] && echo 0 || echo 'non-zero'); output:"
    sed 's/^/    /' "$tmp/$name.out"
  else
    ok
  fi
}
# expect NAME REGEX [COUNT]: the output of NAME has a line matching REGEX (exactly COUNT times)
expect() {
  local n
  n=$(grep -cE -- "$2" "$tmp/$1.out" || true)
  if [ -n "${3:-}" ]; then
    if [ "$n" = "$3" ]; then ok; else
      fail "$1: $n lines match '$2', expected $3; output:"
      sed 's/^/    /' "$tmp/$1.out"
    fi
  elif [ "$n" = 0 ]; then
    fail "$1: no line matches '$2'; output:"
    sed 's/^/    /' "$tmp/$1.out"
  else
    ok
  fi
}
reject() {  # reject NAME REGEX: no line of NAME's output matches REGEX
  if grep -qE -- "$2" "$tmp/$1.out"; then
    fail "$1: a line matches '$2'"
    grep -E -- "$2" "$tmp/$1.out" | sed 's/^/    /'
  else
    ok
  fi
}

# 1. Syntax of every job script.
for f in jobs/*.sh jobs/*.sbatch; do
  if bash -n "$f" 2>"$tmp/syntax.err"; then ok; else fail "bash -n $f: $(cat "$tmp/syntax.err")"; fi
done

# 1b. Every tracked script with a #! line is executable in git (docs run them as
# jobs/study.sh, tools/paired_stats.py, ...), and every executable one has a #! line.
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  while read -r mode path; do
    first=$(head -c 2 "$path" 2>/dev/null || true)
    if [ "$first" = '#!' ] && [ "$mode" != 100755 ]; then fail "$path: has a #! line but git mode $mode (git update-index --chmod=+x)"; else ok; fi
    if [ "$mode" = 100755 ] && [ "$first" != '#!' ]; then fail "$path: executable without a #! line"; else ok; fi
  done < <(git -C "$root" ls-files -s -- jobs tools bench | awk '{print $1, $4}')
fi

# 2. Outside Slurm and not in dry-run mode the batch scripts refuse, saying why.
for s in warm-start anchor train eval; do
  run "refuse-$s" 1 SCALE=tiny DISA_BIN="$disa" -- "jobs/$s.sbatch"
  expect "refuse-$s" "not started by sbatch"
  expect "refuse-$s" "DISA_DRY_RUN=1"
  reject "refuse-$s" "^srun "
done
for s in sweep-beta sweep-proposal; do
  run "refuse-$s" 1 SCALE=gpu-1.5b REFERENCE=/models/ref STRONG_MODEL=/models/strong DISA_BIN="$disa" -- "jobs/$s.sh"
  expect "refuse-$s" "not started by sbatch"
done

# 3. Dry runs inside a fake 2-node, 8-rank allocation.
slurm=(SLURM_JOB_ID=4242 "SLURM_JOB_NODELIST=gpu[01-02]" SLURM_JOB_NUM_NODES=2 SLURM_NTASKS=8
  SLURM_NTASKS_PER_NODE=4 SLURM_CPUS_PER_TASK=8 SLURM_GPUS_ON_NODE=4 "SLURM_SUBMIT_DIR=$root"
  DISA_DRY_RUN=1 "DISA_BIN=$disa")
d=$(printf '%s' "$disa" | sed 's/[][\.*^$+?(){}|]/\\&/g')  # the binary as a regex
srun="^srun --mpi=pmix --kill-on-bad-exit=1 --cpus-per-task=8 $d"
ref=/models/Qwen2.5-1.5B-Instruct

run anchor 0 "${slurm[@]}" SCALE=gpu-1.5b REFERENCE=$ref "RUN_DIR=$tmp/run" -- jobs/anchor.sbatch --anchor.samples 64
expect anchor "job id: +4242"
expect anchor "nodes: +2"
expect anchor "world size: +8 ranks"
expect anchor "hosts: +gpu"
expect anchor "$srun env$" 1
expect anchor "$srun anchor --config configs/gpu-1\.5b/anchor\.ini --anchor\.reference $ref --anchor\.out $tmp/run/anchors\.h5 --anchor\.threads 8 --anchor\.resume --anchor\.samples 64$" 1
if [ -e "$tmp/run" ]; then fail "anchor: the dry run created $tmp/run"; else ok; fi

run anchor-cpu 0 "${slurm[@]}" SCALE=gpu-7b REFERENCE=/m/ref DEVICE=cpu RESUME=0 DISA_ENV=0 -- jobs/anchor.sbatch
expect anchor-cpu "$srun anchor --config configs/gpu-7b/anchor\.ini .*--anchor\.threads 8 --anchor\.device cpu$" 1
reject anchor-cpu "resume|disa env"

run anchor-mpi 0 "${slurm[@]}" SCALE=gpu-7b REFERENCE=/m/ref DISA_SRUN_MPI= "DISA_SRUN_FLAGS=--cpu-bind=cores --exclusive" -- jobs/anchor.sbatch
expect anchor-mpi "^srun --kill-on-bad-exit=1 --cpus-per-task=8 --cpu-bind=cores --exclusive $d anchor --config configs/gpu-7b/anchor\.ini " 1

run anchor-noref 1 "${slurm[@]}" SCALE=gpu-1.5b -- jobs/anchor.sbatch
expect anchor-noref "set REFERENCE="

run warm-start-tiny 0 "${slurm[@]}" SCALE=tiny "RUN_DIR=$tmp/run" -- jobs/warm-start.sbatch
reject warm-start-tiny "$srun model init"
expect warm-start-tiny "^srun .* --nodes=1 --ntasks=1 $d model init .*--out $tmp/run/init$" 1
expect warm-start-tiny "$srun warm-start --config configs/tiny/warm-start\.ini --warm-start\.model $tmp/run/init --warm-start\.out $tmp/run/reference --warm-start\.threads 8$" 1
run warm-start-strong 0 "${slurm[@]}" SCALE=tiny CONFIG=configs/tiny/warm-start-strong.ini INIT_MODEL=runs/tiny/reference \
  WARM_START_OUT=runs/tiny/strong -- jobs/warm-start.sbatch
expect warm-start-strong "$srun warm-start --config configs/tiny/warm-start-strong\.ini --warm-start\.model runs/tiny/reference --warm-start\.out runs/tiny/strong --warm-start\.threads 8$" 1
reject warm-start-strong "model init"
run warm-start-7b 1 "${slurm[@]}" SCALE=gpu-7b REFERENCE=/m/ref -- jobs/warm-start.sbatch
expect warm-start-7b "has no warm-start\.ini"

for a in disa flowrl grpo gspo sft; do
  run "train-$a" 0 "${slurm[@]}" SCALE=gpu-1.5b REFERENCE=$ref -- jobs/train.sbatch "$a" --train.steps 3
  expect "train-$a" "$srun train --config configs/gpu-1\.5b/train-$a\.ini --train\.algorithm $a --train\.model $ref --train\.reference $ref --train\.out runs/gpu-1\.5b/train-$a --train\.anchors runs/gpu-1\.5b/anchors\.h5 --train\.resume --train\.threads 8 --train\.steps 3$" 1
done
run train-env 0 "${slurm[@]}" SCALE=gpu-7b REFERENCE=/m/ref ALGORITHM=gspo ANCHORS=none -- jobs/train.sbatch
expect train-env "$srun train --config configs/gpu-7b/train-gspo\.ini --train\.algorithm gspo .*--train\.out runs/gpu-7b/train-gspo --train\.resume --train\.threads 8$" 1
reject train-env "train\.anchors"
run train-tiny 0 "${slurm[@]}" SCALE=tiny -- jobs/train.sbatch
expect train-tiny "$srun train --config configs/tiny/train-disa\.ini --train\.algorithm disa --train\.model runs/tiny/reference " 1
run train-bad 1 "${slurm[@]}" SCALE=gpu-1.5b REFERENCE=$ref -- jobs/train.sbatch ppo
expect train-bad "unknown algorithm 'ppo'"

run eval-grpo 0 "${slurm[@]}" SCALE=gpu-1.5b REFERENCE=$ref -- jobs/eval.sbatch grpo
expect eval-grpo "$srun eval --config configs/gpu-1\.5b/eval\.ini --eval\.model runs/gpu-1\.5b/train-grpo/policy --eval\.reference $ref --eval\.out runs/gpu-1\.5b/eval-grpo\.h5 --eval\.threads 8 --eval\.resume$" 1
run eval-ref 0 "${slurm[@]}" SCALE=gpu-1.5b REFERENCE=$ref -- jobs/eval.sbatch reference
expect eval-ref "$srun eval --config configs/gpu-1\.5b/eval\.ini --eval\.model $ref --eval\.reference $ref --eval\.out runs/gpu-1\.5b/eval-reference\.h5 " 1

# Dry runs need no Slurm variables either.
run anchor-bare 0 DISA_DRY_RUN=1 "DISA_BIN=$disa" SCALE=tiny -- jobs/anchor.sbatch
expect anchor-bare "^srun --mpi=pmix --kill-on-bad-exit=1 $d anchor --config configs/tiny/anchor\.ini --anchor\.reference runs/tiny/reference --anchor\.out runs/tiny/anchors\.h5 --anchor\.resume$" 1

# 4. The pipeline: sbatch lines chained with afterok.
run submit-tiny 0 DISA_DRY_RUN=1 "DISA_BIN=$disa" SCALE=tiny "RUN_DIR=$tmp/run" -- jobs/submit-pipeline.sh
expect submit-tiny "^sbatch " 13
expect submit-tiny "^sbatch --parsable --job-name=disa-warm-start jobs/warm-start\.sbatch$" 1
expect submit-tiny "^sbatch --parsable --job-name=disa-anchor --dependency=afterok:900001 jobs/anchor\.sbatch$" 1
expect submit-tiny "^sbatch --parsable --job-name=disa-eval-reference --dependency=afterok:900001 jobs/eval\.sbatch reference$" 1
for a in disa flowrl grpo gspo sft; do
  expect submit-tiny "^sbatch --parsable --job-name=disa-train-$a --dependency=afterok:900002 jobs/train\.sbatch $a$" 1
  id=$(awk -v n="disa-train-$a" '$1 == n { print $2 }' "$tmp/submit-tiny.out")
  expect submit-tiny "^sbatch --parsable --job-name=disa-eval-$a --dependency=afterok:$id jobs/eval\.sbatch $a$" 1
done
if [ -e "$tmp/run" ]; then fail "submit-tiny: the dry run created $tmp/run"; else ok; fi
run submit-gpu 0 DISA_DRY_RUN=1 "DISA_BIN=$disa" SCALE=gpu-7b REFERENCE=/m/ref ALGORITHMS="disa grpo" \
  DISA_SBATCH_ARGS="--account=abc --nodes=2" -- jobs/submit-pipeline.sh
expect submit-gpu "^sbatch " 6
expect submit-gpu "^sbatch --parsable --job-name=disa-anchor --account=abc --nodes=2 jobs/anchor\.sbatch$" 1
reject submit-gpu "warm-start\.sbatch"
run submit-noref 1 DISA_DRY_RUN=1 "DISA_BIN=$disa" SCALE=gpu-7b -- jobs/submit-pipeline.sh
expect submit-noref "set REFERENCE="

# 5. Sweeps: one array task per value; all tasks in a dry run outside an array job.
run sweep-beta 0 "${slurm[@]}" SCALE=gpu-1.5b REFERENCE=$ref -- jobs/sweep-beta.sh
expect sweep-beta "$srun anchor --config configs/gpu-1\.5b/anchor\.ini " 5
expect sweep-beta "$srun train --config configs/gpu-1\.5b/train-disa\.ini --train\.algorithm disa " 5
for b in 1 2 5 10 15; do
  expect sweep-beta "$srun anchor .*--anchor\.beta $b --anchor\.out runs/gpu-1\.5b/sweep-beta/beta-$b/anchors\.h5 " 1
  expect sweep-beta "$srun train .*--train\.anchors runs/gpu-1\.5b/sweep-beta/beta-$b/anchors\.h5 --disa\.beta $b --train\.out runs/gpu-1\.5b/sweep-beta/beta-$b/train " 1
done
run sweep-beta-task 0 "${slurm[@]}" SLURM_ARRAY_JOB_ID=4242 SLURM_ARRAY_TASK_ID=2 SCALE=gpu-1.5b REFERENCE=$ref SWEEP_TRAIN=0 -- jobs/sweep-beta.sh
expect sweep-beta-task "$srun anchor " 1
expect sweep-beta-task "--anchor\.beta 5 --anchor\.out runs/gpu-1\.5b/sweep-beta/beta-5/anchors\.h5" 1
reject sweep-beta-task "$srun train "
run sweep-beta-range 1 "${slurm[@]}" SLURM_ARRAY_TASK_ID=5 SCALE=gpu-1.5b REFERENCE=$ref -- jobs/sweep-beta.sh
expect sweep-beta-range "sbatch --array=0-4"

run sweep-proposal 0 "${slurm[@]}" SCALE=gpu-1.5b REFERENCE=$ref STRONG_MODEL=/models/strong -- jobs/sweep-proposal.sh
expect sweep-proposal "$srun anchor --config configs/gpu-1\.5b/anchor\.ini " 5
expect sweep-proposal "$srun anchor .*--proposal\.kind reference --anchor\.out runs/gpu-1\.5b/sweep-proposal/reference/anchors\.h5 " 1
expect sweep-proposal "$srun anchor .*--proposal\.kind model --proposal\.model /models/strong --anchor\.out runs/gpu-1\.5b/sweep-proposal/model/anchors\.h5 " 1
for a in 0.25 0.5 0.75; do
  expect sweep-proposal "$srun anchor .*--proposal\.kind mixture --proposal\.model /models/strong --proposal\.alpha $a --anchor\.out runs/gpu-1\.5b/sweep-proposal/mixture-$a/anchors\.h5 " 1
done
run sweep-proposal-nostrong 1 "${slurm[@]}" SCALE=gpu-1.5b REFERENCE=$ref -- jobs/sweep-proposal.sh
expect sweep-proposal-nostrong "set STRONG_MODEL="
run sweep-proposal-ref 0 "${slurm[@]}" SLURM_ARRAY_TASK_ID=0 SCALE=gpu-1.5b REFERENCE=$ref -- jobs/sweep-proposal.sh
expect sweep-proposal-ref "--proposal\.kind reference " 1

# 6. Single node with mpirun.
run mpirun-train 0 DISA_DRY_RUN=1 "DISA_BIN=$disa" SCALE=gpu-1.5b ALGORITHM=grpo DISA_NP=3 -- jobs/mpirun-train.sh --train.steps 2
expect mpirun-train "^mpirun .*-np 3 $d train --config configs/gpu-1\.5b/train-grpo\.ini --train\.algorithm grpo --train\.steps 2$" 1
run mpirun-stage 0 DISA_DRY_RUN=1 "DISA_BIN=$disa" SCALE=tiny -- jobs/mpirun-stage.sh anchor --anchor.out x.h5
expect mpirun-stage "^mpirun .*--oversubscribe.* -np 2 $d anchor --config configs/tiny/anchor\.ini --anchor\.out x\.h5$" 1
run mpirun-usage 1 DISA_DRY_RUN=1 "DISA_BIN=$disa" -- jobs/mpirun-stage.sh
expect mpirun-usage "usage:"
# The regressor study: init + 2 warm starts, 2 tasks x 5 N of anchor and anchor fit, then
# 3 anchors x 3 seeds of training; REFERENCE skips the graph_paths warm start.
run regressor-study 0 DISA_DRY_RUN=1 "DISA_BIN=$disa" -- jobs/regressor-study.sh "$tmp/rs"
expect regressor-study "^$d model init .*--out $tmp/rs/init$" 1
expect regressor-study "^mpirun .* $d warm-start .*--task\.name countdown .*--warm-start\.out $tmp/rs/reference-countdown$" 1
expect regressor-study "^mpirun .*-np 2 $d anchor --config configs/tiny/anchor\.ini .*--anchor\.samples (2|4|8|16|64) " 10
expect regressor-study "^mpirun .* $d anchor fit --fit\.anchors $tmp/rs/countdown/n-64/anchors\.h5 " 1
expect regressor-study "^mpirun .* $d anchor fit " 10
expect regressor-study "^mpirun .* $d train .*--train\.anchors $tmp/rs/graph_paths/n-4/anchors\.h5 --disa\.anchor shrinkage --disa\.regressor $tmp/rs/graph_paths/n-4/regressor\.h5 --train\.seed 2 " 1
expect regressor-study "^mpirun .* $d train " 9
expect regressor-study "tools/regressor_study\.py $tmp/rs --train-n 4 " 1
if [ -e "$tmp/rs" ]; then fail "regressor-study: the dry run created $tmp/rs"; else ok; fi
run regressor-study-ref 0 DISA_DRY_RUN=1 "DISA_BIN=$disa" REFERENCE=/m/ref STUDY_TASKS=graph_paths STUDY_NS="2 8" \
  TRAIN_N=8 TRAIN_ANCHORS="raw exact" DISA_SEEDS=5 -- jobs/regressor-study.sh "$tmp/rs"
reject regressor-study-ref "warm-start|model init|countdown"
expect regressor-study-ref "^mpirun .* $d anchor .*--anchor\.reference /m/ref " 2
expect regressor-study-ref "^mpirun .* $d train .*--train\.model /m/ref --train\.anchors $tmp/rs/graph_paths/n-8/anchors\.h5 --disa\.anchor exact --train\.seed 5 " 1
run regressor-study-bad 1 DISA_DRY_RUN=1 "DISA_BIN=$disa" STUDY_TASKS=math -- jobs/regressor-study.sh "$tmp/rs"
expect regressor-study-bad "not a listable task"

# 7. Exit code 75: the stage stopped on SIGTERM with a resumable checkpoint, and the batch
# script requeues its job. Fake srun (the stage's exit status from FAKE_RC; `disa env`
# succeeds) and scontrol (records requeues) run the scripts for real, outside Slurm.
mkdir -p "$tmp/fakebin"
cat >"$tmp/fakebin/srun" <<'EOF'
#!/usr/bin/env bash
for a in "$@"; do if [ "$a" = env ]; then exit 0; fi; done
exit "${FAKE_RC:-0}"
EOF
cat >"$tmp/fakebin/scontrol" <<'EOF'
#!/usr/bin/env bash
case "$1" in
  show) echo node01 ;;
  requeue) echo "scontrol $*" >>"$FAKE_LOG" && exit "${FAKE_SCONTROL_RC:-0}" ;;
esac
EOF
chmod +x "$tmp/fakebin/srun" "$tmp/fakebin/scontrol"
fake=(SLURM_JOB_ID=4242 SLURM_NTASKS=2 "PATH=$tmp/fakebin:$PATH" "DISA_BIN=$disa" SCALE=tiny "RUN_DIR=$tmp/run75")
# requeue75 NAME EXPECTED_RC REQUEUES VAR=VALUE... -- SCRIPT ARGS...: run it, count the requeues
requeue75() {
  local name=$1 want=$2 n=$3 got=0
  shift 3
  run "$name" "$want" "${fake[@]}" "FAKE_LOG=$tmp/$name.requeues" "$@"
  if [ -f "$tmp/$name.requeues" ]; then got=$(grep -c "^scontrol requeue 4242$" "$tmp/$name.requeues" || true); fi
  if [ "$got" = "$n" ]; then ok; else fail "$name: $got 'scontrol requeue 4242' calls, expected $n"; fi
}
requeue75 requeue-train 0 1 FAKE_RC=75 -- jobs/train.sbatch disa
expect requeue-train "^== disa train: exit status 75 after"
expect requeue-train "^== the stage stopped .*exit code 75\\): scontrol requeue 4242"
requeue75 requeue-anchor 0 1 FAKE_RC=75 -- jobs/anchor.sbatch
requeue75 requeue-off 1 0 FAKE_RC=75 DISA_REQUEUE=0 -- jobs/train.sbatch disa
expect requeue-off "DISA_REQUEUE=0: the job is not requeued"
requeue75 requeue-noresume 1 0 FAKE_RC=75 RESUME=0 -- jobs/anchor.sbatch
expect requeue-noresume "without its resume option .*not requeued"
requeue75 requeue-eval 0 1 FAKE_RC=75 -- jobs/eval.sbatch disa
requeue75 requeue-refused 1 1 FAKE_RC=75 FAKE_SCONTROL_RC=1 -- jobs/train.sbatch disa
expect requeue-refused "error: scontrol requeue 4242 failed"
requeue75 requeue-failed 1 0 FAKE_RC=2 -- jobs/train.sbatch disa
expect requeue-failed "^== disa train: exit status 2 after"
reject requeue-failed "requeue"

# The study (jobs/study.sh): the pipeline on configs/study, the sweeps through mpirun
# (DISA_LAUNCH=mpirun), the regressor measurements on the study's reference, the matched-
# sharpness analysis and the report; nothing created, docs only with DISA_DOCS=1.
run study 0 DISA_DRY_RUN=1 "DISA_BIN=$disa" -- jobs/study.sh "$tmp/st"
expect study "^$d model init --arch qwen2 --size tiny --seed 3 --out $tmp/st/init-base$" 1
expect study "tools/make_model\.py --base $tmp/st/init-base --config configs/study/model\.json --seed 3 --out $tmp/st/init$" 1
expect study "^mpirun .*-np 2 $d warm-start --config configs/study/warm-start\.ini " 1
expect study "^mpirun .* $d train --config configs/study/train-(disa|flowrl|grpo|gspo|sft)\.ini --train\.model $tmp/st/reference --train\.anchors $tmp/st/anchors\.h5 --train\.seed [123] " 15
expect study "^mpirun .* $d eval --config configs/study/eval\.ini " 28
expect study "tools/matched_sharpness\.py --reference $tmp/st/eval/reference\.h5 --flowrl $tmp/st/eval/flowrl/seed-1\.h5 --flowrl $tmp/st/eval/flowrl/seed-2\.h5 --flowrl $tmp/st/eval/flowrl/seed-3\.h5 --choose-betas 4$" 1
expect study "^mpirun .* $d anchor --config configs/study/anchor\.ini --anchor\.reference $tmp/st/reference --anchor\.beta (0\.5|1|2|4|8) --anchor\.out $tmp/st/sweep-beta/beta-" 5
expect study "^mpirun .* $d train --config configs/study/train-disa\.ini --train\.algorithm disa .*--disa\.beta (0\.5|1|2|4) --train\.out $tmp/st/sweep-beta/beta-" 4
expect study "^mpirun .* $d train --config configs/study/train-disa\.ini --train\.algorithm disa .*--disa\.beta (0\.5|1|2|4) --train\.seed [23] --train\.out $tmp/st/sweep-beta/beta-(0\.5|1|2|4)/train-seed-[23]$" 8
expect study "^mpirun .* $d eval .*--eval\.model $tmp/st/sweep-beta/beta-2/train/policy .*--eval\.out $tmp/st/sweep-beta/beta-2/eval/seed-1\.h5$" 1
expect study "^mpirun .* $d eval .*--eval\.model $tmp/st/sweep-beta/beta-2/train-seed-3/policy .*--eval\.out $tmp/st/sweep-beta/beta-2/eval/seed-3\.h5$" 1
expect study "^mpirun .* $d anchor .*--proposal\.kind mixture --proposal\.model $tmp/st/strong --proposal\.alpha 0\.5 --anchor\.out $tmp/st/sweep-proposal/mixture-0\.5/anchors\.h5$" 1
expect study "^mpirun .* $d anchor --config configs/study/anchor\.ini --task\.name graph_paths --task\.count 300 --anchor\.reference $tmp/st/reference --anchor\.samples (2|4|8|32) " 4
expect study "^mpirun .* $d train --config configs/study/train-disa\.ini --task\.name graph_paths .*--disa\.anchor (raw|shrinkage|exact) " 9
expect study "tools/matched_sharpness\.py .* --disa 0\.5=$tmp/st/sweep-beta/beta-0\.5/eval/seed-1\.h5 --disa 0\.5=$tmp/st/sweep-beta/beta-0\.5/eval/seed-2\.h5 .* -o $tmp/st/report/matched$" 1
expect study "tools/study_report\.py $tmp/st$" 1
expect study "^=== study stage (pipeline|sweep-beta|sweep-proposal|regressor|matched|report): [0-9]+ s$" 6
reject study "warm-start .*--task\.name countdown|docs/study\.md"
if [ -e "$tmp/st" ]; then fail "study: the dry run created $tmp/st"; else ok; fi
run study-docs 0 DISA_DRY_RUN=1 "DISA_BIN=$disa" DISA_DOCS=1 MATCH_BETAS="1 3" -- jobs/study.sh "$tmp/st" sweep-beta matched report
expect study-docs "tools/study_report\.py $tmp/st --docs docs/study\.md$" 1
reject study-docs "choose-betas"
expect study-docs "--disa 1=.* --disa 3=" 1
run study-smoke-docs 1 DISA_DRY_RUN=1 "DISA_BIN=$disa" DISA_DOCS=1 STUDY_SMOKE=1 -- jobs/study.sh "$tmp/st"
expect study-smoke-docs "a smoke run does not regenerate docs/study.md"
run study-bad 1 DISA_DRY_RUN=1 "DISA_BIN=$disa" -- jobs/study.sh "$tmp/st" nonsense
expect study-bad "unknown stage 'nonsense'"

# 8. The binary accepts every configuration file (one `--print-config` run each, in
# parallel), and every option name of every printed command line exists (checked against
# the resolved configurations those runs print: one disa start per file, not per line).
i=0
add_check() {  # add_check COMMAND_WORDS CMD...: `CMD --print-config` must succeed (run below)
  i=$((i + 1))
  printf '%s\n' "$1" >"$tmp/check$i.cmd"
  shift
  printf '%s\n' "$*" >"$tmp/check$i.what"
  printf 'cd %q && %s --print-config >%q 2>%q; echo $? >%q\n' "$root" "$(printf '%q ' "$@")" \
    "$tmp/check$i.cfg" "$tmp/check$i.err" "$tmp/check$i.rc" >"$tmp/check$i.sh"
}
while IFS= read -r f; do
  base=$(basename "$f")
  case "$base" in
    warm-start*.ini) cmd=(warm-start) ;;
    anchor*.ini) cmd=(anchor) ;;
    train-*.ini) cmd=(train) ;;
    eval*.ini) cmd=(eval) ;;
    *)
      read -r -a cmd < <(head -n 5 "$f" | grep -oE 'disa [a-z]+( [a-z]+)? .*--config' | head -n 1 |
        sed -E 's/^disa //; s/ --.*//')
      ;;
  esac
  if [ ${#cmd[@]} = 0 ]; then
    fail "$f: cannot tell its command from the name (warm-start/anchor/train-/eval) or a 'disa <command> ... --config' line at its top"
    continue
  fi
  add_check "${cmd[*]}" "$disa" "${cmd[@]}" --config "$f"
done < <(find configs -name '*.ini' | sort)
add_check "model init" "$disa" model init
add_check "anchor fit" "$disa" anchor fit
for f in warm-start.ini warm-start-strong.ini anchor.ini eval.ini train-disa.ini train-flowrl.ini train-grpo.ini train-gspo.ini train-sft.ini model.json README.md; do
  if [ -f "configs/study/$f" ]; then ok; else fail "missing configs/study/$f"; fi
done
for n in configs/gpu-1.5b configs/gpu-7b; do
  for f in anchor.ini eval.ini train-disa.ini train-flowrl.ini train-grpo.ini train-gspo.ini train-sft.ini; do
    if [ -f "$n/$f" ]; then ok; else fail "missing $n/$f"; fi
  done
done
par=$(nproc 2>/dev/null || echo 2)
if [ "$par" -gt 8 ]; then par=8; fi
find "$tmp" -name 'check*.sh' -print0 | xargs -0 -n 1 -P "$par" bash
for ((k = 1; k <= i; k++)); do
  if [ "$(cat "$tmp/check$k.rc" 2>/dev/null)" = 0 ]; then
    ok
    # The option names of the command: section.key of the resolved configuration (and
    # commented-out list options such as "# dataset =").
    opts="$tmp/options.$(tr ' ' _ <"$tmp/check$k.cmd")"
    if [ ! -f "$opts" ]; then
      awk '/^\[.*\]$/ { sec = substr($0, 2, length($0) - 2) "."; next }
           /^# [a-z0-9.-]+ =$/ { print sec $2; next }
           /^[a-z0-9.-]+ =/ { print sec $1 }' "$tmp/check$k.cfg" | sort -u >"$opts"
    fi
  else
    fail "$(cat "$tmp/check$k.what") --print-config: $(tail -n 3 "$tmp/check$k.err")"
  fi
done
lines=0
while IFS= read -r line; do
  eval "set -- $line"
  while [ $# -gt 0 ] && [ "$1" != "$disa" ]; do shift; done
  shift || continue
  if [ $# = 0 ] || [ "$1" = env ]; then continue; fi
  words=$1
  shift
  if [ "$words" = model ]; then words="model_$1"; shift; fi
  if [ "$words" = anchor ] && [ "${1:-}" = fit ]; then words="anchor_fit"; shift; fi
  if [ ! -f "$tmp/options.$words" ]; then
    fail "printed line runs 'disa ${words/_/ }', which no check covered: $line"
    continue
  fi
  lines=$((lines + 1))
  for a in "$@"; do
    case "$a" in
      --config) ;;
      --*)
        if grep -qxF -- "${a#--}" "$tmp/options.$words"; then ok; else
          fail "printed line: 'disa ${words/_/ }' has no option '$a': $line"
        fi
        ;;
    esac
  done
done < <(cat "$tmp"/*.out | grep -E '^(srun|mpirun) ' | sort -u)
if [ "$lines" -gt 20 ]; then ok; else fail "only $lines printed disa command lines were checked"; fi

echo "jobs_scripts: $checks checks passed, $failures failed ($i disa runs, $lines printed command lines)"
[ "$failures" = 0 ]
