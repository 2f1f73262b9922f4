// `disa tokenize`: the command-line interface to disa's tokenizer, through which its ids
// are checked against other implementations. Reads stdin, one input per line, and writes
// one JSON array of ids per line, or with --decode turns id arrays back into text. With
// --json every input text / output text is one JSON string per line (so texts may hold
// newlines). No special tokens are added unless --add-special-tokens.
#include <cstdio>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "command.hpp"
#include "disa/core/error.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/model/tokenizer.hpp"

namespace disa::apps {
namespace {

using Json = nlohmann::json;

std::string encode_line(const model::Tokenizer& tok, const std::string& line, size_t number, bool json,
                        bool add_special_tokens) {
  std::string text = line;
  if (json) {
    Json value;
    try {
      value = Json::parse(line);
    } catch (const Json::parse_error& e) {
      DISA_THROW(DataError, "stdin line {}: not a JSON string: {}", number, e.what());
    }
    DISA_CHECK(value.is_string(), DataError, "stdin line {}: expected a JSON string, got {}", number,
               value.type_name());
    text = value.get<std::string>();
  }
  std::vector<int32_t> ids;
  try {
    ids = tok.encode(text, add_special_tokens);
  } catch (const core::DataError& e) {
    DISA_THROW(DataError, "stdin line {}: {}", number, e.what());
  }
  return Json(ids).dump();
}

std::string decode_line(const model::Tokenizer& tok, const std::string& line, size_t number, bool json,
                        bool skip_special_tokens) {
  Json value;
  try {
    value = Json::parse(line);
  } catch (const Json::parse_error& e) {
    DISA_THROW(DataError, "stdin line {}: not a JSON array of ids: {}", number, e.what());
  }
  DISA_CHECK(value.is_array(), DataError, "stdin line {}: expected a JSON array of ids, got {}", number,
             value.type_name());
  std::vector<int32_t> ids;
  for (const Json& id : value) {
    DISA_CHECK(id.is_number_integer() && id.get<int64_t>() >= INT32_MIN && id.get<int64_t>() <= INT32_MAX, DataError,
               "stdin line {}: id {} is not a 32-bit integer", number, id.dump());
    ids.push_back(static_cast<int32_t>(id.get<int64_t>()));
  }
  std::string text;
  try {
    text = tok.decode(ids, skip_special_tokens);
  } catch (const core::DataError& e) {
    DISA_THROW(DataError, "stdin line {}: {}", number, e.what());
  }
  if (json) return Json(text).dump();
  DISA_CHECK(text.find('\n') == std::string::npos && text.find('\r') == std::string::npos, DataError,
             "stdin line {}: the decoded text contains a line break; use --json to get it as "
             "a JSON string",
             number);
  return text;
}

int run_tokenize(const std::vector<std::string>& args, dist::MpiContext& mpi) {
  core::Options options("tokenize",
                        "Tokenize stdin with a Hugging Face tokenizer.json: one input per line, one "
                        "JSON array of ids per output line (or --decode id arrays back to text).");
  options.add_string("tokenizer", "", "directory holding tokenizer.json (and tokenizer_config.json)");
  options.add_bool("decode", false, "read JSON arrays of ids and write their text");
  options.add_bool("json", false,
                   "each input text (encode) / output text (decode) is a JSON string, so texts "
                   "may contain newlines");
  options.add_bool("add-special-tokens", false, "add the post-processor's special tokens (e.g. a BOS) when encoding");
  options.add_bool("skip-special-tokens", false, "leave special tokens out when decoding");
  auto config = parse_command(options, args, mpi, /*quiet=*/true);
  if (!config) return 0;
  config->require(!config->get_string("tokenizer").empty(), "tokenizer", "give the directory of tokenizer.json");
  if (!mpi.is_root()) return 0;  // stdin belongs to rank 0

  const model::Tokenizer tok = model::Tokenizer::load(config->get_string("tokenizer"));
  const bool decode = config->get_bool("decode");
  const bool json = config->get_bool("json");
  const bool add_special = config->get_bool("add-special-tokens");
  const bool skip_special = config->get_bool("skip-special-tokens");

  std::ios::sync_with_stdio(false);
  std::string line, out;
  size_t number = 0;
  while (std::getline(std::cin, line)) {
    ++number;
    out = decode ? decode_line(tok, line, number, json, skip_special)
                 : encode_line(tok, line, number, json, add_special);
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  std::fflush(stdout);
  return 0;
}

}  // namespace

DISA_REGISTER_COMMAND("tokenize", "tokenize stdin lines to JSON id arrays (or --decode them)", run_tokenize);

}  // namespace disa::apps
