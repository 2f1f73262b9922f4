// Unit tests of the results table (aggregation per benchmark and macro average, JSON),
// the side-by-side comparison of runs, and the parsing of --eval.dataset entries
// (missing and malformed data files give errors naming the option, file and line).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "disa/core/error.hpp"
#include "disa/eval/benchmarks.hpp"
#include "disa/eval/compare.hpp"
#include "disa/eval/summary.hpp"

namespace {

using namespace disa::eval;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
const std::string kData = std::string(DISA_TEST_DATA_DIR) + "/eval";

TEST(Summary, PerBenchmarkAndMacro) {
  // Prompts 0..2 in benchmark "a", 3..4 in "b".
  const std::vector<int64_t> bench{0, 0, 0, 1, 1};
  auto s =
      summarize(4, {"a", "b"}, bench, {"mean_at_k", "kl"}, {{0.0, 0.5, 1.0, 0.25, 0.75}, {0.1, kNaN, 0.3, kNaN, kNaN}});
  ASSERT_EQ(s.rows, (std::vector<std::string>{"a", "b", "macro"}));
  EXPECT_EQ(s.prompts, (std::vector<int64_t>{3, 2, 5}));
  const auto* a = s.find("mean_at_k", "a");
  ASSERT_NE(a, nullptr);
  EXPECT_DOUBLE_EQ(a->mean, 0.5);
  EXPECT_DOUBLE_EQ(a->se, std::sqrt(0.25 / 3));
  EXPECT_DOUBLE_EQ(s.find("mean_at_k", "b")->mean, 0.5);
  EXPECT_DOUBLE_EQ(s.find("mean_at_k", "macro")->mean, 0.5);
  EXPECT_DOUBLE_EQ(s.find("mean_at_k", "macro")->se,
                   std::sqrt(0.25 / 3 + 0.0625) / 2);  // se_b = sd/sqrt(2) = 0.3536/1.414 = 0.25
  EXPECT_DOUBLE_EQ(s.find("kl", "a")->mean, 0.2);
  EXPECT_EQ(s.find("kl", "a")->count, 2);
  EXPECT_TRUE(std::isnan(s.find("kl", "b")->mean));
  EXPECT_DOUBLE_EQ(s.find("kl", "macro")->mean, 0.2);  // over the benchmarks where defined
  EXPECT_EQ(s.find("nope", "a"), nullptr);
  auto j = summary_json(s);
  EXPECT_EQ(j["rows"][1]["metrics"]["kl"]["mean"], nullptr);
  EXPECT_DOUBLE_EQ(j["rows"][0]["metrics"]["mean_at_k"]["mean"].get<double>(), 0.5);
  EXPECT_EQ(defined_metrics(s), (std::vector<std::string>{"mean_at_k", "kl"}));
  const std::string table = render_summary_table(s);
  EXPECT_NE(table.find("Mean@4"), std::string::npos) << table;
  EXPECT_NE(table.find("macro"), std::string::npos) << table;
  EXPECT_THROW(summarize(4, {"a"}, {0, 1}, {"m"}, {{0.0, 1.0}}), disa::core::DataError);
}

TEST(Summary, MetricNamesAndLabels) {
  auto names = prompt_metric_names(6);
  EXPECT_EQ(names[1], "mean_at_k");
  EXPECT_EQ(std::count(names.begin(), names.end(), "pass_at_6"), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), "pass_at_4"), 1);
  EXPECT_EQ(metric_label("pass_at_4", 8), "Pass@4");
  EXPECT_EQ(metric_label("mean_at_k", 8), "Mean@8");
  EXPECT_EQ(format_cell({0.51234, 0.0312, 9}, true), "0.512 ± 0.031");
  EXPECT_EQ(format_cell({0.5, kNaN, 1}, true), "0.500");
  EXPECT_EQ(format_cell({kNaN, kNaN, 0}, true), "-");
}

TEST(Compare, RunsByBenchmarksWithMacro) {
  auto a = summarize(8, {"gsm8k", "countdown"}, {0, 0, 1, 1}, {"mean_at_k", "pass_at_8"},
                     {{0.1, 0.3, 0.5, 0.7}, {1, 0, 1, 1}});
  auto b = summarize(8, {"countdown"}, {0, 0}, {"mean_at_k", "pass_at_8"}, {{0.9, 0.7}, {1, 1}});
  std::vector<ComparedRun> runs{{"base", a}, {"disa", b}};
  auto metrics = resolve_compare_metrics({"pass_at_k"}, runs);
  EXPECT_EQ(metrics, (std::vector<std::string>{"pass_at_8"}));
  EXPECT_THROW(resolve_compare_metrics({"no_such_metric"}, runs), disa::core::ConfigError);
  const std::string md = render_comparison(runs, {"mean_at_k"}, false, CompareFormat::Markdown);
  EXPECT_EQ(md,
            "| run | gsm8k | countdown | macro |\n"
            "|---|---:|---:|---:|\n"
            "| base | 0.200 | 0.600 | 0.400 |\n"
            "| disa | - | 0.800 | 0.800 |\n");
  const std::string text = render_comparison(runs, {"mean_at_k", "pass_at_8"}, true, CompareFormat::Text);
  EXPECT_NE(text.find("Pass@8 countdown"), std::string::npos) << text;
  EXPECT_NE(text.find("0.600 ± 0.100"), std::string::npos) << text;
  EXPECT_EQ(split_run_argument("runs/disa/eval.h5"),
            std::make_pair(std::string("disa"), std::string("runs/disa/eval.h5")));
  EXPECT_EQ(split_run_argument("ours=x/eval.h5"), std::make_pair(std::string("ours"), std::string("x/eval.h5")));
  EXPECT_EQ(split_run_argument("eval.h5").first, "eval.h5");
}

TEST(Benchmarks, EntriesResolveToTasks) {
  disa::tasks::TaskOptions base;
  base.name = "math";
  const std::string math = kData + "/math_small.jsonl";
  auto specs = parse_benchmarks({"small=" + math, "countdown", "paths=graph_paths", "m2=math:" + math}, base);
  ASSERT_EQ(specs.size(), 4u);
  EXPECT_EQ(specs[0].name, "small");
  EXPECT_EQ(specs[0].task.name, "math");
  EXPECT_EQ(specs[0].task.data_path, math);
  EXPECT_EQ(specs[1].name, "countdown");
  EXPECT_EQ(specs[1].task.name, "countdown");
  EXPECT_EQ(specs[2].name, "paths");
  EXPECT_EQ(specs[2].task.name, "graph_paths");
  EXPECT_EQ(specs[3].task.name, "math");
  auto loaded = load_benchmarks({specs[0]});
  EXPECT_EQ(loaded[0].dataset.size(), 4u);
  // No entry: the task of task.* (a file task needs --task.data).
  EXPECT_THROW(parse_benchmarks({}, base), disa::core::ConfigError);
  base.data_path = math;
  EXPECT_EQ(parse_benchmarks({}, base)[0].name, "math_small");
}

// The message of the ConfigError/DataError thrown by `f`.
template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const disa::core::Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(Benchmarks, BadEntriesNameTheOptionFileAndLine) {
  disa::tasks::TaskOptions base;
  base.name = "math";
  std::string e = error_of([&] { parse_benchmarks({"gsm=/no/such/file.jsonl"}, base); });
  EXPECT_NE(e.find("--eval.dataset"), std::string::npos) << e;
  EXPECT_NE(e.find("/no/such/file.jsonl"), std::string::npos) << e;
  e = error_of([&] { load_benchmarks(parse_benchmarks({"bad=" + kData + "/malformed.jsonl"}, base)); });
  EXPECT_NE(e.find("malformed.jsonl:2:"), std::string::npos) << e;
  e = error_of([&] { load_benchmarks(parse_benchmarks({"bad=" + kData + "/missing_field.jsonl"}, base)); });
  EXPECT_NE(e.find("missing_field.jsonl"), std::string::npos) << e;
  EXPECT_NE(e.find("answer"), std::string::npos) << e;
  e = error_of([&] { parse_benchmarks({"a=countdown", "a=graph_paths"}, base); });
  EXPECT_NE(e.find("used twice"), std::string::npos) << e;
  e = error_of([&] { parse_benchmarks({"macro=countdown"}, base); });
  EXPECT_NE(e.find("reserved"), std::string::npos) << e;
  e = error_of([&] { parse_benchmarks({"x=countdown:" + kData + "/math_small.jsonl"}, base); });
  EXPECT_NE(e.find("reads no file"), std::string::npos) << e;
  e = error_of([&] { parse_benchmarks({"x=math"}, base); });
  EXPECT_NE(e.find("needs a data file"), std::string::npos) << e;
  base.name = "countdown";
  e = error_of([&] { parse_benchmarks({"x=" + kData + "/math_small.jsonl"}, base); });
  EXPECT_NE(e.find("--task.name"), std::string::npos) << e;
}

}  // namespace
