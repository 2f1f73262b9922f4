// GPT-2's bytes_to_unicode table shared by the ByteLevel pre-tokenizer, the ByteLevel
// decoder and the tiny byte-level tokenizer writer: each of the 256 byte values maps to
// one printable code point (printable Latin-1 bytes to themselves, the others to
// U+0100 onwards), so byte strings become vocabulary strings and back.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace disa::model::tokenizer_detail {

// UTF-8 text of the symbol of each byte value.
const std::array<std::string, 256>& byte_symbols();
// The byte a symbol code point stands for, or -1 when it is not a byte symbol.
int byte_of_symbol(uint32_t code_point);
// Replaces every byte of `bytes` by its symbol.
std::string bytes_to_symbols(const std::string& bytes);

}  // namespace disa::model::tokenizer_detail
