// FlowRL's learned partition function log Z_phi(x) (docs/method.md §3): an MLP on the
// policy's final hidden states averaged over the prompt tokens, `blocks` blocks of
// Linear(H, H), GELU, LayerNorm(H), then Linear(H, 1). Trained jointly with the policy
// by the same optimiser; saved with the checkpoints (log_z_head.safetensors-like .pt).
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace disa::train {

class LogZHeadImpl : public torch::nn::Module {
 public:
  LogZHeadImpl(int64_t hidden, int64_t blocks);
  // prompt_hidden_mean [B, H] -> log Z [B]
  torch::Tensor forward(const torch::Tensor& prompt_hidden_mean);

 private:
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(LogZHead);

}  // namespace disa::train
