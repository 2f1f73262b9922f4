// The partition-function estimators on synthetic weights with known answers: log mean
// exp, ESS and relative variance, the delta-method SE against the bootstrap, the
// generalised Pareto fit and PSIS k_hat on samples of known tail shape, and the
// length-normalised anchor's root.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "disa/anchor/estimators.hpp"
#include "disa/core/error.hpp"

namespace {

using namespace disa::anchor;
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(Estimators, LogMeanExp) {
  EXPECT_NEAR(log_mean_exp({0.0, 0.0, 0.0}), 0.0, 1e-15);
  EXPECT_NEAR(log_mean_exp({std::log(1.0), std::log(3.0)}), std::log(2.0), 1e-15);
  EXPECT_NEAR(log_mean_exp({1e4, 1e4 - kInf}), 1e4 - std::log(2.0), 1e-9);
  EXPECT_EQ(log_mean_exp({-kInf, -kInf}), -kInf);
  EXPECT_THROW(log_mean_exp({}), disa::core::DataError);
}

TEST(Estimators, ExactLogPartitionIsStableForLargeBeta) {
  // log(1 + (e^beta - 1) p) where the direct formula is exact in double precision...
  for (double beta : {0.5, 3.0, 15.0})
    for (double p : {1e-6, 0.25, 0.9, 1.0})
      EXPECT_NEAR(exact_log_partition(beta, std::log(p)), std::log1p(std::expm1(beta) * p), 1e-12)
          << "beta " << beta << " p " << p;
  EXPECT_EQ(exact_log_partition(3.0, -kInf), 0.0);  // nothing correct: Z = 1
  // ... and where e^beta overflows (beta > 709): log Z = beta + log p + log1p((1 - p) e^-beta / p).
  EXPECT_NEAR(exact_log_partition(1000.0, std::log(0.25)), 1000.0 + std::log(0.25), 1e-12);
  EXPECT_NEAR(exact_log_partition(800.0, -900.0), std::log1p(std::exp(-100.0)), 1e-15);  // the old formula: NaN
  EXPECT_TRUE(std::isfinite(exact_log_partition(2000.0, -1e-3)));
  // p = 1 - 1e-20 rounds to 1 in double, but 1 - p does not vanish: log(1 - p) = log(-expm1(l)).
  EXPECT_NEAR(exact_log_partition(-40.0, -1e-20), std::log(1e-20 + std::exp(-40.0)), 1e-12);
}

TEST(Estimators, BinaryRewardWeightsUnderReferenceProposal) {
  // q = pi_ref: l_i = beta r_i; with 3 of 8 correct, Zhat = (5 + 3 e^beta) / 8.
  const double beta = 2.0;
  std::vector<double> l{0, 0, beta, 0, beta, 0, beta, 0};
  auto d = diagnose(l);
  EXPECT_NEAR(d.log_z_hat, std::log((5 + 3 * std::exp(beta)) / 8), 1e-14);
  double sw = 5 + 3 * std::exp(beta), sw2 = 5 + 3 * std::exp(2 * beta);
  EXPECT_NEAR(d.ess, sw * sw / sw2, 1e-12);
  EXPECT_NEAR(d.ess_fraction, d.ess / 8, 1e-15);
  EXPECT_NEAR(d.max_normalized_weight, std::exp(beta) / sw, 1e-14);
  EXPECT_NEAR(d.relative_variance, 8 / d.ess - 1, 1e-14);
  EXPECT_NEAR(d.delta_se, std::sqrt(d.relative_variance / 8), 1e-14);
}

TEST(Estimators, EqualWeightsHaveFullEss) {
  auto d = diagnose(std::vector<double>(100, -3.0));
  EXPECT_NEAR(d.ess, 100, 1e-9);
  EXPECT_NEAR(d.relative_variance, 0, 1e-12);
  EXPECT_NEAR(d.delta_se, 0, 1e-7);
  EXPECT_NEAR(d.log_z_hat, -3.0, 1e-14);
}

TEST(Estimators, OneDominantWeight) {
  std::vector<double> l(50, 0.0);
  l[7] = 50.0;
  auto d = diagnose(l);
  EXPECT_NEAR(d.ess, 1.0, 1e-12);
  EXPECT_NEAR(d.max_normalized_weight, 1.0, 1e-12);
}

TEST(Estimators, GeneralizedParetoFitRecoversShapeAndScale) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (double k_true : {0.2, 0.5, 0.8}) {
    const double sigma_true = 2.0;
    std::vector<double> x;
    for (int i = 0; i < 4000; ++i) x.push_back(sigma_true / k_true * (std::pow(1 - u(rng), -k_true) - 1));
    auto [k, sigma] = fit_generalized_pareto(x);
    EXPECT_NEAR(k, k_true, 0.08) << k_true;
    EXPECT_NEAR(sigma, sigma_true, 0.25) << k_true;
  }
}

TEST(Estimators, PsisKHatSeparatesLightAndHeavyTails) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::normal_distribution<double> normal(0.0, 1.0);
  // Log-normal weights with small sigma: light tail, k_hat well below 0.5.
  std::vector<double> light, heavy;
  for (int i = 0; i < 4000; ++i) light.push_back(0.3 * normal(rng));
  EXPECT_LT(psis_k_hat(light), 0.3);
  // Pareto weights with tail index alpha = 1/0.9: k = 0.9 > 0.7, untrustworthy.
  for (int i = 0; i < 4000; ++i) heavy.push_back(-0.9 * std::log(1 - u(rng)));
  double k_heavy = psis_k_hat(heavy);
  EXPECT_GT(k_heavy, 0.7);
  EXPECT_NEAR(k_heavy, 0.9, 0.15);
  // Too few distinct tail weights: not assessable.
  EXPECT_TRUE(std::isnan(psis_k_hat({0, 0, 0, 1, 2})));
  EXPECT_TRUE(std::isnan(psis_k_hat(std::vector<double>(64, 0.0))));
  // A binary reward under q = pi_ref: 59 weights of 1 and 5 of e^1.5. The 13-weight tail
  // holds 5 exceedances, all equal: no tail to fit (found by the portable-kernel test run,
  // where one prompt drew exactly 5 correct samples and got a "k_hat" of -1.95).
  std::vector<double> binary(59, 0.0);
  binary.insert(binary.end(), 5, 1.5);
  EXPECT_TRUE(std::isnan(psis_k_hat(binary)));
}

TEST(Estimators, KHatThresholdDependsOnSampleSize) {
  // min(1 - 1/log10 N, 0.7): strict for the few draws a prompt gets, 0.7 for many.
  EXPECT_NEAR(k_hat_threshold(16), 1.0 - 1.0 / 1.2041199826559248, 1e-12);
  EXPECT_NEAR(k_hat_threshold(16), 0.1695, 1e-4);
  EXPECT_NEAR(k_hat_threshold(256), 0.5847, 1e-4);
  EXPECT_EQ(k_hat_threshold(100000), 0.7);
  EXPECT_LT(k_hat_threshold(10), 1e-12);  // 1 - 1/1 = 0: any positive k_hat is flagged
  EXPECT_THROW(k_hat_threshold(1), disa::core::DataError);
}

TEST(Estimators, BootstrapAgreesWithDeltaMethod) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal(0.0, 0.7);
  std::vector<double> l;
  for (int i = 0; i < 2000; ++i) l.push_back(normal(rng));
  auto d = diagnose(l);
  double sd = bootstrap_sd(l, 400, 99);
  EXPECT_NEAR(sd / d.delta_se, 1.0, 0.15) << sd << " vs " << d.delta_se;
  // Deterministic for a seed, different for another.
  EXPECT_EQ(bootstrap_sd(l, 50, 5), bootstrap_sd(l, 50, 5));
  EXPECT_NE(bootstrap_sd(l, 50, 5), bootstrap_sd(l, 50, 6));
}

TEST(Estimators, LengthNormalizedRootSolvesItsEquation) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int> len(1, 40);
  for (double beta : {0.5, 2.0, 8.0}) {
    std::vector<double> a, L, b;
    for (int i = 0; i < 64; ++i) {
      a.push_back(0.5 * normal(rng));
      L.push_back(len(rng));
      b.push_back(beta * (i % 3 == 0 ? 1.0 : 0.0));
    }
    double c = length_normalized_anchor(a, L, b);
    // (1/N) sum_i exp(a_i + L_i (b_i - c)) = 1 to 1e-8 relative.
    double mean = 0;
    for (size_t i = 0; i < a.size(); ++i) mean += std::exp(a[i] + L[i] * (b[i] - c));
    mean /= double(a.size());
    EXPECT_NEAR(mean, 1.0, 1e-8) << "beta " << beta;
    EXPECT_NEAR(length_normalized_residual(a, L, b, c), 0.0, 1e-10);
  }
}

TEST(Estimators, LengthNormalizedRootWithUnitLengthsIsLogMeanExp) {
  std::vector<double> a{0.1, -0.3, 0.2, 0.0}, L{1, 1, 1, 1}, b{1.5, 0, 1.5, 0};
  std::vector<double> l;
  for (size_t i = 0; i < a.size(); ++i) l.push_back(a[i] + b[i]);
  EXPECT_NEAR(length_normalized_anchor(a, L, b), log_mean_exp(l), 1e-12);
}

TEST(Estimators, LengthNormalizedRejectsBadInput) {
  EXPECT_THROW(length_normalized_anchor({0.0}, {0.0}, {1.0}), disa::core::DataError);
  EXPECT_THROW(length_normalized_anchor({0.0, 1.0}, {1.0}, {1.0}), disa::core::DataError);
}

}  // namespace
