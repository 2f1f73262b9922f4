// The two implementations behind draw_tokens() and sampled_token_log_probs() (private to
// src/model/; include/disa/model/sampling.hpp, "The two implementations", says which runs
// where).
#pragma once

#include <vector>

#include "disa/model/sampling.hpp"

namespace disa::model::detail {

// CPU: one row at a time, double weights of one row only (sampling_rows.cpp).
TokenDraws draw_tokens_by_rows(const torch::Tensor& logits, const std::vector<double>& u, const SamplingParams& p,
                               bool model_logprobs);
torch::Tensor token_log_probs_by_rows(const torch::Tensor& logits, const torch::Tensor& targets,
                                      const SamplingParams& p);

// Any device: batch tensor operations in fp32 (sampling_tensor.cpp).
TokenDraws draw_tokens_by_tensors(const torch::Tensor& logits, const std::vector<double>& u, const SamplingParams& p,
                                  bool model_logprobs);
torch::Tensor token_log_probs_by_tensors(const torch::Tensor& logits, const torch::Tensor& targets,
                                         const SamplingParams& p);

}  // namespace disa::model::detail
