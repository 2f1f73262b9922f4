// Writing the trained policy: a full fine-tune as an HF model directory, a LoRA run as a
// PEFT adapter directory and, for the final output, the base model with the adapter
// merged as an HF model directory (so eval and HF load it like any model).
#pragma once

#include <optional>
#include <string>

#include "disa/model/lora.hpp"

namespace disa::model {
class CausalLMImpl;
}  // namespace disa::model

namespace disa::train {

// Writes DIR/policy (full), or DIR/adapter and, with `merged`, DIR/policy (LoRA: `lora`
// set). Tokenizer and generation files are copied from `base_dir`.
void save_policy(model::CausalLMImpl& policy, const std::optional<model::LoraConfig>& lora, const std::string& base_dir,
                 const std::string& dir, bool merged);

}  // namespace disa::train
