// The objectives of docs/method.md §3 against values computed by hand on small tensors:
// the DISA/FlowRL residual (value and gradient), the clamped ratio at its edge, the
// self-normalised weights, group normalisation, GRPO's clipped token loss in every
// aggregation mode (with the clip edges and their zero gradients), GSPO's sequence
// ratio clip and the k1/k2/k3 KL estimators; the numerical guards (log-ratios clamped
// before exp, the dual clip) and the update guard (non-finite and outlier updates).
#include <gtest/gtest.h>

#include <cmath>

#include <filesystem>

#include "disa/core/error.hpp"
#include "disa/train/checkpoint.hpp"
#include "disa/train/losses.hpp"
#include "disa/train/update_guard.hpp"

namespace {

using namespace disa::train;

torch::Tensor t(std::vector<float> v) { return torch::tensor(v); }
torch::Tensor t2(std::vector<float> v, int64_t rows) { return torch::tensor(v).reshape({rows, -1}); }
double at(const torch::Tensor& x, int64_t i) { return x.reshape({-1})[i].item<double>(); }

TEST(Objectives, ResidualLossValueAndGradient) {
  // delta_0 = 0.5 + 1 (-2 + 2.5) - 1 = 0;  delta_1 = 1 + 0.5 (-3 + 2) - 0 = 0.5
  // loss = 1 * 0 + 2 * 0.25 = 0.5;  d/dlogp_1 = 2 w_1 delta_1 s_1 = 1
  torch::Tensor logp = t({-2.f, -3.f}).requires_grad_(true);
  ResidualTerms terms{logp, t({-2.5f, -2.f}), t({0.5f, 1.f}), t({1.f, 0.5f}), t({1.f, 0.f}), t({1.f, 2.f})};
  auto out = residual_loss(terms);
  EXPECT_NEAR(out.sum.item<double>(), 0.5, 1e-6);
  EXPECT_NEAR(at(out.residual, 0), 0.0, 1e-6);
  EXPECT_NEAR(at(out.residual, 1), 0.5, 1e-6);
  out.sum.backward();
  EXPECT_NEAR(at(logp.grad(), 0), 0.0, 1e-6);
  EXPECT_NEAR(at(logp.grad(), 1), 1.0, 1e-6);
  EXPECT_FALSE(out.residual.requires_grad());
}

// An anchor error c shifts every residual by c (s = 1) and adds 2 c w_i to each
// sequence's gradient coefficient: a baseline term, whose expectation under on-policy
// weights is 2 c sum_y pi(y) grad log pi(y) = 2 c grad sum_y pi(y) = 0. On a categorical
// policy whose loss is the exact expectation (w = pi, every outcome listed) the gradient
// in the logits is therefore unchanged; with off-policy (uniform) weights it is not.
TEST(Objectives, AnchorShiftIsABaselineWithZeroExpectedGradient) {
  const auto ref = t({-1.5f, -0.7f, -2.2f, -1.1f}).to(torch::kFloat64);
  const auto target = t({1.5f, 0.f, 1.5f, 0.f}).to(torch::kFloat64);
  const auto theta0 = torch::tensor({0.3, -0.2, 0.5, 0.1}, torch::kFloat64);
  auto gradient = [&](double shift, bool on_policy) {
    torch::Tensor theta = theta0.clone().requires_grad_(true);
    torch::Tensor logp = torch::log_softmax(theta, 0);
    torch::Tensor w = on_policy ? logp.exp().detach() : torch::full({4}, 0.25, torch::kFloat64);
    ResidualTerms terms{logp,   ref, torch::full({4}, 0.4 + shift, torch::kFloat64), torch::ones({4}, torch::kFloat64),
                        target, w};
    auto loss = residual_loss(terms);
    loss.sum.backward();
    return std::make_pair(theta.grad(), loss.residual);
  };
  auto [g0, r0] = gradient(0.0, true);
  auto [g2, r2] = gradient(2.0, true);
  for (int64_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(at(r2, i) - at(r0, i), 2.0, 1e-12);  // the residual moves by the anchor error ...
    EXPECT_NEAR(at(g2, i), at(g0, i), 1e-12) << i;   // ... the expected gradient does not
  }
  EXPECT_GT((g0.abs().sum()).item<double>(), 1e-3);  // and it is not trivially zero
  // Off-policy weights do not sum to the policy: the shift now changes the gradient.
  auto [u0, ur0] = gradient(0.0, false);
  auto [u2, ur2] = gradient(2.0, false);
  EXPECT_GT((u2 - u0).abs().max().item<double>(), 1e-3);
}

TEST(Objectives, ClampedRatioAtTheEdge) {
  auto r = clamped_ratio(t({0.f, std::log(20.f), std::log(0.5f), std::log(10.f)}), torch::zeros({4}), 10.0);
  EXPECT_NEAR(at(r.weight, 0), 1.0, 1e-6);
  EXPECT_NEAR(at(r.weight, 1), 10.0, 1e-5);
  EXPECT_NEAR(at(r.weight, 2), 0.5, 1e-6);
  EXPECT_NEAR(at(r.weight, 3), 10.0, 1e-4);
  EXPECT_FALSE(r.clamped[0].item<bool>());
  EXPECT_TRUE(r.clamped[1].item<bool>());
  EXPECT_FALSE(r.clamped[2].item<bool>());
  EXPECT_FALSE(r.weight.requires_grad());
  auto none = clamped_ratio(t({std::log(20.f)}), torch::zeros({1}), 0.0);
  EXPECT_NEAR(at(none.weight, 0), 20.0, 1e-4);
}

TEST(Objectives, SelfNormalizedWeights) {
  auto w = self_normalized_weights(t({0.f, std::log(3.f)}), std::log(4.0));
  EXPECT_NEAR(at(w, 0), 0.25, 1e-6);
  EXPECT_NEAR(at(w, 1), 0.75, 1e-6);
}

TEST(Objectives, GroupNormalizedRewards) {
  // Group (1, 0): mean 0.5, unbiased sd sqrt(0.5).
  auto a = group_normalized(torch::tensor({1.0, 0.0, 0.0, 1.0, 1.0, 1.0}, torch::kFloat64), 2);
  const double v = 0.5 / (std::sqrt(0.5) + 1e-6);
  EXPECT_NEAR(at(a, 0), v, 1e-9);
  EXPECT_NEAR(at(a, 1), -v, 1e-9);
  EXPECT_NEAR(at(a, 2), -v, 1e-9);
  EXPECT_NEAR(at(a, 3), v, 1e-9);
  EXPECT_EQ(at(a, 4), 0.0);  // equal rewards: no signal
  EXPECT_EQ(at(a, 5), 0.0);
  auto single = group_normalized(torch::tensor({1.0, 0.0}, torch::kFloat64), 1);
  EXPECT_EQ(at(single, 0), 0.0);
  EXPECT_THROW(group_normalized(torch::zeros({3}), 2), disa::core::ConfigError);
}

struct GrpoCase {
  torch::Tensor logp, old, mask, adv;
};
GrpoCase grpo_case() {
  // seq 0: A = +1, ratios 1.5 (upper clip active: 1.2) and 0.5 (no clip for A > 0);
  // seq 1: A = -1, ratio 0.5 (lower clip active: -0.8), second token masked.
  GrpoCase c;
  c.logp = t2({std::log(1.5f), std::log(0.5f), std::log(0.5f), std::log(1.5f)}, 2).requires_grad_(true);
  c.old = torch::zeros({2, 2});
  c.mask = t2({1.f, 1.f, 1.f, 0.f}, 2);
  c.adv = t({1.f, -1.f});
  return c;
}

TEST(Objectives, GrpoClippedTokenLoss) {
  auto c = grpo_case();
  auto pg = grpo_token_loss(c.logp, c.old, c.mask, c.adv, 0.2, 0.2);
  EXPECT_NEAR(at(pg.per_token, 0), -1.2, 1e-6);
  EXPECT_NEAR(at(pg.per_token, 1), -0.5, 1e-6);
  EXPECT_NEAR(at(pg.per_token, 2), 0.8, 1e-6);
  EXPECT_NEAR(at(pg.per_token, 3), 0.0, 1e-6);
  EXPECT_EQ(at(pg.clipped_high, 0), 1.0);
  EXPECT_EQ(at(pg.clipped_low, 1), 0.0);
  EXPECT_EQ(at(pg.clipped_low, 2), 1.0);
  EXPECT_EQ(at(pg.clipped_low, 3) + at(pg.clipped_high, 3), 0.0);  // masked
  pg.per_token.sum().backward();
  // Clipped tokens carry no gradient; the unclipped one has d(-rho A)/dlogp = -rho A = -0.5.
  EXPECT_NEAR(at(c.logp.grad(), 0), 0.0, 1e-6);
  EXPECT_NEAR(at(c.logp.grad(), 1), -0.5, 1e-6);
  EXPECT_NEAR(at(c.logp.grad(), 2), 0.0, 1e-6);
  EXPECT_NEAR(at(c.logp.grad(), 3), 0.0, 1e-6);
}

TEST(Objectives, AsymmetricClipEdges) {
  // eps_high 0.28 (clip-higher): ratio 1.25 is inside for A > 0, 1.3 is not.
  auto logp = t2({std::log(1.25f), std::log(1.3f)}, 2);
  auto pg = grpo_token_loss(logp, torch::zeros({2, 1}), torch::ones({2, 1}), t({1.f, 1.f}), 0.2, 0.28);
  EXPECT_NEAR(at(pg.per_token, 0), -1.25, 1e-5);
  EXPECT_NEAR(at(pg.per_token, 1), -1.28, 1e-5);
  EXPECT_EQ(at(pg.clipped_high, 0), 0.0);
  EXPECT_EQ(at(pg.clipped_high, 1), 1.0);
}

TEST(Objectives, AggregationModes) {
  auto c = grpo_case();
  auto pg = grpo_token_loss(c.logp, c.old, c.mask, c.adv, 0.2, 0.2);
  auto tm = aggregate(pg.per_token, c.mask, Aggregation::TokenMean);
  EXPECT_EQ(tm.unit, LossUnit::Tokens);
  EXPECT_NEAR(tm.sum.item<double>(), -1.2 - 0.5 + 0.8, 1e-6);  // divided by 3 tokens later
  auto smtm = aggregate(pg.per_token, c.mask, Aggregation::SequenceMeanTokenMean);
  EXPECT_EQ(smtm.unit, LossUnit::Sequences);
  EXPECT_NEAR(smtm.sum.item<double>(), (-1.2 - 0.5) / 2 + 0.8 / 1, 1e-6);  // divided by 2 sequences later
  auto smts = aggregate(pg.per_token, c.mask, Aggregation::SequenceMeanTokenSum);
  EXPECT_NEAR(smts.sum.item<double>(), -0.9, 1e-6);
  EXPECT_EQ(parse_aggregation("seq-mean-token-mean"), Aggregation::SequenceMeanTokenMean);
  EXPECT_THROW(parse_aggregation("mean"), disa::core::ConfigError);
}

TEST(Objectives, GspoSequenceRatioClip) {
  // Ratios per token (masked mean over unequal lengths):
  // seq 0: tokens 1.0001, 1.0003 -> s ~ 1.0002 (inside [1 - 3e-4, 1 + 4e-4]), A = +1 -> -s
  // seq 1: 1.001 (one real token) -> above 1 + 4e-4, A = +1 -> -(1 + 4e-4), clipped high
  // seq 2: 0.999, A = -1 -> below 1 - 3e-4: -min(-0.999, -0.9997) = 0.9997, clipped low
  auto logp = t2({std::log(1.0001f), std::log(1.0003f), std::log(1.001f), 5.f, std::log(0.999f), std::log(0.999f)}, 3)
                  .to(torch::kFloat64)
                  .requires_grad_(true);
  auto mask = t2({1.f, 1.f, 1.f, 0.f, 1.f, 1.f}, 3).to(torch::kFloat64);
  auto adv = torch::tensor({1.0, 1.0, -1.0}, torch::kFloat64);
  auto pg = gspo_sequence_loss(logp, torch::zeros({3, 2}, torch::kFloat64), mask, adv, 3e-4, 4e-4);
  const double s0 = std::exp((std::log(double(1.0001f)) + std::log(double(1.0003f))) / 2);
  EXPECT_NEAR(at(pg.per_token, 0), -s0, 1e-7);
  EXPECT_NEAR(at(pg.per_token, 1), -(1 + 4e-4), 1e-9);
  EXPECT_NEAR(at(pg.per_token, 2), 1 - 3e-4, 1e-9);
  EXPECT_EQ(at(pg.clipped_high, 0) + at(pg.clipped_low, 0), 0.0);
  EXPECT_EQ(at(pg.clipped_high, 1), 1.0);
  EXPECT_EQ(at(pg.clipped_low, 2), 1.0);
  pg.per_token.sum().backward();
  // Unclipped seq 0: d(-s)/dlogp_t = -s / |y| per real token; clipped sequences: 0.
  EXPECT_NEAR(at(logp.grad(), 0), -s0 / 2, 1e-7);
  EXPECT_NEAR(at(logp.grad(), 1), -s0 / 2, 1e-7);
  EXPECT_NEAR(at(logp.grad(), 2), 0.0, 1e-12);
  EXPECT_NEAR(at(logp.grad(), 4), 0.0, 1e-12);
}

TEST(Objectives, KlEstimators) {
  // d = ref - logp = -1: k1 = 1, k2 = 0.5, k3 = e^-1 + 1 - 1.
  auto logp = t2({-1.f, -1.f}, 1), ref = t2({-2.f, -2.f}, 1), mask = t2({1.f, 0.f}, 1);
  EXPECT_NEAR(at(kl_penalty(logp, ref, mask, "k1"), 0), 1.0, 1e-6);
  EXPECT_NEAR(at(kl_penalty(logp, ref, mask, "k2"), 0), 0.5, 1e-6);
  EXPECT_NEAR(at(kl_penalty(logp, ref, mask, "k3"), 0), std::exp(-1.0), 1e-6);
  EXPECT_EQ(at(kl_penalty(logp, ref, mask, "k3"), 1), 0.0);
  // k3 is zero and flat where the policy equals the reference.
  auto same = kl_penalty(ref, ref, mask, "k3");
  EXPECT_NEAR(at(same, 0), 0.0, 1e-7);
  EXPECT_THROW(kl_penalty(logp, ref, mask, "k4"), disa::core::ConfigError);
}

// A log-ratio of +-100 overflows exp in float32 (e^100 = inf) and turns a step's loss and
// gradient into inf/NaN; clamped to +-20 first, every term stays finite and the
// clamped tokens carry no gradient.
TEST(Objectives, LogRatiosAreClampedBeforeExp) {
  auto logp = t2({100.f, 100.f, -100.f}, 3).requires_grad_(true);
  auto pg = grpo_token_loss(logp, torch::zeros({3, 1}), torch::ones({3, 1}), t({1.f, -1.f, -1.f}), 0.2, 0.2);
  const double e20 = std::exp(kMaxLogRatio);
  EXPECT_NEAR(at(pg.per_token, 0), -1.2, 1e-6);               // A > 0: the upper clip
  EXPECT_NEAR(at(pg.per_token, 1) / e20, 1.0, 1e-6);          // A < 0: -rho A at rho = e^20, finite
  EXPECT_NEAR(at(pg.per_token, 2), -(1 - 0.2) * -1.0, 1e-6);  // A < 0, rho ~ 0: the lower clip
  pg.per_token.sum().backward();
  for (int64_t i = 0; i < 3; ++i) EXPECT_EQ(at(logp.grad(), i), 0.0) << i;  // beyond the clamp: flat

  auto seq = t2({60.f, 40.f}, 1).requires_grad_(true);
  auto gs = gspo_sequence_loss(seq, torch::zeros({1, 2}), torch::ones({1, 2}), t({-1.f}), 3e-4, 4e-4);
  EXPECT_NEAR(at(gs.per_token, 0) / e20, 1.0, 1e-6);  // mean log-ratio 50, clamped to 20
  gs.per_token.sum().backward();
  EXPECT_TRUE(torch::isfinite(seq.grad()).all().item<bool>());

  // k3 = e^d - d - 1 at d = 100 is inf unclamped; capped at kMaxKlTerm.
  EXPECT_NEAR(at(kl_penalty(t2({-100.f}, 1), t2({0.f}, 1), t2({1.f}, 1), "k3"), 0), kMaxKlTerm, 1e-6);
  // The DISA/FlowRL ratio without a w_max cap: e^20, not inf.
  auto w = clamped_ratio(t({100.f}), t({0.f}), 0).weight;
  EXPECT_NEAR(at(w, 0) / e20, 1.0, 1e-6);
}

TEST(Objectives, DualClipBoundsNegativeAdvantageTerms) {
  // rho = 5 and 2 with A = -1, rho = 5 with A = +1; eps 0.2, dual clip c = 3.
  auto logp = t2({std::log(5.f), std::log(2.f), std::log(5.f)}, 3).requires_grad_(true);
  auto pg = grpo_token_loss(logp, torch::zeros({3, 1}), torch::ones({3, 1}), t({-1.f, -1.f, 1.f}), 0.2, 0.2, 3.0);
  EXPECT_NEAR(at(pg.per_token, 0), 3.0, 1e-5);   // min(-rho A, -c A) = min(5, 3)
  EXPECT_NEAR(at(pg.per_token, 1), 2.0, 1e-5);   // 2 < 3: the ordinary term
  EXPECT_NEAR(at(pg.per_token, 2), -1.2, 1e-5);  // A > 0: untouched (upper clip)
  EXPECT_EQ(at(pg.clipped_dual, 0), 1.0);
  EXPECT_EQ(at(pg.clipped_dual, 1) + at(pg.clipped_dual, 2), 0.0);
  pg.per_token.sum().backward();
  EXPECT_EQ(at(logp.grad(), 0), 0.0);          // the dual-clipped term is constant
  EXPECT_NEAR(at(logp.grad(), 1), 2.0, 1e-5);  // d(-rho A)/dlogp = rho
  // Without the dual clip the first term is 5.
  auto off = grpo_token_loss(logp.detach(), torch::zeros({3, 1}), torch::ones({3, 1}), t({-1.f, -1.f, 1.f}), 0.2, 0.2);
  EXPECT_NEAR(at(off.per_token, 0), 5.0, 1e-5);
  EXPECT_THROW(grpo_token_loss(logp, torch::zeros({3, 1}), torch::ones({3, 1}), t({-1.f, -1.f, 1.f}), 0.2, 0.2, 0.5),
               disa::core::ConfigError);
}

TEST(UpdateGuard, SkipsNonFiniteUpdatesAndStopsAfterTooManyInARow) {
  UpdateGuard g({/*max_consecutive=*/2, /*window=*/4, /*z_max=*/0});
  EXPECT_EQ(g.check(0, 1.0, 0.5), UpdateVerdict::Apply);
  EXPECT_EQ(g.check(1, std::nan(""), 0.5), UpdateVerdict::SkipNonFinite);
  EXPECT_EQ(g.check(2, 1.0, INFINITY), UpdateVerdict::SkipNonFinite);
  EXPECT_EQ(g.state().consecutive_skips, 2);
  EXPECT_EQ(g.check(3, 1.0, 0.5), UpdateVerdict::Apply);  // an applied update resets the run
  EXPECT_EQ(g.state().consecutive_skips, 0);
  EXPECT_EQ(g.state().skipped_updates, 2);
  EXPECT_EQ(g.state().recent_loss.size(), 2u);  // skipped values never enter the window
  g.check(4, NAN, NAN);
  g.check(5, NAN, NAN);
  try {
    g.check(6, NAN, NAN);
    FAIL() << "a third skip in a row must stop the run";
  } catch (const disa::core::DataError& e) {
    EXPECT_NE(std::string(e.what()).find("step 7: 3 optimiser updates in a row skipped"), std::string::npos)
        << e.what();
  }
}

TEST(UpdateGuard, SkipsOutliersOnceTheWindowIsFull) {
  UpdateGuard g({/*max_consecutive=*/5, /*window=*/4, /*z_max=*/6});
  // Window losses 1.0, 1.1, 0.9, 1.0: mean 1, sd 0.0816; 100 is z ~ 1212 but the window is
  // not full yet for the first four.
  EXPECT_EQ(g.check(0, 100.0, 1.0), UpdateVerdict::Apply);  // window empty: nothing to compare
  UpdateGuard h({5, 4, 6});
  for (double l : {1.0, 1.1, 0.9, 1.0}) EXPECT_EQ(h.check(0, l, 1.0 + (l - 1.0) / 10), UpdateVerdict::Apply);
  EXPECT_EQ(h.check(4, 100.0, 1.0), UpdateVerdict::SkipOutlier);  // loss outlier
  EXPECT_EQ(h.check(5, 1.0, 50.0), UpdateVerdict::SkipOutlier);   // gradient-norm outlier
  EXPECT_EQ(h.check(6, 1.05, 1.0), UpdateVerdict::Apply);         // z = 0.61
  EXPECT_NEAR(UpdateGuard::z_score({1.0, 1.1, 0.9, 1.0}, 1.0 + 6 * std::sqrt(0.02 / 3)), 6.0, 1e-9);
  // z_max = 0: no outlier detection, only the finite check.
  UpdateGuard off({5, 4, 0});
  for (double l : {1.0, 1.1, 0.9, 1.0, 100.0}) EXPECT_EQ(off.check(0, l, 1.0), UpdateVerdict::Apply);
}

TEST(UpdateGuard, StateSurvivesTheCheckpointBitwise) {
  UpdateGuard g({5, 3, 40});
  for (double l : {0.1 + 0.2, 1.0 / 3, 2.0 / 7, 1e-300}) g.check(0, l, l * 3);
  g.check(1, NAN, 1.0);
  const std::string dir = ::testing::TempDir() + "/guard_state";
  std::filesystem::create_directories(dir);
  CheckpointState s{12, 12, "disa", 1, 2, g.state()};
  write_state(dir, s);
  const CheckpointState back = read_state(dir);
  EXPECT_EQ(back.guard.recent_loss, g.state().recent_loss);  // exact doubles, not 6 digits
  EXPECT_EQ(back.guard.recent_grad_norm, g.state().recent_grad_norm);
  EXPECT_EQ(back.guard.consecutive_skips, 1);
  EXPECT_EQ(back.guard.skipped_updates, 1);
  // A guard rebuilt from the state decides as the original.
  UpdateGuard resumed({5, 3, 40}, back.guard);
  for (double l : {0.3, 5.0, 0.29}) EXPECT_EQ(resumed.check(2, l, l * 3), g.check(2, l, l * 3)) << l;
}

}  // namespace
