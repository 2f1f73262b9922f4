// Unit tests of the evaluation statistics: Pass@k against brute-force enumeration of all
// k-subsets, the reported levels, per-prompt sample statistics, means and standard
// errors, the macro average, and the exact distribution metrics on hand-built
// distributions (KL, TV, coverage, masses).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "disa/core/error.hpp"
#include "disa/stage/statistics.hpp"

namespace {

using namespace disa::stage;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Fraction of the k-subsets of n samples (the first c correct) that contain a correct one.
double brute_force_pass_at_k(int n, int c, int k) {
  int64_t subsets = 0, hits = 0;
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    if (__builtin_popcount(mask) != k) continue;
    ++subsets;
    hits += (mask & ((1u << c) - 1)) != 0 ? 1 : 0;
  }
  return double(hits) / double(subsets);
}

// Tolerances: pass_at_k is 1 - a product of c <= 12 factors (1 - k/i), each within 1.5
// half-ulps of a value in (0, 1] (Sterbenz makes 1 - k/i exact when k/i >= 1/2), so it is
// within ~2e-15 of the exact value; the brute-force count ratio within half an ulp. 1e-12
// has that margin and is far below any miscount (a wrong subset changes the ratio by
// >= 1/C(12, 6) = 1e-3).
TEST(PassAtK, EqualsBruteForceOverAllSubsets) {
  for (int n = 1; n <= 12; ++n)
    for (int c = 0; c <= n; ++c)
      for (int k = 1; k <= n; ++k)
        EXPECT_NEAR(pass_at_k(n, c, k), brute_force_pass_at_k(n, c, k), 1e-12) << n << " " << c << " " << k;
}

TEST(PassAtK, EdgeCasesAndLargeN) {
  EXPECT_EQ(pass_at_k(8, 0, 1), 0.0);
  EXPECT_EQ(pass_at_k(8, 8, 8), 1.0);
  EXPECT_EQ(pass_at_k(8, 5, 4), 1.0);  // n - c = 3 < k
  // Pass@1 is the accuracy. 1 - (7/8)(8/9)(9/10): four roundings of values < 1 (<= 5.6e-17
  // each), 1 - 0.7 exact: <= 2e-16 = 3.6 ulp(0.3), within DOUBLE_EQ's 4 ulp.
  EXPECT_DOUBLE_EQ(pass_at_k(10, 3, 1), 0.3);
  // Large n where binomial coefficients overflow: 1 - C(n-c,k)/C(n,k), computed from logs.
  // The reference is the less accurate side: four lgamma values ~1.3e4 (ulp 1.8e-12, glibc
  // lgamma within a few ulp) cancel to log_ratio ~ -1.2, an absolute error <~ 2e-11, times
  // exp(log_ratio) ~ 0.3; pass_at_k's 37 factors err by ~5e-15. 1e-10 covers that, while
  // one factor too many or too few (1 - 64/2000) moves the result by ~1e-2.
  const int64_t n = 2000, c = 37, k = 64;
  const double log_ratio = std::lgamma(n - c + 1.0) - std::lgamma(n - c - k + 1.0) - std::lgamma(n + 1.0) +
                           std::lgamma(n - k + 1.0);
  EXPECT_NEAR(pass_at_k(n, c, k), 1 - std::exp(log_ratio), 1e-10);
  EXPECT_THROW(pass_at_k(4, 5, 1), disa::core::DataError);
  EXPECT_THROW(pass_at_k(4, 1, 5), disa::core::DataError);
  EXPECT_THROW(pass_at_k(4, 1, 0), disa::core::DataError);
}

TEST(PassAtK, Levels) {
  EXPECT_EQ(pass_at_levels(8), (std::vector<int64_t>{1, 2, 4, 8}));
  EXPECT_EQ(pass_at_levels(6), (std::vector<int64_t>{1, 2, 4, 6}));
  EXPECT_EQ(pass_at_levels(1), (std::vector<int64_t>{1}));
  EXPECT_EQ(pass_at_levels(2), (std::vector<int64_t>{1, 2}));
}

TEST(PromptSampleStats, CountsKeysLengths) {
  std::vector<SampleOutcome> s{{true, 1.0, "A B", 4, false},   {true, 1.0, "A B", 6, false},
                               {true, 1.0, "A C B", 8, false}, {false, 0.0, "A D", 5, false},
                               {false, 0.0, "", 16, true},     {false, 0.5, "A D", 3, false}};
  auto st = prompt_sample_stats(s, {1, 2, 4, 6});
  EXPECT_EQ(st.n, 6);
  EXPECT_EQ(st.n_correct, 3);
  // Sums of small integers and halves are exact; each mean/fraction below is then one
  // division, the same as the expected expression: bitwise.
  EXPECT_EQ(st.mean_at_k, 0.5);
  EXPECT_EQ(st.mean_reward, 3.5 / 6);
  ASSERT_EQ(st.pass_at.size(), 4u);
  // Products of three rounded factors (see EdgeCasesAndLargeN): <= 2e-16, within 4 ulp
  // of 0.5 and 0.8.
  EXPECT_DOUBLE_EQ(st.pass_at[0], 0.5);
  EXPECT_DOUBLE_EQ(st.pass_at[1], brute_force_pass_at_k(6, 3, 2));
  EXPECT_EQ(st.pass_at[3], 1.0);      // n - c < k: exactly 1
  EXPECT_EQ(st.distinct_correct, 2);  // "A B", "A C B"
  EXPECT_EQ(st.distinct_answers, 3);  // + "A D"; the empty key is no answer
  EXPECT_EQ(st.mean_length, 42.0 / 6);
  EXPECT_EQ(st.mean_correct_length, 6.0);
  EXPECT_EQ(st.truncated_fraction, 1.0 / 6);
  auto none = prompt_sample_stats({{false, 0.0, "", 2, false}}, {1});
  EXPECT_TRUE(std::isnan(none.mean_correct_length));
  EXPECT_EQ(none.pass_at[0], 0.0);
  EXPECT_THROW(prompt_sample_stats({}, {1}), disa::core::DataError);
}

TEST(MeanSe, SkipsUndefinedValues) {
  auto m = mean_se({1.0, 2.0, kNaN, 3.0, 6.0});
  EXPECT_EQ(m.count, 4);
  EXPECT_EQ(m.mean, 3.0);  // 12 / 4: exact
  // sample variance of {1,2,3,6} = (4+1+0+9)/3 = 14/3; se = sqrt(14/3/4). The squares
  // sum exactly to 14; then the same two divisions and sqrt as here: bitwise.
  EXPECT_EQ(m.se, std::sqrt(14.0 / 3.0 / 4.0));
  auto one = mean_se({kNaN, 0.25});
  EXPECT_EQ(one.count, 1);
  EXPECT_EQ(one.mean, 0.25);
  EXPECT_TRUE(std::isnan(one.se));
  auto none = mean_se({kNaN});
  EXPECT_EQ(none.count, 0);
  EXPECT_TRUE(std::isnan(none.mean));
}

TEST(MacroAverage, MeanOfBenchmarksWithCombinedError) {
  auto m = macro_average({{0.2, 0.03, 10}, {0.6, 0.04, 20}, {kNaN, kNaN, 0}});
  EXPECT_EQ(m.count, 2);
  // The decimal literals are each within half an ulp and the sum rounds once: <= 2 ulp.
  EXPECT_DOUBLE_EQ(m.mean, 0.4);
  // The same operations, but var += se * se may be contracted to an FMA (aarch64), which
  // skips one rounding: <= 1 ulp.
  EXPECT_DOUBLE_EQ(m.se, std::sqrt(0.03 * 0.03 + 0.04 * 0.04) / 2);
  auto undefined_se = macro_average({{0.2, kNaN, 1}, {0.4, 0.1, 5}});
  EXPECT_DOUBLE_EQ(undefined_se.mean, 0.3);
  EXPECT_TRUE(std::isnan(undefined_se.se));
}

TEST(ExactMetrics, HandBuiltDistribution) {
  // Correct set of three responses. Policy: 0.3, 0.1, 0.1 (mass 0.5, restriction
  // 0.6/0.2/0.2). Reference: 0.2, 0.2, 0.4 (mass 0.8, p*|C = 0.25/0.25/0.5).
  const std::vector<double> pol{std::log(0.3), std::log(0.1), std::log(0.1)};
  const std::vector<double> ref{std::log(0.2), std::log(0.2), std::log(0.4)};
  auto m = exact_metrics(pol, ref, 1.0);
  EXPECT_EQ(m.size, 3);
  // Inputs are logs of magnitude <= 2.3 (ulp 4.4e-16), each rounded; a log-sum-exp, a
  // subtraction and exp add a few more ulp of such values. Masses, KL and TV are sums of
  // three such terms of magnitude <= 1: within ~2e-15; 1e-14 leaves 5x.
  EXPECT_NEAR(m.policy_mass, 0.5, 1e-14);
  EXPECT_NEAR(m.reference_mass, 0.8, 1e-14);
  const double kl = 0.25 * std::log(0.25 / 0.6) + 0.25 * std::log(0.25 / 0.2) + 0.5 * std::log(0.5 / 0.2);
  EXPECT_NEAR(m.kl, kl, 1e-14);
  EXPECT_NEAR(m.tv, 0.5 * (0.35 + 0.05 + 0.3), 1e-14);
  // Coverage is covered / size, the same division as the expected value: bitwise.
  // threshold 1: at least 1/3 within C -> only the first response.
  EXPECT_EQ(m.coverage, 1.0 / 3);
  // threshold 0.5: at least 1/6 -> all three (0.2 >= 0.1667).
  EXPECT_EQ(exact_metrics(pol, ref, 0.5).coverage, 1.0);
  // threshold 0.6 (cut exactly 0.2): boundary responses count. The 1e-12 below 0.6 is the
  // slack for the rounding of log p - log p(C) (a few ulp of ~2, ~1e-15).
  EXPECT_EQ(exact_metrics(pol, ref, 0.6 - 1e-12).coverage, 1.0);
}

TEST(ExactMetrics, IdenticalRestrictionsAndMissingPieces) {
  // Same shape on C at different masses: KL = TV = 0.
  const std::vector<double> pol{std::log(0.01), std::log(0.03)};
  const std::vector<double> ref{std::log(0.1), std::log(0.3)};
  auto m = exact_metrics(pol, ref, 1.0);
  // The two restrictions agree only up to rounding: the inputs (|log p| <= 4.6, ulp
  // 8.9e-16) are rounded and each log-mass adds a few ulp, so log p|C - log p*|C is
  // constant only to ~4 ulp(4.6) = 3.6e-15. TV is at most half of that; KL is first
  // order in the normalisation error, as large, and clamped at 0. Tolerance 4e-15.
  EXPECT_NEAR(m.kl, 0.0, 4e-15);
  EXPECT_NEAR(m.tv, 0.0, 4e-15);
  EXPECT_EQ(m.coverage, 0.5);  // 1 / 2
  // No reference: masses and coverage only. The mass's relative error is the absolute
  // error of its log (a few ulp of 3.2, ~1.3e-15), times 0.04: ~5e-17; 1e-15 leaves 20x.
  auto noref = exact_metrics(pol, {}, 1.0);
  EXPECT_NEAR(noref.policy_mass, 0.04, 1e-15);
  EXPECT_TRUE(std::isnan(noref.reference_mass));
  EXPECT_TRUE(std::isnan(noref.kl));
  EXPECT_TRUE(std::isnan(noref.tv));
  // The policy gives a correct response zero probability that p* does not: KL = inf, TV finite.
  auto zero = exact_metrics({std::log(0.5), -kInf}, {std::log(0.5), std::log(0.5)}, 1.0);
  EXPECT_EQ(zero.kl, kInf);
  // The policy restriction is exactly (1, 0); p*|C = exp(log 0.5 - (log 0.5 + log 2)) is
  // 0.5 to ~1 ulp: |tv - 0.5| <~ 1.1e-16; 1e-15 leaves 9x.
  EXPECT_NEAR(zero.tv, 0.5, 1e-15);
  EXPECT_EQ(zero.coverage, 0.5);
  // Empty correct set: mass 0, the rest undefined.
  auto empty = exact_metrics({}, {}, 1.0);
  EXPECT_EQ(empty.size, 0);
  EXPECT_EQ(empty.policy_mass, 0.0);
  EXPECT_TRUE(std::isnan(empty.kl));
  EXPECT_TRUE(std::isnan(empty.coverage));
  // Very small probabilities (long responses) stay exact in log space. The inputs and
  // log-masses near -800 / -900 are rounded to ulp(900) = 1.1e-13, which enters KL and TV
  // to first order: a few 1e-13; 1e-12 is above that, while probability-space arithmetic
  // (both masses underflow to 0) gives NaN.
  auto tiny = exact_metrics({-800.0, -800.0 + std::log(3.0)}, {-900.0, -900.0}, 1.0);
  EXPECT_NEAR(tiny.kl, 0.5 * std::log(0.5 / 0.25) + 0.5 * std::log(0.5 / 0.75), 1e-12);
  EXPECT_NEAR(tiny.tv, 0.25, 1e-12);
  EXPECT_EQ(tiny.policy_mass, 0.0);  // underflows as a probability, but the restriction is fine
  EXPECT_THROW(exact_metrics({0.0}, {0.0, 0.0}, 1.0), disa::core::DataError);
  EXPECT_THROW(exact_metrics({kNaN}, {}, 1.0), disa::core::DataError);
  EXPECT_THROW(exact_metrics({-1.0}, {}, 0.0), disa::core::DataError);
}

TEST(KlLowerBound, ChainRuleOverCorrectAndIncorrect) {
  // A 4-response space: C = {a, b}, not C = {c, d}. pi_ref = (0.1, 0.3, 0.2, 0.4), reward 1
  // on C, beta = log 3: p* = (0.3, 0.9, 0.2, 0.4) / 1.8. The policy pi = (0.25, 0.25, 0.1, 0.4).
  const double beta = std::log(3.0);
  const double p_star[4] = {0.3 / 1.8, 0.9 / 1.8, 0.2 / 1.8, 0.4 / 1.8};
  const double pi[4] = {0.25, 0.25, 0.1, 0.4};
  const double target = disa::stage::target_mass(beta, 0.4);
  // p*(C) = 1.2 / 1.8; the closed form rounds differently from the sums: 1e-15 relative.
  EXPECT_NEAR(target, 1.2 / 1.8, 1e-15);
  // KL on C from the restrictions, as exact_metrics computes it.
  auto on_c = exact_metrics({std::log(0.25), std::log(0.25)}, {std::log(0.1), std::log(0.3)}, 1.0);
  const double bound = disa::stage::kl_lower_bound(target, 0.5, on_c.kl);
  // The full KL minus the bound is p*(not C) KL(p*|notC || pi|notC) >= 0, here computed
  // directly: the bound plus that term must equal the full KL (chain rule), to rounding
  // of a few terms of size ~1 (1e-14 leaves ~50x).
  double full = 0, within_incorrect = 0;
  for (int i = 0; i < 4; ++i) full += p_star[i] * std::log(p_star[i] / pi[i]);
  const double pn = p_star[2] + p_star[3], qn = pi[2] + pi[3];
  for (int i = 2; i < 4; ++i) within_incorrect += p_star[i] / pn * std::log((p_star[i] / pn) / (pi[i] / qn));
  EXPECT_NEAR(bound + pn * within_incorrect, full, 1e-14);
  EXPECT_GT(within_incorrect, 0.0);  // so the bound is strictly below the full KL here
  EXPECT_LT(bound, full);
  // Edge cases: pi(C) = 0 < p*(C) is infinite; equal masses and equal restrictions give 0;
  // large beta does not overflow; NaN in, NaN out.
  EXPECT_EQ(disa::stage::kl_lower_bound(0.5, 0.0, 0.0), kInf);
  EXPECT_EQ(disa::stage::kl_lower_bound(0.3, 0.3, 0.0), 0.0);
  EXPECT_NEAR(disa::stage::target_mass(2000.0, 1e-300), 1.0, 1e-15);
  EXPECT_EQ(disa::stage::target_mass(3.0, 0.0), 0.0);
  EXPECT_TRUE(std::isnan(disa::stage::kl_lower_bound(kNaN, 0.3, 0.0)));
}

}  // namespace
