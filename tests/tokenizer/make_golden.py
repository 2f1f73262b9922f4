"""Writes the golden expected ids of the tokenizer tests with Hugging Face's own
implementation: the `tokenizers` library (Rust, through its Python binding), pinned in
tools/requirements.txt. Tokenizers: the real Qwen3 and Llama 3 tokenizer.json files
(tests/data/tokenizer/{qwen3,llama3}/tokenizer.json.xz) and disa's tiny byte-level
tokenizer (tests/data/tokenizer/tiny, written by write_byte_level_tokenizer).

Usage (from the repository root, after tools/install-deps.sh):
    .venv/bin/python tests/tokenizer/make_golden.py          # rewrite expected_*.jsonl
    .venv/bin/python tests/tokenizer/make_golden.py --check  # exit 1 if any line differs

Reads tests/data/tokenizer/corpus.jsonl (one JSON string per line) and writes
tests/data/tokenizer/expected_<name>.jsonl: per line {"ids", "decoded",
"decoded_skip_special"} (encode without special tokens, decode without clean-up)."""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference as ref  # noqa: E402


def golden_lines(name, texts):
    tok = ref.load(name)
    lines = []
    for text in texts:
        ids = tok.encode(text, add_special_tokens=False).ids
        entry = {"ids": ids, "decoded": ref.decode(tok, ids, False),
                 "decoded_skip_special": ref.decode(tok, ids, True)}
        lines.append(json.dumps(entry, ensure_ascii=False, separators=(",", ":")))
    return lines


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true",
                   help="compare with the committed files instead of writing them")
    args = p.parse_args()
    texts = ref.corpus()
    failures = 0
    for name in ref.NAMES:
        path = os.path.join(ref.DATA, f"expected_{name}.jsonl")
        lines = golden_lines(name, texts)
        if args.check:
            with open(path, encoding="utf-8") as f:
                committed = [json.loads(l) for l in f if l.strip()]
            fresh = [json.loads(l) for l in lines]
            bad = [i for i in range(max(len(fresh), len(committed)))
                   if i >= len(fresh) or i >= len(committed) or fresh[i] != committed[i]]
            for i in bad[:5]:
                print(f"{path}:{i + 1}: HF tokenizers gives "
                      f"{fresh[i] if i < len(fresh) else None}, committed "
                      f"{committed[i] if i < len(committed) else None}", file=sys.stderr)
            print(f"{name}: {len(texts)} strings, {len(bad)} differ from {path}")
            failures += len(bad)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
            print(f"{name}: {len(lines)} strings -> {path}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
