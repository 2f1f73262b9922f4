#!/usr/bin/env bash
# Slurm job array: the proposal study of the anchors. Array task i anchors with the i-th
# proposal of the list
#   0: reference            q = pi_ref (weights exp(beta r))
#   1: model                q = a stronger model STRONG_MODEL (same tokenizer as the reference)
#   2..: mixture-<alpha>    the defensive mixture alpha q_strong + (1 - alpha) pi_ref, one task
#                           per alpha of ALPHAS (every weight is at most e^beta / (1 - alpha))
# -> RUN_DIR/sweep-proposal/<name>/anchors.h5. Stronger proposals (closer to p*) shrink the
# weights' relative variance V and so the bias and variance of log Zhat (docs/method.md §2);
# compare the files' diagnostics (ESS/N, k_hat, standard errors) with tools or h5py.
# For the 1.5B reference, Qwen2.5-7B-Instruct is a stronger proposal with the same tokenizer;
# at the tiny scale, the longer warm start of configs/tiny/warm-start-strong.ini
# (jobs/warm-start.sbatch).
#   mkdir -p logs && STRONG_MODEL=/models/Qwen2.5-7B-Instruct sbatch jobs/sweep-proposal.sh
#   (from the repo root; with another number of alphas: sbatch --array=0-<1 + count> ...)
#   env: STRONG_MODEL (required), ALPHAS (space-separated) ["0.25 0.5 0.75"], BETA (overrides
#        anchor.beta), SCALE, REFERENCE, RUN_DIR, ANCHOR_CONFIG [CONFIG_DIR/anchor.ini],
#        DEVICE, THREADS, RESUME, ... (jobs/common.sh)
#   print the srun lines instead (every task when not in an array job):
#        DISA_DRY_RUN=1 STRONG_MODEL=/models/strong bash jobs/sweep-proposal.sh
#   CPU only: DEVICE=cpu and no GPU request (see --gpus-per-node below).
#SBATCH --job-name=disa-sweep-proposal
#SBATCH --output=logs/%x_%A_%a.out
#SBATCH --error=logs/%x_%A_%a.err
# One array task per proposal: reference, model and 3 mixtures (tasks 0-4).
#SBATCH --array=0-4
# Ranks = GPUs: one task per GPU of each node.
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
# GPUs per node, equal to --ntasks-per-node. CPU only: disable the next line (write
# ##SBATCH) or submit to a CPU partition without it, and set DEVICE=cpu.
#SBATCH --gpus-per-node=4
#SBATCH --time=12:00:00
# Ahead of the time limit (300 s before it, or up to 60 s earlier: Slurm's resolution)
# every rank of the stage gets SIGTERM (no "B:": the signal goes to the srun steps, not to
# this shell), writes a resumable checkpoint and exits with code 75; a stage run with its
# resume option (RESUME=1) then requeues the job, which continues from the checkpoint
# (jobs/common.sh: DISA_REQUEUE). --requeue: the job may be requeued (by itself, after a
# node failure, on preemption) whatever the site's JobRequeue default.
#SBATCH --signal=TERM@300
#SBATCH --requeue
set -euo pipefail
DISA_SCRIPT=jobs/sweep-proposal.sh
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

read -r -a alphas <<<"${ALPHAS:-0.25 0.5 0.75}"
names=(reference model)
for a in "${alphas[@]}"; do names+=("mixture-$a"); done
anchor_config=${ANCHOR_CONFIG:-$CONFIG_DIR/anchor.ini}
if [ ! -f "$anchor_config" ]; then disa_die "no configuration '$anchor_config' (scale '$SCALE'; set SCALE, CONFIG_DIR or ANCHOR_CONFIG)"; fi
disa_reference
tasks=$(disa_array_tasks ${#names[@]})
for i in $tasks; do
  if [ "${names[$i]}" != reference ] && [ -z "${STRONG_MODEL:-}" ]; then
    disa_die "set STRONG_MODEL=/path/to/model: proposal '${names[$i]}' (array task $i) samples from a stronger model with the reference's tokenizer"
  fi
done
disa_stage_opts anchor
resume_opt=()
if [ "$RESUME" = 1 ]; then resume_opt=(--anchor.resume); fi
beta_opt=()
if [ -n "${BETA:-}" ]; then beta_opt=(--anchor.beta "$BETA"); fi

echo "== proposal sweep over ${names[*]} (array tasks $tasks): $anchor_config"
disa_prepare
for i in $tasks; do
  name=${names[$i]}
  dir=$RUN_DIR/sweep-proposal/$name
  case "$name" in
    reference) proposal=(--proposal.kind reference) ;;
    model) proposal=(--proposal.kind model --proposal.model "$STRONG_MODEL") ;;
    *) proposal=(--proposal.kind mixture --proposal.model "$STRONG_MODEL" --proposal.alpha "${name#mixture-}") ;;
  esac
  echo "== array task $i: proposal $name -> $dir"
  if ! disa_dry_run; then mkdir -p "$dir"; fi
  disa_srun "$DISA_BIN" anchor --config "$anchor_config" --anchor.reference "$REFERENCE" \
    "${proposal[@]}" "${beta_opt[@]}" --anchor.out "$dir/anchors.h5" "${DISA_STAGE_OPTS[@]}" "${resume_opt[@]}"
done
