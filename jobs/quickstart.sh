#!/usr/bin/env bash
# The README's first command: installs the system packages, builds disa, and runs the
# main job on the embedded default on this machine with `mpirun -np 2`.
# The main job: the runtime check (`disa smoke`: communicator and parallel HDF5 on 2
# ranks), then jobs/pipeline.sh on the embedded default (tiny model, warm start, anchors,
# sensitivity study, training with disa/flowrl/grpo/gspo/sft, evaluation, report).
# Output goes to runs/quickstart/ (report in runs/quickstart/report/). Tracked files are
# left alone: DISA_DOCS=docs/results.md also regenerates the committed results page.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$(date +%s)
bash tools/install-deps.sh
bash tools/build.sh
source jobs/mpirun-flags.sh
np="${DISA_NP:-2}"
out=runs/quickstart
mkdir -p "$out"
# shellcheck disable=SC2086
mpirun $DISA_MPIRUN_FLAGS -np "$np" build/disa smoke --smoke.out "$out/smoke.h5"
DISA_NP="$np" DISA_DOCS="${DISA_DOCS-}" bash jobs/pipeline.sh "$out"
echo "quickstart: done in $(( $(date +%s) - start )) s (setup and build included); output in $out/"
