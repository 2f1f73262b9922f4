// UTF-8 helpers of the tokenizer built on ICU: validation, Unicode normalization forms,
// lossy decoding of byte strings (ill-formed subsequences become U+FFFD, as Rust's
// from_utf8_lossy and JavaScript's TextDecoder do) and the White_Space property.
#pragma once

#include <cstdint>
#include <string>

#include <unicode/normalizer2.h>

namespace disa::model::tokenizer_detail {

// Byte offset of the first ill-formed UTF-8 sequence of `text`, or -1 if well-formed.
int64_t first_invalid_utf8(const std::string& text);

enum class NormalForm { NFC, NFD, NFKC, NFKD };
// ICU's normalizer of `form`. ICU creates it on first use; resolve it once at load time
// so that concurrent encodes only read it.
const icu::Normalizer2& icu_normalizer(NormalForm form);
// `text` (well-formed UTF-8) in the normalization form of `normalizer`.
std::string normalize_unicode(const std::string& text, const icu::Normalizer2& normalizer);

// `bytes` as well-formed UTF-8, each maximal ill-formed subpart replaced by U+FFFD.
std::string utf8_lossy(const std::string& bytes);

// Unicode White_Space property (Rust's char::is_whitespace).
bool is_white_space(uint32_t code_point);

// Decodes the code point at byte `pos` of well-formed UTF-8 and advances `pos`.
uint32_t next_code_point(const std::string& text, size_t& pos);
// Byte length of the UTF-8 sequence that starts with `lead`.
inline size_t utf8_length(unsigned char lead) { return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4; }

}  // namespace disa::model::tokenizer_detail
