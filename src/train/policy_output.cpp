// The trained policy's output directories (include/disa/train/policy_output.hpp).
#include "disa/train/policy_output.hpp"

#include "disa/core/log.hpp"
#include "disa/model/weights.hpp"

namespace disa::train {

void save_policy(CausalLMImpl& policy, const std::optional<LoraConfig>& lora, const std::string& base_dir,
                 const std::string& dir, bool merged) {
  SaveOptions so;
  so.copy_from_dir = base_dir;
  if (!lora) {
    save_model(policy, dir + "/policy", so);
    return;
  }
  save_lora_adapter(policy, *lora, dir + "/adapter", base_dir);
  if (!merged) return;
  CausalLM merged_model = load_model(base_dir, torch::kCPU, torch::kFloat32);
  load_lora_adapter(*merged_model, dir + "/adapter");
  merge_lora(*merged_model);
  save_model(*merged_model, dir + "/policy", so);
}

}  // namespace disa::train
