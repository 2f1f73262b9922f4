#!/usr/bin/env bash
# Benchmark of stage memory (not a test): peak resident memory of `disa eval` against the
# number of prompts, and of offline `disa train` (DISA on stored trajectories) against the
# size of the partition file. Both must stay flat: eval streams its rows to
# EVAL.incomplete round by round, offline training reads each step's rows from the file.
#   bench/stage_memory.sh [BUILD_DIR] [MODEL_DIR] [SMALL LARGE [TRAIN_SMALL TRAIN_LARGE]]
# (prompt counts of eval, default 500 8000, and of the partition files, default 250 2000, 8
# samples each)
# Without MODEL_DIR a tiny model is created and warm-started for 150 steps. Prints one
# line per run: stage, size, wall seconds, peak RSS (the largest process of the mpirun, kB).
set -euo pipefail
build="${1:-build}"
disa="$build/disa"
model="${2:-}"
small="${3:-500}"
large="${4:-8000}"
train_small="${5:-250}"
train_large="${6:-2000}"
work="$(mktemp -d /tmp/disa-bench-memory.XXXXXX)"
source "$(dirname "$0")/../jobs/mpirun-flags.sh"
source "$(dirname "$0")/tiny_reference.sh"
# 7-node graphs: tens of thousands of distinct prompts with a path.
task=(--task.name graph_paths --task.graph-nodes 7 --task.graph-edge-probability 0.5 --task.max-solutions 64)
if [ -z "$model" ]; then model=$(tiny_reference "$disa" "$work" "${task[@]}"); fi
measure() {  # label size command... -> "label size wall_s peak_rss_kb"
  local label=$1 size=$2
  shift 2
  local start end
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  /usr/bin/time -f "%M" -o "$work/rss" mpirun $DISA_MPIRUN_FLAGS -np 2 "$@" > "$work/$label-$size.log" 2>&1 ||
    { echo "$label $size: failed, see $work/$label-$size.log" >&2; exit 1; }
  end=$(date +%s.%N)
  printf "%-14s %6d prompts  %8.1f s  peak RSS %8d kB\n" "$label" "$size" "$(echo "$end - $start" | bc)" "$(cat "$work/rss")"
}
for n in "$small" "$large"; do
  measure eval "$n" "$disa" eval --eval.model "$model" --eval.reference "$model" --eval.out "$work/eval-$n.h5" \
    "${task[@]}" --task.split test --task.count "$n" --eval.samples 8 --eval.max-new-tokens 16 --eval.exact false --eval.threads 1 \
    --log.level warn
done
for n in "$train_small" "$train_large"; do
  "$disa" anchor --anchor.reference "$model" --anchor.out "$work/anchors-$n.h5" "${task[@]}" --task.count "$n" \
    --anchor.samples 8 --anchor.batch-size 256 --anchor.max-new-tokens 16 --anchor.bootstrap 0 --anchor.beta 3 \
    --anchor.threads 2 --log.level warn
  printf "partition file: %d prompts x 8 samples, %s\n" "$n" "$(du -h "$work/anchors-$n.h5" | cut -f1)"
  measure train-offline "$n" "$disa" train --train.algorithm disa --train.source offline --train.model "$model" \
    --train.anchors "$work/anchors-$n.h5" --train.out "$work/train-$n" "${task[@]}" --task.count "$n" \
    --disa.beta 3 --train.max-new-tokens 16 --train.steps 5 --train.prompts-per-step 8 --train.threads 1 \
    --log.level warn
done
echo "work directory: $work"
