#!/usr/bin/env bash
# Slurm job array: the beta sensitivity sweep. Array task i takes the i-th beta of BETAS,
# anchors with it (disa anchor --anchor.beta B -> RUN_DIR/sweep-beta/beta-B/anchors.h5)
# and trains DISA on that partition file (--disa.beta B -> RUN_DIR/sweep-beta/beta-B/train/,
# and train-seed-<s>/ for each further seed of TRAIN_SEEDS).
# Larger beta sharpens the target p* and grows the relative variance V of the weights, so
# the anchors' bias -V/(2N) and variance V/N grow with it (docs/method.md §2).
#   mkdir -p logs && sbatch jobs/sweep-beta.sh
#   (from the repo root; with another number of betas: sbatch --array=0-<count-1> ...)
#   env: BETAS (space-separated) ["1 2 5 10 15"], SWEEP_TRAIN (0: anchors only) [1],
#        TRAIN_SEEDS (training seeds per beta; 1 is the configuration's own) ["1"],
#        SCALE, REFERENCE, RUN_DIR, ANCHOR_CONFIG [CONFIG_DIR/anchor.ini],
#        TRAIN_CONFIG [CONFIG_DIR/train-disa.ini], DEVICE, THREADS, RESUME, ... (jobs/common.sh)
#   print the srun lines instead (every task when not in an array job):
#        DISA_DRY_RUN=1 bash jobs/sweep-beta.sh
#   CPU only: DEVICE=cpu and no GPU request (see --gpus-per-node below).
#SBATCH --job-name=disa-sweep-beta
#SBATCH --output=logs/%x_%A_%a.out
#SBATCH --error=logs/%x_%A_%a.err
# One array task per beta of BETAS (5 values: tasks 0-4); each task is one multi-rank job.
#SBATCH --array=0-4
# Ranks = GPUs: one task per GPU of each node.
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
# GPUs per node, equal to --ntasks-per-node. CPU only: disable the next line (write
# ##SBATCH) or submit to a CPU partition without it, and set DEVICE=cpu.
#SBATCH --gpus-per-node=4
#SBATCH --time=24:00:00
# Ahead of the time limit (300 s before it, or up to 60 s earlier: Slurm's resolution)
# every rank of the stage gets SIGTERM (no "B:": the signal goes to the srun steps, not to
# this shell), writes a resumable checkpoint and exits with code 75; a stage run with its
# resume option (RESUME=1) then requeues the job, which continues from the checkpoint
# (jobs/common.sh: DISA_REQUEUE). --requeue: the job may be requeued (by itself, after a
# node failure, on preemption) whatever the site's JobRequeue default.
#SBATCH --signal=TERM@300
#SBATCH --requeue
set -euo pipefail
DISA_SCRIPT=jobs/sweep-beta.sh
# Slurm runs a copy of this script from its spool directory: the repository is DISA_ROOT,
# else this file's parent directory (bash jobs/...), else the submit directory.
for DISA_ROOT in "${DISA_ROOT:-}" "$(dirname "${BASH_SOURCE[0]}")/.." "${SLURM_SUBMIT_DIR:-}" ""; do
  if [ -f "$DISA_ROOT/jobs/common.sh" ]; then break; fi
done
if [ -z "$DISA_ROOT" ]; then
  echo "$DISA_SCRIPT: error: cannot find the disa repository (jobs/common.sh): submit from its root or set DISA_ROOT" >&2
  exit 2
fi
# shellcheck source=jobs/common.sh
source "$DISA_ROOT/jobs/common.sh"
disa_require_slurm
disa_banner
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
# NCCL: the collectives on CUDA tensors (the gradient all-reduce of data-parallel training;
# MPI carries the rest). Defaults are usually right; adapt to the site when needed:
#   NCCL_DEBUG=INFO        print the transports, interfaces and rings NCCL picked at start
#                          (first thing to read when a job hangs in a collective or is slow);
#                          WARN (set below) prints only problems.
#   NCCL_SOCKET_IFNAME=ib0 the network interface for NCCL's bootstrap and socket transport
#                          (e.g. ib0, eno1; "^lo,docker0" excludes interfaces).
#   NCCL_IB_HCA=mlx5_0,mlx5_1  the InfiniBand/RoCE adapters to use when a node has several.
#   NCCL_IB_DISABLE=1      no InfiniBand/RoCE: TCP sockets only (clusters without IB, or to
#                          rule the IB fabric out when debugging).
#   NCCL_P2P_LEVEL=NVL     how far apart two GPUs of a node may be for direct peer-to-peer
#                          copies: NVL (NVLink only), PIX, PXB, PHB, SYS (anything).
# export NCCL_SOCKET_IFNAME=ib0
# export NCCL_IB_HCA=mlx5_0
# export NCCL_IB_DISABLE=1
# export NCCL_P2P_LEVEL=NVL
export NCCL_DEBUG=${NCCL_DEBUG:-WARN}

read -r -a betas <<<"${BETAS:-1 2 5 10 15}"
anchor_config=${ANCHOR_CONFIG:-$CONFIG_DIR/anchor.ini}
train_config=${TRAIN_CONFIG:-$CONFIG_DIR/train-disa.ini}
for f in "$anchor_config" "$train_config"; do
  if [ ! -f "$f" ]; then disa_die "no configuration '$f' (scale '$SCALE'; set SCALE, CONFIG_DIR, ANCHOR_CONFIG or TRAIN_CONFIG)"; fi
done
disa_reference
tasks=$(disa_array_tasks ${#betas[@]})

echo "== beta sweep over ${betas[*]} (array tasks $tasks): $anchor_config + $train_config"
disa_prepare
for i in $tasks; do
  b=${betas[$i]}
  dir=$RUN_DIR/sweep-beta/beta-$b
  echo "== array task $i: beta $b -> $dir"
  if ! disa_dry_run; then mkdir -p "$dir"; fi
  disa_stage_opts anchor
  resume_opt=()
  if [ "$RESUME" = 1 ]; then resume_opt=(--anchor.resume); fi
  if [ "$RESUME" = 1 ] && [ -f "$dir/anchors.h5" ] && ! disa_dry_run; then
    # A requeued task (its training stopped with a checkpoint) keeps its finished anchors.
    echo "== $dir/anchors.h5 is complete (RESUME=1): no anchor step"
  else
    disa_srun "$DISA_BIN" anchor --config "$anchor_config" --anchor.reference "$REFERENCE" \
      --anchor.beta "$b" --anchor.out "$dir/anchors.h5" "${DISA_STAGE_OPTS[@]}" "${resume_opt[@]}"
  fi
  if [ "${SWEEP_TRAIN:-1}" = 1 ]; then
    disa_stage_opts train
    resume_opt=()
    if [ "$RESUME" = 1 ]; then resume_opt=(--train.resume); fi
    # Seed 1 is the training configuration's own seed (-> train/); any other -> train-seed-<s>/.
    for s in ${TRAIN_SEEDS:-1}; do
      seed_opts=(--train.out "$dir/train")
      if [ "$s" != 1 ]; then seed_opts=(--train.seed "$s" --train.out "$dir/train-seed-$s"); fi
      disa_srun "$DISA_BIN" train --config "$train_config" --train.algorithm disa \
        --train.model "$REFERENCE" --train.reference "$REFERENCE" --train.anchors "$dir/anchors.h5" \
        --disa.beta "$b" "${seed_opts[@]}" "${DISA_STAGE_OPTS[@]}" "${resume_opt[@]}"
    done
  fi
done
