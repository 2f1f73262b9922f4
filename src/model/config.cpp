// ModelConfig: strict parsing of HF config.json for qwen2/qwen3/llama, the inverse
// (to_json), parameter counting and the `disa model init` presets.
#include "disa/model/config.hpp"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "disa/core/error.hpp"

namespace disa::model {

using json = nlohmann::json;

namespace {

// Fields of PretrainedConfig that are bookkeeping or generation defaults and do not
// change the forward pass.
const std::set<std::string>& metadata_fields() {
  static const std::set<std::string> s = {"architectures",
                                          "transformers_version",
                                          "torch_dtype",
                                          "dtype",
                                          "use_cache",
                                          "initializer_range",
                                          "bos_token_id",
                                          "eos_token_id",
                                          "pad_token_id",
                                          "_name_or_path",
                                          "name_or_path",
                                          "return_dict",
                                          "output_hidden_states",
                                          "output_attentions",
                                          "torchscript",
                                          "use_bfloat16",
                                          "tf_legacy_loss",
                                          "pruned_heads",
                                          "chunk_size_feed_forward",
                                          "is_encoder_decoder",
                                          "is_decoder",
                                          "add_cross_attention",
                                          "tie_encoder_decoder",
                                          "cross_attention_hidden_size",
                                          "max_length",
                                          "min_length",
                                          "do_sample",
                                          "early_stopping",
                                          "num_beams",
                                          "num_beam_groups",
                                          "diversity_penalty",
                                          "temperature",
                                          "top_k",
                                          "top_p",
                                          "typical_p",
                                          "repetition_penalty",
                                          "length_penalty",
                                          "no_repeat_ngram_size",
                                          "encoder_no_repeat_ngram_size",
                                          "bad_words_ids",
                                          "num_return_sequences",
                                          "output_scores",
                                          "return_dict_in_generate",
                                          "forced_bos_token_id",
                                          "forced_eos_token_id",
                                          "remove_invalid_values",
                                          "exponential_decay_length_penalty",
                                          "suppress_tokens",
                                          "begin_suppress_tokens",
                                          "finetuning_task",
                                          "id2label",
                                          "label2id",
                                          "tokenizer_class",
                                          "prefix",
                                          "sep_token_id",
                                          "decoder_start_token_id",
                                          "task_specific_params",
                                          "problem_type",
                                          "pretraining_tp",
                                          "max_window_layers"};
  return s;
}

int64_t get_int(const json& j, const std::string& key, const std::string& src) {
  const json& v = j.at(key);
  if (!v.is_number_integer()) DISA_THROW(ModelError, "{}: field {} must be an integer (got {})", src, key, v.dump());
  return v.get<int64_t>();
}

double get_num(const json& j, const std::string& key, const std::string& src) {
  const json& v = j.at(key);
  if (!v.is_number()) DISA_THROW(ModelError, "{}: field {} must be a number (got {})", src, key, v.dump());
  return v.get<double>();
}

bool get_bool(const json& j, const std::string& key, const std::string& src) {
  const json& v = j.at(key);
  if (!v.is_boolean()) DISA_THROW(ModelError, "{}: field {} must be true or false (got {})", src, key, v.dump());
  return v.get<bool>();
}

// rope_scaling (transformers < 5: {"rope_type" or "type", scaling fields}) or, with
// `parameters`, rope_parameters (transformers >= 5: the same fields plus rope_theta and
// partial_rotary_factor, rope_type defaulting to "default"). `field` names it in errors.
RopeScaling parse_rope_scaling(const json& v, const std::string& src, const std::string& field, bool parameters) {
  RopeScaling r;
  if (v.is_null()) return r;
  if (!v.is_object()) DISA_THROW(ModelError, "{}: field {} must be null or an object", src, field);
  std::string type;
  auto type_of = [&](const char* k) {
    if (!v[k].is_string()) DISA_THROW(ModelError, "{}: field {}.{} must be a string", src, field, k);
    return v[k].get<std::string>();
  };
  if (v.contains("rope_type"))
    type = type_of("rope_type");
  else if (v.contains("type"))
    type = type_of("type");
  else if (parameters)
    type = "default";
  else
    DISA_THROW(ModelError, "{}: field {} has no rope_type", src, field);
  std::set<std::string> allowed = {"rope_type", "type"};
  if (parameters) {
    allowed.insert({"rope_theta", "partial_rotary_factor"});
    // transformers >= 5 nests one dict per layer type for models mixing attention kinds.
    for (auto it = v.begin(); it != v.end(); ++it)
      if (it.value().is_object())
        DISA_THROW(ModelError,
                   "{}: field {}.{}: per-layer-type rope parameters are not "
                   "supported",
                   src, field, it.key());
  }
  if (type == "default") {
    r.type = RopeScaling::Type::None;
  } else if (type == "linear") {
    r.type = RopeScaling::Type::Linear;
    allowed.insert("factor");
  } else if (type == "llama3") {
    r.type = RopeScaling::Type::Llama3;
    allowed.insert({"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"});
  } else {
    DISA_THROW(ModelError,
               "{}: field {}.rope_type '{}' is not supported (supported: "
               "default, linear, llama3)",
               src, field, type);
  }
  for (auto it = v.begin(); it != v.end(); ++it)
    if (!allowed.count(it.key()))
      DISA_THROW(ModelError, "{}: field {}.{} is not supported for rope_type {}", src, field, it.key(), type);
  if (v.contains("partial_rotary_factor") && !v["partial_rotary_factor"].is_null() &&
      get_num(v, "partial_rotary_factor", src) != 1.0)
    DISA_THROW(ModelError,
               "{}: field {}.partial_rotary_factor must be 1 (partial rotary "
               "embeddings are not implemented)",
               src, field);
  if (r.type == RopeScaling::Type::None) return r;
  if (!v.contains("factor")) DISA_THROW(ModelError, "{}: field {}.factor is missing", src, field);
  r.factor = get_num(v, "factor", src + " " + field);
  if (!(r.factor > 0)) DISA_THROW(ModelError, "{}: field {}.factor must be > 0", src, field);
  if (r.type == RopeScaling::Type::Llama3) {
    for (const char* k : {"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
      if (!v.contains(k)) DISA_THROW(ModelError, "{}: field {}.{} is missing", src, field, k);
    r.low_freq_factor = get_num(v, "low_freq_factor", src);
    r.high_freq_factor = get_num(v, "high_freq_factor", src);
    r.original_max_position_embeddings = get_int(v, "original_max_position_embeddings", src);
    if (!(r.high_freq_factor > r.low_freq_factor))
      DISA_THROW(ModelError, "{}: field {}.high_freq_factor must exceed low_freq_factor", src, field);
  }
  return r;
}

bool same_rope_scaling(const RopeScaling& a, const RopeScaling& b) {
  if (a.type != b.type) return false;
  if (a.type == RopeScaling::Type::None) return true;
  if (a.factor != b.factor) return false;
  return a.type != RopeScaling::Type::Llama3 ||
         (a.low_freq_factor == b.low_freq_factor && a.high_freq_factor == b.high_freq_factor &&
          a.original_max_position_embeddings == b.original_max_position_embeddings);
}

}  // namespace

ModelConfig ModelConfig::from_json(const json& j, const std::string& src) {
  if (!j.is_object()) DISA_THROW(ModelError, "{}: not a JSON object", src);
  ModelConfig c;
  if (!j.contains("model_type") || !j["model_type"].is_string())
    DISA_THROW(ModelError, "{}: field model_type is missing", src);
  c.model_type = j["model_type"].get<std::string>();
  if (c.model_type != "qwen2" && c.model_type != "qwen3" && c.model_type != "llama")
    DISA_THROW(ModelError,
               "{}: field model_type '{}' is not supported (supported: qwen2, "
               "qwen3, llama)",
               src, c.model_type);
  std::set<std::string> handled;
  auto has = [&](const char* k) {
    handled.insert(k);
    return j.contains(k) && !j[k].is_null();
  };
  handled.insert("model_type");
  for (const char* k : {"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"})
    if (!has(k)) DISA_THROW(ModelError, "{}: field {} is missing", src, k);
  c.vocab_size = get_int(j, "vocab_size", src);
  c.hidden_size = get_int(j, "hidden_size", src);
  c.intermediate_size = get_int(j, "intermediate_size", src);
  c.num_hidden_layers = get_int(j, "num_hidden_layers", src);
  c.num_attention_heads = get_int(j, "num_attention_heads", src);
  c.num_key_value_heads = has("num_key_value_heads") ? get_int(j, "num_key_value_heads", src) : c.num_attention_heads;
  c.head_dim = has("head_dim") ? get_int(j, "head_dim", src)
                               : (c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0);
  c.max_position_embeddings = has("max_position_embeddings") ? get_int(j, "max_position_embeddings", src) : 32768;
  c.rms_norm_eps = has("rms_norm_eps") ? get_num(j, "rms_norm_eps", src) : 1e-6;
  c.rope_theta = has("rope_theta") ? get_num(j, "rope_theta", src) : 10000.0;
  if (has("rope_scaling")) c.rope_scaling = parse_rope_scaling(j["rope_scaling"], src, "rope_scaling", false);
  // transformers >= 5 writes rope_theta and the scaling into one rope_parameters object.
  // When the older fields are present as well they must say the same (transformers gives
  // rope_scaling precedence over rope_parameters, but rope_parameters.rope_theta over
  // rope_theta: a disagreement is ambiguous, so it is an error).
  if (has("rope_parameters")) {
    const json& rp = j["rope_parameters"];
    const RopeScaling r = parse_rope_scaling(rp, src, "rope_parameters", true);
    if (has("rope_scaling") && !same_rope_scaling(r, c.rope_scaling))
      DISA_THROW(ModelError, "{}: fields rope_scaling and rope_parameters disagree", src);
    if (rp.contains("rope_theta") && !rp["rope_theta"].is_null()) {
      const double theta = get_num(rp, "rope_theta", src + " rope_parameters");
      if (has("rope_theta") && theta != c.rope_theta)
        DISA_THROW(ModelError,
                   "{}: fields rope_theta ({}) and rope_parameters.rope_theta ({}) "
                   "disagree",
                   src, c.rope_theta, theta);
      c.rope_theta = theta;
    }
    c.rope_scaling = r;
  }
  c.tie_word_embeddings = has("tie_word_embeddings") ? get_bool(j, "tie_word_embeddings", src) : false;
  if (has("hidden_act") && j["hidden_act"] != "silu")
    DISA_THROW(ModelError, "{}: field hidden_act {} is not supported (only silu)", src, j["hidden_act"].dump());
  if (has("attention_dropout") && get_num(j, "attention_dropout", src) != 0.0)
    DISA_THROW(ModelError,
               "{}: field attention_dropout must be 0 (attention dropout is not "
               "implemented)",
               src);
  if (has("partial_rotary_factor") && get_num(j, "partial_rotary_factor", src) != 1.0)
    DISA_THROW(ModelError,
               "{}: field partial_rotary_factor must be 1 (partial rotary "
               "embeddings are not implemented)",
               src);
  if (has("use_sliding_window") && get_bool(j, "use_sliding_window", src))
    DISA_THROW(ModelError,
               "{}: field use_sliding_window=true is not supported (sliding-window "
               "attention is not implemented)",
               src);
  handled.insert("sliding_window");  // only used when use_sliding_window is true
  if (c.model_type == "llama" && j.contains("sliding_window") && !j["sliding_window"].is_null())
    DISA_THROW(ModelError, "{}: field sliding_window is not supported for llama", src);
  if (has("layer_types")) {
    for (const auto& t : j["layer_types"])
      if (t != "full_attention")
        DISA_THROW(ModelError,
                   "{}: field layer_types entry {} is not supported (only "
                   "full_attention)",
                   src, t.dump());
  }
  const bool attention_bias = has("attention_bias") ? get_bool(j, "attention_bias", src) : false;
  if (c.model_type == "qwen2") {
    c.qkv_bias = true;
    c.o_bias = false;
    if (j.contains("attention_bias"))
      DISA_THROW(ModelError,
                 "{}: field attention_bias is not a qwen2 field (qwen2 always has "
                 "q/k/v biases)",
                 src);
  } else {
    c.qkv_bias = attention_bias;
    c.o_bias = attention_bias;
  }
  if (has("mlp_bias")) {
    if (c.model_type != "llama") DISA_THROW(ModelError, "{}: field mlp_bias is only supported for llama", src);
    c.mlp_bias = get_bool(j, "mlp_bias", src);
  }
  c.qk_norm = c.model_type == "qwen3";
  if (has("initializer_range")) c.initializer_range = get_num(j, "initializer_range", src);
  if (has("eos_token_id")) {
    const json& e = j["eos_token_id"];
    if (e.is_array()) {
      for (const auto& x : e) c.eos_token_ids.push_back(x.get<int64_t>());
    } else {
      c.eos_token_ids.push_back(get_int(j, "eos_token_id", src));
    }
  }
  if (has("bos_token_id")) c.bos_token_id = get_int(j, "bos_token_id", src);
  if (has("torch_dtype") && j["torch_dtype"].is_string())
    c.torch_dtype = j["torch_dtype"].get<std::string>();
  else if (has("dtype") && j["dtype"].is_string())
    c.torch_dtype = j["dtype"].get<std::string>();
  if (has("quantization_config"))
    DISA_THROW(ModelError,
               "{}: field quantization_config: quantized checkpoints are not "
               "supported",
               src);
  if (has("auto_map")) DISA_THROW(ModelError, "{}: field auto_map: custom modelling code is not supported", src);
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!handled.count(it.key()) && !metadata_fields().count(it.key()))
      DISA_THROW(ModelError, "{}: field {} is not supported for model_type {}", src, it.key(), c.model_type);
  c.validate(src);
  return c;
}

void ModelConfig::validate(const std::string& src) const {
  auto positive = [&](int64_t v, const char* name) {
    if (v <= 0) DISA_THROW(ModelError, "{}: field {} must be > 0 (got {})", src, name, v);
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(intermediate_size, "intermediate_size");
  positive(num_hidden_layers, "num_hidden_layers");
  positive(num_attention_heads, "num_attention_heads");
  positive(num_key_value_heads, "num_key_value_heads");
  positive(head_dim, "head_dim");
  positive(max_position_embeddings, "max_position_embeddings");
  if (num_attention_heads % num_key_value_heads != 0)
    DISA_THROW(ModelError,
               "{}: field num_key_value_heads ({}) must divide num_attention_heads "
               "({})",
               src, num_key_value_heads, num_attention_heads);
  if (head_dim % 2 != 0)
    DISA_THROW(ModelError, "{}: field head_dim ({}) must be even for rotary embeddings", src, head_dim);
  if (!(rms_norm_eps > 0)) DISA_THROW(ModelError, "{}: field rms_norm_eps must be > 0", src);
  if (!(rope_theta > 0)) DISA_THROW(ModelError, "{}: field rope_theta must be > 0", src);
}

ModelConfig ModelConfig::load(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  std::ifstream in(path);
  if (!in) DISA_THROW(IoError, "{}: cannot open (is {} a model directory?)", path, dir);
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& ex) {
    DISA_THROW(ModelError, "{}: invalid JSON: {}", path, ex.what());
  }
  return from_json(j, path);
}

json ModelConfig::to_json() const {
  json j;
  const char* arch = model_type == "qwen2"   ? "Qwen2ForCausalLM"
                     : model_type == "qwen3" ? "Qwen3ForCausalLM"
                                             : "LlamaForCausalLM";
  j["architectures"] = {arch};
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  if (model_type == "qwen3" || head_dim != hidden_size / num_attention_heads) j["head_dim"] = head_dim;
  j["hidden_act"] = "silu";
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  switch (rope_scaling.type) {
    case RopeScaling::Type::None: j["rope_scaling"] = nullptr; break;
    case RopeScaling::Type::Linear:
      j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", rope_scaling.factor}};
      break;
    case RopeScaling::Type::Llama3:
      j["rope_scaling"] = {{"rope_type", "llama3"},
                           {"factor", rope_scaling.factor},
                           {"low_freq_factor", rope_scaling.low_freq_factor},
                           {"high_freq_factor", rope_scaling.high_freq_factor},
                           {"original_max_position_embeddings", rope_scaling.original_max_position_embeddings}};
      break;
  }
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (model_type != "qwen2") j["attention_bias"] = qkv_bias;
  if (model_type == "llama") j["mlp_bias"] = mlp_bias;
  if (model_type != "llama") j["use_sliding_window"] = false;
  j["attention_dropout"] = 0.0;
  j["initializer_range"] = initializer_range;
  if (bos_token_id >= 0) j["bos_token_id"] = bos_token_id;
  if (eos_token_ids.size() == 1)
    j["eos_token_id"] = eos_token_ids[0];
  else if (!eos_token_ids.empty())
    j["eos_token_id"] = eos_token_ids;
  j["torch_dtype"] = torch_dtype;
  j["use_cache"] = true;
  return j;
}

int64_t ModelConfig::num_parameters() const {
  const int64_t H = hidden_size, q = num_attention_heads * head_dim, kv = num_key_value_heads * head_dim,
                I = intermediate_size;
  int64_t layer = H * q + 2 * H * kv + q * H + 3 * H * I + 2 * H;
  if (qkv_bias) layer += q + 2 * kv;
  if (o_bias) layer += H;
  if (mlp_bias) layer += 2 * I + H;
  if (qk_norm) layer += 2 * head_dim;
  int64_t n = vocab_size * H + num_hidden_layers * layer + H;
  if (!tie_word_embeddings) n += vocab_size * H;
  return n;
}

ModelConfig preset_config(const std::string& arch, const std::string& size) {
  if (arch != "qwen2" && arch != "qwen3" && arch != "llama")
    DISA_THROW(ConfigError, "model architecture '{}' is not one of qwen2, qwen3, llama", arch);
  ModelConfig c;
  c.model_type = arch;
  c.vocab_size = 320;
  if (size == "tiny") {
    c.hidden_size = 64;
    c.intermediate_size = 128;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 16;
    c.max_position_embeddings = 2048;
  } else if (size == "small") {
    c.hidden_size = 512;
    c.intermediate_size = 1408;
    c.num_hidden_layers = 8;
    c.num_attention_heads = 8;
    c.num_key_value_heads = 4;
    c.head_dim = 64;
    c.max_position_embeddings = 4096;
  } else {
    DISA_THROW(ConfigError, "model size '{}' is not one of tiny, small", size);
  }
  c.rms_norm_eps = 1e-6;
  c.rope_theta = arch == "llama" ? 500000.0 : 1000000.0;
  c.tie_word_embeddings = arch != "llama";
  c.qkv_bias = arch == "qwen2";
  c.qk_norm = arch == "qwen3";
  c.eos_token_ids = {256};
  c.bos_token_id = 256;
  c.torch_dtype = "float32";
  return c;
}

}  // namespace disa::model
