// tokenizer.json "normalizer": NFC/NFD/NFKC/NFKD (ICU) and Sequence of them. Anything
// else is a ModelError naming the field.
#pragma once

#include <memory>
#include <string>

#include "json_fields.hpp"

namespace disa::model::tokenizer_detail {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `text` is well-formed UTF-8.
  virtual std::string normalize(const std::string& text) const = 0;
};

// nullptr for a null normalizer.
std::unique_ptr<Normalizer> make_normalizer(const Json& j, const JsonPath& at);

}  // namespace disa::model::tokenizer_detail
