// The regressor file's reader (include/disa/io/regressor_file.hpp); `disa anchor fit`
// writes it through h5::File with the names declared there.
#include "disa/io/regressor_file.hpp"

#include <cmath>

#include "disa/core/error.hpp"
#include "disa/io/hdf5.hpp"

namespace disa::io::regressor {

double Regressor::predict(const std::vector<double>& x) const {
  DISA_CHECK(x.size() == coefficients.size(), DataError,
             "regressor: a prompt has {} features, the regressor was fitted on {} (another model?)", x.size(),
             coefficients.size());
  double g = bias;
  for (size_t j = 0; j < x.size(); ++j) g += coefficients[j] * (x[j] - feature_mean[j]) / feature_scale[j];
  return g;
}

Regressor read(const std::string& path) {
  auto f = h5::File::open(path, kFormat, kFormatVersion);
  Regressor r;
  auto& p = r.provenance;
  p.reference_model = f.attr_string("/", "reference_model");
  p.reference_fingerprint = f.attr_string("/", "reference_fingerprint");
  p.tokenizer_fingerprint = f.attr_string("/", "tokenizer_fingerprint");
  p.beta = f.attr_double("/", "beta");
  p.anchors = f.attr_string("/", "anchors");
  p.task = f.attr_string("/", "task");
  p.max_new_tokens = f.attr_int("/", "max_new_tokens");
  p.features = f.attr_string("/", "features");
  p.standard_error = f.attr_string("/", "standard_error");
  p.feature_dim = f.attr_int("/", "feature_dim");
  p.folds = f.attr_int("/", "folds");
  p.iterations = f.attr_int("/", "iterations");
  p.num_prompts = f.attr_int("/", "num_prompts");
  p.converged = f.attr_int("/", "converged") != 0;
  p.lambda = f.attr_double("/", "lambda");
  p.tau2 = f.attr_double("/", "tau2");
  p.cv_mse = f.attr_double("/", "cv_mse");
  p.cv_weighted_mse = f.attr_double("/", "cv_weighted_mse");
  p.lambda_grid = f.attr_doubles("/", "lambda_grid");
  p.cv_weighted_mse_by_lambda = f.attr_doubles("/", "cv_weighted_mse_by_lambda");
  p.source_files = f.attr_string("/", "source_files");
  p.source_fingerprints = f.attr_string("/", "source_fingerprints");
  p.code_version = f.attr_string("/", "code_version");
  p.config = f.attr_string("/", "config");
  p.created = f.attr_string("/", "created");
  r.bias = f.attr_double("/model", "bias");
  r.coefficients = f.read<double>("/model/coefficients");
  r.feature_mean = f.read<double>("/model/feature_mean");
  r.feature_scale = f.read<double>("/model/feature_scale");
  const size_t d = size_t(p.feature_dim);
  DISA_CHECK(r.coefficients.size() == d && r.feature_mean.size() == d && r.feature_scale.size() == d, DataError,
             "regressor file '{}': feature_dim {} but {} coefficients, {} means, {} scales", path, d,
             r.coefficients.size(), r.feature_mean.size(), r.feature_scale.size());
  for (size_t j = 0; j < d; ++j)
    DISA_CHECK(r.feature_scale[j] > 0 && std::isfinite(r.coefficients[j]) && std::isfinite(r.feature_mean[j]),
               DataError, "regressor file '{}': feature {} has scale {}, mean {}, coefficient {}", path, j,
               r.feature_scale[j], r.feature_mean[j], r.coefficients[j]);
  return r;
}

FittedPrompts read_prompts(const std::string& path) {
  auto f = h5::File::open(path, kFormat, kFormatVersion);
  FittedPrompts t;
  t.ids = f.read_strings("/prompts/id");
  t.log_z_hat = f.read<double>("/prompts/log_z_hat");
  t.standard_error = f.read<double>("/prompts/standard_error");
  t.prediction = f.read<double>("/prompts/prediction");
  t.cv_prediction = f.read<double>("/prompts/cv_prediction");
  t.shrinkage = f.read<double>("/prompts/shrinkage");
  t.log_z_exact = f.read<double>("/prompts/log_z_exact");
  t.fold = f.read<int64_t>("/prompts/fold");
  return t;
}

}  // namespace disa::io::regressor
