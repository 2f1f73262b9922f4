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

// What the sampler returns for a batch of rows.
struct TokenDraws {
  torch::Tensor tokens;            // int64 [N], on the logits' device
  torch::Tensor sampler_logprobs;  // double [N]: log q of each drawn token
  // double [N]: log softmax(logits)[token] over the whole row (the untempered model), when
  // asked for; the same tensor as sampler_logprobs when q is the model itself.
  torch::Tensor model_logprobs;
};

// The two implementations. `Rows` (CPU): each row in a few vectorised passes over that
// row only -- max; top-k by selection; weights w_i = exp((x_i - max) / T) in double; the
// nucleus by sorting only the most likely candidates (64, then 8x more until the nucleus
// ends inside them); block sums of 1024 weights; the draw scans the block sums, then one
// block. Its log-sum-exp and the drawn token's log q are double; nothing of size
// [rows, vocab] is allocated beyond the fp32 logits. `Tensors` (any device, used for
// GPUs): whole-batch fp32 tensor operations (the weights, their cumulative sum, a sort for
// top-p), float64 only for [N]-sized values; its draws resolve probabilities to about
// 2^-24 of the row total (fp32 cumulative sums) and its log q carries the fp32 rounding
// of the normaliser (about 1e-6). `Auto` picks Rows on the CPU, Tensors elsewhere.
enum class SamplerKernel { Auto, Rows, Tensors };

// True when the sampling distribution is the model's own softmax over all V ids
// (temperature 1, no top-k/top-p, no vocabulary limit below V).
bool q_is_the_model(const SamplingParams& params, int64_t vocab);

// Draws one token per row of logits [N, V] (fp32; other float types are converted) with
// the uniforms u (one per row, in [0, 1)): the first token, in vocabulary order, whose
// cumulative probability exceeds u (times the total); never a token of probability 0.
// Greedy (temperature 0): the first argmax below the vocabulary limit, log q = 0.
TokenDraws draw_tokens(const torch::Tensor& logits, const std::vector<double>& u, const SamplingParams& params,
                       bool model_logprobs, SamplerKernel kernel = SamplerKernel::Auto);

// log q [N] (double) of the given tokens [N] under the sampling distribution of each row
// of logits [N, V]; -inf for a token the distribution removes.
torch::Tensor sampled_token_log_probs(const torch::Tensor& logits, const torch::Tensor& targets,
                                      const SamplingParams& params, SamplerKernel kernel = SamplerKernel::Auto);

// The dense reference of the same distribution, for tests and small inputs: log q
// [N, V] (double) given raw logits [N, V]: log softmax of logits/temperature restricted to
// the kept tokens (-inf elsewhere). Greedy (temperature 0) puts all mass (log q = 0) on
// the first argmax (below vocab_limit). Allocates several [N, V] double tensors.
torch::Tensor sampling_log_probs(const torch::Tensor& logits, const SamplingParams& params);

// A uniform in [0, 1) with 53 random bits from (seed, prompt id, sample index, step):
// splitmix64 finalisers chained over the four words.
double counter_uniform(uint64_t seed, uint64_t prompt_id, uint64_t sample_index, uint64_t step);

// The dense reference draw: inverse CDF over each row of log q [N, V] (double) with
// uniforms u [N] (double): the first token whose cumulative probability (in vocabulary
// order) exceeds u * total. Never returns a token of probability 0. Returns int64 [N].
torch::Tensor inverse_cdf_sample(const torch::Tensor& log_q, const torch::Tensor& u);

}  // namespace disa::model
