// The regressor file: the frozen partition-function regressor g(x) that `disa anchor
// fit` writes and `disa train` reads (docs/method.md §2, "The frozen partition-function
// regressor"; docs/formats.md). This header is its schema, its reader and writer, and
// the two functions training applies: g(x) from a prompt's raw features, and the
// precision-weighted shrinkage c(x).
//
//   /                    attrs: format="disa-regressor", format_version, status,
//                        reference_model, reference_fingerprint, tokenizer_fingerprint,
//                        beta, anchors (the residual form fitted: "logmeanexp"), task,
//                        max_new_tokens, features (their definition), feature_dim,
//                        standard_error (the partition files' diagnostic used as s),
//                        folds, lambda, lambda_grid, cv_weighted_mse_by_lambda, tau2,
//                        cv_mse, cv_weighted_mse, iterations, converged, num_prompts,
//                        source_files, source_fingerprints (JSON arrays),
//                        world_size, code_version, config, created
//   /model/coefficients  [d] float64: beta on standardised features
//   /model/feature_mean  [d] float64, /model/feature_scale [d] float64: z = (x - mean) / scale
//                        /model attr bias: g(x) = bias + z . coefficients
//   /prompts/id          [n] strings: the fitted prompts (in the order of the files)
//   /prompts/log_z_hat, /prompts/standard_error, /prompts/prediction (g, in sample),
//   /prompts/cv_prediction (out of fold), /prompts/shrinkage (c), /prompts/log_z_exact
//                        (the partition files' exact log Z, NaN if unknown) [n] float64,
//   /prompts/fold        [n] int64
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace disa::io::regressor {

inline constexpr const char* kFormat = "disa-regressor";
inline constexpr int64_t kFormatVersion = 1;

// The feature definition the stored coefficients belong to (attribute `features`);
// training computes the same features and refuses a file with another definition.
inline constexpr const char* kFeatureDefinition =
    "mean over the prompt tokens of the reference's final-norm hidden states (float32), standardised; plus a bias";
// The standard error s of an anchor: the partition file's /diagnostics/<this>.
inline constexpr const char* kStandardError = "delta_se";

// The precision-weighted (empirical-Bayes) combination of an anchor log_z_hat with
// standard error s and the regressor's g with residual variance tau2:
//   c = (log_z_hat / s^2 + g / tau^2) / (1 / s^2 + 1 / tau^2) = (tau^2 log_z_hat + s^2 g) / (s^2 + tau^2),
// written in the second form so that s = 0 gives log_z_hat and tau^2 = 0 gives g (both
// 0: log_z_hat).
inline double shrinkage(double log_z_hat, double s, double g, double tau2) {
  const double s2 = s * s;
  if (s2 + tau2 <= 0) return log_z_hat;
  return (tau2 * log_z_hat + s2 * g) / (s2 + tau2);
}

struct Provenance {
  std::string reference_model, reference_fingerprint, tokenizer_fingerprint;
  double beta = 0;
  std::string anchors, task;
  int64_t max_new_tokens = 0;
  std::string features, standard_error;
  int64_t feature_dim = 0, folds = 0, iterations = 0, num_prompts = 0;
  bool converged = false;
  double lambda = 0, tau2 = 0, cv_mse = 0, cv_weighted_mse = 0;
  std::vector<double> lambda_grid, cv_weighted_mse_by_lambda;
  std::string source_files, source_fingerprints;  // JSON arrays
  std::string code_version, config, created;
};

// The fitted prompts' table.
struct FittedPrompts {
  std::vector<std::string> ids;
  std::vector<double> log_z_hat, standard_error, prediction, cv_prediction, shrinkage, log_z_exact;
  std::vector<int64_t> fold;
};

struct Regressor {
  Provenance provenance;
  double bias = 0;
  std::vector<double> coefficients, feature_mean, feature_scale;
  // g(x) of a prompt's raw feature vector (DataError for another length).
  double predict(const std::vector<double>& features) const;
};

// Opens a finished regressor file (format and version checked; DataError if its arrays
// disagree in length).
Regressor read(const std::string& path);
FittedPrompts read_prompts(const std::string& path);

}  // namespace disa::io::regressor
