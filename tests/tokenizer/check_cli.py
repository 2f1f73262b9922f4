"""Checks `disa tokenize` end to end against Hugging Face's `tokenizers` library, live.

For the Qwen3, Llama 3 and tiny byte-level tokenizers, texts go through
`disa tokenize --json` and id arrays through `disa tokenize --decode --json`; every result
must equal the reference's. (skip_special_tokens is checked by test_tokenizer_golden;
each disa run costs a tokenizer load and MPI start-up.)
Texts: the committed corpus, 1000 strings of stress pieces and 2000 strings of random
code points from many Unicode blocks; id arrays: the reference's ids of those texts and
1000 random arrays mixing special tokens and single bytes (broken UTF-8). Fixed seeds.

Usage: .venv/bin/python tests/tokenizer/check_cli.py PATH/TO/disa TOKENIZER_ROOT
  TOKENIZER_ROOT holds qwen3/ and llama3/ with tokenizer.json (the build's
  test_data/tokenizer, decompressed at configure time). Exit status 1 on a mismatch."""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_reference as ref  # noqa: E402


class Lcg:
    """The fixed-seed generator of the test inputs (glibc's constants)."""

    def __init__(self, seed):
        self.state = seed

    def __call__(self, n):
        self.state = (self.state * 1103515245 + 12345) % 2147483648
        return self.state % n


PIECES = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "a", "Z", "hello", "WORLD", "'s",
          "'LL", "'", "1", "12", "1234", ".", ",", "!?", "...", "(", ")", "{", "}", "\\", "$",
          "_", "-", "é", "e\u0301", "ß", "日本", "中文", "한", "😀", "👩‍👧", "\u200d", "🏽",
          "<|im_end|>", "<|endoftext|>", "<|im_start|>", "<|eot_id|>", "<think>", "<|", "|>",
          "ﬁ", "Å", "A\u030a", "١٢", "\u0085", "\u2028", "x\ty", "def ", "return"]
BLOCKS = [(0x20, 0x7e), (0x09, 0x0d), (0xa0, 0xff), (0x100, 0x17f), (0x300, 0x36f),
          (0x370, 0x3ff), (0x400, 0x4ff), (0x590, 0x6ff), (0x900, 0x97f), (0xe00, 0xe7f),
          (0x1100, 0x11ff), (0x2000, 0x206f), (0x2070, 0x209f), (0x2100, 0x214f),
          (0x2150, 0x218f), (0x2190, 0x23ff), (0x2460, 0x24ff), (0x3000, 0x303f),
          (0x3040, 0x30ff), (0x4e00, 0x4e80), (0xac00, 0xac80), (0xfb00, 0xfb4f),
          (0xfe00, 0xfe0f), (0xff00, 0xffef), (0x1d400, 0x1d4ff), (0x1f300, 0x1f64f),
          (0x1f900, 0x1f9ff), (0x1f1e6, 0x1f1ff), (0x1f3fb, 0x1f3ff), (0x200b, 0x200d),
          (0x30, 0x39), (0x27, 0x27)]


def test_texts(random):
    texts = ref.corpus()
    for _ in range(1000):
        texts.append("".join(PIECES[random(len(PIECES))] for _ in range(1 + random(12))))
    for _ in range(2000):
        s = ""
        for _ in range(1 + random(30)):
            a, b = BLOCKS[random(len(BLOCKS))]
            s += chr(a + random(b - a + 1))
        texts.append(s)
    return texts


def run_disa(disa, args, lines):
    out = subprocess.run([disa, "tokenize", *args], input="\n".join(lines) + "\n",
                         capture_output=True, text=True, encoding="utf-8")
    if out.returncode != 0:
        sys.exit(f"disa tokenize {' '.join(args)} failed ({out.returncode}):\n{out.stderr}")
    return [json.loads(l) for l in out.stdout.split("\n") if l]


def main():
    if len(sys.argv) != 3 or not os.path.exists(sys.argv[1]):
        sys.exit(__doc__)
    disa, root = sys.argv[1], sys.argv[2]
    random = Lcg(12345)
    texts = test_texts(random)
    t0 = time.time()
    failures = 0
    for name in ref.NAMES:
        directory = os.path.join(ref.DATA, "tiny") if name == "tiny" else os.path.join(root, name)
        if not os.path.exists(os.path.join(directory, "tokenizer.json")):
            sys.exit(f"{directory}/tokenizer.json is missing: configure the build (cmake) again")
        tok = ref.load(name)
        bad = 0

        def report(what, given, got, want):
            nonlocal bad
            bad += 1
            if bad <= 5:
                print(f"{name} {what} {json.dumps(given)}\n  disa {json.dumps(got)}\n"
                      f"  HF   {json.dumps(want)}", file=sys.stderr)

        got = run_disa(disa, ["--tokenizer", directory, "--json"], [json.dumps(t) for t in texts])
        want = [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)]
        for text, g, w in zip(texts, got, want):
            if g != w:
                report("encode", text, g, w)
        if len(got) != len(texts):
            report("encode", f"{len(texts)} lines", f"{len(got)} lines", "one per line")
        id_arrays = list(want)
        vocab = tok.get_vocab_size(with_added_tokens=True)
        specials = sorted(tok.get_added_tokens_decoder().keys())
        for _ in range(1000):
            ids = []
            for _ in range(1 + random(12)):
                if random(8) == 0:
                    ids.append(specials[random(len(specials))])
                elif random(3) == 0:
                    ids.append(random(256))
                else:
                    ids.append(random(vocab - len(specials)))
            id_arrays.append(ids)
        decoded = run_disa(disa, ["--tokenizer", directory, "--decode", "--json"],
                           [json.dumps(a) for a in id_arrays])
        for ids, g in zip(id_arrays, decoded):
            w = ref.decode(tok, ids, False)
            if g != w:
                report("decode", ids, g, w)
        print(f"{name}: {len(texts)} texts encoded, {len(id_arrays)} id arrays decoded: "
              f"{bad} mismatches with HF tokenizers [{time.time() - t0:.1f} s]")
        failures += bad
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
