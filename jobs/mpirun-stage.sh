#!/usr/bin/env bash
# One stage on one node without Slurm (a workstation, a container, an interactive node):
#   mpirun $DISA_MPIRUN_FLAGS -np $DISA_NP build/disa STAGE --config FILE [ARGS...]
# Usage: jobs/mpirun-stage.sh STAGE [disa options...]
#   STAGE: warm-start, anchor, train, eval, or any other disa command (env, smoke, ...)
#   FILE:  CONFIG if set, else CONFIG_DIR/<stage>.ini (train: train-$ALGORITHM.ini,
#          ALGORITHM default disa) when it exists; without one, no --config is passed.
#   e.g.   SCALE=tiny jobs/mpirun-stage.sh anchor --anchor.reference runs/pipeline/reference
#   env:   DISA_NP ranks [2], DISA_BIN, SCALE, CONFIG_DIR, CONFIG, ALGORITHM, DEVICE (passed
#          as --STAGE.device), DISA_DRY_RUN=1 (print the mpirun line only) (jobs/common.sh)
# Arguments are passed through unchanged; relative paths are relative to the repository
# (the command runs there). Every output path comes from the arguments or the INI file.
# On a cluster, prefer the sbatch scripts (jobs/*.sbatch): srun starts one rank per GPU
# across nodes.
set -euo pipefail
DISA_SCRIPT=jobs/mpirun-stage.sh
DISA_ROOT=${DISA_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# shellcheck source=jobs/common.sh
source "$DISA_ROOT/jobs/common.sh"
# shellcheck source=jobs/mpirun-flags.sh
source "$DISA_ROOT/jobs/mpirun-flags.sh"

if [ $# -lt 1 ] || [ "${1#-}" != "$1" ]; then
  echo "usage: $DISA_SCRIPT STAGE [disa options...]   (STAGE: warm-start, anchor, train, eval, env, ...)" >&2
  exit 2
fi
stage=$1
shift
case "$stage" in
  train) file=train-${ALGORITHM:-disa}.ini ;;
  *) file=$stage.ini ;;
esac
args=()
if [ -n "${CONFIG:-}" ] || [ -f "$CONFIG_DIR/$file" ]; then
  disa_config "$file"
  args+=(--config "$CONFIG")
else
  echo "$DISA_SCRIPT: note: no $CONFIG_DIR/$file: running 'disa $stage' without --config" >&2
fi
if [ -n "${ALGORITHM:-}" ] && [ "$stage" = train ]; then args+=(--train.algorithm "$ALGORITHM"); fi
if [ -n "${DEVICE:-}" ]; then args+=("--$stage.device" "$DEVICE"); fi
read -r -a mpirun_flags <<<"$DISA_MPIRUN_FLAGS"
disa_exec mpirun "${mpirun_flags[@]}" -np "${DISA_NP:-2}" "$DISA_BIN" "$stage" "${args[@]}" "$@"
