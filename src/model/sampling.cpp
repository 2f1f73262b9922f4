// The sampling parameters, the choice between the two sampler implementations, the
// counter-based uniform and the dense double-precision reference of the distribution and
// of the inverse-CDF draw. See include/disa/model/sampling.hpp.
#include "disa/model/sampling.hpp"

#include <limits>

#include "disa/core/error.hpp"
#include "sampling_paths.hpp"

namespace disa::model {

void SamplingParams::validate() const {
  if (!(temperature >= 0.0)) DISA_THROW(ConfigError, "sampling temperature must be >= 0 (got {})", temperature);
  if (top_k < 0) DISA_THROW(ConfigError, "sampling top_k must be >= 0 (got {})", top_k);
  if (vocab_limit < 0) DISA_THROW(ConfigError, "sampling vocab_limit must be >= 0 (got {})", vocab_limit);
  if (!(top_p > 0.0 && top_p <= 1.0)) DISA_THROW(ConfigError, "sampling top_p must be in (0, 1] (got {})", top_p);
}

bool q_is_the_model(const SamplingParams& p, int64_t vocab) {
  return p.temperature == 1.0 && !p.truncates() && (p.vocab_limit == 0 || p.vocab_limit >= vocab);
}

namespace {
bool by_rows(const torch::Tensor& logits, SamplerKernel kernel) {
  if (kernel == SamplerKernel::Auto) return logits.device().is_cpu();
  DISA_CHECK(kernel == SamplerKernel::Tensors || logits.device().is_cpu(), ModelError,
             "the row sampler runs on the CPU only (the logits are on {})", logits.device().str());
  return kernel == SamplerKernel::Rows;
}
}  // namespace

TokenDraws draw_tokens(const torch::Tensor& logits, const std::vector<double>& u, const SamplingParams& params,
                       bool model_logprobs, SamplerKernel kernel) {
  return by_rows(logits, kernel) ? detail::draw_tokens_by_rows(logits, u, params, model_logprobs)
                                 : detail::draw_tokens_by_tensors(logits, u, params, model_logprobs);
}

torch::Tensor sampled_token_log_probs(const torch::Tensor& logits, const torch::Tensor& targets,
                                      const SamplingParams& params, SamplerKernel kernel) {
  return by_rows(logits, kernel) ? detail::token_log_probs_by_rows(logits, targets, params)
                                 : detail::token_log_probs_by_tensors(logits, targets, params);
}

torch::Tensor sampling_log_probs(const torch::Tensor& logits, const SamplingParams& p) {
  DISA_CHECK(logits.dim() == 2, ModelError, "sampling_log_probs needs [N, V] logits");
  const double inf = std::numeric_limits<double>::infinity();
  torch::Tensor x = logits.to(torch::kDouble);
  const int64_t V = x.size(1);
  if (p.vocab_limit > 0 && p.vocab_limit < V) {
    x = x.clone();
    x.narrow(1, p.vocab_limit, V - p.vocab_limit).fill_(-inf);
  }
  if (p.temperature == 0.0) {
    torch::Tensor out = torch::full_like(x, -inf);
    return out.scatter_(1, x.argmax(1, /*keepdim=*/true), 0.0);
  }
  if (p.temperature != 1.0) x = x / p.temperature;
  if (p.top_k > 0 && p.top_k < V) {
    torch::Tensor kth = std::get<0>(x.topk(p.top_k, 1)).narrow(1, p.top_k - 1, 1);
    x = x.masked_fill(x < kth, -inf);
  }
  if (p.top_p < 1.0) {
    torch::Tensor probs = torch::softmax(x, 1);
    torch::Tensor sorted = std::get<0>(probs.sort(1, /*descending=*/true));
    torch::Tensor before = sorted.cumsum(1) - sorted;  // exclusive cumulative mass
    torch::Tensor keep = before < p.top_p;
    keep.narrow(1, 0, 1).fill_(true);
    torch::Tensor threshold = std::get<0>(sorted.masked_fill(keep.logical_not(), inf).min(1, /*keepdim=*/true));
    x = x.masked_fill(probs < threshold, -inf);
  }
  return torch::log_softmax(x, 1);
}

namespace {
inline uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

double counter_uniform(uint64_t seed, uint64_t prompt_id, uint64_t sample_index, uint64_t step) {
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ prompt_id);
  h = splitmix64(h ^ sample_index);
  h = splitmix64(h ^ step);
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

torch::Tensor inverse_cdf_sample(const torch::Tensor& log_q, const torch::Tensor& u) {
  DISA_CHECK(log_q.dim() == 2 && u.dim() == 1 && u.size(0) == log_q.size(0), ModelError,
             "inverse_cdf_sample needs log_q [N, V] and u [N]");
  torch::Tensor probs = log_q.to(torch::kDouble).exp();
  torch::Tensor cdf = probs.cumsum(1);
  torch::Tensor target = u.to(probs.device(), torch::kDouble).unsqueeze(1) * cdf.narrow(1, cdf.size(1) - 1, 1);
  torch::Tensor idx = cdf.le(target).sum(1);  // first index whose cdf exceeds the target
  // Rounding can push the target onto the total: fall back to the last supported token.
  const int64_t V = log_q.size(1);
  torch::Tensor ar = torch::arange(V, torch::TensorOptions().device(probs.device()).dtype(torch::kLong));
  torch::Tensor last = (probs.gt(0).to(torch::kLong) * (ar + 1)).amax(1) - 1;
  return torch::minimum(idx, last);
}

}  // namespace disa::model
