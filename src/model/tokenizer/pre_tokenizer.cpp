// The pre-tokenizers of tokenizer.json that disa implements (see pre_tokenizer.hpp).
#include "pre_tokenizer.hpp"

#include <utility>

#include "byte_level.hpp"
#include "disa/core/error.hpp"
#include "pcre2_regex.hpp"

namespace disa::model::tokenizer_detail {
namespace {

// GPT-2's pre-tokenization regex, used by ByteLevel when use_regex is true.
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct Span {
  size_t begin, end;
  bool is_match;
};

// The whole of `text` as alternating non-match / match spans.
std::vector<Span> spans_of(const std::string& text, const std::vector<std::pair<size_t, size_t>>& matches,
                           bool invert) {
  std::vector<Span> spans;
  size_t pos = 0;
  for (const auto& [b, e] : matches) {
    if (b > pos) spans.push_back({pos, b, invert});
    spans.push_back({b, e, !invert});
    pos = e;
  }
  if (pos < text.size()) spans.push_back({pos, text.size(), invert});
  return spans;
}

// HF tokenizers' SplitDelimiterBehavior applied to the spans of one piece.
std::vector<std::pair<size_t, size_t>> apply_behavior(const std::vector<Span>& spans, SplitBehavior behavior) {
  std::vector<std::pair<size_t, size_t>> out;
  switch (behavior) {
    case SplitBehavior::Isolated:
      for (const auto& s : spans) out.emplace_back(s.begin, s.end);
      break;
    case SplitBehavior::Removed:
      for (const auto& s : spans)
        if (!s.is_match) out.emplace_back(s.begin, s.end);
      break;
    case SplitBehavior::MergedWithPrevious: {
      bool previous_match = false;
      for (const auto& s : spans) {
        if (s.is_match && !previous_match && !out.empty())
          out.back().second = s.end;
        else
          out.emplace_back(s.begin, s.end);
        previous_match = s.is_match;
      }
      break;
    }
    case SplitBehavior::MergedWithNext: {
      bool previous_match = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->is_match && !previous_match && !out.empty())
          out.back().first = it->begin;
        else
          out.emplace_back(it->begin, it->end);
        previous_match = it->is_match;
      }
      std::vector<std::pair<size_t, size_t>> forward(out.rbegin(), out.rend());
      out.swap(forward);
      break;
    }
    case SplitBehavior::Contiguous: {
      bool previous_match = false;
      for (const auto& s : spans) {
        if (s.is_match && previous_match && !out.empty())
          out.back().second = s.end;
        else
          out.emplace_back(s.begin, s.end);
        previous_match = s.is_match;
      }
      break;
    }
  }
  return out;
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(const Json& j, const JsonPath& at) {
    const Json& pattern = require_field(j, "pattern", at);
    const JsonPath pat = at / "pattern";
    DISA_CHECK(pattern.is_object() && pattern.size() == 1, ModelError,
               "{}: expected {{\"Regex\": ...}} or {{\"String\": ...}}", pat.str());
    if (pattern.contains("Regex")) {
      regex_ = std::make_unique<Pcre2Regex>(require_string(pattern, "Regex", pat), (pat / "Regex").str());
    } else if (pattern.contains("String")) {
      literal_ = require_string(pattern, "String", pat);
      DISA_CHECK(!literal_.empty(), ModelError, "{}: empty split string", (pat / "String").str());
    } else {
      not_implemented(pat, "pattern kind '" + pattern.begin().key() + "'");
    }
    const std::string behavior = require_string(j, "behavior", at);
    if (behavior == "Removed")
      behavior_ = SplitBehavior::Removed;
    else if (behavior == "Isolated")
      behavior_ = SplitBehavior::Isolated;
    else if (behavior == "MergedWithPrevious")
      behavior_ = SplitBehavior::MergedWithPrevious;
    else if (behavior == "MergedWithNext")
      behavior_ = SplitBehavior::MergedWithNext;
    else if (behavior == "Contiguous")
      behavior_ = SplitBehavior::Contiguous;
    else
      not_implemented(at / "behavior", "split behavior '" + behavior + "'");
    invert_ = optional_bool(j, "invert", false, at);
  }

  std::vector<std::string> pre_tokenize(const std::vector<std::string>& pieces) const override {
    std::vector<std::string> out;
    for (const auto& piece : pieces) {
      const auto spans = spans_of(piece, find(piece), invert_);
      for (const auto& [b, e] : apply_behavior(spans, behavior_))
        if (e > b) out.push_back(piece.substr(b, e - b));
    }
    return out;
  }

 private:
  std::vector<std::pair<size_t, size_t>> find(const std::string& text) const {
    if (regex_) return regex_->find_all(text);
    std::vector<std::pair<size_t, size_t>> matches;
    for (size_t pos = text.find(literal_); pos != std::string::npos; pos = text.find(literal_, pos + literal_.size()))
      matches.emplace_back(pos, pos + literal_.size());
    return matches;
  }

  std::unique_ptr<Pcre2Regex> regex_;
  std::string literal_;
  SplitBehavior behavior_ = SplitBehavior::Isolated;
  bool invert_ = false;
};

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(const Json& j, const JsonPath& at) {
    add_prefix_space_ = optional_bool(j, "add_prefix_space", true, at);
    // trim_offsets only changes offsets, which disa does not return.
    (void)optional_bool(j, "trim_offsets", true, at);
    if (optional_bool(j, "use_regex", true, at))
      regex_ = std::make_unique<Pcre2Regex>(kGpt2Pattern, (at / "use_regex").str());
  }

  std::vector<std::string> pre_tokenize(const std::vector<std::string>& pieces) const override {
    std::vector<std::string> out;
    for (const auto& original : pieces) {
      std::string piece = original;
      if (add_prefix_space_ && (piece.empty() || piece[0] != ' ')) piece.insert(0, " ");
      if (regex_) {
        for (const auto& [b, e] : regex_->find_all(piece)) out.push_back(bytes_to_symbols(piece.substr(b, e - b)));
      } else if (!piece.empty()) {
        out.push_back(bytes_to_symbols(piece));
      }
    }
    return out;
  }

 private:
  bool add_prefix_space_ = true;
  std::unique_ptr<Pcre2Regex> regex_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  std::vector<std::string> pre_tokenize(const std::vector<std::string>& pieces) const override {
    std::vector<std::string> current = pieces;
    for (const auto& p : parts_) current = p->pre_tokenize(current);
    return current;
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j, const JsonPath& at) {
  if (j.is_null()) return nullptr;
  const std::string type = component_type(j, at);
  if (type == "Split") return std::make_unique<SplitPreTokenizer>(j, at);
  if (type == "ByteLevel") return std::make_unique<ByteLevelPreTokenizer>(j, at);
  if (type == "Sequence") {
    const Json& list = require_field(j, "pretokenizers", at);
    if (!list.is_array()) not_implemented(at / "pretokenizers", "a non-array value");
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (size_t i = 0; i < list.size(); ++i) {
      auto p = make_pre_tokenizer(list[i], (at / "pretokenizers")[i]);
      if (p) parts.push_back(std::move(p));
    }
    return std::make_unique<SequencePreTokenizer>(std::move(parts));
  }
  not_implemented(at / "type", "pre-tokenizer type '" + type + "'");
}

}  // namespace disa::model::tokenizer_detail
