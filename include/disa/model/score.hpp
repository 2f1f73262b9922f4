// Teacher-forced scoring of (prompt, response) pairs: the log-probability of every
// response token given everything before it, under the model at a temperature (and
// optionally the top-k/top-p of a sampler, so a proposal's log q can be re-evaluated).
// Hidden states are computed for the whole left-padded batch; logits and the fp32/fp64
// log-softmax are computed only at response positions, in chunks of rows, so a
// [tokens, vocab] matrix never materialises for the whole batch. The differentiable
// variant recomputes each chunk in the backward pass (a fused linear + log-softmax), so
// training memory stays bounded too.
#pragma once

#include <cstdint>
#include <vector>

#include "disa/model/causal_lm.hpp"
#include "disa/model/sampling.hpp"

namespace disa::model {

struct ScoreItem {
  std::vector<int32_t> prompt;    // non-empty
  std::vector<int32_t> response;  // may be empty (sum 0)
};

struct ScoreOptions {
  // The distribution scored under: temperature (default 1 = the model itself), top_k,
  // top_p with the semantics of the sampler (SamplingParams). Greedy (0) is not allowed.
  SamplingParams sampling;
  // Gradients flow to the parameters (and LoRA adapters). Temperature only: top-k/top-p
  // scoring is not differentiable. The model's train/eval mode is left as it is.
  bool differentiable = false;
  // Also return the mean of the final hidden states over each prompt's tokens.
  bool prompt_hidden_mean = false;
  // Response positions per logits chunk; 0 = automatic (about 256 MiB of logits).
  int64_t chunk_tokens = 0;
  // Items per forward pass when not differentiable; 0 = all at once.
  int64_t max_batch_size = 0;
};

struct ScoreResult {
  // Per-token log-probabilities [B, max response length], 0 at masked positions:
  // float64 without gradients, float32 (with autograd history) when differentiable.
  torch::Tensor token_logprobs;
  torch::Tensor response_mask;       // [B, max response length] bool
  torch::Tensor sum_logprobs;        // [B], sum over the response
  torch::Tensor prompt_hidden_mean;  // [B, hidden] float32, or undefined
  // Convenience copies (non-differentiable path only; empty otherwise).
  std::vector<double> sums() const;
  std::vector<std::vector<double>> per_token() const;
};

// Scores `items` (on the model's device); results in item order.
ScoreResult score(CausalLMImpl& model, const std::vector<ScoreItem>& items, const ScoreOptions& options = {});

// log softmax(hidden W^T / temperature)[target] for every row of hidden [N, H], targets
// [N]: fp32, chunked over rows, differentiable w.r.t. hidden and W (the backward pass
// recomputes each chunk). Exposed for training losses that gather their own positions.
torch::Tensor chunked_token_logprobs(const torch::Tensor& hidden, const torch::Tensor& weight,
                                     const torch::Tensor& targets, double temperature, int64_t chunk_rows);

}  // namespace disa::model
