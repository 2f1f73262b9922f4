// Model directories in the Hugging Face layout: config.json, model.safetensors (or shards
// with model.safetensors.index.json), generation_config.json and the tokenizer files.
// Loading maps the safetensors files and copies each tensor once into its parameter
// (converting dtype/device on the way); every parameter must be found exactly once, and
// missing, unexpected and shape-mismatched tensors are reported together in one
// ModelError. Saving writes the same layout, loadable by HF transformers and vLLM.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "disa/model/causal_lm.hpp"

namespace disa::model {

// Parses "float32"/"fp32", "bfloat16"/"bf16", "float16"/"fp16" (ConfigError otherwise).
torch::Dtype parse_dtype_name(const std::string& name);
// The HF torch_dtype spelling ("float32", "bfloat16", "float16").
std::string dtype_config_name(torch::Dtype dtype);
// "cpu", "cuda", "cuda:1" (ConfigError naming the value otherwise, or when CUDA is absent).
torch::Device parse_device_name(const std::string& name);

// Loads DIR (config.json + weights) onto `device` in `dtype`. The model is in eval mode
// with all parameters trainable (requires_grad); its `fingerprint` is set.
CausalLM load_model(const std::string& dir, torch::Device device = torch::kCPU, torch::Dtype dtype = torch::kFloat32);

// A model with HF's initialisation (normal(0, initializer_range) for projections and
// embeddings, zero biases, unit norms) from `seed` (torch's CPU generator; the values do
// not depend on device or dtype).
CausalLM init_random_model(const ModelConfig& config, uint64_t seed, torch::Device device = torch::kCPU,
                           torch::Dtype dtype = torch::kFloat32);

struct SaveOptions {
  // Stored dtype (float32, bfloat16 or float16); nullopt: the model's own dtype.
  std::optional<torch::Dtype> dtype;
  // Shard the weights when they exceed this many bytes (0 = one file).
  int64_t max_shard_bytes = int64_t{5} << 30;
  // Copy tokenizer files (tokenizer.json, tokenizer_config.json, special_tokens_map.json,
  // vocab.json, merges.txt, chat_template.jinja) and generation_config.json from here.
  std::string copy_from_dir;
};

// Writes DIR/config.json, the weights and generation_config.json (copied, or a minimal
// one with the config's bos/eos ids). Models with LoRA adapters must be merged first
// (merge_lora) or saved with save_lora_adapter. Sets model.fingerprint.
void save_model(CausalLMImpl& model, const std::string& dir, const SaveOptions& options = {});

// Provenance hash of a model directory: 16 hex digits over the canonical config.json
// (parsed and re-serialised) and the bytes of every weight file (FNV-1a 64 over 64-bit
// words), in file-name order.
std::string model_fingerprint(const std::string& dir);

// Writes DIR/generation_config.json with the config's bos/eos token ids.
void write_generation_config(const ModelConfig& config, const std::string& dir);

}  // namespace disa::model
