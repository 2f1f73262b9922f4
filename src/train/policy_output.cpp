// The trained policy's output directories (include/disa/train/policy_output.hpp).
#include "disa/train/policy_output.hpp"

#include "disa/core/log.hpp"
#include "disa/model/weights.hpp"

namespace disa::train {

void save_policy(model::CausalLMImpl& policy, const std::optional<model::LoraConfig>& lora, const std::string& base_dir,
                 const std::string& dir, bool merged) {
  model::SaveOptions so;
  so.copy_from_dir = base_dir;
  if (!lora) {
    model::save_model(policy, dir + "/policy", so);
    return;
  }
  model::save_lora_adapter(policy, *lora, dir + "/adapter", base_dir);
  if (!merged) return;
  model::CausalLM merged_model = model::load_model(base_dir, torch::kCPU, torch::kFloat32);
  model::load_lora_adapter(*merged_model, dir + "/adapter");
  model::merge_lora(*merged_model);
  model::save_model(*merged_model, dir + "/policy", so);
}

}  // namespace disa::train
