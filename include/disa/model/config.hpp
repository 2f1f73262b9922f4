// Architecture configuration of a decoder model, parsed from a Hugging Face config.json
// (model_type qwen2, qwen3, llama). Every field that changes the computation is
// understood or rejected: an unsupported field or value is a ModelError naming the file
// and the field, never silently ignored. Also the presets of `disa model init`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace disa::model {

// rope_scaling of config.json: null/"default", "linear" (positions divided by factor),
// "llama3" (Llama 3.1 frequency-dependent interpolation).
struct RopeScaling {
  enum class Type { None, Linear, Llama3 };
  Type type = Type::None;
  double factor = 1.0;
  double low_freq_factor = 1.0;                     // llama3
  double high_freq_factor = 4.0;                    // llama3
  int64_t original_max_position_embeddings = 8192;  // llama3
};

struct ModelConfig {
  std::string model_type;  // "qwen2", "qwen3" or "llama"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // grouped-query attention; defaults to the head count
  int64_t head_dim = 0;             // defaults to hidden_size / num_attention_heads
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // bias on q/k/v_proj (always for qwen2; attention_bias otherwise)
  bool o_bias = false;    // bias on o_proj (attention_bias for llama/qwen3)
  bool mlp_bias = false;  // bias on gate/up/down_proj (llama mlp_bias)
  bool qk_norm = false;   // per-head RMSNorm of q and k before RoPE (qwen3)
  double initializer_range = 0.02;
  std::vector<int64_t> eos_token_ids;   // eos_token_id (an int or a list); may be empty
  int64_t bos_token_id = -1;            // -1: none
  std::string torch_dtype = "float32";  // the stored dtype ("bfloat16", "float16", ...)

  // Parses a config.json object; `source` (the file name) prefixes every error.
  static ModelConfig from_json(const nlohmann::json& j, const std::string& source);
  // Reads DIR/config.json.
  static ModelConfig load(const std::string& dir);
  // The HF config.json for this configuration (loads back to the same ModelConfig).
  nlohmann::json to_json() const;

  // Number of parameters (tied head counted once).
  int64_t num_parameters() const;
  // Checks the values (positive sizes, heads dividing, ...); throws ModelError naming
  // `source` and the field.
  void validate(const std::string& source) const;
};

// A ready-made configuration for `disa model init`: arch qwen2|qwen3|llama, size
// tiny (~0.1M parameters) or small (~25M parameters); vocab_size 320 for the tiny
// byte-level tokenizer (259 ids), eos id 256 (<|endoftext|>).
ModelConfig preset_config(const std::string& arch, const std::string& size);

}  // namespace disa::model
