// tokenizer.json "added_tokens": tokens matched in the text before the model runs
// (leftmost-longest, as HF's aho-corasick matcher), in two passes: tokens with
// normalized=false on the raw text, tokens with normalized=true on the normalized text.
// lstrip/rstrip are honoured; single_word is a ModelError (not implemented).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "json_fields.hpp"

namespace disa::model::tokenizer_detail {

class Normalizer;

struct AddedToken {
  std::string content;
  int32_t id = 0;
  bool special = false;
  bool normalized = false;
  bool lstrip = false;
  bool rstrip = false;
};

// A run of text between added tokens (id < 0) or one added token (id >= 0).
struct Segment {
  std::string text;
  int32_t id = -1;
};

class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  // `normalizer` (may be null) normalizes the content of normalized tokens for matching.
  AddedVocabulary(const Json& list, const JsonPath& at, const Normalizer* normalizer);

  // Splits `text` at the added tokens of one pass.
  std::vector<Segment> split(const std::string& text, bool normalized_pass) const;

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  const AddedToken* find_id(int32_t id) const;
  std::optional<int32_t> find_content(const std::string& content) const;

 private:
  // Byte trie: node 0 is the root; `token` is the index into tokens_ or -1.
  struct TrieNode {
    std::vector<std::pair<unsigned char, int32_t>> children;
    int32_t token = -1;
  };
  struct Trie {
    std::vector<TrieNode> nodes{TrieNode{}};
    void insert(const std::string& key, int32_t token);
    // Longest token starting at `pos`: (token index, end) or (-1, pos).
    std::pair<int32_t, size_t> longest_at(const std::string& text, size_t pos) const;
  };

  std::vector<AddedToken> tokens_;
  std::unordered_map<int32_t, size_t> by_id_;
  std::unordered_map<std::string, int32_t> by_content_;
  Trie raw_trie_, normalized_trie_;
  bool has_normalized_ = false;
};

}  // namespace disa::model::tokenizer_detail
