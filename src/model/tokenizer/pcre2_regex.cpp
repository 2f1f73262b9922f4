// PCRE2 (8-bit, UTF + UCP, JIT when available) pattern matching for the pre-tokenizers.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "pcre2_regex.hpp"

#include <pcre2.h>

#include "disa/core/error.hpp"
#include "unicode_text.hpp"

namespace disa::model::tokenizer_detail {
namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

struct Pcre2Regex::Code {
  pcre2_code* code = nullptr;
  ~Code() {
    if (code) pcre2_code_free(code);
  }
};

Pcre2Regex::Pcre2Regex(const std::string& pattern, const std::string& where)
    : code_(std::make_unique<Code>()), where_(where) {
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  code_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                              &error_code, &error_offset, nullptr);
  DISA_CHECK(code_->code != nullptr, ModelError, "{}: regex does not compile with PCRE2 at offset {}: {} (pattern: {})",
             where, error_offset, pcre2_message(error_code), pattern);
  // JIT is an optimisation only: the interpreter gives the same matches when it is absent.
  (void)pcre2_jit_compile(code_->code, PCRE2_JIT_COMPLETE);
}

Pcre2Regex::~Pcre2Regex() = default;

std::vector<std::pair<size_t, size_t>> Pcre2Regex::find_all(const std::string& text) const {
  std::vector<std::pair<size_t, size_t>> matches;
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
      pcre2_match_data_create_from_pattern(code_->code, nullptr), &pcre2_match_data_free);
  DISA_CHECK(data != nullptr, ModelError, "{}: out of memory for PCRE2 match data", where_);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  while (offset < text.size()) {
    const int rc = pcre2_match(code_->code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, data.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    DISA_CHECK(rc >= 0, ModelError, "{}: PCRE2 match failed: {}", where_, pcre2_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
    const size_t begin = ovector[0], end = ovector[1];
    if (end > begin) {
      matches.emplace_back(begin, end);
      offset = end;
    } else {
      // Empty match: produces no piece; continue after the next code point.
      offset = begin + utf8_length(static_cast<unsigned char>(text[begin]));
    }
  }
  return matches;
}

}  // namespace disa::model::tokenizer_detail
