// A compiled PCRE2 pattern in UTF mode with Unicode properties (PCRE2_UTF | PCRE2_UCP),
// used for the Split pre-tokenizer's regex and ByteLevel's GPT-2 regex. Immutable after
// construction and safe to use from several threads at once.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace disa::model::tokenizer_detail {

class Pcre2Regex {
 public:
  // Throws ModelError naming `where` (the tokenizer.json field) if it does not compile.
  Pcre2Regex(const std::string& pattern, const std::string& where);
  ~Pcre2Regex();
  Pcre2Regex(const Pcre2Regex&) = delete;
  Pcre2Regex& operator=(const Pcre2Regex&) = delete;

  // Byte ranges [begin, end) of the successive non-overlapping, non-empty matches in
  // well-formed UTF-8 `text` (leftmost-first, as Oniguruma's find_iter).
  std::vector<std::pair<size_t, size_t>> find_all(const std::string& text) const;

 private:
  struct Code;
  std::unique_ptr<Code> code_;
  std::string where_;
};

}  // namespace disa::model::tokenizer_detail
