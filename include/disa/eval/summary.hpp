// The results of an evaluation as a table: rows are the benchmarks followed by their
// macro average ("macro"), columns are the per-prompt metrics averaged over prompts
// (mean, standard error, number of prompts where the metric is defined). Built from the
// per-prompt columns (summarize), stored in and read back from eval.h5's /summary group
// (read_eval_summary), and rendered as the printed table, markdown and JSON.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "disa/stage/statistics.hpp"

namespace disa::eval {

using stage::MeanSe;

// Format name and version of eval.h5.
inline constexpr const char* kEvalFormat = "disa-eval";
inline constexpr int64_t kEvalFormatVersion = 1;
// The row name of the macro average.
inline constexpr const char* kMacroRow = "macro";

struct EvalSummary {
  int64_t k = 0;                                      // samples per prompt
  std::vector<std::string> rows;                      // benchmark names, then "macro"
  std::vector<int64_t> prompts;                       // prompts per row (macro: all prompts)
  std::vector<std::string> metrics;                   // metric names in column order
  std::map<std::string, std::vector<MeanSe>> values;  // metric -> one entry per row

  // The entry of `metric` in row `row`; nullptr when either is absent.
  const MeanSe* find(const std::string& metric, const std::string& row) const;
};

// Per-prompt metric names of a run with k samples, in column order: n_correct,
// mean_at_k, mean_reward, pass_at_<j> for j in pass_at_levels(k), distinct_correct,
// distinct_answers, mean_length, mean_correct_length, truncated_fraction,
// judge_strategies, solutions, policy_mass, reference_mass, kl, tv, coverage.
std::vector<std::string> prompt_metric_names(int64_t k);

// "Mean@8", "Pass@4", "KL(p*|C||pi|C)", ... for a metric name (the name itself when it
// has no nicer label); k <= 0 gives "Mean@k".
std::string metric_label(const std::string& metric, int64_t k);

// The table from per-prompt values: `columns[m][p]` is metric m of prompt p (NaN when
// undefined), `prompt_benchmark[p]` the benchmark index of prompt p. Per benchmark:
// mean_se over its prompts; the macro row: macro_average over the benchmarks.
EvalSummary summarize(int64_t k, const std::vector<std::string>& benchmark_names,
                      const std::vector<int64_t>& prompt_benchmark, const std::vector<std::string>& metric_names,
                      const std::vector<std::vector<double>>& columns);

// Reads the /summary group of an eval.h5 (IoError naming the file for another format,
// version or a damaged summary).
EvalSummary read_eval_summary(const std::string& path);

// "0.512 ± 0.031" (or "0.512" without se or when the se is undefined); "-" when the
// mean is undefined.
std::string format_cell(const MeanSe& value, bool with_se);

// The metrics worth printing: every metric defined in at least one row.
std::vector<std::string> defined_metrics(const EvalSummary& summary);
// The headline metrics of the printed table and the markdown summary, in order:
// mean_at_k, every pass_at_<j>, distinct_correct, distinct_answers, judge_strategies,
// policy_mass, kl, tv, coverage, mean_length; only those defined in some row. (The
// JSON summary and eval.h5 hold every metric.)
std::vector<std::string> headline_metrics(const EvalSummary& summary);

// The printed table (rows x headline metrics) and its markdown form.
std::string render_summary_table(const EvalSummary& summary);
std::string render_summary_markdown(const EvalSummary& summary, const std::string& title);

// {"k", "rows": [{"name", "prompts", "metrics": {name: {"mean", "se", "count"}}}]}
// with null for undefined values.
nlohmann::json summary_json(const EvalSummary& summary);

}  // namespace disa::eval
