// The device sampler: whole-batch tensor operations in fp32 (float64 only for [N]-sized
// values), for logits on a GPU (see include/disa/model/sampling.hpp, "The two
// implementations").
#include <algorithm>
#include <limits>

#include "disa/core/error.hpp"
#include "sampling_paths.hpp"

namespace disa::model::detail {

namespace {

// The sampling distribution of every row: z = x / T over the first `limit` ids, the
// smallest kept z per row (`cut`, -inf when nothing is removed), the row maximum, and the
// kept weights w = exp(z - max) (0 where removed), all fp32 [N, limit] or [N, 1].
struct BatchDistribution {
  torch::Tensor z, cut, max, weights;
};

BatchDistribution prepare(const torch::Tensor& logits, const SamplingParams& p) {
  DISA_CHECK(logits.dim() == 2, ModelError, "the sampler needs [N, V] logits");
  const int64_t V = logits.size(1);
  const int64_t limit = p.vocab_limit > 0 ? std::min(p.vocab_limit, V) : V;
  const float inf = std::numeric_limits<float>::infinity();
  BatchDistribution d;
  d.z = logits.narrow(1, 0, limit).to(torch::kFloat32) * (1.0 / p.temperature);
  d.max = d.z.amax(1, /*keepdim=*/true);
  d.cut = torch::full_like(d.max, -inf);
  if (p.top_k > 0 && p.top_k < limit) d.cut = std::get<0>(d.z.topk(p.top_k, 1, true, false)).amin(1, true);
  d.weights = (d.z - d.max).exp_().masked_fill_(d.z < d.cut, 0.0f);
  if (p.top_p < 1.0) {
    torch::Tensor sorted = std::get<0>(d.z.sort(1, /*descending=*/true));
    torch::Tensor w = (sorted - d.max).exp_().masked_fill_(sorted < d.cut, 0.0f);
    torch::Tensor total = w.sum(1, true);
    torch::Tensor before = w.cumsum(1).sub_(w);
    torch::Tensor keep = before < total * p.top_p;
    keep.narrow(1, 0, 1).fill_(true);
    keep.logical_and_(sorted >= d.cut);
    d.cut = torch::maximum(d.cut, std::get<0>(sorted.masked_fill(keep.logical_not(), inf).min(1, true)));
    d.weights.masked_fill_(d.z < d.cut, 0.0f);
  }
  return d;
}

// log q of the tokens t [N] (double): (z_t - max) - log(sum of kept weights); -inf where removed.
torch::Tensor log_q_of(const BatchDistribution& d, const torch::Tensor& t) {
  torch::Tensor idx = t.unsqueeze(1);
  torch::Tensor zt = d.z.gather(1, idx);
  torch::Tensor lq = (zt.to(torch::kDouble) - d.max.to(torch::kDouble)) -
                     d.weights.sum(1, true).to(torch::kDouble).log();
  return lq.masked_fill(zt < d.cut, -std::numeric_limits<double>::infinity()).squeeze(1);
}

}  // namespace

TokenDraws draw_tokens_by_tensors(const torch::Tensor& logits, const std::vector<double>& u, const SamplingParams& p,
                                  bool model_logprobs) {
  DISA_CHECK(logits.dim() == 2 && static_cast<int64_t>(u.size()) == logits.size(0), ModelError,
             "the sampler needs [N, V] logits and one uniform per row");
  const auto dev = logits.device();
  const int64_t V = logits.size(1);
  TokenDraws out;
  if (p.temperature == 0.0) {
    const int64_t limit = p.vocab_limit > 0 ? std::min(p.vocab_limit, V) : V;
    out.tokens = logits.narrow(1, 0, limit).argmax(1);
    out.sampler_logprobs = torch::zeros({logits.size(0)}, torch::TensorOptions().device(dev).dtype(torch::kDouble));
  } else {
    BatchDistribution d = prepare(logits, p);
    torch::Tensor cdf = d.weights.cumsum(1);
    torch::Tensor total = cdf.narrow(1, cdf.size(1) - 1, 1).contiguous();
    torch::Tensor target =
        torch::tensor(u, torch::kDouble).to(dev).unsqueeze(1).mul(total.to(torch::kDouble)).to(torch::kFloat32);
    // First index whose cumulative weight exceeds the target; rounding can push the target
    // onto the total, hence the clamp to the first index that reaches the total (the last
    // token of positive weight).
    torch::Tensor first = torch::searchsorted(cdf, target, /*out_int32=*/false, /*right=*/true);
    torch::Tensor last = torch::searchsorted(cdf, total, /*out_int32=*/false, /*right=*/false);
    out.tokens = torch::minimum(first, last).squeeze(1);
    out.sampler_logprobs = log_q_of(d, out.tokens);
  }
  if (!model_logprobs) return out;
  if (q_is_the_model(p, V)) {
    out.model_logprobs = out.sampler_logprobs;
  } else {
    torch::Tensor x = logits.to(torch::kFloat32);
    torch::Tensor xt = x.gather(1, out.tokens.unsqueeze(1)).squeeze(1);
    out.model_logprobs = xt.to(torch::kDouble) - x.logsumexp(1).to(torch::kDouble);
  }
  return out;
}

torch::Tensor token_log_probs_by_tensors(const torch::Tensor& logits, const torch::Tensor& targets,
                                         const SamplingParams& p) {
  DISA_CHECK(logits.dim() == 2 && targets.dim() == 1 && targets.size(0) == logits.size(0), ModelError,
             "token log-probs need [N, V] logits and one target per row");
  torch::Tensor t = targets.to(logits.device(), torch::kLong);
  if (p.temperature == 0.0) {
    const int64_t V = logits.size(1), limit = p.vocab_limit > 0 ? std::min(p.vocab_limit, V) : V;
    torch::Tensor hit = logits.narrow(1, 0, limit).argmax(1).eq(t);
    return torch::zeros({t.size(0)}, torch::TensorOptions().device(logits.device()).dtype(torch::kDouble))
        .masked_fill_(hit.logical_not(), -std::numeric_limits<double>::infinity());
  }
  BatchDistribution d = prepare(logits, p);
  const int64_t limit = d.z.size(1);
  torch::Tensor inside = t.lt(limit);
  torch::Tensor lq = log_q_of(d, t.clamp_max(limit - 1));
  return lq.masked_fill(inside.logical_not(), -std::numeric_limits<double>::infinity());
}

}  // namespace disa::model::detail
