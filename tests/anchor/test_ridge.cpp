// The math of the frozen partition-function regressor (anchor/ridge.hpp) and the
// shrinkage training applies (io/regressor_file.hpp):
//  * the weighted ridge solution satisfies its normal equations, in the primal (d <= n)
//    and the dual (d > n) form, and is exact on noise-free data;
//  * folds depend on the prompt id alone and are balanced;
//  * cross-validated residuals equal those of explicit leave-one-out fits;
//  * on a known linear relation with prompt-level noise tau^2 and anchor noise s_i^2,
//    the fit recovers the coefficients and tau^2 within 4 standard errors of their
//    estimators, and the shrinkage c(x) has a lower error to the truth than log Zhat;
//    on a relation with no signal, cross-validation picks strong shrinkage;
//  * the shrinkage formula's limits and its precision-weighted form.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "disa/anchor/ridge.hpp"
#include "disa/core/error.hpp"
#include "disa/io/regressor_file.hpp"

namespace {

using disa::anchor::FeatureRows;

FeatureRows random_rows(size_t n, size_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  FeatureRows z(n, std::vector<double>(d));
  for (auto& row : z)
    for (auto& v : row) v = normal(rng);
  return z;
}

// The stationarity conditions of sum_i w'_i (y_i - b - z_i . beta)^2 + lambda |beta|^2 with
// w' = w n / sum w: sum_i w'_i r_i = 0 and -sum_i w'_i r_i z_ij + lambda beta_j = 0. Returns
// the largest violation relative to the scale of the terms (sum_i w'_i |r_i| |z_ij|).
double normal_equation_violation(const FeatureRows& z, const std::vector<double>& y, const std::vector<double>& w,
                                 double lambda, const disa::anchor::LinearModel& m) {
  const size_t n = z.size(), d = z[0].size();
  double wsum = 0;
  for (double v : w) wsum += v;
  std::vector<double> r(n), wn(n);
  double bias_eq = 0, bias_scale = 0;
  for (size_t i = 0; i < n; ++i) {
    wn[i] = w[i] * double(n) / wsum;
    r[i] = y[i] - m.predict(z[i]);
    bias_eq += wn[i] * r[i];
    bias_scale += wn[i] * std::abs(r[i]) + wn[i] * std::abs(y[i]);
  }
  double worst = std::abs(bias_eq) / bias_scale;
  for (size_t j = 0; j < d; ++j) {
    double eq = lambda * m.coefficients[j], scale = lambda * std::abs(m.coefficients[j]);
    for (size_t i = 0; i < n; ++i) {
      eq -= wn[i] * r[i] * z[i][j];
      scale += wn[i] * std::abs(r[i] * z[i][j]);
    }
    worst = std::max(worst, std::abs(eq) / scale);
  }
  return worst;
}

TEST(Ridge, SolvesItsNormalEquationsInPrimalAndDualForm) {
  // Double-precision Cholesky on matrices of condition number <= ~1e3 leaves a relative
  // residual of ~1e-13; 1e-9 separates that from any wrong formula (violations of O(1)).
  for (auto [n, d] : {std::pair<size_t, size_t>{40, 6}, std::pair<size_t, size_t>{8, 15}}) {
    const auto z = random_rows(n, d, 11 + n);
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> uni(0.2, 3.0);
    std::vector<double> y(n), w(n);
    for (size_t i = 0; i < n; ++i) y[i] = uni(rng) - 1.5 + 0.7 * z[i][0], w[i] = uni(rng);
    for (double lambda : {1e-3, 1.0, 50.0}) {
      const auto m = disa::anchor::weighted_ridge(z, y, w, lambda);
      EXPECT_LT(normal_equation_violation(z, y, w, lambda, m), 1e-9) << "n=" << n << " d=" << d << " lambda=" << lambda;
    }
  }
}

TEST(Ridge, ExactOnNoiseFreeData) {
  // y = 0.5 + z . beta exactly: with lambda = 1e-9 the ridge bias is lambda * beta /
  // (sum w' z^2) ~ 1e-11, far below the 1e-7 tolerance.
  const auto z = random_rows(50, 4, 3);
  const std::vector<double> beta{1.0, -2.0, 0.25, 0.0};
  std::vector<double> y, w;
  for (size_t i = 0; i < z.size(); ++i) {
    double v = 0.5;
    for (size_t j = 0; j < 4; ++j) v += beta[j] * z[i][j];
    y.push_back(v);
    w.push_back(1.0 + double(i % 3));
  }
  const auto m = disa::anchor::weighted_ridge(z, y, w, 1e-9);
  EXPECT_NEAR(m.bias, 0.5, 1e-7);
  for (size_t j = 0; j < 4; ++j) EXPECT_NEAR(m.coefficients[j], beta[j], 1e-7) << j;
}

TEST(Ridge, FoldsDependOnTheIdAloneAndAreBalanced) {
  EXPECT_EQ(disa::anchor::fold_of("graph-17", 5), disa::anchor::fold_of(std::string("graph-") + "17", 5));
  // 5000 ids in 5 folds: each count is Binomial(5000, 0.2), sd 28.3; 5 sd = 141.
  std::vector<int> count(5, 0);
  for (int i = 0; i < 5000; ++i) {
    const int f = disa::anchor::fold_of("prompt-" + std::to_string(i), 5);
    ASSERT_GE(f, 0);
    ASSERT_LT(f, 5);
    ++count[size_t(f)];
  }
  for (int c : count) EXPECT_NEAR(c, 1000, 141);
}

TEST(Ridge, CrossValidatedResidualsAreOutOfFoldFits) {
  const size_t n = 12;
  const auto z = random_rows(n, 3, 9);
  std::vector<double> y(n), w(n);
  std::vector<int> fold(n);
  for (size_t i = 0; i < n; ++i) y[i] = std::sin(double(i)) + z[i][1], w[i] = 1.0 + 0.1 * double(i), fold[i] = int(i);
  const auto r = disa::anchor::cross_validated_residuals(z, y, w, fold, int(n), 0.3);
  for (size_t i = 0; i < n; ++i) {
    FeatureRows zt;
    std::vector<double> yt, wt;
    for (size_t k = 0; k < n; ++k)
      if (k != i) zt.push_back(z[k]), yt.push_back(y[k]), wt.push_back(w[k]);
    const auto m = disa::anchor::weighted_ridge(zt, yt, wt, 0.3);
    EXPECT_DOUBLE_EQ(r[i], y[i] - m.predict(z[i])) << i;
  }
  // All prompts in one fold: nothing to validate on.
  EXPECT_THROW(disa::anchor::cross_validated_residuals(z, y, w, std::vector<int>(n, 0), 5, 0.3), disa::core::DataError);
}

// Synthetic anchors: log Z_i = 0.5 + x_i . beta + u_i (u_i ~ N(0, tau^2), what the features
// cannot explain) and log Zhat_i = log Z_i + e_i (e_i ~ N(0, s_i^2), the estimator's noise).
struct Synthetic {
  FeatureRows x;
  std::vector<double> truth, y, s;
  std::vector<int> fold;
};
Synthetic synthetic(size_t n, const std::vector<double>& beta, double tau2, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::uniform_real_distribution<double> se(0.05, 0.4);
  // Raw features of very different scales and offsets (the standardisation's job).
  const std::vector<double> scale{1.0, 10.0, 0.1}, offset{0.0, 100.0, -3.0};
  Synthetic d;
  for (size_t i = 0; i < n; ++i) {
    std::vector<double> row(3);
    double truth = 0.5;
    for (size_t j = 0; j < 3; ++j) {
      row[j] = offset[j] + scale[j] * normal(rng);
      truth += beta[j] * (row[j] - offset[j]);
    }
    truth += std::sqrt(tau2) * normal(rng);
    const double s = se(rng);
    d.x.push_back(row);
    d.truth.push_back(truth);
    d.s.push_back(s);
    d.y.push_back(truth + s * normal(rng));
    std::string id = "p";
    id += std::to_string(i);
    d.fold.push_back(disa::anchor::fold_of(id, 5));
  }
  return d;
}

TEST(Ridge, RecoversAKnownLinearRelationAndTau2) {
  const size_t n = 400;
  const double tau2 = 0.04;
  const std::vector<double> beta{0.3, -0.02, 2.0};  // standardised: 0.3, -0.2, 0.2
  const auto d = synthetic(n, beta, tau2, 17);
  const auto fit = disa::anchor::fit_regressor(d.x, d.y, d.s, d.fold, {});
  EXPECT_TRUE(fit.converged);
  // A strong signal (R^2 ~ 0.6) in 400 prompts: cross-validation keeps lambda small.
  EXPECT_LE(fit.lambda, 10.0);
  // Coefficients on the raw scale. Error model: the weighted least-squares estimator has
  // standard error 1 / sqrt(sum_i w_i (x_ij - xbar_j)^2) per coefficient (w_i = 1 / (s_i^2 +
  // tau^2); exact for orthogonal columns, and independent columns are orthogonal up to
  // O(1/sqrt n)); the ridge adds a bias of at most lambda / (sum_i w'_i z_ij^2) = lambda / n of
  // the coefficient (standardised columns, normalised weights). Tolerance: 4 standard
  // errors plus that bias.
  for (size_t j = 0; j < 3; ++j) {
    double mean = 0, info = 0;
    for (size_t i = 0; i < n; ++i) mean += d.x[i][j] / double(n);
    for (size_t i = 0; i < n; ++i) info += std::pow(d.x[i][j] - mean, 2) / (d.s[i] * d.s[i] + tau2);
    const double raw = fit.model.coefficients[j] / fit.standardisation.scale[j];
    const double tol = 4 / std::sqrt(info) + fit.lambda / double(n) * std::abs(beta[j]);
    EXPECT_NEAR(raw, beta[j], tol) << "coefficient " << j;
  }
  // tau^2 = mean(r_i^2 - s_i^2): with Gaussian r_i of variance tau^2 + s_i^2, the estimator's
  // standard error is sqrt(sum_i 2 (tau^2 + s_i^2)^2) / n (the out-of-fold fit's own error
  // adds O(d/n) = 1% to E[r^2], far inside it). Tolerance: 4 standard errors.
  double var = 0;
  for (size_t i = 0; i < n; ++i) var += 2 * std::pow(tau2 + d.s[i] * d.s[i], 2);
  EXPECT_NEAR(fit.tau2, tau2, 4 * std::sqrt(var) / double(n));
  // Shrinkage against the truth: the precision-weighted c has per-prompt error variance
  // s^2 tau^2 / (s^2 + tau^2) < s^2. The paired difference of squared errors must exceed 4 of
  // its standard errors.
  std::vector<double> diff;
  double mean_diff = 0;
  for (size_t i = 0; i < n; ++i) {
    const double g = fit.model.predict(fit.standardisation.apply(d.x[i]));
    const double c = disa::io::regressor::shrinkage(d.y[i], d.s[i], g, fit.tau2);
    diff.push_back(std::pow(d.y[i] - d.truth[i], 2) - std::pow(c - d.truth[i], 2));
    mean_diff += diff.back() / double(n);
  }
  double sd = 0;
  for (double v : diff) sd += (v - mean_diff) * (v - mean_diff) / double(n - 1);
  EXPECT_GT(mean_diff, 4 * std::sqrt(sd / double(n))) << "shrinkage does not lower the error";
  // The reported cross-validated error is the mean squared out-of-fold residual, which
  // estimates tau^2 + mean s^2.
  double check = 0;
  for (double r : fit.cv_residuals) check += r * r / double(n);
  EXPECT_DOUBLE_EQ(fit.cv_mse, check);
}

TEST(Ridge, NoSignalMeansStrongShrinkage) {
  // log Z unrelated to the features: the out-of-fold error grows with every unit of
  // coefficient fitted to noise, so cross-validation picks the largest strengths, and the
  // fitted g is nearly constant (spread well below the spread of log Zhat).
  const auto d = synthetic(300, {0.0, 0.0, 0.0}, 0.09, 23);
  const auto fit = disa::anchor::fit_regressor(d.x, d.y, d.s, d.fold, {});
  EXPECT_GE(fit.lambda, 100.0);
  double g_var = 0, y_var = 0, g_mean = 0, y_mean = 0;
  std::vector<double> g;
  for (size_t i = 0; i < d.x.size(); ++i) g.push_back(fit.model.predict(fit.standardisation.apply(d.x[i])));
  for (size_t i = 0; i < g.size(); ++i) g_mean += g[i] / double(g.size()), y_mean += d.y[i] / double(g.size());
  for (size_t i = 0; i < g.size(); ++i) g_var += std::pow(g[i] - g_mean, 2), y_var += std::pow(d.y[i] - y_mean, 2);
  EXPECT_LT(g_var, 0.1 * y_var);
}

TEST(Ridge, BadInputIsRefused) {
  const auto d = synthetic(20, {0.1, 0.1, 0.1}, 0.01, 1);
  disa::anchor::RegressorFitOptions o;
  o.lambdas = {1.0, -1.0};
  EXPECT_THROW(disa::anchor::fit_regressor(d.x, d.y, d.s, d.fold, o), disa::core::ConfigError);
  auto s = d.s;
  s[3] = -0.1;
  EXPECT_THROW(disa::anchor::fit_regressor(d.x, d.y, s, d.fold, {}), disa::core::DataError);
}

TEST(Shrinkage, PrecisionWeightedCombination) {
  using disa::io::regressor::shrinkage;
  EXPECT_DOUBLE_EQ(shrinkage(1.2, 0.0, 0.4, 0.3), 1.2);  // an exact anchor is kept
  EXPECT_DOUBLE_EQ(shrinkage(1.2, 0.5, 0.4, 0.0), 0.4);  // a perfect regressor wins
  EXPECT_DOUBLE_EQ(shrinkage(1.2, 0.0, 0.4, 0.0), 1.2);
  EXPECT_DOUBLE_EQ(shrinkage(1.0, 0.5, 0.0, 0.25), 0.5);  // equal precisions: the average
  const double y = 0.9, s = 0.3, g = 0.2, tau2 = 0.05;
  EXPECT_NEAR(shrinkage(y, s, g, tau2), (y / (s * s) + g / tau2) / (1 / (s * s) + 1 / tau2), 1e-14);
}

}  // namespace
