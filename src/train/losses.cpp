// The loss formulas of docs/method.md §3 (include/disa/train/losses.hpp).
#include "disa/train/losses.hpp"

#include "disa/core/error.hpp"

namespace disa::train {

Aggregation parse_aggregation(const std::string& name) {
  if (name == "token-mean") return Aggregation::TokenMean;
  if (name == "seq-mean-token-mean") return Aggregation::SequenceMeanTokenMean;
  if (name == "seq-mean-token-sum") return Aggregation::SequenceMeanTokenSum;
  DISA_THROW(ConfigError, "unknown loss aggregation '{}' (token-mean, seq-mean-token-mean, seq-mean-token-sum)", name);
}

const char* aggregation_name(Aggregation a) {
  switch (a) {
    case Aggregation::TokenMean: return "token-mean";
    case Aggregation::SequenceMeanTokenMean: return "seq-mean-token-mean";
    case Aggregation::SequenceMeanTokenSum: return "seq-mean-token-sum";
  }
  return "?";
}

Aggregated aggregate(const torch::Tensor& per_token, const torch::Tensor& mask, Aggregation mode) {
  torch::Tensor masked = per_token * mask;
  switch (mode) {
    case Aggregation::TokenMean: return {masked.sum(), LossUnit::Tokens};
    case Aggregation::SequenceMeanTokenMean:
      return {(masked.sum(1) / mask.sum(1).clamp_min(1.0)).sum(), LossUnit::Sequences};
    case Aggregation::SequenceMeanTokenSum: return {masked.sum(), LossUnit::Sequences};
  }
  DISA_THROW(ConfigError, "unknown aggregation");
}

ResidualLoss residual_loss(const ResidualTerms& t) {
  torch::Tensor delta = t.log_anchor + t.scale * (t.seq_logp - t.seq_ref_logp) - t.target;
  ResidualLoss out;
  out.sum = (t.weight.detach() * delta.pow(2)).sum();
  out.residual = delta.detach();
  return out;
}

ClampedRatio clamped_ratio(const torch::Tensor& seq_logp, const torch::Tensor& seq_old_logp, double w_max) {
  torch::NoGradGuard no_grad;
  torch::Tensor w = (seq_logp.detach() - seq_old_logp).clamp(-kMaxLogRatio, kMaxLogRatio).exp();
  ClampedRatio out;
  if (w_max > 0) {
    out.clamped = w > w_max;
    out.weight = w.clamp_max(w_max);
  } else {
    out.clamped = torch::zeros_like(w, w.options().dtype(torch::kBool));
    out.weight = w;
  }
  return out;
}

torch::Tensor self_normalized_weights(const torch::Tensor& log_weight, double global_log_sum) {
  torch::NoGradGuard no_grad;
  return (log_weight.detach() - global_log_sum).exp();
}

torch::Tensor group_normalized(const torch::Tensor& rewards, int64_t group_size, double eps) {
  DISA_CHECK(group_size >= 1 && rewards.numel() % group_size == 0, ConfigError,
             "group_normalized: {} rewards do not form groups of {}", rewards.numel(), group_size);
  if (group_size == 1) return torch::zeros_like(rewards);
  torch::Tensor g = rewards.reshape({-1, group_size});
  torch::Tensor mean = g.mean(1, true);
  torch::Tensor sd = g.std(1, /*unbiased=*/true, true);
  return ((g - mean) / (sd + eps)).reshape({-1});
}

namespace {
// -min(r A, clip(r, 1 - eps_low, 1 + eps_high) A), with the dual clip where A < 0; the
// clip indicators are computed on the detached ratio. `mask` multiplies every output.
PolicyGradientTerms clipped_policy_gradient(const torch::Tensor& ratio, const torch::Tensor& a,
                                            const torch::Tensor& mask, double eps_low, double eps_high,
                                            double dual_clip) {
  DISA_CHECK(dual_clip == 0 || dual_clip > 1, ConfigError, "dual clip: must be 0 (off) or > 1, got {}", dual_clip);
  torch::Tensor term = -torch::min(ratio * a, ratio.clamp(1.0 - eps_low, 1.0 + eps_high) * a);
  if (dual_clip > 0) term = torch::where(a < 0, torch::min(term, -a * dual_clip), term);
  PolicyGradientTerms out;
  out.per_token = term * mask;
  torch::NoGradGuard no_grad;
  torch::Tensor r = ratio.detach();
  // The clip is active (the gradient is cut) where the clipped term is the smaller one.
  out.clipped_low = ((r < 1.0 - eps_low) & (a < 0)).to(torch::kFloat32) * mask;
  out.clipped_high = ((r > 1.0 + eps_high) & (a > 0)).to(torch::kFloat32) * mask;
  out.clipped_dual = (dual_clip > 0 ? ((r > dual_clip) & (a < 0)).to(torch::kFloat32) : torch::zeros_like(r)) * mask;
  return out;
}
}  // namespace

PolicyGradientTerms grpo_token_loss(const torch::Tensor& logp, const torch::Tensor& old_logp, const torch::Tensor& mask,
                                    const torch::Tensor& advantages, double eps_low, double eps_high,
                                    double dual_clip) {
  torch::Tensor ratio = (logp - old_logp).clamp(-kMaxLogRatio, kMaxLogRatio).exp();
  return clipped_policy_gradient(ratio, advantages.unsqueeze(1).expand_as(ratio), mask, eps_low, eps_high, dual_clip);
}

PolicyGradientTerms gspo_sequence_loss(const torch::Tensor& logp, const torch::Tensor& old_logp,
                                       const torch::Tensor& mask, const torch::Tensor& advantages, double eps_low,
                                       double eps_high, double dual_clip) {
  torch::Tensor mean_log_ratio = ((logp - old_logp) * mask).sum(1) / mask.sum(1).clamp_min(1.0);
  torch::Tensor s = mean_log_ratio.clamp(-kMaxLogRatio, kMaxLogRatio).exp();
  return clipped_policy_gradient(s, advantages, torch::ones_like(s), eps_low, eps_high, dual_clip);
}

torch::Tensor kl_penalty(const torch::Tensor& logp, const torch::Tensor& ref_logp, const torch::Tensor& mask,
                         const std::string& kind) {
  torch::Tensor d = ref_logp - logp;
  torch::Tensor k;
  if (kind == "k1")
    k = -d;
  else if (kind == "k2")
    k = 0.5 * d.pow(2);
  else if (kind == "k3") {
    torch::Tensor dc = d.clamp(-kMaxLogRatio, kMaxLogRatio);
    k = (dc.exp() - dc - 1.0).clamp(-kMaxKlTerm, kMaxKlTerm);
  } else
    DISA_THROW(ConfigError, "unknown KL estimator '{}' (k1, k2, k3)", kind);
  return k * mask;
}

}  // namespace disa::train
