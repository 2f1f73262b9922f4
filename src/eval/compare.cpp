// The side-by-side comparison of evaluation runs (include/disa/eval/compare.hpp).
#include "disa/eval/compare.hpp"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "disa/core/error.hpp"
#include "disa/core/table.hpp"

namespace disa::eval {

std::pair<std::string, std::string> split_run_argument(const std::string& argument) {
  const auto eq = argument.find('=');
  if (eq != std::string::npos && eq > 0) return {argument.substr(0, eq), argument.substr(eq + 1)};
  const std::filesystem::path p(argument);
  std::string label = p.parent_path().filename().string();
  if (label.empty() || label == "." || label == "..") label = p.filename().string();
  return {label, argument};
}

std::vector<std::string> resolve_compare_metrics(const std::vector<std::string>& requested,
                                                 const std::vector<ComparedRun>& runs) {
  std::vector<std::string> out;
  for (const auto& m : requested) {
    std::string name = m;
    if (m == "pass_at_k" && !runs.empty()) name = fmt::format("pass_at_{}", runs.front().summary.k);
    const bool known =
        std::any_of(runs.begin(), runs.end(), [&](const ComparedRun& r) { return r.summary.values.count(name) != 0; });
    if (!known) {
      std::string names;
      if (!runs.empty())
        for (const auto& n : runs.front().summary.metrics) names += (names.empty() ? "" : ", ") + n;
      DISA_THROW(ConfigError, "option --compare.metric: no run has the metric '{}' (metrics of '{}': {})", m,
                 runs.empty() ? std::string("-") : runs.front().label, names);
    }
    out.push_back(name);
  }
  return out;
}

std::string render_comparison(const std::vector<ComparedRun>& runs, const std::vector<std::string>& metrics,
                              bool with_se, CompareFormat format) {
  std::vector<std::string> benchmarks;
  for (const auto& r : runs)
    for (const auto& row : r.summary.rows)
      if (row != kMacroRow && std::find(benchmarks.begin(), benchmarks.end(), row) == benchmarks.end())
        benchmarks.push_back(row);
  benchmarks.push_back(kMacroRow);
  // Runs with different k share a column: the label then says "k" instead of a number.
  int64_t k = runs.empty() ? 0 : runs.front().summary.k;
  for (const auto& r : runs)
    if (r.summary.k != k) k = 0;
  std::vector<std::string> header{"run"};
  for (const auto& m : metrics)
    for (const auto& b : benchmarks) header.push_back(metrics.size() > 1 ? metric_label(m, k) + " " + b : b);
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : runs) {
    std::vector<std::string> row{r.label};
    for (const auto& m : metrics)
      for (const auto& b : benchmarks) {
        const MeanSe* v = r.summary.find(m, b);
        row.push_back(v ? format_cell(*v, with_se) : "-");
      }
    rows.push_back(std::move(row));
  }
  if (format == CompareFormat::Text) {
    std::string title;
    if (metrics.size() == 1) title = metric_label(metrics.front(), k) + "\n";
    std::string out = title + core::render_grid(header, rows);
    if (!out.empty() && out.back() != '\n') out += '\n';
    return out;
  }
  std::string out = "|";
  for (const auto& h : header) out += " " + h + " |";
  out += "\n|---|";
  for (size_t i = 1; i < header.size(); ++i) out += "---:|";
  out += "\n";
  for (const auto& row : rows) {
    out += "|";
    for (const auto& c : row) out += " " + c + " |";
    out += "\n";
  }
  return out;
}

}  // namespace disa::eval
