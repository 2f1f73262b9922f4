// tokenizer.json "pre_tokenizer": Split (Regex via PCRE2 or String pattern, all five
// delimiter behaviours, invert), ByteLevel (add_prefix_space, use_regex with GPT-2's
// regex) and Sequence. Anything else is a ModelError naming the field.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "json_fields.hpp"

namespace disa::model::tokenizer_detail {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Splits each piece further (or rewrites it); empty pieces are dropped.
  virtual std::vector<std::string> pre_tokenize(const std::vector<std::string>& pieces) const = 0;
};

// nullptr for a null pre-tokenizer.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const Json& j, const JsonPath& at);

}  // namespace disa::model::tokenizer_detail
