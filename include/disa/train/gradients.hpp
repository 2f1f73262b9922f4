// The data-parallel optimiser step shared by `disa warm-start` (warm_start.cpp) and `disa train`
// (trainer.cpp): gradients summed over the ranks in one bucketed all-reduce (a parameter
// that got no gradient on this rank contributes zeros, so every rank reduces the same
// list), a global-norm clip, and the scheduled learning rate set before the step.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace disa::dist {
class Communicator;
}  // namespace disa::dist

namespace disa::train {

// Sums the gradients of `params` over the ranks (in place).
void all_reduce_gradients(dist::Communicator& comm, const std::vector<torch::Tensor>& params);
// Scales the gradients to a global norm of at most `max_norm` (<= 0: no clip); returns the
// norm before clipping.
double clip_gradient_norm(const std::vector<torch::Tensor>& params, double max_norm);
// Sets the learning rate of every parameter group of an AdamW optimiser.
void set_learning_rate(torch::optim::AdamW& optimizer, double lr);

}  // namespace disa::train
