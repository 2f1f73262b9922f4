// Added/special token matching before normalization and BPE (see added_vocabulary.hpp).
#include "added_vocabulary.hpp"

#include "disa/core/error.hpp"
#include "normalizer.hpp"
#include "unicode_text.hpp"

namespace disa::model::tokenizer_detail {

void AddedVocabulary::Trie::insert(const std::string& key, int32_t token) {
  int32_t node = 0;
  for (unsigned char c : key) {
    int32_t next = -1;
    for (const auto& [ch, child] : nodes[node].children)
      if (ch == c) next = child;
    if (next < 0) {
      next = static_cast<int32_t>(nodes.size());
      nodes[node].children.emplace_back(c, next);
      nodes.emplace_back();
    }
    node = next;
  }
  nodes[node].token = token;
}

std::pair<int32_t, size_t> AddedVocabulary::Trie::longest_at(const std::string& text, size_t pos) const {
  std::pair<int32_t, size_t> best{-1, pos};
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    int32_t next = -1;
    for (const auto& [ch, child] : nodes[node].children)
      if (ch == c) next = child;
    if (next < 0) break;
    node = next;
    if (nodes[node].token >= 0) best = {nodes[node].token, i + 1};
  }
  return best;
}

AddedVocabulary::AddedVocabulary(const Json& list, const JsonPath& at, const Normalizer* normalizer) {
  if (list.is_null()) return;
  DISA_CHECK(list.is_array(), ModelError, "{}: expected an array", at.str());
  for (size_t i = 0; i < list.size(); ++i) {
    const JsonPath where = at[i];
    const Json& t = list[i];
    AddedToken token;
    token.content = require_string(t, "content", where);
    DISA_CHECK(!token.content.empty(), ModelError, "{}: empty content", (where / "content").str());
    const Json& id = require_field(t, "id", where);
    DISA_CHECK(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < (int64_t(1) << 31), ModelError,
               "{}: expected a non-negative 32-bit integer", (where / "id").str());
    token.id = static_cast<int32_t>(id.get<int64_t>());
    token.special = optional_bool(t, "special", false, where);
    token.normalized = optional_bool(t, "normalized", !token.special, where);
    token.lstrip = optional_bool(t, "lstrip", false, where);
    token.rstrip = optional_bool(t, "rstrip", false, where);
    if (optional_bool(t, "single_word", false, where))
      not_implemented(where / "single_word", "single_word added tokens");
    DISA_CHECK(by_id_.count(token.id) == 0, ModelError, "{}: id {} is used twice", (where / "id").str(), token.id);
    const auto index = static_cast<int32_t>(tokens_.size());
    by_id_[token.id] = tokens_.size();
    by_content_[token.content] = token.id;
    if (token.normalized) {
      has_normalized_ = true;
      normalized_trie_.insert(normalizer ? normalizer->normalize(token.content) : token.content, index);
    } else {
      raw_trie_.insert(token.content, index);
    }
    tokens_.push_back(std::move(token));
  }
}

std::vector<Segment> AddedVocabulary::split(const std::string& text, bool normalized_pass) const {
  const Trie& trie = normalized_pass ? normalized_trie_ : raw_trie_;
  std::vector<Segment> out;
  if (trie.nodes[0].children.empty() || (normalized_pass && !has_normalized_)) {
    if (!text.empty()) out.push_back({text, -1});
    return out;
  }
  size_t segment_start = 0;  // start of the pending plain text
  size_t pos = 0;
  while (pos < text.size()) {
    auto [index, end] = trie.longest_at(text, pos);
    if (index < 0) {
      pos += utf8_length(static_cast<unsigned char>(text[pos]));
      continue;
    }
    const AddedToken& token = tokens_[index];
    size_t plain_end = pos;
    if (token.lstrip) {
      // Whitespace before the token (after the previous token) is absorbed into it.
      while (plain_end > segment_start) {
        size_t back = plain_end - 1;
        while (back > segment_start && (static_cast<unsigned char>(text[back]) & 0xC0) == 0x80) --back;
        size_t p = back;
        if (!is_white_space(next_code_point(text, p))) break;
        plain_end = back;
      }
    }
    if (token.rstrip) {
      while (end < text.size()) {
        size_t p = end;
        if (!is_white_space(next_code_point(text, p))) break;
        end = p;
      }
    }
    if (plain_end > segment_start) out.push_back({text.substr(segment_start, plain_end - segment_start), -1});
    out.push_back({token.content, token.id});
    pos = segment_start = end;
  }
  if (segment_start < text.size()) out.push_back({text.substr(segment_start), -1});
  return out;
}

const AddedToken* AddedVocabulary::find_id(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<int32_t> AddedVocabulary::find_content(const std::string& content) const {
  auto it = by_content_.find(content);
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

}  // namespace disa::model::tokenizer_detail
