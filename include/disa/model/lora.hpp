// LoRA adapters on the projections of a CausalLM (PEFT semantics): W x + (alpha / r)
// B A dropout(x), A [r, in] Kaiming-uniform (a = sqrt(5)), B [out, r] zero, so the adapted
// model starts equal to the base; all base parameters are frozen. Adapters merge into the
// weights, and save/load in the PEFT layout (adapter_config.json and
// adapter_model.safetensors with names
// "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "disa/model/causal_lm.hpp"

namespace disa::model {

struct LoraConfig {
  int64_t rank = 8;
  double alpha = 16.0;
  double dropout = 0.0;
  // Projections to adapt: q, k, v, o, gate, up, down (or the HF names q_proj, ...).
  std::vector<std::string> target_modules = {"q", "k", "v", "o", "gate", "up", "down"};
  // Throws ConfigError naming the field for bad values or unknown targets.
  void validate() const;
  // The HF module names of the targets ("q_proj", ...), in canonical order.
  std::vector<std::string> hf_target_modules() const;
};

// Adds adapters (on the model's device, in fp32 whatever the model dtype, as PEFT's
// autocast_adapter_dtype; the adapter path casts its input to fp32 and its output back)
// initialised from `seed`; freezes every other parameter. Returns the adapter
// parameters. Throws if the model already has adapters.
std::vector<torch::Tensor> apply_lora(CausalLMImpl& model, const LoraConfig& config, uint64_t seed);
// The adapter parameters currently attached.
std::vector<torch::Tensor> lora_parameters(CausalLMImpl& model);
// W += (alpha / r) B A for every adapter, then removes the adapters and makes all
// parameters trainable again.
void merge_lora(CausalLMImpl& model);

// Writes DIR/adapter_config.json and DIR/adapter_model.safetensors (PEFT layout).
// `base_model_name_or_path` is recorded in the config.
void save_lora_adapter(CausalLMImpl& model, const LoraConfig& config, const std::string& dir,
                       const std::string& base_model_name_or_path);
// Reads a PEFT adapter directory written by save_lora_adapter (or PEFT with the same
// supported options), attaches it to `model` and returns its configuration.
LoraConfig load_lora_adapter(CausalLMImpl& model, const std::string& dir);

}  // namespace disa::model
