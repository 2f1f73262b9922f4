#!/usr/bin/env bash
# `disa train` on one node without Slurm:
#   mpirun $DISA_MPIRUN_FLAGS -np $DISA_NP build/disa train --config CONFIG_DIR/train-$ALGORITHM.ini [ARGS...]
# Usage: ALGORITHM=grpo SCALE=gpu-1.5b jobs/mpirun-train.sh --train.model M --train.reference M \
#          --train.anchors runs/x/anchors.h5 --train.out runs/x/train-grpo [more disa train options]
#   env: DISA_NP ranks [2], ALGORITHM [disa], SCALE, CONFIG_DIR, CONFIG, DEVICE, DISA_BIN,
#        DISA_DRY_RUN=1 (print the mpirun line only). The mpirun flags come from
#        jobs/mpirun-flags.sh, sourced by jobs/mpirun-stage.sh, which this script runs.
# Resume an interrupted run (from its newest complete checkpoint, with any -np): add --train.resume.
set -euo pipefail
exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/mpirun-stage.sh" train "$@"
