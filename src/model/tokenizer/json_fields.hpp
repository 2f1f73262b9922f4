// Strict reading of tokenizer.json / tokenizer_config.json fields: every accessor names
// the file and the field path in its ModelError ("tokenizer.json: model.merges[3]: ...").
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace disa::model::tokenizer_detail {

using Json = nlohmann::json;

// Where a value sits: "<file>: <path>".
struct JsonPath {
  std::string file;
  std::string path;
  JsonPath operator/(const std::string& key) const { return {file, path.empty() ? key : path + "." + key}; }
  JsonPath operator[](size_t index) const { return {file, path + "[" + std::to_string(index) + "]"}; }
  std::string str() const { return file + ": " + (path.empty() ? "(top level)" : path); }
};

// j[key] required to exist (any type).
const Json& require_field(const Json& j, const std::string& key, const JsonPath& at);
std::string require_string(const Json& j, const std::string& key, const JsonPath& at);
// Optional boolean: `fallback` when absent or null.
bool optional_bool(const Json& j, const std::string& key, bool fallback, const JsonPath& at);
// Optional string: empty when absent or null.
std::string optional_string(const Json& j, const std::string& key, const JsonPath& at);
// The "type" of a component object.
std::string component_type(const Json& j, const JsonPath& at);
// Throws "<at>: <what> is not implemented" (a ModelError).
[[noreturn]] void not_implemented(const JsonPath& at, const std::string& what);

}  // namespace disa::model::tokenizer_detail
