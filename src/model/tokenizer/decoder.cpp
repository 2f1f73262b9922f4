// The decoders of tokenizer.json that disa implements (see decoder.hpp).
#include "decoder.hpp"

#include "byte_level.hpp"
#include "disa/core/error.hpp"
#include "unicode_text.hpp"

namespace disa::model::tokenizer_detail {
namespace {

class ByteLevelDecoder : public Decoder {
 public:
  std::string decode(const std::vector<const std::string*>& tokens) const override {
    std::string bytes;
    for (const std::string* token : tokens) {
      // As HF: a token with any character outside the byte table is taken verbatim.
      std::string token_bytes;
      bool all_symbols = true;
      size_t pos = 0;
      while (pos < token->size()) {
        const int b = byte_of_symbol(next_code_point(*token, pos));
        if (b < 0) {
          all_symbols = false;
          break;
        }
        token_bytes.push_back(static_cast<char>(b));
      }
      bytes += all_symbols ? token_bytes : *token;
    }
    return utf8_lossy(bytes);
  }
};

class JoinDecoder : public Decoder {
 public:
  std::string decode(const std::vector<const std::string*>& tokens) const override {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i) out += ' ';
      out += *tokens[i];
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const Json& j, const JsonPath& at) {
  if (j.is_null()) return std::make_unique<JoinDecoder>();
  const std::string type = component_type(j, at);
  if (type == "ByteLevel") {
    // add_prefix_space / trim_offsets / use_regex do not change ByteLevel decoding.
    return std::make_unique<ByteLevelDecoder>();
  }
  if (type == "Sequence") {
    const Json& list = require_field(j, "decoders", at);
    DISA_CHECK(list.is_array(), ModelError, "{}: expected an array", (at / "decoders").str());
    if (list.size() == 1) return make_decoder(list[0], (at / "decoders")[0]);
    not_implemented(at / "decoders", "a Sequence decoder with other than one decoder");
  }
  not_implemented(at / "type", "decoder type '" + type + "'");
}

}  // namespace disa::model::tokenizer_detail
