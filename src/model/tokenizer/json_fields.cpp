// Field accessors with file/field error messages for the tokenizer's JSON files.
#include "json_fields.hpp"

#include "disa/core/error.hpp"

namespace disa::model::tokenizer_detail {

const Json& require_field(const Json& j, const std::string& key, const JsonPath& at) {
  DISA_CHECK(j.is_object(), ModelError, "{}: expected a JSON object", at.str());
  auto it = j.find(key);
  DISA_CHECK(it != j.end(), ModelError, "{}: missing field", (at / key).str());
  return *it;
}

std::string require_string(const Json& j, const std::string& key, const JsonPath& at) {
  const Json& v = require_field(j, key, at);
  DISA_CHECK(v.is_string(), ModelError, "{}: expected a string, got {}", (at / key).str(), v.type_name());
  return v.get<std::string>();
}

bool optional_bool(const Json& j, const std::string& key, bool fallback, const JsonPath& at) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  DISA_CHECK(it->is_boolean(), ModelError, "{}: expected true or false, got {}", (at / key).str(), it->type_name());
  return it->get<bool>();
}

std::string optional_string(const Json& j, const std::string& key, const JsonPath& at) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  DISA_CHECK(it->is_string(), ModelError, "{}: expected a string, got {}", (at / key).str(), it->type_name());
  return it->get<std::string>();
}

std::string component_type(const Json& j, const JsonPath& at) { return require_string(j, "type", at); }

void not_implemented(const JsonPath& at, const std::string& what) {
  DISA_THROW(ModelError, "{}: {} is not implemented", at.str(), what);
}

}  // namespace disa::model::tokenizer_detail
