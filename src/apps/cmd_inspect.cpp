// `disa inspect FILE.h5`: what any file disa writes holds, without Python: the format,
// version and status, the provenance attributes, and a summary by format —
//   disa-partition: prompts x samples, anchors vs exact log Z, ESS/N and k_hat
//                   quantiles, flagged prompts by flag;
//   disa-train:     steps recorded, the last, best and mean value of every metric,
//                   checkpoints;
//   disa-eval:      the benchmark table (mean ± se of the headline metrics);
//   disa-regressor: the fit (lambda, tau^2, cross-validated error), and over the fitted
//                   prompts g(x), the shrinkage c(x) and, where the partition files had
//                   it, their error to the exact log Z.
// --inspect.config also prints the stored resolved configuration.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include <fmt/format.h>

#include "command.hpp"
#include "disa/core/table.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/io/hdf5.hpp"
#include "disa/io/partition_file.hpp"
#include "disa/io/regressor_file.hpp"

namespace disa::apps {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Linear-interpolated quantile of the finite values (NaN when there are none).
double quantile(std::vector<double> v, double q) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const double pos = q * double(v.size() - 1);
  const size_t lo = size_t(std::floor(pos)), hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - double(lo));
}

std::string quantiles(const std::vector<double>& v) {
  std::string out;
  for (double q : {0.05, 0.25, 0.5, 0.75, 0.95})
    out += fmt::format("{}{:.3f}", out.empty() ? "" : " / ", quantile(v, q));
  return out;
}

size_t count_finite(const std::vector<double>& v) {
  return size_t(std::count_if(v.begin(), v.end(), [](double x) { return std::isfinite(x); }));
}

void summarize_partition(const io::h5::File& f, core::Table& t) {
  const auto ids = f.read_strings("/prompts/id");
  const int64_t P = int64_t(ids.size());
  const int64_t T = f.shape("/trajectories/prompt_index").at(0);
  t.section("partition file");
  t.row("prompts x samples", fmt::format("{} x {} = {} trajectories", P, f.attr_int("/", "samples_per_prompt"), T));
  const auto hat = f.read<double>("/anchors/log_z_hat");
  const auto exact = f.read<double>("/anchors/log_z_exact");
  t.row("log Zhat quantiles 5/25/50/75/95%", quantiles(hat));
  double abs_err = 0, max_err = 0, bias = 0;
  int64_t n_exact = 0;
  for (int64_t p = 0; p < P; ++p)
    if (std::isfinite(exact[size_t(p)]) && std::isfinite(hat[size_t(p)])) {
      const double e = hat[size_t(p)] - exact[size_t(p)];
      abs_err += std::abs(e);
      bias += e;
      max_err = std::max(max_err, std::abs(e));
      ++n_exact;
    }
  if (n_exact > 0)
    t.row("log Zhat - log Z (exact)", fmt::format("mean {:+.4f}, mean |.| {:.4f}, max |.| {:.4f} over {} prompts",
                                                  bias / double(n_exact), abs_err / double(n_exact), max_err, n_exact));
  else
    t.row("log Zhat - log Z (exact)", "no exact log Z (task does not list its solutions)");
  const auto ess = f.read<double>("/diagnostics/ess_fraction");
  const auto k_hat = f.read<double>("/diagnostics/k_hat");
  const auto pass = f.read<double>("/diagnostics/pass_rate");
  t.row("ESS/N quantiles 5/25/50/75/95%", quantiles(ess));
  t.row("k_hat quantiles 5/25/50/75/95%",
        fmt::format("{} ({} of {} prompts assessable)", quantiles(k_hat), count_finite(k_hat), P));
  t.row("pass rate quantiles 5/25/50/75/95%", quantiles(pass));
  const auto flags = f.read<int64_t>("/diagnostics/flags");
  auto flagged = [&](int64_t bit) {
    return std::count_if(flags.begin(), flags.end(), [bit](int64_t x) { return (x & bit) != 0; });
  };
  t.row(
      "flagged prompts",
      fmt::format("all wrong {}, k_hat above threshold {}, k_hat not assessable {}, truncated proposal {}, no exact {} "
                  "(of {})",
                  flagged(io::partition::kAllWrong), flagged(io::partition::kHeavyTail),
                  flagged(io::partition::kTailNotAssessable), flagged(io::partition::kTruncatedProposal),
                  flagged(io::partition::kNoExact), P));
}

void summarize_regressor(const std::string& path, core::Table& t) {
  const auto r = io::regressor::read(path);
  const auto& p = r.provenance;
  const auto fitted = io::regressor::read_prompts(path);
  t.section("regressor");
  t.row("prompts x features", fmt::format("{} x {}", fitted.ids.size(), r.coefficients.size()));
  t.row("lambda (grid)", fmt::format("{:g} ({})", p.lambda, fmt::join(p.lambda_grid, ", ")));
  t.row("tau^2", fmt::format("{:.6g} ({} rounds{})", p.tau2, p.iterations, p.converged ? "" : ", not settled"));
  t.row("cross-validated MSE (weighted)",
        fmt::format("{:.6g} ({:.6g}), {} folds", p.cv_mse, p.cv_weighted_mse, p.folds));
  std::vector<double> s2;
  for (double s : fitted.standard_error) s2.push_back(s * s);
  t.row("s^2 quantiles 5/25/50/75/95%", quantiles(s2));
  t.row("g(x) quantiles 5/25/50/75/95%", quantiles(fitted.prediction));
  t.row("c(x) - log Zhat quantiles", [&] {
    std::vector<double> d;
    for (size_t i = 0; i < fitted.shrinkage.size(); ++i) d.push_back(fitted.shrinkage[i] - fitted.log_z_hat[i]);
    return quantiles(d);
  }());
  // Against the exact log Z (listable tasks): mean squared error of each anchor.
  double raw = 0, g = 0, g_cv = 0, c = 0;
  int64_t n = 0;
  for (size_t i = 0; i < fitted.ids.size(); ++i) {
    const double z = fitted.log_z_exact[i];
    if (!std::isfinite(z)) continue;
    raw += std::pow(fitted.log_z_hat[i] - z, 2);
    g += std::pow(fitted.prediction[i] - z, 2);
    g_cv += std::pow(fitted.cv_prediction[i] - z, 2);
    c += std::pow(fitted.shrinkage[i] - z, 2);
    ++n;
  }
  if (n > 0)
    t.row("MSE to exact log Z: raw / g / g out-of-fold / c",
          fmt::format("{:.4g} / {:.4g} / {:.4g} / {:.4g} over {} prompts", raw / double(n), g / double(n),
                      g_cv / double(n), c / double(n), n));
  else
    t.row("MSE to exact log Z", "no exact log Z in the partition files");
}

// Adds rows to `t`; returns the metrics grid printed after it.
std::string summarize_train(const io::h5::File& f, core::Table& t) {
  const auto steps = f.read<int64_t>("/metrics/step");
  t.section("training metrics");
  t.row("steps recorded",
        steps.empty() ? "none" : fmt::format("{} (steps {}..{})", steps.size(), steps.front() + 1, steps.back() + 1));
  const auto ckpt = f.exists("/checkpoints/step") ? f.read<int64_t>("/checkpoints/step") : std::vector<int64_t>{};
  std::string ck;
  for (int64_t s : ckpt) ck += (ck.empty() ? "" : ", ") + std::to_string(s);
  t.row("checkpoints (after step)", ck.empty() ? "none" : ck);
  std::vector<std::vector<std::string>> rows;
  for (const auto& name : f.list("/metrics")) {
    if (name == "step") continue;
    const auto v = f.read<double>("/metrics/" + name);
    double last = kNaN, lo = kNaN, hi = kNaN, sum = 0;
    int64_t n = 0, at_lo = -1, at_hi = -1;
    for (size_t i = 0; i < v.size(); ++i) {
      if (!std::isfinite(v[i])) continue;
      last = v[i];
      if (!(v[i] >= lo)) lo = v[i], at_lo = steps[i] + 1;
      if (!(v[i] <= hi)) hi = v[i], at_hi = steps[i] + 1;
      sum += v[i];
      ++n;
    }
    if (n == 0) continue;
    rows.push_back({name, fmt::format("{:.5g}", last), fmt::format("{:.5g} (step {})", lo, at_lo),
                    fmt::format("{:.5g} (step {})", hi, at_hi), fmt::format("{:.5g}", sum / double(n))});
  }
  return core::render_grid({"metric", "last", "min", "max", "mean"}, rows);
}

// Adds rows to `t`; returns the benchmark table printed after it.
std::string summarize_eval(const io::h5::File& f, core::Table& t) {
  const auto rows = f.read_strings("/summary/row");
  const auto prompts = f.read<int64_t>("/summary/prompts");
  const std::string metrics = f.attr_string("/summary", "metrics");
  t.section("evaluation");
  t.row("samples per prompt (k)", std::to_string(f.attr_int("/", "samples_per_prompt")));
  t.row("model", f.attr_string("/", "model"));
  std::vector<std::string> wanted{"mean_at_k", "pass_at_1"};
  std::vector<std::string> all;
  for (size_t s = 0, e; s <= metrics.size(); s = e + 1) {
    e = metrics.find(',', s);
    if (e == std::string::npos) e = metrics.size();
    all.push_back(metrics.substr(s, e - s));
  }
  const std::string pass_k = "pass_at_" + std::to_string(f.attr_int("/", "samples_per_prompt"));
  for (const std::string m :
       {pass_k.c_str(), "distinct_correct", "judge_strategies", "policy_mass", "kl", "tv", "coverage", "mean_length"})
    if (std::find(all.begin(), all.end(), m) != all.end() && m != "pass_at_1") wanted.push_back(m);
  std::vector<std::string> header{"benchmark", "prompts"};
  for (const auto& m : wanted) header.push_back(m);
  std::vector<std::vector<double>> means, ses;  // [metric][row]
  for (const auto& m : wanted) {
    means.push_back(f.read<double>("/summary/" + m + "/mean"));
    ses.push_back(f.read<double>("/summary/" + m + "/se"));
  }
  std::vector<std::vector<std::string>> grid;
  for (size_t r = 0; r < rows.size(); ++r) {
    std::vector<std::string> row{rows[r], std::to_string(prompts[r])};
    for (size_t k = 0; k < wanted.size(); ++k) {
      const double mean = means[k][r], se = ses[k][r];
      row.push_back(!std::isfinite(mean) ? "-"
                    : std::isfinite(se)  ? fmt::format("{:.3f} ± {:.3f}", mean, se)
                                         : fmt::format("{:.3f}", mean));
    }
    grid.push_back(std::move(row));
  }
  return core::render_grid(header, grid);
}

int run_inspect(const std::vector<std::string>& args, dist::MpiContext& mpi) {
  core::Options options(
      "inspect",
      "Summarise a file written by disa (partition file, regressor file, train.h5, eval.h5): format, provenance "
      "and the figures that matter.");
  options.add_positional("inspect.file", "the HDF5 file (also a NAME.incomplete one)", 1);
  options.add_bool("inspect.config", false, "also print the stored resolved configuration");
  auto config = parse_command(options, args, mpi, /*quiet=*/true);
  if (!config) return 0;
  const auto files = config->get_list("inspect.file");
  config->require(files.size() == 1, "inspect.file", "give exactly one file");
  if (!mpi.is_root()) return 0;
  const std::string path = files[0];
  io::h5::File f = io::h5::File::open(path);
  DISA_CHECK(f.has_attr("/", "format"), IoError, "'{}' has no 'format' attribute: not a file written by disa", path);
  const std::string format = f.attr_string("/", "format");
  core::Table t("disa inspect: " + path);
  t.row("format", fmt::format("{} version {}", format, f.attr_int("/", "format_version")));
  t.row("status", f.has_attr("/", "status") ? f.attr_string("/", "status") : "?");
  t.section("provenance");
  std::string stored_config;
  for (const auto& [name, value] : f.attrs_as_text("/")) {
    if (name == "format" || name == "format_version" || name == "status") continue;
    if (name == "config") {
      stored_config = value;
      t.row("config",
            fmt::format("{} lines (--inspect.config prints them)", std::count(value.begin(), value.end(), '\n')));
      continue;
    }
    if (name == "judge_prompt_template") {
      t.row(name, fmt::format("{} characters", value.size()));
      continue;
    }
    // Long values (resume keys, proposal descriptions) are cut to keep the table readable.
    t.row(name, value.size() <= 100 ? value : fmt::format("{}... ({} characters)", value.substr(0, 90), value.size()));
  }
  std::string after;
  if (format == io::partition::kFormat)
    summarize_partition(f, t);
  else if (format == "disa-train")
    after = summarize_train(f, t);
  else if (format == "disa-eval")
    after = summarize_eval(f, t);
  else if (format == io::regressor::kFormat)
    summarize_regressor(path, t);
  else {
    std::string groups;
    for (const auto& g : f.list("/")) groups += (groups.empty() ? "" : ", ") + g;
    t.row("groups", groups + " (no summary for this format)");
  }
  std::fputs(t.render().c_str(), stdout);
  std::fputs(after.c_str(), stdout);
  if (config->get_bool("inspect.config")) std::fputs(stored_config.c_str(), stdout);
  return 0;
}

}  // namespace

DISA_REGISTER_COMMAND("inspect", "summarise any file disa writes (partition, regressor, train, eval)", run_inspect);

}  // namespace disa::apps
