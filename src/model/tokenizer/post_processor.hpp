// tokenizer.json "post_processor": what add_special_tokens adds around the ids of one
// text. ByteLevel adds nothing (it only moves offsets); TemplateProcessing's "single"
// template adds its special tokens; Sequence chains them; null adds nothing. Anything
// else is a ModelError naming the field.
#pragma once

#include <cstdint>
#include <vector>

#include "json_fields.hpp"

namespace disa::model::tokenizer_detail {

class PostProcessor {
 public:
  PostProcessor() = default;
  PostProcessor(const Json& j, const JsonPath& at);
  // `ids` with the special tokens of the single-sequence template around it.
  std::vector<int32_t> apply(const std::vector<int32_t>& ids) const;

 private:
  void parse(const Json& j, const JsonPath& at);
  // Template pieces: the sequence (marker kSequence) or special-token ids.
  static constexpr int32_t kSequence = -1;
  std::vector<int32_t> template_;
  bool has_template_ = false;
};

}  // namespace disa::model::tokenizer_detail
