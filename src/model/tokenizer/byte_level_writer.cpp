// write_byte_level_tokenizer: the tiny tokenizer of `disa model init` as a valid HF
// tokenizer.json (byte-level BPE, 256 byte symbols, no merges, special tokens after them)
// plus tokenizer_config.json.
#include <filesystem>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "byte_level.hpp"
#include "disa/core/error.hpp"
#include "disa/model/tokenizer.hpp"
#include "unicode_text.hpp"

namespace disa::model {
namespace {

using OrderedJson = nlohmann::ordered_json;

void write_json(const std::string& path, const OrderedJson& j) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  DISA_CHECK(out.good(), IoError, "{}: cannot open for writing", path);
  out << j.dump(2) << "\n";
  out.close();
  DISA_CHECK(out.good(), IoError, "{}: write failed", path);
}

OrderedJson byte_level_component(bool add_prefix_space, bool trim_offsets, bool use_regex) {
  return OrderedJson{{"type", "ByteLevel"},
                     {"add_prefix_space", add_prefix_space},
                     {"trim_offsets", trim_offsets},
                     {"use_regex", use_regex}};
}

}  // namespace

void write_byte_level_tokenizer(const std::string& dir, const std::vector<std::string>& special_tokens, int eos_index) {
  DISA_CHECK(eos_index >= 0 && eos_index < static_cast<int>(special_tokens.size()), ModelError,
             "byte-level tokenizer: eos_index {} is outside the {} special tokens", eos_index, special_tokens.size());
  const auto& symbols = tokenizer_detail::byte_symbols();
  std::set<std::string> seen;
  for (size_t i = 0; i < special_tokens.size(); ++i) {
    const std::string& t = special_tokens[i];
    DISA_CHECK(!t.empty() && tokenizer_detail::first_invalid_utf8(t) < 0, ModelError,
               "byte-level tokenizer: special token {} ('{}') must be non-empty UTF-8", i, t);
    DISA_CHECK(seen.insert(t).second, ModelError, "byte-level tokenizer: special token '{}' is given twice", t);
    // A special token equal to a byte symbol would make that byte ambiguous.
    for (const auto& s : symbols)
      DISA_CHECK(t != s, ModelError, "byte-level tokenizer: special token '{}' is a byte symbol", t);
  }

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  DISA_CHECK(!ec, IoError, "{}: cannot create directory: {}", dir, ec.message());

  OrderedJson vocab = OrderedJson::object();
  for (int b = 0; b < 256; ++b) vocab[symbols[b]] = b;

  OrderedJson added = OrderedJson::array();
  OrderedJson added_decoder = OrderedJson::object();
  for (size_t i = 0; i < special_tokens.size(); ++i) {
    const int id = 256 + static_cast<int>(i);
    OrderedJson entry{{"id", id},        {"content", special_tokens[i]}, {"single_word", false}, {"lstrip", false},
                      {"rstrip", false}, {"normalized", false},          {"special", true}};
    added.push_back(entry);
    entry.erase("id");
    added_decoder[std::to_string(id)] = entry;
  }

  OrderedJson tokenizer{{"version", "1.0"},
                        {"truncation", nullptr},
                        {"padding", nullptr},
                        {"added_tokens", added},
                        {"normalizer", nullptr},
                        {"pre_tokenizer", byte_level_component(false, true, true)},
                        {"post_processor", byte_level_component(true, false, true)},
                        {"decoder", byte_level_component(true, true, true)},
                        {"model",
                         {{"type", "BPE"},
                          {"dropout", nullptr},
                          {"unk_token", nullptr},
                          {"continuing_subword_prefix", nullptr},
                          {"end_of_word_suffix", nullptr},
                          {"fuse_unk", false},
                          {"byte_fallback", false},
                          {"ignore_merges", false},
                          {"vocab", vocab},
                          {"merges", OrderedJson::array()}}}};
  write_json(dir + "/tokenizer.json", tokenizer);

  OrderedJson config{{"added_tokens_decoder", added_decoder},
                     {"bos_token", nullptr},
                     {"clean_up_tokenization_spaces", false},
                     {"eos_token", special_tokens[eos_index]},
                     {"model_max_length", 1000000},
                     {"pad_token", nullptr},
                     {"tokenizer_class", "PreTrainedTokenizerFast"},
                     {"unk_token", nullptr}};
  write_json(dir + "/tokenizer_config.json", config);
}

}  // namespace disa::model
