// GPT-2's bytes_to_unicode table (see byte_level.hpp), built once.
#include "byte_level.hpp"

#include <vector>

#include <unicode/utf8.h>

namespace disa::model::tokenizer_detail {
namespace {

struct ByteTable {
  std::array<std::string, 256> symbols;
  std::vector<int> byte_of;  // indexed by code point, up to the largest symbol

  ByteTable() {
    std::array<uint32_t, 256> code{};
    std::array<bool, 256> printable{};
    for (int b = '!'; b <= '~'; ++b) printable[b] = true;
    for (int b = 0xA1; b <= 0xAC; ++b) printable[b] = true;
    for (int b = 0xAE; b <= 0xFF; ++b) printable[b] = true;
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) code[b] = printable[b] ? uint32_t(b) : next++;
    byte_of.assign(next, -1);
    for (int b = 0; b < 256; ++b) {
      char buf[4];
      int32_t len = 0;
      U8_APPEND_UNSAFE(buf, len, code[b]);
      symbols[b].assign(buf, len);
      byte_of[code[b]] = b;
    }
  }
};

const ByteTable& table() {
  static const ByteTable t;
  return t;
}

}  // namespace

const std::array<std::string, 256>& byte_symbols() { return table().symbols; }

int byte_of_symbol(uint32_t code_point) {
  const auto& t = table();
  return code_point < t.byte_of.size() ? t.byte_of[code_point] : -1;
}

std::string bytes_to_symbols(const std::string& bytes) {
  const auto& symbols = table().symbols;
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += symbols[b];
  return out;
}

}  // namespace disa::model::tokenizer_detail
