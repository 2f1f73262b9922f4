// Unit tests of the tokenizer: the tiny byte-level tokenizer (one token per byte, special
// tokens, round trips), BPE merge order, Split behaviours, NFC, added-token stripping,
// post-processor templates, and the errors for bad or unsupported tokenizer.json content.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "disa/core/error.hpp"
#include "disa/model/tokenizer.hpp"

namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

// A fresh directory under the build tree for one test.
std::string scratch_dir(const std::string& name) {
  const fs::path dir = fs::path(DISA_BINARY_DIR) / "test_scratch" / "tokenizer" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

// A tokenizer.json over raw characters (no byte-level mapping) for component tests.
Json char_tokenizer(const Json& vocab, const Json& merges) {
  return Json{{"version", "1.0"},
              {"truncation", nullptr},
              {"padding", nullptr},
              {"added_tokens", Json::array()},
              {"normalizer", nullptr},
              {"pre_tokenizer", nullptr},
              {"post_processor", nullptr},
              {"decoder", nullptr},
              {"model",
               {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"vocab", vocab},
                {"merges", merges}}}};
}

disa::model::Tokenizer load_json(const std::string& name, const Json& j) {
  const std::string dir = scratch_dir(name);
  write_text(dir + "/tokenizer.json", j.dump());
  return disa::model::Tokenizer::load(dir);
}

// The message of the ModelError that loading `j` throws ("" if none).
std::string load_error(const std::string& name, const Json& j) {
  try {
    load_json(name, j);
  } catch (const disa::core::ModelError& e) {
    return e.what();
  }
  return "";
}

std::vector<int32_t> byte_ids(const std::string& s) {
  std::vector<int32_t> ids;
  for (unsigned char c : s) ids.push_back(c);
  return ids;
}

const std::vector<std::string> kSpecials = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};

TEST(TinyByteLevelTokenizer, EveryByteIsOneTokenAndRoundTrips) {
  const std::string dir = scratch_dir("tiny");
  disa::model::write_byte_level_tokenizer(dir, kSpecials, 2);
  const auto tok = disa::model::Tokenizer::load(dir);
  EXPECT_EQ(tok.vocab_size(), 259);
  EXPECT_EQ(tok.eos_token_id(), 258);
  EXPECT_EQ(tok.bos_token_id(), std::nullopt);
  EXPECT_EQ(tok.token_to_id("<|im_start|>"), 257);
  EXPECT_EQ(tok.token_to_id("Ġ"), 32);  // GPT-2's symbol of the space byte
  EXPECT_EQ(tok.token_to_id("a"), 97);
  EXPECT_EQ(tok.special_token_ids(), (std::vector<int32_t>{256, 257, 258}));
  const std::vector<std::string> texts = {"",
                                          "hello world",
                                          "  two  spaces\t\ttabs\n\nnewlines\r\n",
                                          "x = 12345 + 6789;",
                                          "naïve café",
                                          "日本語のテキスト",
                                          "👩‍👩‍👧 family",
                                          "don't I'LL",
                                          "\\frac{a}{b}"};
  for (const auto& text : texts) {
    const auto ids = tok.encode(text);
    EXPECT_EQ(ids, byte_ids(text)) << text;
    EXPECT_EQ(tok.decode(ids), text) << text;
  }
  // Every single byte value, including the ones that are not valid UTF-8 on their own.
  for (int b = 0; b < 256; ++b) {
    EXPECT_EQ(tok.id_to_token(b).has_value(), true);
    if (b < 0x80) {
      EXPECT_EQ(tok.encode(std::string(1, char(b))), std::vector<int32_t>{b});
    }
  }
}

TEST(TinyByteLevelTokenizer, SpecialTokensInsideText) {
  const std::string dir = scratch_dir("tiny_special");
  disa::model::write_byte_level_tokenizer(dir, kSpecials, 0);
  const auto tok = disa::model::Tokenizer::load(dir);
  EXPECT_EQ(tok.eos_token_id(), 256);
  const std::string text = "<|im_start|>user\nhi<|im_end|><|endoftext|>";
  std::vector<int32_t> expected{257};
  for (int32_t id : byte_ids("user\nhi")) expected.push_back(id);
  expected.push_back(258);
  expected.push_back(256);
  EXPECT_EQ(tok.encode(text), expected);
  EXPECT_EQ(tok.decode(expected), text);
  EXPECT_EQ(tok.decode(expected, /*skip_special_tokens=*/true), "user\nhi");
  // A partial special token is plain bytes.
  EXPECT_EQ(tok.encode("<|im_end|"), byte_ids("<|im_end|"));
  // The ByteLevel post-processor adds no tokens.
  EXPECT_EQ(tok.encode("ab", /*add_special_tokens=*/true), byte_ids("ab"));
}

TEST(TinyByteLevelTokenizer, WriterRejectsBadArguments) {
  const std::string dir = scratch_dir("tiny_bad");
  EXPECT_THROW(disa::model::write_byte_level_tokenizer(dir, kSpecials, 3), disa::core::ModelError);
  EXPECT_THROW(disa::model::write_byte_level_tokenizer(dir, {"<a>", "<a>"}, 0), disa::core::ModelError);
  EXPECT_THROW(disa::model::write_byte_level_tokenizer(dir, {"<a>", "a"}, 0), disa::core::ModelError);
  EXPECT_THROW(disa::model::write_byte_level_tokenizer(dir, {std::string("\xff")}, 0), disa::core::ModelError);
}

TEST(Tokenizer, InvalidUtf8AndIdsWithoutToken) {
  const std::string dir = scratch_dir("utf8");
  disa::model::write_byte_level_tokenizer(dir, kSpecials, 2);
  const auto tok = disa::model::Tokenizer::load(dir);
  try {
    tok.encode("ok\xc3(");
    FAIL() << "no error for invalid UTF-8";
  } catch (const disa::core::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("byte 2"), std::string::npos) << e.what();
  }
  // Byte tokens that do not form UTF-8 decode to U+FFFD, one per maximal ill-formed part.
  EXPECT_EQ(tok.decode({0xE6, 0x97, 'a'}),
            "\xEF\xBF\xBD"
            "a");
  EXPECT_EQ(tok.decode({0xFF, 0xFE}), "\xEF\xBF\xBD\xEF\xBF\xBD");
  // Ids without a token (a padded model vocabulary) are skipped, as HF's decode does.
  EXPECT_EQ(tok.decode({'a', 259, 'b', 100000, -1}), "ab");
}

TEST(Tokenizer, FingerprintFollowsTokenizerJson) {
  const std::string a = scratch_dir("fp_a"), b = scratch_dir("fp_b");
  disa::model::write_byte_level_tokenizer(a, kSpecials, 2);
  disa::model::write_byte_level_tokenizer(b, {"<|endoftext|>"}, 0);
  const auto ta = disa::model::Tokenizer::load(a), ta2 = disa::model::Tokenizer::load(a),
             tb = disa::model::Tokenizer::load(b);
  EXPECT_EQ(ta.fingerprint().size(), 16u);
  EXPECT_EQ(ta.fingerprint(), ta2.fingerprint());
  EXPECT_NE(ta.fingerprint(), tb.fingerprint());
}

TEST(Bpe, MergesApplyInRankOrderLeftmostFirst) {
  const Json vocab{{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}, {"aa", 6}};
  // "b c" outranks "a b", so "abc" is a + bc, then "a bc".
  const auto tok = load_json("bpe_rank", char_tokenizer(vocab, Json::array({"b c", "a b", "a bc", "a a"})));
  EXPECT_EQ(tok.encode("abc"), (std::vector<int32_t>{5}));
  EXPECT_EQ(tok.encode("ab"), (std::vector<int32_t>{3}));
  EXPECT_EQ(tok.encode("cab"), (std::vector<int32_t>{2, 3}));
  // Equal ranks: the leftmost pair merges first.
  EXPECT_EQ(tok.encode("aaa"), (std::vector<int32_t>{6, 0}));
  // Pair format ["a", "b"] gives the same model.
  const auto pairs =
      load_json("bpe_pairs", char_tokenizer(vocab, Json::array({Json::array({"b", "c"}), Json::array({"a", "b"}),
                                                                Json::array({"a", "bc"})})));
  EXPECT_EQ(pairs.encode("abc"), (std::vector<int32_t>{5}));
  // A character outside the vocabulary without unk_token is an error, not a silent drop.
  EXPECT_THROW(tok.encode("abd"), disa::core::DataError);
}

// A string has one token sequence only when every non-special token is one symbol: the
// exact log Z and the exact metrics rely on it (stage::inexact_solution_scoring).
TEST(Tokenizer, UniqueTokenizationOnlyWithoutMergedTokens) {
  const std::string dir = scratch_dir("unique_tiny");
  disa::model::write_byte_level_tokenizer(dir, kSpecials, 0);
  EXPECT_TRUE(disa::model::Tokenizer::load(dir).unique_tokenization());  // the special tokens do not count
  // "ab" is a second token sequence of the string "ab" besides a + b.
  EXPECT_FALSE(load_json("unique_merged", char_tokenizer(Json{{"a", 0}, {"b", 1}, {"ab", 2}}, Json::array({"a b"})))
                   .unique_tokenization());
  EXPECT_TRUE(load_json("unique_chars", char_tokenizer(Json{{"a", 0}, {"b", 1}}, Json::array())).unique_tokenization());
}

TEST(Bpe, IgnoreMergesTakesWholeVocabularyPieces) {
  // "abc" is in the vocabulary but no merge chain reaches it.
  const Json vocab{{"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"abc", 4}};
  Json j = char_tokenizer(vocab, Json::array({"a b"}));
  EXPECT_EQ(load_json("bpe_merges", j).encode("abc"), (std::vector<int32_t>{3, 2}));
  j["model"]["ignore_merges"] = true;
  EXPECT_EQ(load_json("bpe_ignore", j).encode("abc"), (std::vector<int32_t>{4}));
}

TEST(Bpe, UnknownTokenAndFusing) {
  const Json vocab{{"<unk>", 0}, {"a", 1}};
  Json j = char_tokenizer(vocab, Json::array());
  j["model"]["unk_token"] = "<unk>";
  EXPECT_EQ(load_json("unk", j).encode("axya"), (std::vector<int32_t>{1, 0, 0, 1}));
  j["model"]["fuse_unk"] = true;
  EXPECT_EQ(load_json("unk_fused", j).encode("axya"), (std::vector<int32_t>{1, 0, 1}));
}

// Split on " " over a vocabulary where merges across the split are visible.
std::vector<int32_t> split_ids(const std::string& name, const std::string& behavior, bool invert) {
  const Json vocab{{"a", 0}, {" ", 1}, {"a ", 2}, {" a", 3}};
  Json j = char_tokenizer(vocab, Json::array({Json::array({"a", " "}), Json::array({" ", "a"})}));
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", behavior}, {"invert", invert}};
  return load_json(name, j).encode("a a");
}

TEST(PreTokenizer, SplitBehaviours) {
  using V = std::vector<int32_t>;
  EXPECT_EQ(split_ids("isolated", "Isolated", false), (V{0, 1, 0}));
  EXPECT_EQ(split_ids("removed", "Removed", false), (V{0, 0}));
  EXPECT_EQ(split_ids("previous", "MergedWithPrevious", false), (V{2, 0}));
  EXPECT_EQ(split_ids("next", "MergedWithNext", false), (V{0, 3}));
  EXPECT_EQ(split_ids("contiguous", "Contiguous", false), (V{0, 1, 0}));
  EXPECT_EQ(split_ids("removed_inv", "Removed", true), (V{1}));
}

TEST(PreTokenizer, RegexSplitUsesUnicodeProperties) {
  // \p{L}+ pieces: a merge "c d" must not apply across the space; ö and ß are letters.
  const Json vocab{{"c", 0}, {"d", 1}, {" ", 2}, {"cd", 3}, {"ö", 4}, {"ß", 5}, {"1", 6}};
  Json j = char_tokenizer(vocab, Json::array({"c d"}));
  j["pre_tokenizer"] = {{"type", "Split"},
                        {"pattern", {{"Regex", "\\p{L}+|\\p{N}|\\s+"}}},
                        {"behavior", "Isolated"},
                        {"invert", false}};
  const auto tok = load_json("regex", j);
  EXPECT_EQ(tok.encode("cd cöß11"), (std::vector<int32_t>{3, 2, 0, 4, 5, 6, 6}));
}

TEST(Normalizer, NfcComposesBeforeBpe) {
  const Json vocab{{"e", 0}, {"\xCC\x81", 1}, {"\xC3\xA9", 2}};  // e, U+0301, é
  Json j = char_tokenizer(vocab, Json::array());
  EXPECT_EQ(load_json("no_nfc", j).encode("e\xCC\x81"), (std::vector<int32_t>{0, 1}));
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", Json::array({{{"type", "NFC"}}})}};
  EXPECT_EQ(load_json("nfc", j).encode("e\xCC\x81"), (std::vector<int32_t>{2}));
}

TEST(AddedTokens, LeftmostLongestAndStripping) {
  const Json vocab{{"a", 0}, {" ", 1}};
  Json j = char_tokenizer(vocab, Json::array());
  j["added_tokens"] = Json::array(
      {{{"id", 10}, {"content", "<x>"}, {"special", true}, {"normalized", false}},
       {{"id", 11}, {"content", "<x>>"}, {"special", false}, {"normalized", false}},
       {{"id", 12}, {"content", "<s>"}, {"special", true}, {"normalized", false}, {"lstrip", true}, {"rstrip", true}}});
  const auto tok = load_json("added", j);
  EXPECT_EQ(tok.vocab_size(), 13);
  EXPECT_EQ(tok.encode("a<x>>a<x>"), (std::vector<int32_t>{0, 11, 0, 10}));
  EXPECT_EQ(tok.encode("a  <s>  a"), (std::vector<int32_t>{0, 12, 0}));
  EXPECT_EQ(tok.decode({0, 11, 10, 12}, /*skip_special_tokens=*/true), "a<x>>");
  EXPECT_TRUE(tok.is_special(10));
  EXPECT_FALSE(tok.is_special(11));
  EXPECT_FALSE(tok.is_special(0));
}

TEST(PostProcessor, TemplateAddsBosOnlyWhenAsked) {
  const Json vocab{{"a", 0}, {"<bos>", 1}};
  Json j = char_tokenizer(vocab, Json::array());
  j["post_processor"] = {
      {"type", "Sequence"},
      {"processors",
       Json::array({{{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}},
                    {{"type", "TemplateProcessing"},
                     {"single", Json::array({{{"SpecialToken", {{"id", "<bos>"}, {"type_id", 0}}}},
                                             {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                     {"pair", Json::array()},
                     {"special_tokens", {{"<bos>", {{"id", "<bos>"}, {"ids", {1}}, {"tokens", {"<bos>"}}}}}}}})}};
  const auto tok = load_json("template", j);
  EXPECT_EQ(tok.encode("aa"), (std::vector<int32_t>{0, 0}));
  EXPECT_EQ(tok.encode("aa", true), (std::vector<int32_t>{1, 0, 0}));
}

TEST(TokenizerConfig, EosAsObjectAndUnknownEos) {
  const std::string dir = scratch_dir("config");
  disa::model::write_byte_level_tokenizer(dir, kSpecials, 2);
  write_text(dir + "/tokenizer_config.json",
             R"({"eos_token": {"content": "<|endoftext|>", "__type": "AddedToken"},
                 "bos_token": "<|im_start|>", "pad_token": null})");
  const auto tok = disa::model::Tokenizer::load(dir);
  EXPECT_EQ(tok.eos_token_id(), 256);
  EXPECT_EQ(tok.bos_token_id(), 257);
  EXPECT_EQ(tok.pad_token_id(), std::nullopt);
  write_text(dir + "/tokenizer_config.json", R"({"eos_token": "<|nope|>"})");
  try {
    disa::model::Tokenizer::load(dir);
    FAIL() << "no error for an unknown eos_token";
  } catch (const disa::core::ModelError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("tokenizer_config.json: eos_token"), std::string::npos) << msg;
  }
  // Without tokenizer_config.json there is no eos.
  fs::remove(dir + "/tokenizer_config.json");
  EXPECT_EQ(disa::model::Tokenizer::load(dir).eos_token_id(), std::nullopt);
}

TEST(TokenizerErrors, NameTheFileAndField) {
  const Json vocab{{"a", 0}, {"b", 1}};
  const Json good = char_tokenizer(vocab, Json::array());
  auto expect_error = [&](const std::string& name, Json j, const std::string& field, const std::string& words) {
    const std::string msg = load_error(name, j);
    EXPECT_NE(msg.find("tokenizer.json: " + field), std::string::npos) << name << ": " << msg;
    EXPECT_NE(msg.find(words), std::string::npos) << name << ": " << msg;
  };
  Json j = good;
  j["normalizer"] = {{"type", "Lowercase"}};
  expect_error("e_norm", j, "normalizer.type", "not implemented");
  j = good;
  j["pre_tokenizer"] = {{"type", "Sequence"}, {"pretokenizers", Json::array({{{"type", "Metaspace"}}})}};
  expect_error("e_pre", j, "pre_tokenizer.pretokenizers[0].type", "not implemented");
  j = good;
  j["model"]["type"] = "WordPiece";
  expect_error("e_model", j, "model.type", "not implemented");
  j = good;
  j["model"]["byte_fallback"] = true;
  expect_error("e_fallback", j, "model.byte_fallback", "not implemented");
  j = good;
  j["model"]["merges"] = Json::array({"a c"});
  expect_error("e_merge", j, "model.merges[0]", "'c' is not in the vocabulary");
  j = good;
  j["model"]["merges"] = Json::array({"a b"});
  expect_error("e_merged", j, "model.merges[0]", "'ab' is not in the vocabulary");
  j = good;
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  expect_error("e_regex", j, "pre_tokenizer.pattern.Regex", "does not compile");
  j = good;
  j["decoder"] = {{"type", "WordPiece"}};
  expect_error("e_decoder", j, "decoder.type", "not implemented");
  j = good;
  j["post_processor"] = {{"type", "RobertaProcessing"}};
  expect_error("e_post", j, "post_processor.type", "not implemented");
  j = good;
  j["truncation"] = {{"max_length", 8}};
  expect_error("e_trunc", j, "truncation", "not implemented");
  j = good;
  j["added_tokens"] = Json::array({{{"id", 5}, {"content", "<w>"}, {"single_word", true}}});
  expect_error("e_single", j, "added_tokens[0].single_word", "not implemented");
  j = good;
  j.erase("model");
  expect_error("e_missing", j, "model", "missing field");

  const std::string dir = scratch_dir("e_nofile");
  try {
    disa::model::Tokenizer::load(dir);
    FAIL() << "no error for a missing tokenizer.json";
  } catch (const disa::core::ModelError& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/tokenizer.json"), std::string::npos);
  }
  write_text(dir + "/tokenizer.json", "{ not json");
  EXPECT_THROW(disa::model::Tokenizer::load(dir), disa::core::ModelError);
}

TEST(Tokenizer, ConcurrentEncodeMatchesSequential) {
  const Json vocab{{"a", 0}, {"b", 1}, {"ab", 2}, {"abab", 3}, {" ", 4}};
  Json j = char_tokenizer(vocab, Json::array({"a b", "ab ab"}));
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "\\S+|\\s+"}}}, {"behavior", "Isolated"}};
  const auto tok = load_json("threads", j);
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) {
    std::string t;
    for (int k = 0; k <= i % 17; ++k) t += (k * 7 + i) % 3 ? "ab" : (k % 2 ? "a " : "b ");
    texts.push_back(t);
  }
  std::vector<std::vector<int32_t>> expected;
  for (const auto& t : texts) expected.push_back(tok.encode(t));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w)
    threads.emplace_back([&, w] {
      for (int rep = 0; rep < 20; ++rep)
        for (size_t i = 0; i < texts.size(); ++i)
          if (tok.encode(texts[(i + w * 13) % texts.size()]) != expected[(i + w * 13) % texts.size()]) ++mismatches[w];
    });
  for (auto& t : threads) t.join();
  for (int w = 0; w < 4; ++w) EXPECT_EQ(mismatches[w], 0) << "thread " << w;
}

}  // namespace
