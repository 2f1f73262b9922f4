// `disa eval compare`: the side-by-side table of several evaluation runs in the layout
// of a paper's main table: one row per run, one column per benchmark (in order of first
// appearance over the runs) followed by the macro average, one block of columns per
// requested metric. A run without a benchmark shows "-" there.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "disa/eval/summary.hpp"

namespace disa::eval {

struct ComparedRun {
  std::string label;  // row name
  EvalSummary summary;
};

// The label of a compare argument "LABEL=PATH" (LABEL) or "PATH" (the name of the
// directory holding the file, or the file name if it has none), and the path.
std::pair<std::string, std::string> split_run_argument(const std::string& argument);

// Resolves "pass_at_k" to pass_at_<k> of the first run; other names are kept.
// ConfigError naming --compare.metric when a metric is in none of the runs.
std::vector<std::string> resolve_compare_metrics(const std::vector<std::string>& requested,
                                                 const std::vector<ComparedRun>& runs);

enum class CompareFormat { Text, Markdown };

// The table; cells are mean (± se with `with_se`).
std::string render_comparison(const std::vector<ComparedRun>& runs, const std::vector<std::string>& metrics,
                              bool with_se, CompareFormat format);

}  // namespace disa::eval
