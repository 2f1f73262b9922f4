// The prompt features of the frozen partition-function regressor (docs/method.md §2):
// the reference's final-norm hidden states, in float32, averaged over the prompt's
// tokens (model::score with prompt_hidden_mean; io::regressor::kFeatureDefinition).
// `disa anchor fit` computes them to fit g(x), `disa train` to apply it, so both share
// this one function.
#pragma once

#include <cstdint>
#include <vector>

#include "disa/model/causal_lm.hpp"

namespace disa::dist {
class Communicator;
}  // namespace disa::dist

namespace disa::stage {

// The features of every prompt, in prompt order, on every rank. The prompts are cut into
// fixed batches of `batch_size` consecutive prompts and the batches into balanced
// contiguous blocks over the ranks; each rank scores its batches and the features are
// gathered to all. A batch's composition does not depend on the number of ranks, so 1
// and R ranks give the same features bitwise.
std::vector<std::vector<double>> prompt_features(model::CausalLMImpl& model,
                                                 const std::vector<std::vector<int32_t>>& prompts, int64_t batch_size,
                                                 dist::Communicator& comm);

}  // namespace disa::stage
