// The regressor's math (include/disa/anchor/ridge.hpp).
#include "disa/anchor/ridge.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "disa/core/error.hpp"
#include "disa/core/random.hpp"
#include "disa/tasks/dataset.hpp"

namespace disa::anchor {

namespace {

// Solves A x = b for a symmetric positive definite n x n matrix A (row-major, overwritten
// by its Cholesky factor).
std::vector<double> cholesky_solve(std::vector<double>& a, std::vector<double> b, size_t n) {
  for (size_t j = 0; j < n; ++j) {
    double d = a[j * n + j];
    for (size_t k = 0; k < j; ++k) d -= a[j * n + k] * a[j * n + k];
    DISA_CHECK(d > 0 && std::isfinite(d), DataError,
               "ridge regression: the normal equations are not positive definite (pivot {} at {}); the features "
               "are degenerate",
               d, j);
    const double l = std::sqrt(d);
    a[j * n + j] = l;
    for (size_t i = j + 1; i < n; ++i) {
      double v = a[i * n + j];
      for (size_t k = 0; k < j; ++k) v -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = v / l;
    }
  }
  for (size_t i = 0; i < n; ++i) {  // L y = b
    double v = b[i];
    for (size_t k = 0; k < i; ++k) v -= a[i * n + k] * b[k];
    b[i] = v / a[i * n + i];
  }
  for (size_t i = n; i-- > 0;) {  // L^T x = y
    double v = b[i];
    for (size_t k = i + 1; k < n; ++k) v -= a[k * n + i] * b[k];
    b[i] = v / a[i * n + i];
  }
  return b;
}

size_t width_of(const FeatureRows& rows) {
  DISA_CHECK(!rows.empty(), DataError, "ridge regression: no rows");
  const size_t d = rows[0].size();
  for (const auto& r : rows)
    DISA_CHECK(r.size() == d, DataError, "ridge regression: rows of {} and {} features", d, r.size());
  return d;
}

}  // namespace

std::vector<double> Standardisation::apply(const std::vector<double>& x) const {
  DISA_CHECK(x.size() == mean.size(), DataError, "features: {} values, the standardisation has {}", x.size(),
             mean.size());
  std::vector<double> z(x.size());
  for (size_t j = 0; j < x.size(); ++j) z[j] = (x[j] - mean[j]) / scale[j];
  return z;
}

Standardisation fit_standardisation(const FeatureRows& rows) {
  const size_t d = width_of(rows);
  const double n = double(rows.size());
  Standardisation s;
  s.mean.assign(d, 0.0);
  s.scale.assign(d, 1.0);
  for (const auto& r : rows)
    for (size_t j = 0; j < d; ++j) s.mean[j] += r[j] / n;
  for (size_t j = 0; j < d; ++j) {
    double v = 0;
    for (const auto& r : rows) v += (r[j] - s.mean[j]) * (r[j] - s.mean[j]) / n;
    const double sd = std::sqrt(v);
    if (sd > 1e-12 * std::max(1.0, std::abs(s.mean[j]))) s.scale[j] = sd;
  }
  return s;
}

double LinearModel::predict(const std::vector<double>& z) const {
  DISA_CHECK(z.size() == coefficients.size(), DataError, "features: {} values, the model has {} coefficients", z.size(),
             coefficients.size());
  double v = bias;
  for (size_t j = 0; j < z.size(); ++j) v += coefficients[j] * z[j];
  return v;
}

std::vector<LinearModel> weighted_ridge_path(const FeatureRows& z, const std::vector<double>& y,
                                             const std::vector<double>& w, const std::vector<double>& lambdas) {
  const size_t d = width_of(z), n = z.size();
  DISA_CHECK(y.size() == n && w.size() == n, DataError, "ridge regression: {} rows, {} targets, {} weights", n,
             y.size(), w.size());
  for (double lambda : lambdas)
    DISA_CHECK(lambda > 0 && std::isfinite(lambda), DataError, "ridge regression: lambda must be > 0 (got {})", lambda);
  const double wsum = std::accumulate(w.begin(), w.end(), 0.0);
  DISA_CHECK(wsum > 0 && std::isfinite(wsum), DataError, "ridge regression: the weights sum to {}", wsum);
  std::vector<double> wn(n);
  for (size_t i = 0; i < n; ++i) {
    DISA_CHECK(w[i] > 0 && std::isfinite(w[i]), DataError, "ridge regression: weight {} of row {}", w[i], i);
    wn[i] = w[i] * double(n) / wsum;
  }
  // Weighted means; the bias is the weighted mean of the centred problem's residual.
  std::vector<double> zbar(d, 0.0);
  double ybar = 0;
  for (size_t i = 0; i < n; ++i) {
    ybar += wn[i] * y[i] / double(n);
    for (size_t j = 0; j < d; ++j) zbar[j] += wn[i] * z[i][j] / double(n);
  }
  // M = sqrt(W) (Z - zbar), t = sqrt(W) (y - ybar).
  std::vector<double> m(n * d), t(n);
  for (size_t i = 0; i < n; ++i) {
    const double r = std::sqrt(wn[i]);
    t[i] = r * (y[i] - ybar);
    for (size_t j = 0; j < d; ++j) m[i * d + j] = r * (z[i][j] - zbar[j]);
  }
  // The Gram matrix once, then one Cholesky solve per lambda.
  const bool primal = d <= n;
  const size_t g = primal ? d : n;
  std::vector<double> gram(g * g, 0.0), rhs;
  if (primal) {  // (M^T M + lambda I) beta = M^T t
    rhs.assign(d, 0.0);
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < d; ++j) {
        rhs[j] += m[i * d + j] * t[i];
        for (size_t k = 0; k <= j; ++k) gram[j * d + k] += m[i * d + j] * m[i * d + k];
      }
    for (size_t j = 0; j < d; ++j)
      for (size_t k = 0; k < j; ++k) gram[k * d + j] = gram[j * d + k];
  } else {  // beta = M^T (M M^T + lambda I)^{-1} t
    rhs = t;
    for (size_t i = 0; i < n; ++i)
      for (size_t k = 0; k <= i; ++k) {
        double v = 0;
        for (size_t j = 0; j < d; ++j) v += m[i * d + j] * m[k * d + j];
        gram[i * n + k] = gram[k * n + i] = v;
      }
  }
  std::vector<LinearModel> out;
  for (double lambda : lambdas) {
    std::vector<double> a = gram;
    for (size_t j = 0; j < g; ++j) a[j * g + j] += lambda;
    LinearModel model;
    if (primal) {
      model.coefficients = cholesky_solve(a, rhs, d);
    } else {
      const auto alpha = cholesky_solve(a, rhs, n);
      model.coefficients.assign(d, 0.0);
      for (size_t i = 0; i < n; ++i)
        for (size_t j = 0; j < d; ++j) model.coefficients[j] += m[i * d + j] * alpha[i];
    }
    model.bias = ybar;
    for (size_t j = 0; j < d; ++j) model.bias -= zbar[j] * model.coefficients[j];
    out.push_back(std::move(model));
  }
  return out;
}

LinearModel weighted_ridge(const FeatureRows& z, const std::vector<double>& y, const std::vector<double>& w,
                           double lambda) {
  return weighted_ridge_path(z, y, w, {lambda}).front();
}

int fold_of(const std::string& prompt_id, int k) {
  DISA_CHECK(k >= 1, ConfigError, "folds must be >= 1 (got {})", k);
  return int(core::uniform_index(core::mix64(tasks::fnv1a64(prompt_id)), size_t(k)));
}

std::vector<std::vector<double>> cross_validated_residuals_path(const FeatureRows& z, const std::vector<double>& y,
                                                                const std::vector<double>& w,
                                                                const std::vector<int>& fold, int k,
                                                                const std::vector<double>& lambdas) {
  const size_t n = z.size();
  DISA_CHECK(fold.size() == n, DataError, "cross-validation: {} rows, {} folds", n, fold.size());
  std::vector<std::vector<double>> r(lambdas.size(), std::vector<double>(n, 0.0));
  int used = 0;
  for (int f = 0; f < k; ++f) {
    FeatureRows zt;
    std::vector<double> yt, wt;
    std::vector<size_t> held;
    for (size_t i = 0; i < n; ++i) {
      if (fold[i] == f) {
        held.push_back(i);
      } else {
        zt.push_back(z[i]);
        yt.push_back(y[i]);
        wt.push_back(w[i]);
      }
    }
    if (held.empty()) continue;
    ++used;
    DISA_CHECK(!zt.empty(), DataError, "cross-validation: every prompt is in fold {} of {}; need prompts in 2 folds", f,
               k);
    const auto models = weighted_ridge_path(zt, yt, wt, lambdas);
    for (size_t l = 0; l < lambdas.size(); ++l)
      for (size_t i : held) r[l][i] = y[i] - models[l].predict(z[i]);
  }
  DISA_CHECK(used >= 2, DataError, "cross-validation: the prompts fall in {} of {} folds; need at least 2", used, k);
  return r;
}

std::vector<double> cross_validated_residuals(const FeatureRows& z, const std::vector<double>& y,
                                              const std::vector<double>& w, const std::vector<int>& fold, int k,
                                              double lambda) {
  return cross_validated_residuals_path(z, y, w, fold, k, {lambda}).front();
}

RegressorFit fit_regressor(const FeatureRows& x, const std::vector<double>& y, const std::vector<double>& s,
                           const std::vector<int>& fold, const RegressorFitOptions& o) {
  DISA_CHECK(o.folds >= 2, ConfigError, "cross-validation needs at least 2 folds (got {})", o.folds);
  DISA_CHECK(!o.lambdas.empty(), ConfigError, "the ridge-strength grid is empty");
  for (double l : o.lambdas)
    DISA_CHECK(l > 0 && std::isfinite(l), ConfigError, "ridge strengths must be > 0 (got {})", l);
  const size_t n = x.size();
  DISA_CHECK(n >= 2 && y.size() == n && s.size() == n && fold.size() == n, DataError,
             "regressor fit: {} feature rows, {} anchors, {} standard errors, {} folds (need >= 2 prompts)", n,
             y.size(), s.size(), fold.size());
  for (size_t i = 0; i < n; ++i) {
    DISA_CHECK(std::isfinite(y[i]), DataError, "regressor fit: anchor {} of row {} is not finite", y[i], i);
    DISA_CHECK(std::isfinite(s[i]) && s[i] >= 0, DataError, "regressor fit: standard error {} of row {}", s[i], i);
  }
  RegressorFit fit;
  fit.standardisation = fit_standardisation(x);
  FeatureRows z;
  z.reserve(n);
  for (const auto& row : x) z.push_back(fit.standardisation.apply(row));
  double ymean = 0, s2mean = 0;
  for (size_t i = 0; i < n; ++i) ymean += y[i] / double(n), s2mean += s[i] * s[i] / double(n);
  double yvar = 0;
  for (size_t i = 0; i < n; ++i) yvar += (y[i] - ymean) * (y[i] - ymean) / double(n - 1);
  double tau2 = std::max(o.tau2_floor, yvar - s2mean);
  std::vector<double> w(n);
  for (int it = 1; it <= o.max_iterations; ++it) {
    for (size_t i = 0; i < n; ++i) w[i] = 1.0 / (s[i] * s[i] + tau2);
    const double wsum = std::accumulate(w.begin(), w.end(), 0.0);
    fit.cv_weighted_mse_by_lambda.assign(o.lambdas.size(), 0.0);
    size_t best = 0;
    auto residuals = cross_validated_residuals_path(z, y, w, fold, o.folds, o.lambdas);
    for (size_t l = 0; l < o.lambdas.size(); ++l) {
      double e = 0;
      for (size_t i = 0; i < n; ++i) e += w[i] * residuals[l][i] * residuals[l][i] / wsum;
      fit.cv_weighted_mse_by_lambda[l] = e;
      if (e < fit.cv_weighted_mse_by_lambda[best]) best = l;
    }
    const std::vector<double>& best_r = residuals[best];
    fit.lambda = o.lambdas[best];
    fit.cv_residuals = best_r;
    fit.cv_weighted_mse = fit.cv_weighted_mse_by_lambda[best];
    double moment = 0;
    for (size_t i = 0; i < n; ++i) moment += (best_r[i] * best_r[i] - s[i] * s[i]) / double(n);
    const double next = std::max(o.tau2_floor, moment);
    fit.iterations = it;
    const bool settled = std::abs(next - tau2) <= o.tolerance * std::max(tau2, o.tau2_floor);
    if (settled || it == o.max_iterations) {
      fit.converged = settled;
      break;
    }
    tau2 = next;
  }
  // tau2 is the value the final weights, lambda and residuals were computed with.
  fit.tau2 = tau2;
  fit.cv_mse = 0;
  for (double r : fit.cv_residuals) fit.cv_mse += r * r / double(n);
  fit.model = weighted_ridge(z, y, w, fit.lambda);
  return fit;
}

}  // namespace disa::anchor
