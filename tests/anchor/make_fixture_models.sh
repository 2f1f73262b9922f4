#!/usr/bin/env bash
# Test fixture for the anchor tests: a tiny qwen2 model warm-started on small graph-path
# prompts (the reference pi_ref; its pass rate is small, ~0.02, but not 0), a longer-trained copy
# (a "stronger" proposal) and a copy of the reference with another tokenizer (to test
# the refusal). Usage: make_fixture_models.sh DISA OUTDIR
set -euo pipefail
disa="$1"
out="$2"
rm -rf "$out"
mkdir -p "$out"
task=(--task.name graph_paths --task.count 200 --task.graph-nodes 4 --task.graph-edge-probability 0.6)
"$disa" model init --arch qwen2 --size tiny --seed 3 --out "$out/init" --log.level warn
"$disa" warm-start --warm-start.model "$out/init" --warm-start.out "$out/reference" "${task[@]}" \
  --warm-start.steps "${DISA_FIXTURE_STEPS:-150}" --warm-start.batch-size 32 --warm-start.lr 1e-2 \
  --warm-start.log-every 100 --warm-start.eval-samples 0 --log.level warn
"$disa" warm-start --warm-start.model "$out/reference" --warm-start.out "$out/strong" "${task[@]}" \
  --warm-start.steps "${DISA_FIXTURE_STRONG_STEPS:-150}" --warm-start.batch-size 32 --warm-start.lr 5e-3 \
  --warm-start.seed 2 --warm-start.eval-samples 0 --log.level warn
# Same weights, another tokenizer: one more added token changes the fingerprint.
cp -r "$out/reference" "$out/other_tokenizer"
/usr/bin/python3 - "$out/other_tokenizer/tokenizer.json" <<'PY'
import json, sys
path = sys.argv[1]
tok = json.load(open(path))
next_id = max(t["id"] for t in tok["added_tokens"]) + 1
tok["added_tokens"].append({"id": next_id, "content": "<|extra|>", "single_word": False, "lstrip": False,
                            "rstrip": False, "normalized": False, "special": True})
json.dump(tok, open(path, "w"))
PY
echo "fixture models in $out"
