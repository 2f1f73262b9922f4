#!/usr/bin/env bash
# Benchmark of `disa anchor` (not a test): throughput at 1 and 2 MPI ranks, and peak
# memory against the number of prompts (it must not grow with the trajectories: they go
# to the file as batches finish). Usage: bench/anchor_scaling.sh [BUILD_DIR] [MODEL_DIR]
# Without MODEL_DIR a tiny model is created and warm-started for 150 steps.
set -euo pipefail
build="${1:-build}"
disa="$build/disa"
work="$(mktemp -d /tmp/disa-bench-anchor.XXXXXX)"
source "$(dirname "$0")/../jobs/mpirun-flags.sh"
source "$(dirname "$0")/tiny_reference.sh"
model="${2:-}"
task=(--task.name graph_paths --task.graph-nodes 4 --task.graph-edge-probability 0.6)
if [ -z "$model" ]; then model=$(tiny_reference "$disa" "$work" "${task[@]}"); fi
run() {  # np prompts samples out [task options] -> prints "wall_s peak_rss_kb"
  local np=$1 prompts=$2 samples=$3 out=$4
  shift 4
  local opts=("${task[@]}")
  [ $# -gt 0 ] && opts=("$@")
  local start end
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  /usr/bin/time -f "%M" -o "$work/rss" mpirun $DISA_MPIRUN_FLAGS -np "$np" "$disa" anchor \
    --anchor.reference "$model" --anchor.out "$work/$out" "${opts[@]}" --task.count "$prompts" \
    --task.max-solutions 64 --anchor.samples "$samples" --anchor.batch-size 64 --anchor.max-new-tokens 16 \
    --anchor.bootstrap 0 --anchor.threads 1 --log.level warn > "$work/$out.log" 2>&1
  end=$(date +%s.%N)
  echo "$(echo "$end - $start" | bc) $(cat "$work/rss")"
}
echo "== throughput: 64 prompts x 32 samples =="
for np in 1 2; do
  read -r wall rss < <(run "$np" 64 32 "tp$np.h5")
  printf "ranks %d: %.2f s wall, %.0f samples/s (incl. start-up), mpirun peak RSS %d kB\n" \
    "$np" "$wall" "$(echo "2048 / $wall" | bc -l)" "$rss"
done
echo "== memory vs prompts (1 rank, 4 samples each, 8-node graphs; /usr/bin/time max RSS) =="
for prompts in 500 8000; do
  read -r wall rss < <(run 1 "$prompts" 4 "mem$prompts.h5" --task.name graph_paths --task.graph-nodes 8)
  printf "prompts %5d: %.2f s, peak RSS %d kB, file %s\n" "$prompts" "$wall" "$rss" \
    "$(du -h "$work/mem$prompts.h5" | cut -f1)"
done
rm -rf "$work"
