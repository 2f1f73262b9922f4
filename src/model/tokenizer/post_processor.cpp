// Post-processing templates for add_special_tokens (see post_processor.hpp).
#include "post_processor.hpp"

#include "disa/core/error.hpp"

namespace disa::model::tokenizer_detail {

PostProcessor::PostProcessor(const Json& j, const JsonPath& at) { parse(j, at); }

void PostProcessor::parse(const Json& j, const JsonPath& at) {
  if (j.is_null()) return;
  const std::string type = component_type(j, at);
  if (type == "ByteLevel") return;
  if (type == "Sequence") {
    const Json& list = require_field(j, "processors", at);
    DISA_CHECK(list.is_array(), ModelError, "{}: expected an array", (at / "processors").str());
    for (size_t i = 0; i < list.size(); ++i) parse(list[i], (at / "processors")[i]);
    return;
  }
  if (type == "TemplateProcessing") {
    DISA_CHECK(!has_template_, ModelError, "{}: more than one TemplateProcessing", at.str());
    has_template_ = true;
    const Json& special = require_field(j, "special_tokens", at);
    const Json& single = require_field(j, "single", at);
    DISA_CHECK(single.is_array(), ModelError, "{}: expected an array", (at / "single").str());
    for (size_t i = 0; i < single.size(); ++i) {
      const JsonPath where = (at / "single")[i];
      const Json& piece = single[i];
      if (piece.contains("Sequence")) {
        const std::string id = require_string(piece["Sequence"], "id", where / "Sequence");
        DISA_CHECK(id == "A", ModelError, "{}: the single template refers to sequence '{}'", where.str(), id);
        template_.push_back(kSequence);
      } else if (piece.contains("SpecialToken")) {
        const std::string name = require_string(piece["SpecialToken"], "id", where / "SpecialToken");
        const JsonPath tokens_at = at / "special_tokens";
        const Json& entry = require_field(special, name, tokens_at);
        const Json& ids = require_field(entry, "ids", tokens_at / name);
        DISA_CHECK(ids.is_array(), ModelError, "{}: expected an array", (tokens_at / name / "ids").str());
        for (const Json& id : ids) {
          DISA_CHECK(id.is_number_integer(), ModelError, "{}: expected integers", (tokens_at / name / "ids").str());
          template_.push_back(static_cast<int32_t>(id.get<int64_t>()));
        }
      } else {
        DISA_THROW(ModelError, "{}: expected Sequence or SpecialToken", where.str());
      }
    }
    return;
  }
  not_implemented(at / "type", "post-processor type '" + type + "'");
}

std::vector<int32_t> PostProcessor::apply(const std::vector<int32_t>& ids) const {
  if (!has_template_) return ids;
  std::vector<int32_t> out;
  out.reserve(ids.size() + template_.size());
  for (int32_t piece : template_) {
    if (piece == kSequence)
      out.insert(out.end(), ids.begin(), ids.end());
    else
      out.push_back(piece);
  }
  return out;
}

}  // namespace disa::model::tokenizer_detail
