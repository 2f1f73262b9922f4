// The `disa anchor fit` driver (include/disa/anchor/fit_stage.hpp): options, the
// partition files and their agreement, the features, the fit on rank 0 and its
// broadcast, the regressor file and the summary.
#include "disa/anchor/fit_stage.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "disa/anchor/ridge.hpp"
#include "disa/core/config.hpp"
#include "disa/core/log.hpp"
#include "disa/core/option_table.hpp"
#include "disa/core/table.hpp"
#include "disa/dist/communicator.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/io/hdf5.hpp"
#include "disa/io/partition_file.hpp"
#include "disa/io/provenance.hpp"
#include "disa/io/regressor_file.hpp"
#include "disa/stage/compute.hpp"
#include "disa/stage/models.hpp"
#include "disa/stage/prompt_features.hpp"
#include "disa/tasks/dataset.hpp"

namespace disa::anchor {
namespace {

// The settings of `disa anchor fit`; the initialisers are the options' defaults.
struct Settings {
  std::string anchors, out, reference_dir;
  int64_t folds = 5, max_iterations = 20, batch_size = 32;
  std::string lambdas = "1e-3,1e-2,1e-1,1,10,100,1e3,1e4";
  double tolerance = 1e-6, tau2_floor = 1e-8;
  stage::ComputeSettings compute;
};

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

// The ridge-strength grid, or nullopt when a value is not a number > 0.
std::optional<std::vector<double>> parse_grid(const std::string& text) {
  std::vector<double> out;
  for (const auto& item : split_commas(text)) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      return std::nullopt;
    }
    if (used != item.size() || !(v > 0) || !std::isfinite(v)) return std::nullopt;
    out.push_back(v);
  }
  if (out.empty()) return std::nullopt;
  return out;
}

const core::OptionTable<Settings>& settings_table() {
  static const core::OptionTable<Settings> table = [] {
    core::OptionTable<Settings> t;
    t.text("fit.anchors", DISA_FIELD(anchors), "partition files of 'disa anchor', comma-separated (FILE[,FILE...])",
           core::required("the partition files to fit on"));
    t.text("fit.out", DISA_FIELD(out), "the regressor file to write", core::required("the regressor file to write"));
    t.text("fit.reference", DISA_FIELD(reference_dir),
           "the reference model directory (default: reference_model of the partition files; its fingerprint must "
           "match theirs)");
    t.integer("fit.folds", DISA_FIELD(folds), "K of the K-fold cross-validation over prompts (fold by prompt id)",
              core::at_least<int64_t>(2));
    t.text("fit.lambdas", DISA_FIELD(lambdas),
           "the ridge-strength grid, comma-separated, each > 0 (in units of prompts of unit weight)",
           {[](const std::string& v) { return parse_grid(v).has_value(); }, "must be comma-separated numbers > 0"});
    t.integer("fit.max-iterations", DISA_FIELD(max_iterations), "rounds of weights 1/(s^2 + tau^2) and tau^2",
              core::at_least<int64_t>(1));
    t.real("fit.tolerance", DISA_FIELD(tolerance), "stop when tau^2 changes by at most this fraction",
           core::at_least(0.0));
    t.real("fit.tau2-floor", DISA_FIELD(tau2_floor), "lower bound of tau^2 (keeps the weights finite)",
           core::above(0.0));
    t.integer("fit.batch-size", DISA_FIELD(batch_size), "prompts per forward pass of the feature extraction",
              core::at_least<int64_t>(1));
    t.include(DISA_FIELD(compute), stage::compute_option_table("fit"));
    return t;
  }();
  return table;
}

// One partition file's prompts, as the fit uses them.
struct Source {
  std::string path, fingerprint;
  io::partition::Provenance provenance;
  std::vector<std::string> ids;
  std::vector<std::vector<int32_t>> tokens;
  std::vector<double> log_z_hat, se, exact;
};

Source read_source(const std::string& path) {
  auto reader = io::partition::Reader::open(path);
  Source s;
  s.path = path;
  s.provenance = reader.provenance();
  s.ids = reader.prompt_ids();
  s.tokens = reader.prompt_tokens();
  s.log_z_hat = reader.anchors(io::partition::kSequenceAnchor);
  s.se = reader.diagnostic(io::regressor::kStandardError);
  s.exact = reader.exact_log_z();
  for (size_t p = 0; p < s.ids.size(); ++p) {
    DISA_CHECK(std::isfinite(s.log_z_hat[p]), DataError, "partition file '{}': prompt '{}' has anchor {}", path,
               s.ids[p], s.log_z_hat[p]);
    DISA_CHECK(std::isfinite(s.se[p]) && s.se[p] >= 0, DataError,
               "partition file '{}': prompt '{}' has standard error ({}) {}", path, s.ids[p],
               io::regressor::kStandardError, s.se[p]);
  }
  // What the fit takes from the file, independent of where the file lies.
  std::string all = s.provenance.reference_fingerprint + '\x1f' + reader.file().attr_string("/", "created");
  for (size_t p = 0; p < s.ids.size(); ++p)
    all += fmt::format("\x1e{}\x1f{:a}\x1f{:a}", s.ids[p], s.log_z_hat[p], s.se[p]);
  s.fingerprint = fmt::format("{:016x}", tasks::fnv1a64(all));
  return s;
}

// Every file must agree with the first on what log Z means and on the model.
void check_agreement(const std::vector<Source>& sources) {
  const auto& a = sources[0].provenance;
  std::vector<std::string> problems;
  for (size_t i = 1; i < sources.size(); ++i) {
    const auto& b = sources[i].provenance;
    const std::string& pa = sources[0].path;
    const std::string& pb = sources[i].path;
    if (b.reference_fingerprint != a.reference_fingerprint)
      problems.push_back(fmt::format("reference model: '{}' was anchored on {} (fingerprint {}), '{}' on {} ({})", pa,
                                     a.reference_model, a.reference_fingerprint, pb, b.reference_model,
                                     b.reference_fingerprint));
    if (b.tokenizer_fingerprint != a.tokenizer_fingerprint)
      problems.push_back(fmt::format("tokenizer: '{}' has fingerprint {}, '{}' has {}", pa, a.tokenizer_fingerprint, pb,
                                     b.tokenizer_fingerprint));
    if (b.beta != a.beta) problems.push_back(fmt::format("beta: '{}' has {}, '{}' has {}", pa, a.beta, pb, b.beta));
    if (b.task != a.task)
      problems.push_back(fmt::format("task: '{}' is for '{}', '{}' for '{}'", pa, a.task, pb, b.task));
    if (b.max_new_tokens != a.max_new_tokens)
      problems.push_back(
          fmt::format("max_new_tokens: '{}' has {}, '{}' has {}", pa, a.max_new_tokens, pb, b.max_new_tokens));
  }
  if (!problems.empty()) {
    std::string msg;
    for (const auto& s : problems) msg += "\n  - " + s;
    DISA_THROW(ConfigError, "option --fit.anchors: the partition files do not agree:{}", msg);
  }
}

// The fit as the doubles rank 0 broadcasts: scalars, then the arrays.
std::vector<double> pack(const RegressorFit& f) {
  std::vector<double> v{f.model.bias,           f.lambda, f.tau2, f.cv_mse, f.cv_weighted_mse, double(f.iterations),
                        f.converged ? 1.0 : 0.0};
  for (const auto* a : {&f.model.coefficients, &f.standardisation.mean, &f.standardisation.scale,
                        &f.cv_weighted_mse_by_lambda, &f.cv_residuals})
    v.insert(v.end(), a->begin(), a->end());
  return v;
}

RegressorFit unpack(const std::vector<double>& v, size_t d, size_t lambdas, size_t n) {
  DISA_CHECK(v.size() == 7 + 3 * d + lambdas + n, DataError, "regressor fit: broadcast of {} values", v.size());
  RegressorFit f;
  f.model.bias = v[0];
  f.lambda = v[1];
  f.tau2 = v[2];
  f.cv_mse = v[3];
  f.cv_weighted_mse = v[4];
  f.iterations = int(v[5]);
  f.converged = v[6] != 0;
  size_t at = 7;
  auto take = [&](size_t count) {
    std::vector<double> out(v.begin() + long(at), v.begin() + long(at + count));
    at += count;
    return out;
  };
  f.model.coefficients = take(d);
  f.standardisation.mean = take(d);
  f.standardisation.scale = take(d);
  f.cv_weighted_mse_by_lambda = take(lambdas);
  f.cv_residuals = take(n);
  return f;
}

}  // namespace

void add_fit_options(core::Options& o) { settings_table().declare(o); }

std::string run_fit(const core::Config& config, dist::MpiContext& mpi) {
  const Settings s = settings_table().read(config);
  const auto grid = *parse_grid(s.lambdas);
  auto comm = dist::make_mpi_communicator(mpi.world());

  // Inputs, all checked before any output exists.
  std::vector<Source> sources;
  for (const auto& path : split_commas(s.anchors)) sources.push_back(read_source(path));
  DISA_CHECK(!sources.empty(), ConfigError, "option --fit.anchors: no partition file named");
  check_agreement(sources);
  const auto& prov = sources[0].provenance;
  const std::string reference_dir = s.reference_dir.empty() ? prov.reference_model : s.reference_dir;
  const auto device = stage::setup_compute(mpi, s.compute);
  // float32 as `disa train` computes the features of its prompts (stage/prompt_features.hpp).
  auto models =
      stage::load_models({"fit.reference", "reference", reference_dir, ""}, std::nullopt, "", device, torch::kFloat32);
  auto reference = models.first;
  reference->eval();
  DISA_CHECK(reference->fingerprint == prov.reference_fingerprint, ConfigError,
             "option --fit.reference: '{}' has fingerprint {}, the partition files were anchored on '{}' "
             "(fingerprint {})",
             reference_dir, reference->fingerprint, prov.reference_model, prov.reference_fingerprint);
  DISA_CHECK(models.tokenizer->fingerprint() == prov.tokenizer_fingerprint, ConfigError,
             "option --fit.reference: the tokenizer of '{}' has fingerprint {}, the partition files' is {}",
             reference_dir, models.tokenizer->fingerprint(), prov.tokenizer_fingerprint);

  std::vector<std::string> ids;
  std::vector<std::vector<int32_t>> tokens;
  std::vector<double> y, se, exact;
  std::vector<int> fold;
  for (const auto& src : sources)
    for (size_t p = 0; p < src.ids.size(); ++p) {
      ids.push_back(src.ids[p]);
      tokens.push_back(src.tokens[p]);
      y.push_back(src.log_z_hat[p]);
      se.push_back(src.se[p]);
      exact.push_back(src.exact[p]);
      fold.push_back(fold_of(src.ids[p], int(s.folds)));
    }
  const size_t n = ids.size();
  DISA_CHECK(n >= 2, DataError, "option --fit.anchors: {} anchored prompt(s); the fit needs at least 2", n);
  core::log::info("fit: {} prompts from {} partition file(s); features of '{}' on {} rank(s)", n, sources.size(),
                  reference_dir, comm->size());

  const auto features = stage::prompt_features(*reference, tokens, s.batch_size, *comm);
  const size_t d = features[0].size();

  // The solve, once, on rank 0; every rank then holds its result for the collective write.
  RegressorFitOptions options;
  options.folds = int(s.folds);
  options.lambdas = grid;
  options.max_iterations = int(s.max_iterations);
  options.tolerance = s.tolerance;
  options.tau2_floor = s.tau2_floor;
  std::vector<double> packed;
  if (comm->rank() == 0) packed = pack(fit_regressor(features, y, se, fold, options));
  comm->broadcast(packed, 0);
  const RegressorFit fit = unpack(packed, d, grid.size(), n);
  if (!fit.converged)
    core::log::warn("fit: tau^2 did not settle within {} rounds (fit.max-iterations); the last value is used",
                    s.max_iterations);

  std::vector<double> prediction(n), cv_prediction(n), shrunk(n);
  std::vector<int64_t> fold64(n);
  for (size_t i = 0; i < n; ++i) {
    prediction[i] = fit.model.predict(fit.standardisation.apply(features[i]));
    cv_prediction[i] = y[i] - fit.cv_residuals[i];
    shrunk[i] = io::regressor::shrinkage(y[i], se[i], prediction[i], fit.tau2);
    fold64[i] = fold[i];
  }

  nlohmann::json files = nlohmann::json::array(), fingerprints = nlohmann::json::array();
  for (const auto& src : sources) files.push_back(src.path), fingerprints.push_back(src.fingerprint);
  auto f = io::h5::File::create(s.out, comm->comm(), io::regressor::kFormat, io::regressor::kFormatVersion);
  f.set_attr("/", "reference_model", reference_dir);
  f.set_attr("/", "reference_fingerprint", prov.reference_fingerprint);
  f.set_attr("/", "tokenizer_fingerprint", prov.tokenizer_fingerprint);
  f.set_attr("/", "beta", prov.beta);
  f.set_attr("/", "anchors", std::string(io::partition::kSequenceAnchor));
  f.set_attr("/", "task", prov.task);
  f.set_attr("/", "max_new_tokens", prov.max_new_tokens);
  f.set_attr("/", "features", std::string(io::regressor::kFeatureDefinition));
  f.set_attr("/", "feature_dim", int64_t(d));
  f.set_attr("/", "standard_error", std::string(io::regressor::kStandardError));
  f.set_attr("/", "folds", s.folds);
  f.set_attr("/", "lambda", fit.lambda);
  f.set_attr("/", "lambda_grid", grid);
  f.set_attr("/", "cv_weighted_mse_by_lambda", fit.cv_weighted_mse_by_lambda);
  f.set_attr("/", "tau2", fit.tau2);
  f.set_attr("/", "cv_mse", fit.cv_mse);
  f.set_attr("/", "cv_weighted_mse", fit.cv_weighted_mse);
  f.set_attr("/", "iterations", int64_t(fit.iterations));
  f.set_attr("/", "converged", int64_t(fit.converged ? 1 : 0));
  f.set_attr("/", "num_prompts", int64_t(n));
  f.set_attr("/", "source_files", files.dump());
  f.set_attr("/", "source_fingerprints", fingerprints.dump());
  io::write_run_provenance(f, config, *comm);
  f.create_group("/model");
  f.set_attr("/model", "bias", fit.model.bias);
  f.write_root("/model/coefficients", fit.model.coefficients);
  f.write_root("/model/feature_mean", fit.standardisation.mean);
  f.write_root("/model/feature_scale", fit.standardisation.scale);
  f.create_group("/prompts");
  f.write_strings("/prompts/id", comm->rank() == 0 ? ids : std::vector<std::string>{});
  f.write_root("/prompts/log_z_hat", y);
  f.write_root("/prompts/standard_error", se);
  f.write_root("/prompts/prediction", prediction);
  f.write_root("/prompts/cv_prediction", cv_prediction);
  f.write_root("/prompts/shrinkage", shrunk);
  f.write_root("/prompts/log_z_exact", exact);
  f.write_root("/prompts/fold", fold64);
  f.commit();

  if (mpi.is_root()) {
    double mean_s2 = 0, ymean = 0, yvar = 0;
    for (size_t i = 0; i < n; ++i) mean_s2 += se[i] * se[i] / double(n), ymean += y[i] / double(n);
    for (size_t i = 0; i < n; ++i) yvar += (y[i] - ymean) * (y[i] - ymean) / double(n);
    core::Table t("disa anchor fit: summary");
    t.row("regressor file", s.out);
    t.row("prompts / partition files", fmt::format("{} / {}", n, sources.size()));
    t.row("features", fmt::format("{} (hidden states of '{}')", d, reference_dir));
    t.row("ridge strength lambda", fmt::format("{:g} (grid {})", fit.lambda, s.lambdas));
    t.row("tau^2 (residual variance)",
          fmt::format("{:.6g} ({} rounds{})", fit.tau2, fit.iterations, fit.converged ? "" : ", not settled"));
    t.row("cross-validated MSE",
          fmt::format("{:.6g} (weighted {:.6g}; {} folds)", fit.cv_mse, fit.cv_weighted_mse, s.folds));
    t.row("variance of log Zhat / mean s^2", fmt::format("{:.6g} / {:.6g}", yvar, mean_s2));
    std::fputs(t.render().c_str(), stderr);
  }
  return s.out;
}

}  // namespace disa::anchor
