"""Shared pieces of the tokenizer reference scripts: where the reference tokenizers are,
and Hugging Face's `tokenizers` library (Python binding of the Rust implementation, from
the project's virtual environment, tools/install-deps.sh) loaded on them.

The real Qwen3 and Llama 3 tokenizer.json files are committed xz-compressed under
tests/data/tokenizer/{qwen3,llama3}/ and decompressed by CMake's configure step into
<build>/test_data/tokenizer/<name>/ (tests/CMakeLists.txt); the tiny byte-level tokenizer
is committed as it is (tests/data/tokenizer/tiny)."""
import json
import lzma
import os
import sys

from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "data", "tokenizer"))
NAMES = ("qwen3", "llama3", "tiny")


def tokenizer_json(name):
    """The text of the reference tokenizer.json of `name` (decompressed in memory)."""
    if name == "tiny":
        with open(os.path.join(DATA, "tiny", "tokenizer.json"), encoding="utf-8") as f:
            return f.read()
    path = os.path.join(DATA, name, "tokenizer.json.xz")
    if not os.path.exists(path):
        sys.exit(f"{path} is missing (it is committed with the tests)")
    with lzma.open(path, "rt", encoding="utf-8") as f:
        return f.read()


def load(name):
    return Tokenizer.from_str(tokenizer_json(name))


def corpus():
    with open(os.path.join(DATA, "corpus.jsonl"), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def decode(tok, ids, skip_special_tokens):
    # tokenizers' decode has no clean_up_tokenization_spaces (that is transformers').
    return tok.decode(ids, skip_special_tokens=skip_special_tokens) if ids else ""
