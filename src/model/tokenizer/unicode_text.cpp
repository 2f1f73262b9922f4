// UTF-8 validation, normalization, lossy decoding and White_Space via ICU.
#include "unicode_text.hpp"

#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include "disa/core/error.hpp"

namespace disa::model::tokenizer_detail {

int64_t first_invalid_utf8(const std::string& text) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  const int32_t n = static_cast<int32_t>(text.size());
  DISA_CHECK(text.size() < (1u << 31), DataError, "tokenizer: text of {} bytes is too long", text.size());
  int32_t i = 0;
  while (i < n) {
    const int32_t start = i;
    UChar32 c;
    U8_NEXT(s, i, n, c);
    if (c < 0) return start;
  }
  return -1;
}

const icu::Normalizer2& icu_normalizer(NormalForm form) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = nullptr;
  switch (form) {
    case NormalForm::NFC: normalizer = icu::Normalizer2::getNFCInstance(status); break;
    case NormalForm::NFD: normalizer = icu::Normalizer2::getNFDInstance(status); break;
    case NormalForm::NFKC: normalizer = icu::Normalizer2::getNFKCInstance(status); break;
    case NormalForm::NFKD: normalizer = icu::Normalizer2::getNFKDInstance(status); break;
  }
  DISA_CHECK(U_SUCCESS(status) && normalizer, ModelError, "ICU normalizer unavailable: {}", u_errorName(status));
  return *normalizer;
}

std::string normalize_unicode(const std::string& text, const icu::Normalizer2& normalizer) {
  // Fast path: ASCII-only text is invariant under every normalization form.
  bool ascii = true;
  for (unsigned char c : text) ascii = ascii && c < 0x80;
  if (ascii) return text;
  UErrorCode status = U_ZERO_ERROR;
  const icu::UnicodeString input = icu::UnicodeString::fromUTF8(text);
  if (normalizer.quickCheck(input, status) == UNORM_YES && U_SUCCESS(status)) return text;
  status = U_ZERO_ERROR;
  const icu::UnicodeString output = normalizer.normalize(input, status);
  DISA_CHECK(U_SUCCESS(status), ModelError, "ICU normalization failed: {}", u_errorName(status));
  std::string out;
  output.toUTF8String(out);
  return out;
}

std::string utf8_lossy(const std::string& bytes) {
  if (first_invalid_utf8(bytes) < 0) return bytes;
  std::string out;
  icu::UnicodeString::fromUTF8(bytes).toUTF8String(out);
  return out;
}

bool is_white_space(uint32_t code_point) { return u_isUWhiteSpace(static_cast<UChar32>(code_point)); }

uint32_t next_code_point(const std::string& text, size_t& pos) {
  const auto* s = reinterpret_cast<const uint8_t*>(text.data());
  int32_t i = static_cast<int32_t>(pos);
  UChar32 c;
  U8_NEXT_UNSAFE(s, i, c);
  pos = static_cast<size_t>(i);
  return static_cast<uint32_t>(c);
}

}  // namespace disa::model::tokenizer_detail
