// tokenizer.json "decoder": ByteLevel (symbols back to bytes, ill-formed UTF-8 becomes
// U+FFFD) and Sequence of ByteLevel; null joins tokens with spaces (HF's behaviour).
// Anything else is a ModelError naming the field.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "json_fields.hpp"

namespace disa::model::tokenizer_detail {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Text of consecutive model tokens (added tokens are handled by the caller).
  virtual std::string decode(const std::vector<const std::string*>& tokens) const = 0;
};

// Never null: a null decoder gives the space-joining decoder.
std::unique_ptr<Decoder> make_decoder(const Json& j, const JsonPath& at);

}  // namespace disa::model::tokenizer_detail
