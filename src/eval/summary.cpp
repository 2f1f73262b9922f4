// The evaluation results table (include/disa/eval/summary.hpp): aggregation over
// prompts and benchmarks, reading eval.h5's /summary group, and rendering.
#include "disa/eval/summary.hpp"

#include <cmath>
#include <map>

#include <fmt/format.h>

#include "disa/core/error.hpp"
#include "disa/core/table.hpp"
#include "disa/io/hdf5.hpp"

namespace disa::eval {

using stage::macro_average;
using stage::mean_se;
using stage::pass_at_levels;
namespace {
nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(); }
}  // namespace

const MeanSe* EvalSummary::find(const std::string& metric, const std::string& row) const {
  auto it = values.find(metric);
  if (it == values.end()) return nullptr;
  for (size_t r = 0; r < rows.size(); ++r)
    if (rows[r] == row) return r < it->second.size() ? &it->second[r] : nullptr;
  return nullptr;
}

std::vector<std::string> prompt_metric_names(int64_t k) {
  std::vector<std::string> names{"n_correct", "mean_at_k", "mean_reward"};
  for (int64_t j : pass_at_levels(k)) names.push_back(fmt::format("pass_at_{}", j));
  for (const char* n :
       {"distinct_correct", "distinct_answers", "mean_length", "mean_correct_length", "truncated_fraction",
        "judge_strategies", "solutions", "policy_mass", "reference_mass", "kl", "tv", "coverage"})
    names.push_back(n);
  return names;
}

std::string metric_label(const std::string& metric, int64_t k) {
  if (metric == "mean_at_k") return k > 0 ? fmt::format("Mean@{}", k) : std::string("Mean@k");
  if (metric.rfind("pass_at_", 0) == 0) return "Pass@" + metric.substr(8);
  static const std::map<std::string, std::string> labels{{"n_correct", "correct"},
                                                         {"mean_reward", "reward"},
                                                         {"distinct_correct", "distinct correct"},
                                                         {"distinct_answers", "distinct answers"},
                                                         {"mean_length", "length"},
                                                         {"mean_correct_length", "correct length"},
                                                         {"truncated_fraction", "truncated"},
                                                         {"judge_strategies", "strategies (judge)"},
                                                         {"solutions", "|C|"},
                                                         {"policy_mass", "pi(C)"},
                                                         {"reference_mass", "pi_ref(C)"},
                                                         {"kl", "KL(p*|C||pi|C)"},
                                                         {"tv", "TV"},
                                                         {"coverage", "coverage"}};
  auto it = labels.find(metric);
  return it == labels.end() ? metric : it->second;
}

EvalSummary summarize(int64_t k, const std::vector<std::string>& benchmark_names,
                      const std::vector<int64_t>& prompt_benchmark, const std::vector<std::string>& metric_names,
                      const std::vector<std::vector<double>>& columns) {
  DISA_CHECK(columns.size() == metric_names.size(), DataError, "summary: {} columns for {} metric names",
             columns.size(), metric_names.size());
  const size_t B = benchmark_names.size();
  EvalSummary s;
  s.k = k;
  s.rows = benchmark_names;
  s.rows.push_back(kMacroRow);
  s.metrics = metric_names;
  s.prompts.assign(B + 1, 0);
  for (int64_t b : prompt_benchmark) {
    DISA_CHECK(b >= 0 && size_t(b) < B, DataError, "summary: prompt of unknown benchmark {}", b);
    ++s.prompts[size_t(b)];
  }
  s.prompts[B] = int64_t(prompt_benchmark.size());
  for (size_t m = 0; m < metric_names.size(); ++m) {
    DISA_CHECK(columns[m].size() == prompt_benchmark.size(), DataError,
               "summary: metric '{}' has {} values for {} prompts", metric_names[m], columns[m].size(),
               prompt_benchmark.size());
    std::vector<std::vector<double>> per(B);
    for (size_t p = 0; p < prompt_benchmark.size(); ++p) per[size_t(prompt_benchmark[p])].push_back(columns[m][p]);
    std::vector<MeanSe> row;
    for (size_t b = 0; b < B; ++b) row.push_back(mean_se(per[b]));
    row.push_back(macro_average(std::vector<MeanSe>(row.begin(), row.end())));
    s.values[metric_names[m]] = std::move(row);
  }
  return s;
}

EvalSummary read_eval_summary(const std::string& path) {
  auto f = io::h5::File::open(path, kEvalFormat, kEvalFormatVersion);
  EvalSummary s;
  try {
    s.k = f.attr_int("/", "samples_per_prompt");
    s.rows = f.read_strings("/summary/row");
    s.prompts = f.read<int64_t>("/summary/prompts");
    const std::string metrics = f.attr_string("/summary", "metrics");
    size_t start = 0;
    while (start <= metrics.size()) {
      const size_t comma = metrics.find(',', start);
      const std::string name = metrics.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!name.empty()) s.metrics.push_back(name);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    for (const auto& m : s.metrics) {
      auto mean = f.read<double>("/summary/" + m + "/mean");
      auto se = f.read<double>("/summary/" + m + "/se");
      auto count = f.read<int64_t>("/summary/" + m + "/count");
      if (mean.size() != s.rows.size() || se.size() != s.rows.size() || count.size() != s.rows.size())
        DISA_THROW(IoError, "'{}': /summary/{} has {} rows, /summary/row has {}", path, m, mean.size(), s.rows.size());
      std::vector<MeanSe> row;
      for (size_t r = 0; r < mean.size(); ++r) row.push_back({mean[r], se[r], count[r]});
      s.values[m] = std::move(row);
    }
  } catch (const core::IoError&) {
    throw;
  } catch (const core::Error& e) {
    DISA_THROW(IoError, "'{}': cannot read the evaluation summary: {}", path, e.what());
  }
  if (s.prompts.size() != s.rows.size())
    DISA_THROW(IoError, "'{}': /summary/prompts has {} rows, /summary/row has {}", path, s.prompts.size(),
               s.rows.size());
  return s;
}

std::string format_cell(const MeanSe& v, bool with_se) {
  if (!std::isfinite(v.mean)) return "-";
  const bool integerish = std::abs(v.mean) >= 100;
  std::string out = integerish ? fmt::format("{:.1f}", v.mean) : fmt::format("{:.3f}", v.mean);
  if (with_se && std::isfinite(v.se))
    out += integerish ? fmt::format(" ± {:.1f}", v.se) : fmt::format(" ± {:.3f}", v.se);
  return out;
}

std::vector<std::string> defined_metrics(const EvalSummary& s) {
  std::vector<std::string> out;
  for (const auto& m : s.metrics) {
    auto it = s.values.find(m);
    if (it == s.values.end()) continue;
    for (const auto& v : it->second)
      if (std::isfinite(v.mean)) {
        out.push_back(m);
        break;
      }
  }
  return out;
}

std::vector<std::string> headline_metrics(const EvalSummary& s) {
  std::vector<std::string> out;
  for (const auto& m : defined_metrics(s)) {
    const bool headline = m == "mean_at_k" || m.rfind("pass_at_", 0) == 0 || m == "distinct_correct" ||
                          m == "distinct_answers" || m == "judge_strategies" || m == "policy_mass" || m == "kl" ||
                          m == "tv" || m == "coverage" || m == "mean_length";
    if (headline) out.push_back(m);
  }
  return out;
}

std::string render_summary_table(const EvalSummary& s) {
  const auto metrics = headline_metrics(s);
  std::vector<std::string> header{"benchmark", "prompts"};
  for (const auto& m : metrics) header.push_back(metric_label(m, s.k));
  std::vector<std::vector<std::string>> rows;
  for (size_t r = 0; r < s.rows.size(); ++r) {
    std::vector<std::string> row{s.rows[r], std::to_string(s.prompts[r])};
    for (const auto& m : metrics) row.push_back(format_cell(s.values.at(m)[r], true));
    rows.push_back(std::move(row));
  }
  std::string out = core::render_grid(header, rows);
  if (!out.empty() && out.back() != '\n') out += '\n';
  return out;
}

std::string render_summary_markdown(const EvalSummary& s, const std::string& title) {
  const auto metrics = headline_metrics(s);
  std::string out = "# " + title + "\n\n";
  out += fmt::format(
      "{} samples per prompt; cells are mean ± standard error over prompts (macro: over "
      "benchmarks).\n\n",
      s.k);
  out += "| benchmark | prompts |";
  for (const auto& m : metrics) out += " " + metric_label(m, s.k) + " |";
  out += "\n|---|---:|";
  for (size_t i = 0; i < metrics.size(); ++i) out += "---:|";
  out += "\n";
  for (size_t r = 0; r < s.rows.size(); ++r) {
    out += fmt::format("| {} | {} |", s.rows[r], s.prompts[r]);
    for (const auto& m : metrics) out += " " + format_cell(s.values.at(m)[r], true) + " |";
    out += "\n";
  }
  return out;
}

nlohmann::json summary_json(const EvalSummary& s) {
  nlohmann::json j;
  j["k"] = s.k;
  j["metrics"] = s.metrics;
  j["rows"] = nlohmann::json::array();
  for (size_t r = 0; r < s.rows.size(); ++r) {
    nlohmann::json row;
    row["name"] = s.rows[r];
    row["prompts"] = s.prompts[r];
    nlohmann::json metrics = nlohmann::json::object();
    for (const auto& m : s.metrics) {
      const auto& v = s.values.at(m)[r];
      metrics[m] = {{"mean", number_or_null(v.mean)}, {"se", number_or_null(v.se)}, {"count", v.count}};
    }
    row["metrics"] = std::move(metrics);
    j["rows"].push_back(std::move(row));
  }
  return j;
}

}  // namespace disa::eval
