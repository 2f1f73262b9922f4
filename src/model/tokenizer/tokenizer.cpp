// disa::Tokenizer: loading tokenizer.json / tokenizer_config.json and the encode/decode
// pipelines over the components in this directory.
#include "disa/model/tokenizer.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "added_vocabulary.hpp"
#include "bpe_model.hpp"
#include "decoder.hpp"
#include "disa/core/error.hpp"
#include "normalizer.hpp"
#include "post_processor.hpp"
#include "pre_tokenizer.hpp"
#include "unicode_text.hpp"

namespace disa::model {
namespace tokenizer_detail {

struct TokenizerImpl {
  std::string directory;
  std::string fingerprint;
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<BpeModel> model;
  AddedVocabulary added;
  PostProcessor post_processor;
  std::unique_ptr<Decoder> decoder;
  int64_t vocab_size = 0;
  bool unique_tokenization = false;
  std::optional<int32_t> eos_id, bos_id, pad_id;
};

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DISA_CHECK(in.good(), ModelError, "{}: cannot open the tokenizer file", path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  DISA_CHECK(!in.bad(), ModelError, "{}: read error", path);
  return buffer.str();
}

Json parse_json(const std::string& text, const std::string& path) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    DISA_THROW(ModelError, "{}: invalid JSON: {}", path, e.what());
  }
}

// Every non-special token one symbol: a model-vocabulary token is one code point (byte-level
// symbols map each byte to one character), a non-special added token one byte of text.
bool every_token_one_symbol(const TokenizerImpl& impl) {
  auto code_points = [](const std::string& s) {
    int64_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  for (const auto& t : impl.added.tokens())
    if (!t.special && t.content.size() != 1) return false;
  for (int64_t id = 0; id < impl.model->id_bound(); ++id) {
    const AddedToken* added = impl.added.find_id(int32_t(id));
    if (added) continue;
    const std::string* symbol = impl.model->id_to_token(int32_t(id));
    if (symbol && code_points(*symbol) != 1) return false;
  }
  return true;
}

std::string fnv1a64_hex(const std::string& bytes) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return fmt::format("{:016x}", h);
}

// eos_token / bos_token / pad_token of tokenizer_config.json: a string, an
// {"content": ...} object, null or absent.
std::optional<int32_t> config_token(const Json& config, const std::string& field, const JsonPath& at,
                                    const TokenizerImpl& impl) {
  auto it = config.find(field);
  if (it == config.end() || it->is_null()) return std::nullopt;
  std::string content;
  if (it->is_string())
    content = it->get<std::string>();
  else if (it->is_object())
    content = require_string(*it, "content", at / field);
  else
    DISA_THROW(ModelError, "{}: expected a string or an object with \"content\"", (at / field).str());
  if (auto id = impl.added.find_content(content)) return id;
  if (auto id = impl.model->token_to_id(content)) return id;
  DISA_THROW(ModelError, "{}: token '{}' is not in the tokenizer's vocabulary", (at / field).str(), content);
}

}  // namespace
}  // namespace tokenizer_detail

using namespace tokenizer_detail;

Tokenizer::Tokenizer(std::shared_ptr<const TokenizerImpl> impl) : impl_(std::move(impl)) {}

Tokenizer Tokenizer::load(const std::string& dir) {
  auto impl = std::make_shared<TokenizerImpl>();
  impl->directory = dir;
  const std::string path = dir + "/tokenizer.json";
  const std::string text = read_file(path);
  impl->fingerprint = fnv1a64_hex(text);
  const Json j = parse_json(text, path);
  const JsonPath root{path, ""};
  DISA_CHECK(j.is_object(), ModelError, "{}: expected a JSON object", path);

  for (const char* field : {"truncation", "padding"}) {
    auto it = j.find(field);
    if (it != j.end() && !it->is_null()) not_implemented(root / field, std::string(field));
  }
  auto get = [&](const char* key) -> const Json& {
    static const Json null_json;
    auto it = j.find(key);
    return it == j.end() ? null_json : *it;
  };
  impl->normalizer = make_normalizer(get("normalizer"), root / "normalizer");
  impl->pre_tokenizer = make_pre_tokenizer(get("pre_tokenizer"), root / "pre_tokenizer");
  impl->model = std::make_unique<BpeModel>(require_field(j, "model", root), root / "model");
  impl->added = AddedVocabulary(get("added_tokens"), root / "added_tokens", impl->normalizer.get());
  impl->post_processor = PostProcessor(get("post_processor"), root / "post_processor");
  impl->decoder = make_decoder(get("decoder"), root / "decoder");

  impl->vocab_size = impl->model->id_bound();
  for (const auto& t : impl->added.tokens()) impl->vocab_size = std::max<int64_t>(impl->vocab_size, int64_t(t.id) + 1);
  impl->unique_tokenization = every_token_one_symbol(*impl);

  const std::string config_path = dir + "/tokenizer_config.json";
  if (std::ifstream(config_path).good()) {
    const Json config = parse_json(read_file(config_path), config_path);
    const JsonPath at{config_path, ""};
    DISA_CHECK(config.is_object(), ModelError, "{}: expected a JSON object", config_path);
    impl->eos_id = config_token(config, "eos_token", at, *impl);
    impl->bos_id = config_token(config, "bos_token", at, *impl);
    impl->pad_id = config_token(config, "pad_token", at, *impl);
  }
  return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(const std::string& text, bool add_special_tokens) const {
  const TokenizerImpl& t = *impl_;
  const int64_t bad = first_invalid_utf8(text);
  DISA_CHECK(bad < 0, DataError, "tokenizer: text is not valid UTF-8 at byte {}", bad);
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  for (const Segment& raw : t.added.split(text, /*normalized_pass=*/false)) {
    if (raw.id >= 0) {
      ids.push_back(raw.id);
      continue;
    }
    const std::string normalized = t.normalizer ? t.normalizer->normalize(raw.text) : raw.text;
    for (const Segment& seg : t.added.split(normalized, /*normalized_pass=*/true)) {
      if (seg.id >= 0) {
        ids.push_back(seg.id);
        continue;
      }
      if (!t.pre_tokenizer) {
        t.model->encode_piece(seg.text, ids);
        continue;
      }
      for (const std::string& piece : t.pre_tokenizer->pre_tokenize({seg.text})) t.model->encode_piece(piece, ids);
    }
  }
  return add_special_tokens ? t.post_processor.apply(ids) : ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  const TokenizerImpl& t = *impl_;
  std::string out;
  std::vector<const std::string*> pending;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (const AddedToken* added = t.added.find_id(id)) {
      if (skip_special_tokens && added->special) continue;
      // Added tokens are emitted verbatim, not through the decoder (as HF's decode_chain).
      out += t.decoder->decode(pending);
      pending.clear();
      out += added->content;
      continue;
    }
    const std::string* token = t.model->id_to_token(id);
    // Ids without a token (a model's padded vocabulary beyond the tokenizer's) are skipped,
    // as HF tokenizers' decode does (filter_map over id_to_token).
    if (token == nullptr) continue;
    pending.push_back(token);
  }
  out += t.decoder->decode(pending);
  return out;
}

int64_t Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<int32_t> Tokenizer::token_to_id(const std::string& token) const {
  if (auto id = impl_->added.find_content(token)) return id;
  return impl_->model->token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (const AddedToken* added = impl_->added.find_id(id)) return added->content;
  if (const std::string* token = impl_->model->id_to_token(id)) return *token;
  return std::nullopt;
}

bool Tokenizer::is_special(int32_t id) const {
  const AddedToken* added = impl_->added.find_id(id);
  return added && added->special;
}

std::vector<int32_t> Tokenizer::special_token_ids() const {
  std::vector<int32_t> ids;
  for (const auto& t : impl_->added.tokens())
    if (t.special) ids.push_back(t.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::optional<int32_t> Tokenizer::eos_token_id() const { return impl_->eos_id; }
std::optional<int32_t> Tokenizer::bos_token_id() const { return impl_->bos_id; }
std::optional<int32_t> Tokenizer::pad_token_id() const { return impl_->pad_id; }
bool Tokenizer::unique_tokenization() const { return impl_->unique_tokenization; }
std::string Tokenizer::fingerprint() const { return impl_->fingerprint; }
const std::string& Tokenizer::directory() const { return impl_->directory; }

}  // namespace disa::model
