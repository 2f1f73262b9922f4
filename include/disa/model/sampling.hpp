// The sampling distribution and its randomness, shared by generate() and score():
// temperature, then top-k, then top-p applied to fp32 logits in double precision,
// giving the exact log-probabilities of the distribution a token is drawn from; and a
// counter-based uniform per (seed, prompt id, sample index, step), so a sequence's tokens
// depend on nothing else (not on batch composition, batch size, padding or MPI ranks).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace disa::model {

struct SamplingParams {
  // Logits are divided by `temperature` (> 0). 0 means greedy: argmax, log q = 0.
  double temperature = 1.0;
  // Keep the k most likely tokens (ties with the k-th are kept too); 0 = off.
  int64_t top_k = 0;
  // Nucleus: keep, in decreasing probability, the tokens whose preceding cumulative
  // probability is < top_p (the first is always kept; ties with the last kept token are
  // kept too); applied after top-k on the renormalised distribution. 1 = off.
  double top_p = 1.0;
  // Only ids < vocab_limit can be drawn (the model's padded embedding rows beyond the
  // tokenizer's vocabulary are masked before everything else); 0 = the whole vocabulary.
  // Set it to Tokenizer::vocab_size() when the model's vocab_size is rounded up.
  int64_t vocab_limit = 0;
  // True when top-k or top-p removes support from the model's distribution (vocab_limit
  // only removes ids the tokenizer cannot produce and is not counted).
  bool truncates() const { return top_k > 0 || top_p < 1.0; }
  // Throws ConfigError naming the field for out-of-range values.
  void validate() const;
};

// log q [N, V] (double) of the distribution sampled from, given raw logits [N, V]: log
// softmax of logits/temperature restricted to the kept tokens (-inf elsewhere). Greedy
// (temperature 0) puts all mass (log q = 0) on the first argmax (below vocab_limit).
torch::Tensor sampling_log_probs(const torch::Tensor& logits, const SamplingParams& params);

// A uniform in [0, 1) with 53 random bits from (seed, prompt id, sample index, step):
// splitmix64 finalisers chained over the four words.
double counter_uniform(uint64_t seed, uint64_t prompt_id, uint64_t sample_index, uint64_t step);

// Inverse-CDF draw from each row of log q [N, V] (double) with uniforms u [N] (double):
// the first token whose cumulative probability (in vocabulary order) exceeds u * total.
// Never returns a token of probability 0. Returns int64 [N].
torch::Tensor inverse_cdf_sample(const torch::Tensor& log_q, const torch::Tensor& u);

}  // namespace disa::model
