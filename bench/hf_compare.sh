#!/usr/bin/env bash
# disa against HF transformers on the CPU, in one run, on the same model directories
# (issue 14, items 3 and 4): bench_model --model DIR and bench/hf_peer.py on
#   * qwen3-152k: a random Qwen3-shaped model (hidden 256, intermediate 640, 4 layers,
#     4 heads of 64, 2 kv heads, tied embeddings, 41.7M parameters) with the real Qwen3
#     tokenizer and its vocabulary of 151,936 ids (transformers' Qwen3Config, seed 0);
#   * small: disa's `small` preset (`disa model init --size small`, vocabulary 320).
# One thread each (OMP_NUM_THREADS=1, MKL_NUM_THREADS=1, torch.set_num_threads(1),
# bench_model --threads 1), batch 64, prompt 32, new 32: decode at batch 64 with 32 new
# tokens (the issue's decode numbers) and the training step on 64 sequences of 64 tokens
# (item 4). Prints both JSON lines and a table disa / HF / ratio per metric (ratio > 1:
# disa is better; for times and memory the ratio is HF / disa).
#   bench/hf_compare.sh [--batch 64] [--prompt 32] [--new 32] [--threads 1] [--models qwen3-152k,small]
# Environment: DISA_BUILD_DIR (default build), DISA_PYTHON (default .venv/bin/python),
# DISA_BENCH_DIR (model directories and JSON lines; default /tmp/disa-hf-compare),
# DISA_QWEN3_TOKENIZER (folder with tokenizer.json[.xz] and tokenizer_config.json; default
# ../shared/fixtures/tokenizers/qwen3 beside the repository).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
build="${DISA_BUILD_DIR:-build}"
python="${DISA_PYTHON:-$root/.venv/bin/python}"
work="${DISA_BENCH_DIR:-/tmp/disa-hf-compare}"
tok_dir="${DISA_QWEN3_TOKENIZER:-$root/../shared/fixtures/tokenizers/qwen3}"
batch=64 prompt=32 new=32 threads=1 models=qwen3-152k,small
while [ $# -gt 0 ]; do
  case "$1" in
    --batch) batch=$2 ;;
    --prompt) prompt=$2 ;;
    --new) new=$2 ;;
    --threads) threads=$2 ;;
    --models) models=$2 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "hf_compare: unknown option $1" >&2; exit 2 ;;
  esac
  shift 2
done
bench="$build/bench/bench_model"
disa="$build/disa"
for f in "$bench" "$disa" "$python"; do
  [ -x "$f" ] || { echo "hf_compare: $f not found (build with tools/build.sh; DISA_PYTHON for python)" >&2; exit 1; }
done
mkdir -p "$work"
export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads TOKENIZERS_PARALLELISM=false

make_model() {
  local name=$1 dir="$work/$1"
  [ -f "$dir/config.json" ] && return 0
  case "$name" in
    small) "$disa" model init --arch qwen2 --size small --seed 0 --out "$dir" >/dev/null ;;
    qwen3-152k)
      mkdir -p "$dir"
      if [ -f "$tok_dir/tokenizer.json" ]; then cp "$tok_dir/tokenizer.json" "$dir/"
      else xz -dc "$tok_dir/tokenizer.json.xz" > "$dir/tokenizer.json"; fi
      cp "$tok_dir/tokenizer_config.json" "$dir/"
      "$python" - "$dir" <<'EOF'
import sys, torch, transformers
cfg = transformers.Qwen3Config(
    vocab_size=151936, hidden_size=256, intermediate_size=640, num_hidden_layers=4,
    num_attention_heads=4, num_key_value_heads=2, head_dim=64, tie_word_embeddings=True,
    max_position_embeddings=4096, rope_theta=1000000.0, rms_norm_eps=1e-6,
    bos_token_id=151643, eos_token_id=151645)
torch.manual_seed(0)
model = transformers.Qwen3ForCausalLM(cfg).to(torch.float32)
model.save_pretrained(sys.argv[1])
print(f"hf_compare: wrote {sys.argv[1]} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters)",
      file=sys.stderr)
EOF
      ;;
    *) echo "hf_compare: unknown model $name (qwen3-152k, small)" >&2; exit 2 ;;
  esac
}

echo "hf_compare: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc --all) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), batch $batch, prompt $prompt, new $new, $threads thread(s)"
for name in ${models//,/ }; do
  make_model "$name"
  dir="$work/$name"
  "$bench" --model "$dir" --batch "$batch" --prompt "$prompt" --new "$new" --threads "$threads" | tee "$work/$name.disa.json"
  "$python" "$root/bench/hf_peer.py" --model "$dir" --batch "$batch" --prompt "$prompt" --new "$new" \
    --threads "$threads" 2> "$work/$name.hf.log" | tee "$work/$name.hf.json"
done

"$python" - "$work" ${models//,/ } <<'EOF'
import json, sys
work, names = sys.argv[1], sys.argv[2:]
# (key, label, higher is better)
metrics = [("prefill_tok_s", "prefill tokens/s", True), ("decode_tok_s", "decode tokens/s", True),
           ("score_tok_s", "scoring tokens/s", True), ("train_step_s", "training step s", False),
           ("peak_rss_gen_mib", "peak RSS after decode MiB", False), ("peak_rss_mib", "peak RSS MiB", False)]
for name in names:
    d = json.load(open(f"{work}/{name}.disa.json"))
    h = json.load(open(f"{work}/{name}.hf.json"))
    print(f"\n{name}: {d['params'] / 1e6:.1f}M parameters, vocab {d['vocab']}, batch {d['batch']}, "
          f"prompt {d['prompt']}, new {d['new']}, {d['threads']} thread(s); "
          f"torch {h['torch']}, transformers {h['transformers']}")
    print("| metric | disa | HF transformers | ratio (disa better > 1) |")
    print("|---|---:|---:|---:|")
    for key, label, higher in metrics:
        a, b = d[key], h[key]
        ratio = a / b if higher else b / a
        print(f"| {label} | {a:,.1f} | {b:,.1f} | {ratio:.2f} |")
EOF
