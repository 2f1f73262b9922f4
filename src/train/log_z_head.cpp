// FlowRL's log Z head (include/disa/train/log_z_head.hpp).
#include "disa/train/log_z_head.hpp"

namespace disa::train {

LogZHeadImpl::LogZHeadImpl(int64_t hidden, int64_t blocks) {
  torch::nn::Sequential seq;
  for (int64_t b = 0; b < blocks; ++b) {
    seq->push_back(torch::nn::Linear(hidden, hidden));
    seq->push_back(torch::nn::GELU());
    seq->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({hidden})));
  }
  seq->push_back(torch::nn::Linear(hidden, 1));
  net = register_module("net", seq);
}

torch::Tensor LogZHeadImpl::forward(const torch::Tensor& prompt_hidden_mean) {
  return net->forward(prompt_hidden_mean.to(torch::kFloat32)).squeeze(-1);
}

}  // namespace disa::train
