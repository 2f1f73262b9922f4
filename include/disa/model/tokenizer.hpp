// Hugging Face tokenizer.json tokenizer (byte-level BPE: Qwen2/Qwen2.5/Qwen3, Llama 3
// and disa's tiny byte-level tokenizer), giving the same ids as HF's implementation.
// Pipeline of encode: added tokens matched first, NFC normalizer (ICU), pre-tokenizers
// (Split with the model's regex via PCRE2, ByteLevel), BPE with merge ranks, optional
// post-processor special tokens. Any tokenizer.json component or option that is not
// implemented is a ModelError naming it, never silently different ids. See
// docs/tokenizer.md.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace disa::model {

namespace tokenizer_detail {
struct TokenizerImpl;
}

// Immutable after load; copies share the loaded tables. encode/decode are const and safe
// to call concurrently from any number of threads (the BPE cache is lock-sharded).
class Tokenizer {
 public:
  // Loads DIR/tokenizer.json (and DIR/tokenizer_config.json when present, for the
  // bos/eos/pad tokens). Throws ModelError naming the file and field for bad or
  // unsupported content, IoError when the file cannot be read.
  static Tokenizer load(const std::string& dir);

  // Ids of `text` (UTF-8; invalid UTF-8 is a DataError naming the byte offset). Special
  // tokens of the post-processor (e.g. a BOS template) only when add_special_tokens.
  std::vector<int32_t> encode(const std::string& text, bool add_special_tokens = false) const;
  // Text of `ids` (ill-formed byte sequences become U+FFFD, as in HF). Ids without a
  // token (e.g. a model's padded vocabulary beyond the tokenizer's) are skipped, as HF's
  // decode does. No clean_up_tokenization_spaces is applied.
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens = false) const;

  // max id + 1 over the model vocabulary and the added tokens.
  int64_t vocab_size() const;
  std::optional<int32_t> token_to_id(const std::string& token) const;
  // The token string of `id` (byte-level symbols, not decoded text); nullopt if unknown.
  std::optional<std::string> id_to_token(int32_t id) const;
  // True for added tokens marked "special" (skipped by decode(ids, true)).
  bool is_special(int32_t id) const;
  // Ids of all special added tokens, ascending.
  std::vector<int32_t> special_token_ids() const;

  // From tokenizer_config.json (eos_token / bos_token / pad_token, a string or an
  // {"content": ...} object); nullopt when the file or the field is absent or null.
  std::optional<int32_t> eos_token_id() const;
  std::optional<int32_t> bos_token_id() const;
  std::optional<int32_t> pad_token_id() const;

  // True when every text has exactly one token sequence over the non-special ids: every
  // such token stands for one byte (the byte-level tokenizer of the tiny presets). False
  // for BPE vocabularies with merged tokens, where a string has many tokenizations and
  // the probability of a string is a sum over all of them (docs/method.md §4).
  bool unique_tokenization() const;

  // Stable hash (16 hex digits, FNV-1a 64) of the bytes of tokenizer.json.
  std::string fingerprint() const;
  // The directory it was loaded from.
  const std::string& directory() const;

 private:
  explicit Tokenizer(std::shared_ptr<const tokenizer_detail::TokenizerImpl> impl);
  std::shared_ptr<const tokenizer_detail::TokenizerImpl> impl_;
};

// Writes DIR/tokenizer.json (byte-level BPE: the 256 byte symbols of GPT-2's
// bytes_to_unicode as ids 0..255, id == byte value, no merges, ByteLevel
// pre-tokenizer/decoder) followed by the given special tokens as added tokens (ids 256,
// 257, ...), and DIR/tokenizer_config.json (eos_token = special_tokens[eos_index],
// tokenizer_class). Under it every string that contains no special-token text has
// exactly one token sequence (one token per byte). Creates DIR if needed.
void write_byte_level_tokenizer(const std::string& dir, const std::vector<std::string>& special_tokens, int eos_index);

}  // namespace disa::model
