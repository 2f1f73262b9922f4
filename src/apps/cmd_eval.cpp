// `disa eval` (stage 3: Mean@k, Pass@k, diversity, exact distribution metrics, LLM
// judge -> eval.h5, src/eval/) and `disa eval compare` (the side-by-side table of
// several eval.h5 files: rows are runs, columns benchmarks and their macro average).
#include <cstdio>

#include "command.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/eval/compare.hpp"
#include "disa/eval/eval_stage.hpp"
#include "disa/eval/summary.hpp"

namespace disa::apps {
namespace {

int run_eval_compare(const std::vector<std::string>& args, dist::MpiContext& mpi) {
  core::Options options("eval compare",
                        "Print the side-by-side table of several evaluation runs: one row per run (LABEL=PATH or "
                        "PATH, labelled by its directory), one column per benchmark and the macro average.");
  options.add_list("compare.metric",
                   "metric to show, repeatable (mean_at_k, pass_at_<j>, pass_at_k = the largest, "
                   "distinct_correct, judge_strategies, policy_mass, kl, tv, coverage, ...); default: "
                   "mean_at_k and pass_at_k");
  options.add_bool("compare.stderr", true, "show the standard errors");
  options.add_string("compare.format", "text", "text or markdown");
  options.add_positional("compare.runs", "eval.h5 files (LABEL=PATH or PATH)");
  auto config = parse_command(options, args, mpi, /*quiet=*/true);
  if (!config) return 0;
  const auto runs_arg = config->get_list("compare.runs");
  config->require(!runs_arg.empty(), "compare.runs", "give at least one eval.h5 file");
  const std::string format = config->get_string("compare.format");
  config->require(format == "text" || format == "markdown", "compare.format", "must be text or markdown");
  if (!mpi.is_root()) return 0;
  std::vector<eval::ComparedRun> runs;
  for (const auto& arg : runs_arg) {
    auto [label, path] = eval::split_run_argument(arg);
    runs.push_back({label, eval::read_eval_summary(path)});
  }
  auto requested = config->get_list("compare.metric");
  if (requested.empty()) requested = {"mean_at_k", "pass_at_k"};
  const auto metrics = eval::resolve_compare_metrics(requested, runs);
  const std::string table =
      eval::render_comparison(runs, metrics, config->get_bool("compare.stderr"),
                              format == "markdown" ? eval::CompareFormat::Markdown : eval::CompareFormat::Text);
  std::fputs(table.c_str(), stdout);
  return 0;
}

}  // namespace

DISA_REGISTER_STAGE("eval", "stage 3: evaluate a policy (Mean@k, Pass@k, diversity, exact metrics) -> eval.h5",
                    "Evaluate a policy on one or more benchmarks (MPI-sharded): k samples per prompt, Mean@k, Pass@k, "
                    "distinct solutions, LLM-judged strategies, exact distribution metrics; writes eval.h5 with "
                    "eval.md and eval.json beside it.",
                    eval::add_eval_options, eval::run_eval);
DISA_REGISTER_COMMAND("eval compare", "side-by-side table of several eval.h5 runs", run_eval_compare);

}  // namespace disa::apps
