// The loss formulas of docs/method.md §3 as small pure functions on tensors, used by the
// objectives (objective.hpp, objective_<name>.cpp) and tested against hand-computed values:
//   * residual_loss        DISA and FlowRL: w * (c + s (log pi_theta - log pi_ref) - target)^2
//   * clamped_ratio        w = min(exp(log pi_theta - log pi_old), w_max), no gradient
//   * group_normalized     (r - mean_group) / (std_group + 1e-6)   (GRPO, GSPO, FlowRL)
//   * grpo_token_loss      -min(rho A, clip(rho, 1 - eps_low, 1 + eps_high) A) per token
//   * gspo_sequence_loss   the same on the length-normalised sequence ratio
//   * kl_penalty           k1, k2 or k3 per token
//   * aggregate            token-mean / sequence-mean / sequence-mean-token-mean
// Every loss returns a SUM over its units (tokens or sequences) together with the unit:
// the loop divides by the unit's global count over all ranks, so a step on 2 ranks with
// half the batch each equals a step on 1 rank with the whole batch.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace disa::train {

// What a loss sum is to be divided by.
enum class LossUnit { Tokens, Sequences };

// How per-token terms become one number (verl's loss_agg_mode names).
enum class Aggregation { TokenMean, SequenceMeanTokenMean, SequenceMeanTokenSum };
Aggregation parse_aggregation(const std::string& name);  // "token-mean", "seq-mean-token-mean", "seq-mean-token-sum"
const char* aggregation_name(Aggregation a);

// Per-token terms [B, T] with the 0/1 float mask [B, T] summed according to `mode`:
// TokenMean: sum of all masked terms (unit Tokens); SequenceMeanTokenMean: sum over
// sequences of each sequence's token mean (unit Sequences); SequenceMeanTokenSum: sum
// over sequences of each sequence's token sum (unit Sequences).
struct Aggregated {
  torch::Tensor sum;  // scalar
  LossUnit unit;
};
Aggregated aggregate(const torch::Tensor& per_token, const torch::Tensor& mask, Aggregation mode);

// --- DISA / FlowRL ---------------------------------------------------------------------
struct ResidualTerms {
  torch::Tensor seq_logp;      // [B] log pi_theta(y|x) (with gradient)
  torch::Tensor seq_ref_logp;  // [B] log pi_ref(y|x)
  torch::Tensor log_anchor;    // [B] c(x) (frozen for DISA, learned log Z_phi for FlowRL)
  torch::Tensor scale;         // [B] s_i: 1, or 1/|y_i|
  torch::Tensor target;        // [B] beta * r_i (FlowRL: beta * group-normalised reward)
  torch::Tensor weight;        // [B] importance weights (no gradient)
};
struct ResidualLoss {
  torch::Tensor sum;       // scalar: sum_i w_i delta_i^2 (unit Sequences)
  torch::Tensor residual;  // [B] delta_i, detached
};
// delta_i = c_i + s_i (log pi_theta - log pi_ref) - target_i; sum_i w_i delta_i^2.
ResidualLoss residual_loss(const ResidualTerms& terms);

// w_i = min(exp(seq_logp - seq_old_logp), w_max) without gradient (the log-ratio clamped to
// +-kMaxLogRatio first); `clamped` [B] bool marks the entries w_max changed. w_max <= 0: no
// clamp by w_max.
struct ClampedRatio {
  torch::Tensor weight;
  torch::Tensor clamped;
};
ClampedRatio clamped_ratio(const torch::Tensor& seq_logp, const torch::Tensor& seq_old_logp, double w_max);

// Self-normalised importance weights of the offline variant: w_i = exp(l_i - logsumexp(l))
// over the whole global batch, from the local log weights and the global log-sum-exp.
torch::Tensor self_normalized_weights(const torch::Tensor& log_weight, double global_log_sum);

// --- group-normalised rewards ------------------------------------------------------------
// rewards [B] in consecutive groups of `group_size`: (r - mean) / (std + eps) with the
// unbiased (n - 1) standard deviation of each group (0 advantage for group_size 1).
torch::Tensor group_normalized(const torch::Tensor& rewards, int64_t group_size, double eps = 1e-6);

// --- numerical guards ------------------------------------------------------------------------
// Every log-ratio is clamped to [-kMaxLogRatio, kMaxLogRatio] before `exp` (verl's bound:
// e^20 ~ 5e8 is finite in float32, and the clamp's zero gradient beyond it stops one
// stray token from dominating a step): the PPO/GRPO token ratio, GSPO's sequence ratio, the
// DISA/FlowRL ratio to pi_old and the k3 KL. The k3 term itself is capped at kMaxKlTerm.
constexpr double kMaxLogRatio = 20.0;
constexpr double kMaxKlTerm = 10.0;

// --- GRPO / GSPO ---------------------------------------------------------------------------
struct PolicyGradientTerms {
  torch::Tensor per_token;     // [B, T] loss terms (0 at masked positions)
  torch::Tensor clipped_low;   // [B, T] (or [B] for GSPO) float: the lower clip is active
  torch::Tensor clipped_high;  // the upper clip is active
  torch::Tensor clipped_dual;  // the dual clip (A < 0, ratio > dual_clip) is active
};
// rho = exp(logp - old_logp) per token; -min(rho A, clip(rho, 1 - eps_low, 1 + eps_high) A),
// A [B] broadcast over the tokens. `mask` [B, T] float. Dual clip (Ye et al. 2020, verl's
// clip_ratio_c) when dual_clip > 1: where A < 0 the term is at most -A * dual_clip, so a
// ratio far above 1 on a negative advantage cannot blow up the step (0: off).
PolicyGradientTerms grpo_token_loss(const torch::Tensor& logp, const torch::Tensor& old_logp, const torch::Tensor& mask,
                                    const torch::Tensor& advantages, double eps_low, double eps_high,
                                    double dual_clip = 0);
// s_i = exp(mean_t (logp - old_logp)) (masked mean); per-sequence loss [B]
// -min(s A, clip(s, 1 - eps_low, 1 + eps_high) A) in `per_token` (shape [B]; sum = unit
// Sequences), with the same dual clip on s.
PolicyGradientTerms gspo_sequence_loss(const torch::Tensor& logp, const torch::Tensor& old_logp,
                                       const torch::Tensor& mask, const torch::Tensor& advantages, double eps_low,
                                       double eps_high, double dual_clip = 0);

// KL estimators of the policy against the reference per token, d = ref_logp - logp:
// "k1": -d;  "k2": d^2 / 2;  "k3": exp(d) - d - 1 with d clamped to +-kMaxLogRatio and the
// term capped at kMaxKlTerm (verl's low_var_kl). Masked positions are 0.
torch::Tensor kl_penalty(const torch::Tensor& logp, const torch::Tensor& ref_logp, const torch::Tensor& mask,
                         const std::string& kind);

}  // namespace disa::train
