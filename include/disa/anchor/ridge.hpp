// The math of the frozen partition-function regressor (docs/method.md §2, "The frozen
// partition-function regressor"; `disa anchor fit`), as pure functions on plain vectors:
//  * feature standardisation (mean 0, scale 1 per column; a constant column keeps
//    scale 1);
//  * weighted ridge regression with an unpenalised bias,
//      minimise  sum_i w_i (y_i - b - z_i . beta)^2 + lambda |beta|^2,
//    the weights normalised to sum to the number of rows, so lambda counts "prompts of
//    unit weight" whatever the scale of the weights; solved in the primal (d x d) or the
//    dual (n x n) form, whichever is smaller, by Cholesky;
//  * K-fold cross-validation over prompts with a deterministic fold per prompt id;
//  * the empirical-Bayes loop: weights w_i = 1 / (s_i^2 + tau^2), lambda by
//    cross-validation, tau^2 by the method of moments on the cross-validated residuals
//    (E[r_i^2] = tau^2 + s_i^2), repeated until tau^2 settles.
// The shrinkage c(x) that training applies lives with the file format
// (io/regressor_file.hpp), since training does not link this library.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace disa::anchor {

// Rows of features: rows[i] is prompt i's feature vector (all of one length).
using FeatureRows = std::vector<std::vector<double>>;

struct Standardisation {
  std::vector<double> mean, scale;  // z_j = (x_j - mean_j) / scale_j
  std::vector<double> apply(const std::vector<double>& x) const;
};
// Column means and (population) standard deviations of `rows`; scale 1 for a column
// whose standard deviation is 0 (or below 1e-12 of its mean's magnitude).
Standardisation fit_standardisation(const FeatureRows& rows);

struct LinearModel {
  double bias = 0;
  std::vector<double> coefficients;  // on standardised features
  double predict(const std::vector<double>& z) const;
};

// The weighted ridge solutions for every lambda of `lambdas` (the Gram matrix built once).
std::vector<LinearModel> weighted_ridge_path(const FeatureRows& z, const std::vector<double>& y,
                                             const std::vector<double>& w, const std::vector<double>& lambdas);
// The weighted ridge solution on standardised rows `z`, targets `y`, weights `w` > 0
// (normalised inside to sum to the row count), lambda > 0. DataError if the rows are
// empty or differ in length.
LinearModel weighted_ridge(const FeatureRows& z, const std::vector<double>& y, const std::vector<double>& w,
                           double lambda);

// The fold of a prompt id among k folds: a hash of the id alone (FNV-1a, then the
// splitmix64 finaliser), so a prompt keeps its fold whatever else is in the files.
int fold_of(const std::string& prompt_id, int k);

// Out-of-fold residuals y_i - g_{-fold(i)}(z_i) of the weighted ridge with `lambda`,
// fold[i] in [0, k). A fold's model is fitted on the rows of all other folds; DataError
// when fewer than 2 folds hold rows.
std::vector<double> cross_validated_residuals(const FeatureRows& z, const std::vector<double>& y,
                                              const std::vector<double>& w, const std::vector<int>& fold, int k,
                                              double lambda);

// The same for every lambda of `lambdas`: result[l][i].
std::vector<std::vector<double>> cross_validated_residuals_path(const FeatureRows& z, const std::vector<double>& y,
                                                                const std::vector<double>& w,
                                                                const std::vector<int>& fold, int k,
                                                                const std::vector<double>& lambdas);

struct RegressorFitOptions {
  int folds = 5;
  std::vector<double> lambdas{1e-3, 1e-2, 1e-1, 1, 10, 100, 1e3, 1e4};  // all > 0
  int max_iterations = 20;                                              // weight / tau^2 rounds
  double tolerance = 1e-6;   // stop when |tau^2 change| <= tolerance * max(tau^2, tau2_floor)
  double tau2_floor = 1e-8;  // tau^2 >= this (keeps the weights finite when every s_i is 0)
};

struct RegressorFit {
  Standardisation standardisation;
  LinearModel model;  // fitted on every prompt, with the final weights
  double lambda = 0, tau2 = 0;
  // Cross-validated error at the chosen lambda (final weights): mean r_i^2 and
  // sum w_i r_i^2 / sum w_i.
  double cv_mse = 0, cv_weighted_mse = 0;
  std::vector<double> cv_weighted_mse_by_lambda;  // the selection criterion, by lambda (final round)
  std::vector<double> cv_residuals;               // r_i at the chosen lambda
  int iterations = 0;
  bool converged = false;
};

// The empirical-Bayes fit of raw feature rows `x` to anchors `y` with standard errors `s`
// (>= 0): standardise, start from tau^2 = max(floor, var(y) - mean(s^2)) (the moment
// estimate of a constant regressor), then repeat: weights 1 / (s^2 + tau^2), lambda
// minimising the weighted cross-validated error (the first of equal ones in grid order),
// tau^2 = max(floor, mean(r^2 - s^2)) over its cross-validated residuals r, until tau^2
// settles or max_iterations. ConfigError for a bad option, DataError for bad data.
RegressorFit fit_regressor(const FeatureRows& x, const std::vector<double>& y, const std::vector<double>& s,
                           const std::vector<int>& fold, const RegressorFitOptions& options);

}  // namespace disa::anchor
