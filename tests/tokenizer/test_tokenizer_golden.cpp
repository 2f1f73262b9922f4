// Golden tokenizer tests: disa's ids and decoded texts must equal those of Hugging Face's
// implementation (tests/data/tokenizer/expected_*.jsonl, made by make_golden.py with HF's
// `tokenizers`) on every string of tests/data/tokenizer/corpus.jsonl, for the real Qwen3
// and Llama 3 tokenizer.json files (committed xz-compressed, unpacked into
// DISA_TEST_TOKENIZERS_DIR at configure time) and for disa's tiny byte-level tokenizer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "disa/model/tokenizer.hpp"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

const std::string kData = std::string(DISA_TEST_DATA_DIR) + "/tokenizer";
const std::string kReal = DISA_TEST_TOKENIZERS_DIR;

std::vector<Json> read_jsonl(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::vector<Json> lines;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty()) continue;
    try {
      lines.push_back(Json::parse(line));
    } catch (const Json::parse_error& e) {
      ADD_FAILURE() << path << ":" << number << ": " << e.what();
    }
  }
  return lines;
}

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> texts = [] {
    std::vector<std::string> out;
    for (const Json& j : read_jsonl(kData + "/corpus.jsonl")) out.push_back(j.get<std::string>());
    return out;
  }();
  return texts;
}

// Directory of a reference tokenizer; empty (with a failure) when not installed.
std::string tokenizer_dir(const std::string& name) {
  if (name == "tiny") return kData + "/tiny";
  const std::string dir = kReal + "/" + name;
  if (!fs::exists(dir + "/tokenizer.json")) {
    ADD_FAILURE() << dir << "/tokenizer.json is missing: configure the build again (cmake "
                  << "unpacks tests/data/tokenizer/" << name << "/tokenizer.json.xz there)";
    return "";
  }
  return dir;
}

const disa::model::Tokenizer* tokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<disa::model::Tokenizer>> loaded;
  auto it = loaded.find(name);
  if (it != loaded.end()) return it->second.get();
  const std::string dir = tokenizer_dir(name);
  if (dir.empty()) return nullptr;
  auto tok = std::make_unique<disa::model::Tokenizer>(disa::model::Tokenizer::load(dir));
  return (loaded[name] = std::move(tok)).get();
}

std::string show(const std::vector<int32_t>& ids) { return Json(ids).dump(); }

void check_golden(const std::string& name) {
  const disa::model::Tokenizer* tok = tokenizer(name);
  ASSERT_NE(tok, nullptr);
  const auto& texts = corpus();
  const auto expected = read_jsonl(kData + "/expected_" + name + ".jsonl");
  ASSERT_GE(texts.size(), 300u);
  ASSERT_EQ(expected.size(), texts.size()) << "expected_" << name << ".jsonl is out of date";
  size_t id_mismatches = 0, decode_mismatches = 0;
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto want = expected[i]["ids"].get<std::vector<int32_t>>();
    const auto got = tok->encode(texts[i]);
    if (got != want && ++id_mismatches <= 10)
      ADD_FAILURE() << name << " corpus line " << i + 1 << " " << Json(texts[i]).dump() << "\n  disa: " << show(got)
                    << "\n  HF:   " << show(want);
    const std::string decoded = tok->decode(want);
    const std::string decoded_skip = tok->decode(want, /*skip_special_tokens=*/true);
    if ((decoded != expected[i]["decoded"].get<std::string>() ||
         decoded_skip != expected[i]["decoded_skip_special"].get<std::string>()) &&
        ++decode_mismatches <= 10)
      ADD_FAILURE() << name << " corpus line " << i + 1 << " decode\n  disa: " << Json(decoded).dump() << " / "
                    << Json(decoded_skip).dump() << "\n  HF:   " << expected[i]["decoded"].dump() << " / "
                    << expected[i]["decoded_skip_special"].dump();
  }
  EXPECT_EQ(id_mismatches, 0u) << name << ": strings whose ids differ from HF";
  EXPECT_EQ(decode_mismatches, 0u) << name << ": strings whose decoded text differs from HF";
}

TEST(TokenizerGolden, Qwen3MatchesHuggingFace) { check_golden("qwen3"); }
TEST(TokenizerGolden, Llama3MatchesHuggingFace) { check_golden("llama3"); }
TEST(TokenizerGolden, TinyByteLevelMatchesHuggingFace) { check_golden("tiny"); }

TEST(TokenizerGolden, FamiliesHaveTheirSizesAndSpecialTokens) {
  const disa::model::Tokenizer* qwen = tokenizer("qwen3");
  const disa::model::Tokenizer* llama = tokenizer("llama3");
  ASSERT_TRUE(qwen && llama);
  EXPECT_EQ(qwen->vocab_size(), 151669);
  EXPECT_EQ(qwen->eos_token_id(), 151645);  // <|im_end|>
  EXPECT_EQ(qwen->pad_token_id(), 151643);  // <|endoftext|>
  EXPECT_EQ(qwen->bos_token_id(), std::nullopt);
  EXPECT_EQ(qwen->token_to_id("<think>"), 151667);
  EXPECT_FALSE(qwen->is_special(151667));
  EXPECT_EQ(llama->vocab_size(), 128256);
  EXPECT_EQ(llama->bos_token_id(), 128000);
  EXPECT_EQ(llama->eos_token_id(), 128001);
  // The tokenizer.json files the golden ids were made from (tests/data/tokenizer/*/).
  EXPECT_EQ(qwen->fingerprint(), "df48170cd33ef65c")
      << "the unpacked Qwen3 tokenizer.json is not the one of the golden ids: regenerate with "
         "make_golden.py";
  EXPECT_EQ(llama->fingerprint(), "12802ca5426dc2b7")
      << "the unpacked Llama 3 tokenizer.json is not the one of the golden ids: regenerate with "
         "make_golden.py";
}

// Every corpus string decodes back to itself (after NFC for Qwen3, whose normalizer
// composes characters; the corpus's decomposed strings are skipped there).
TEST(TokenizerGolden, DecodeInvertsEncode) {
  for (const std::string name : {"llama3", "tiny"}) {
    const disa::model::Tokenizer* tok = tokenizer(name);
    ASSERT_NE(tok, nullptr);
    for (const auto& text : corpus()) EXPECT_EQ(tok->decode(tok->encode(text)), text) << name;
  }
}

// The committed tiny tokenizer is exactly what write_byte_level_tokenizer writes today,
// so the golden ids of the tiny tokenizer pin the writer's format too.
TEST(TokenizerGolden, TinyTokenizerFilesAreWhatTheWriterWrites) {
  const fs::path dir = fs::path(DISA_BINARY_DIR) / "test_scratch" / "tokenizer_golden_tiny";
  fs::remove_all(dir);
  disa::model::write_byte_level_tokenizer(dir.string(), {"<|endoftext|>", "<|im_start|>", "<|im_end|>"}, 0);
  for (const char* file : {"tokenizer.json", "tokenizer_config.json"}) {
    auto slurp = [](const fs::path& p) {
      std::ifstream in(p, std::ios::binary);
      std::ostringstream s;
      s << in.rdbuf();
      return s.str();
    };
    EXPECT_EQ(slurp(dir / file), slurp(fs::path(kData) / "tiny" / file)) << file;
  }
}

// The real tokenizers merge bytes: a string has many token sequences there.
TEST(TokenizerGolden, RealTokenizersHaveManyTokenizations) {
  for (const char* name : {"qwen3", "llama3"}) {
    const disa::model::Tokenizer* tok = tokenizer(name);
    ASSERT_NE(tok, nullptr);
    EXPECT_FALSE(tok->unique_tokenization()) << name;
  }
}

// Several threads encoding the corpus at once get the golden ids (shared BPE cache).
TEST(TokenizerGolden, ConcurrentEncodeMatchesGolden) {
  const disa::model::Tokenizer* tok = tokenizer("qwen3");
  ASSERT_NE(tok, nullptr);
  const auto& texts = corpus();
  const auto expected = read_jsonl(kData + "/expected_qwen3.jsonl");
  ASSERT_EQ(expected.size(), texts.size());
  std::vector<size_t> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (size_t w = 0; w < mismatches.size(); ++w)
    threads.emplace_back([&, w] {
      for (size_t k = 0; k < texts.size(); ++k) {
        const size_t i = (k * 7 + w * 131) % texts.size();
        if (tok->encode(texts[i]) != expected[i]["ids"].get<std::vector<int32_t>>()) ++mismatches[w];
      }
    });
  for (auto& t : threads) t.join();
  for (size_t w = 0; w < mismatches.size(); ++w) EXPECT_EQ(mismatches[w], 0u) << "thread " << w;
}

}  // namespace
