// The shared data-parallel optimiser step (include/disa/train/gradients.hpp).
#include "disa/train/gradients.hpp"

#include <limits>

#include "disa/dist/communicator.hpp"

namespace disa::train {

void all_reduce_gradients(dist::Communicator& comm, const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> grads;
  for (auto p : params) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    grads.push_back(p.grad());
  }
  comm.all_reduce(grads, dist::ReduceOp::Sum);
}

double clip_gradient_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  return torch::nn::utils::clip_grad_norm_(params, max_norm > 0 ? max_norm : std::numeric_limits<double>::infinity());
}

void set_learning_rate(torch::optim::AdamW& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
}

}  // namespace disa::train
