#!/usr/bin/env bash
# Test fixture for the eval tests: two tiny random qwen2 models (policy and reference,
# byte-level tokenizer) and a copy of the policy briefly warm-started on small graph-path
# prompts, so that some samples are correct (exercises the judge and the diversity
# figures). Usage: make_fixture_models.sh DISA OUTDIR
set -euo pipefail
disa="$1"
out="$2"
rm -rf "$out"
mkdir -p "$out"
"$disa" model init --arch qwen2 --size tiny --seed 3 --out "$out/policy" --log.level warn
"$disa" model init --arch qwen2 --size tiny --seed 4 --out "$out/reference" --log.level warn
"$disa" warm-start --warm-start.model "$out/policy" --warm-start.out "$out/warm" --task.name graph_paths \
  --task.count 100 --task.graph-nodes 4 --task.graph-edge-probability 0.6 \
  --warm-start.steps "${DISA_EVAL_FIXTURE_STEPS:-60}" --warm-start.batch-size 16 --warm-start.lr 1e-2 \
  --warm-start.warmup 5 --warm-start.eval-samples 0 --warm-start.threads 2 --log.level warn
echo "fixture models in $out"
