// `disa eval` end to end through the disa binary on tiny models (make_fixture_models.sh):
//  * 1 rank and 2 ranks write identical samples, per-prompt metrics and summaries;
//  * the file's structure and invariants (Pass@k monotone, judge outcomes counted,
//    exact metrics only where the task lists its solutions);
//  * the policy as its own reference has KL = TV = 0, and its exact mass on the correct
//    set agrees with the sampled accuracy;
//  * the LLM judge runs and its unparsable answers are counted, not fatal;
//  * a missing or malformed data set file gives a clear error and leaves no file;
//  * eval.md / eval.json are written and `disa eval compare` prints the runs side by side.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "disa/eval/summary.hpp"
#include "disa/io/hdf5.hpp"
#include "disa/tasks/reward.hpp"
#include "support/run_disa.hpp"

namespace {

namespace fs = std::filesystem;
using disa::io::h5::File;

const std::string kFixture = DISA_EVAL_FIXTURE;
const std::string kWork = DISA_EVAL_WORK;
const std::string kMath = std::string(DISA_TEST_DATA_DIR) + "/eval/math_small.jsonl";
const std::string kJudgePrompt = std::string(DISA_SOURCE_DIR) + "/configs/eval-judge-prompt.txt";
// Small graph-path prompts (4 nodes) and the math file; tiny limits so a run takes ~1 s.
const std::string kCommon =
    " --task.graph-nodes 4 --task.graph-edge-probability 0.6 --task.split test"
    " --eval.max-new-tokens 12 --eval.threads 1 --eval.batch-prompts 2";

using disa::testing_support::RunResult;

RunResult disa(const std::string& args, int np = 1) { return disa::testing_support::run_disa(kWork, args, np); }

std::string out_path(const std::string& name) { return kWork + "/" + name + "/eval.h5"; }

// Runs `disa eval` once per name (later calls reuse the file) and returns its path.
std::string eval_run(const std::string& name, const std::string& args, int np = 1) {
  static std::map<std::string, std::string> done;
  if (done.count(name)) return done[name];
  const std::string out = out_path(name);
  fs::remove_all(fs::path(out).parent_path());
  RunResult r = disa("eval --eval.out " + out + kCommon + " " + args, np);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  done[name] = out;
  return out;
}

// The two-benchmark run with reference and judge, on `np` ranks.
std::string full_run(int np) {
  return eval_run("full_np" + std::to_string(np),
                  "--eval.model " + kFixture + "/warm --eval.reference " + kFixture +
                      "/reference --eval.dataset paths=graph_paths --eval.dataset small=math:" + kMath +
                      " --task.count 6 --eval.samples 8 --judge.model " + kFixture + "/reference --judge.prompt " +
                      kJudgePrompt + " --judge.max-new-tokens 4",
                  np);
}

bool same(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

template <class T>
void expect_same_dataset(const File& a, const File& b, const std::string& path) {
  auto x = a.read<T>(path), y = b.read<T>(path);
  ASSERT_EQ(x.size(), y.size()) << path;
  for (size_t i = 0; i < x.size(); ++i) EXPECT_TRUE(same(double(x[i]), double(y[i]))) << path << "[" << i << "]";
}

// Every result of two eval files is identical (tokens, rewards, log-probs, keys, judge
// answers, per-prompt metrics, summaries).
void expect_same_results(const File& one, const File& two) {
  for (const char* p : {"/samples/prompt_index", "/samples/sample_index", "/prompts/benchmark"})
    expect_same_dataset<int64_t>(one, two, p);
  for (const char* p : {"/samples/reward", "/samples/log_prob"}) expect_same_dataset<double>(one, two, p);
  for (const char* p : {"/samples/reason", "/samples/correct", "/samples/finish_reason", "/prompts/judge_status"})
    expect_same_dataset<int8_t>(one, two, p);
  EXPECT_EQ(one.read_ragged<int32_t>("/samples/tokens"), two.read_ragged<int32_t>("/samples/tokens"));
  EXPECT_EQ(one.read_strings("/samples/key"), two.read_strings("/samples/key"));
  EXPECT_EQ(one.read_strings("/prompts/judge_answer"), two.read_strings("/prompts/judge_answer"));
  EXPECT_EQ(one.read_strings("/prompts/id"), two.read_strings("/prompts/id"));
  for (const auto& m : one.list("/prompts/metrics")) expect_same_dataset<double>(one, two, "/prompts/metrics/" + m);
  EXPECT_EQ(one.read_strings("/summary/row"), two.read_strings("/summary/row"));
  for (const auto& m : disa::eval::prompt_metric_names(8)) {
    expect_same_dataset<double>(one, two, "/summary/" + m + "/mean");
    expect_same_dataset<double>(one, two, "/summary/" + m + "/se");
    expect_same_dataset<int64_t>(one, two, "/summary/" + m + "/count");
  }
  expect_same_dataset<int64_t>(one, two, "/summary/judge_status_counts");
}

TEST(EvalStage, OneAndTwoRanksGiveIdenticalResults) {
  auto one = File::open(full_run(1), disa::eval::kEvalFormat, disa::eval::kEvalFormatVersion);
  auto two = File::open(full_run(2), disa::eval::kEvalFormat, disa::eval::kEvalFormatVersion);
  EXPECT_EQ(one.attr_int("/", "world_size"), 1);
  EXPECT_EQ(two.attr_int("/", "world_size"), 2);
  expect_same_results(one, two);
}

TEST(EvalStage, KilledOrStoppedRunsResumeToTheSameFile) {
  const std::string full = full_run(1);
  const std::string args = kCommon + " --eval.model " + kFixture + "/warm --eval.reference " + kFixture +
                           "/reference --eval.dataset paths=graph_paths --eval.dataset small=math:" + kMath +
                           " --task.count 6 --eval.samples 8 --judge.model " + kFixture + "/reference --judge.prompt " +
                           kJudgePrompt + " --judge.max-new-tokens 4 --eval.checkpoint-seconds 1000";
  // Killed (no clean exit) after 2 rounds on 2 ranks, resumed on 1 rank.
  const std::string killed = kWork + "/killed/eval.h5";
  fs::remove_all(fs::path(killed).parent_path());
  RunResult k = disa("eval --eval.out " + killed + args + " --eval.stop-after-rounds 2", 2);
  EXPECT_NE(k.exit_code, 0);
  EXPECT_FALSE(fs::exists(killed));
  ASSERT_TRUE(fs::exists(killed + ".incomplete"));
  RunResult other = disa("eval --eval.out " + killed + args + " --eval.resume --eval.seed 99");
  EXPECT_EQ(other.exit_code, 2) << other.output;
  EXPECT_NE(other.output.find("another configuration"), std::string::npos) << other.output;
  RunResult k2 = disa("eval --eval.out " + killed + args + " --eval.resume --log.level info");
  ASSERT_EQ(k2.exit_code, 0) << k2.output;
  EXPECT_NE(k2.output.find("4 of "), std::string::npos) << k2.output;
  EXPECT_FALSE(fs::exists(killed + ".incomplete"));
  expect_same_results(File::open(full), File::open(killed));

  // SIGTERM to rank 0 of 2 after round 1: both ranks flush and exit 75; resumed on 2 ranks.
  const std::string stopped = kWork + "/stopped/eval.h5";
  fs::remove_all(fs::path(stopped).parent_path());
  {
    const disa::testing_support::ScopedEnv stop("DISA_TEST_STOP_AT", "1");
    RunResult st = disa("eval --eval.out " + stopped + args, 2);
    EXPECT_EQ(st.exit_code, 75) << st.output;
    EXPECT_NE(st.output.find("SIGTERM after round 1 of"), std::string::npos) << st.output;
  }
  ASSERT_TRUE(fs::exists(stopped + ".incomplete"));
  RunResult st2 = disa("eval --eval.out " + stopped + args + " --eval.resume", 2);
  ASSERT_EQ(st2.exit_code, 0) << st2.output;
  expect_same_results(File::open(full), File::open(stopped));
}

TEST(EvalStage, FileStructureAndInvariants) {
  auto f = File::open(full_run(1), disa::eval::kEvalFormat, disa::eval::kEvalFormatVersion);
  // 6 graph-path prompts + 4 math prompts, 8 samples each.
  EXPECT_EQ(f.read_strings("/benchmarks/name"), (std::vector<std::string>{"paths", "small"}));
  EXPECT_EQ(f.read<int64_t>("/benchmarks/num_prompts"), (std::vector<int64_t>{6, 4}));
  EXPECT_EQ(f.shape("/samples/reward")[0], 80);
  EXPECT_EQ(f.read_strings("/summary/row"), (std::vector<std::string>{"paths", "small", "macro"}));
  EXPECT_FALSE(f.attr_string("/", "model_fingerprint").empty());
  EXPECT_FALSE(f.attr_string("/", "tokenizer_fingerprint").empty());
  EXPECT_FALSE(f.attr_string("/", "reference_fingerprint").empty());
  EXPECT_FALSE(f.attr_string("/", "judge_fingerprint").empty());
  EXPECT_NE(f.attr_string("/", "dataset_fingerprints").find("small:"), std::string::npos);
  EXPECT_NE(f.attr_string("/", "config").find("samples = 8"), std::string::npos);
  EXPECT_NE(f.attr_string("/", "code_version").find("disa"), std::string::npos);
  // Every coded column names its codes one way, comma-separated by code, as the partition file does.
  EXPECT_EQ(f.code_names("/samples/reason"), disa::tasks::reason_names());
  EXPECT_EQ(f.attr_string("/samples/reason", "names").rfind("correct,partial,", 0), 0u);
  EXPECT_EQ(f.attr_string("/samples/finish_reason", "names"), "stop,length");
  EXPECT_EQ(f.attr_string("/prompts/judge_status", "names"), "disabled,no_correct,single,parsed,unparsable,too_long");
  // Samples are prompt-major; correct agrees with the reason code.
  auto prompt = f.read<int64_t>("/samples/prompt_index");
  auto sample = f.read<int64_t>("/samples/sample_index");
  auto correct = f.read<int8_t>("/samples/correct");
  auto reason = f.read<int8_t>("/samples/reason");
  for (size_t i = 0; i < prompt.size(); ++i) {
    EXPECT_EQ(prompt[i], int64_t(i / 8));
    EXPECT_EQ(sample[i], int64_t(i % 8));
    EXPECT_EQ(correct[i] == 1, reason[i] == 0);
  }
  // Per prompt: Pass@k non-decreasing in k, Pass@1 = Mean@k, counts consistent.
  auto metric = [&](const std::string& m) { return f.read<double>("/prompts/metrics/" + m); };
  auto mean = metric("mean_at_k"), p1 = metric("pass_at_1"), p2 = metric("pass_at_2"), p4 = metric("pass_at_4"),
       p8 = metric("pass_at_8"), n_correct = metric("n_correct"), dc = metric("distinct_correct");
  auto solutions = metric("solutions"), mass = metric("policy_mass"), kl = metric("kl"), tv = metric("tv"),
       coverage = metric("coverage");
  auto bench = f.read<int64_t>("/prompts/benchmark");
  // Slack 1e-12 for rounding only: Pass@k is 1 - a product of <= 8 rounded factors (within
  // ~1e-15 of exact, Mean@k is c / 8 correctly rounded); a probability mass or TV sums
  // terms each rounded relative ~1e-16 (<= 1 + ~1e-13 for the <= 12 tokens x 320-id
  // double log-softmax normalisations). Any real error is a multiple of 1/8 or O(1).
  int64_t correct_total = 0;
  for (size_t p = 0; p < mean.size(); ++p) {
    EXPECT_NEAR(p1[p], mean[p], 1e-12);
    EXPECT_LE(p1[p], p2[p] + 1e-12);
    EXPECT_LE(p2[p], p4[p] + 1e-12);
    EXPECT_LE(p4[p], p8[p] + 1e-12);
    EXPECT_EQ(p8[p], n_correct[p] > 0 ? 1.0 : 0.0);
    EXPECT_LE(dc[p], n_correct[p]);
    correct_total += int64_t(n_correct[p]);
    if (bench[p] == 0) {  // graph paths list their solutions
      EXPECT_GE(solutions[p], 1);
      EXPECT_GT(mass[p], 0);
      EXPECT_LE(mass[p], 1 + 1e-12);
      EXPECT_GE(kl[p], 0);
      EXPECT_GE(tv[p], 0);
      EXPECT_LE(tv[p], 1 + 1e-12);
      EXPECT_GT(coverage[p], 0);
      EXPECT_LE(coverage[p], 1);
    } else {  // math does not
      EXPECT_TRUE(std::isnan(solutions[p]) && std::isnan(mass[p]) && std::isnan(kl[p]));
    }
  }
  EXPECT_LE(correct_total, 48);
  // Judge outcomes: every prompt has one; the macro row counts them all.
  auto counts = f.read<int64_t>("/summary/judge_status_counts");
  ASSERT_EQ(counts.size(), 3u * 6);
  int64_t total = 0;
  for (int s = 0; s < 6; ++s) total += counts[2 * 6 + s];
  EXPECT_EQ(total, 10);
  EXPECT_EQ(counts[2 * 6 + 0], 0) << "judge configured: no prompt is 'disabled'";
  EXPECT_EQ(counts[1 * 6 + 1], 4) << "math prompts: no correct response at this size";
  auto status = f.read<int8_t>("/prompts/judge_status");
  auto answers = f.read_strings("/prompts/judge_answer");
  auto strategies = metric("judge_strategies");
  for (size_t p = 0; p < status.size(); ++p) {
    if (status[p] == 3) {
      EXPECT_GE(strategies[p], 1);
    } else if (status[p] == 4) {
      EXPECT_TRUE(std::isnan(strategies[p]));
    } else {
      EXPECT_TRUE(answers[p].empty());
      if (status[p] == 2) {
        EXPECT_EQ(strategies[p], 1);
      }
    }
  }
  // The summary agrees with the per-prompt values: mean_se adds the same six values in
  // the same order from 0 and divides by 6, so bitwise.
  auto s = disa::eval::read_eval_summary(full_run(1));
  double sum = 0;
  for (size_t p = 0; p < 6; ++p) sum += mean[p];
  EXPECT_EQ(s.find("mean_at_k", "paths")->mean, sum / 6);
}

TEST(EvalStage, SelfReferenceHasZeroDivergenceAndMassMatchesAccuracy) {
  const std::string out = eval_run("self", "--eval.model " + kFixture + "/warm --eval.reference " + kFixture +
                                               "/warm --eval.dataset graph_paths --task.count 8 --eval.samples 64");
  auto f = File::open(out);
  auto metric = [&](const std::string& m) { return f.read<double>("/prompts/metrics/" + m); };
  auto kl = metric("kl"), tv = metric("tv"), mass = metric("policy_mass"), ref_mass = metric("reference_mass"),
       mean = metric("mean_at_k");
  double diff = 0, var = 0;
  for (size_t p = 0; p < kl.size(); ++p) {
    // Policy and reference are the same weights, loaded twice and scored by the same code
    // on the same batches: bitwise equal log-probs, so exact_metrics subtracts equal
    // numbers and KL, TV are exactly 0, the masses equal. (Any difference would be fp32
    // noise, ~1e-7 in the log-probs, not a smaller rounding of the metric.)
    EXPECT_EQ(kl[p], 0.0);
    EXPECT_EQ(tv[p], 0.0);
    EXPECT_EQ(mass[p], ref_mass[p]);
    // E[accuracy] = pi(C) at temperature 1: the sampler emits a listed solution exactly
    // when the sample is correct (byte-level tokens: one token sequence per string).
    diff += mean[p] - mass[p];
    var += mass[p] * (1 - mass[p]) / 64;
  }
  // Monte Carlo: the 64-sample accuracies are independent binomial estimates of the
  // masses, so their summed deviation has variance var; 4.5 standard errors (two-sided
  // false alarm ~7e-6). The 1e-9 only matters when var = 0 (every mass 0 or 1), where the
  // difference is rounding (<~ 1e-13).
  EXPECT_LT(std::abs(diff), 4.5 * std::sqrt(var) + 1e-9) << "sum of (accuracy - mass) over prompts " << diff;
}

TEST(EvalStage, MissingOrMalformedDataGivesClearErrorAndNoFile) {
  const std::string out = out_path("bad");
  fs::remove_all(fs::path(out).parent_path());
  RunResult r = disa("eval --eval.out " + out + " --eval.model " + kFixture +
                     "/policy --eval.dataset gsm=math:/no/such/gsm8k.jsonl" + kCommon);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--eval.dataset"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("/no/such/gsm8k.jsonl"), std::string::npos) << r.output;
  const std::string malformed = std::string(DISA_TEST_DATA_DIR) + "/eval/malformed.jsonl";
  r = disa("eval --eval.out " + out + " --eval.model " + kFixture + "/policy --eval.dataset bad=math:" + malformed +
               kCommon,
           2);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("malformed.jsonl:2:"), std::string::npos) << r.output;
  r = disa("eval --eval.out " + out + " --eval.model " + kFixture + "/nonexistent --eval.dataset countdown" + kCommon);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--eval.model"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(out + ".incomplete"));
}

TEST(EvalStage, SideFilesAndCompare) {
  const std::string a = full_run(1), b = full_run(2);
  const auto dir = fs::path(a).parent_path();
  ASSERT_TRUE(fs::exists(dir / "eval.md"));
  ASSERT_TRUE(fs::exists(dir / "eval.json"));
  std::ifstream in(dir / "eval.json");
  auto j = nlohmann::json::parse(in);
  EXPECT_EQ(j["format"], "disa-eval-summary");
  EXPECT_EQ(j["rows"].size(), 3u);
  EXPECT_EQ(j["rows"][2]["name"], "macro");
  std::ifstream md_in(dir / "eval.md");
  std::stringstream md;
  md << md_in.rdbuf();
  EXPECT_NE(md.str().find("| paths |"), std::string::npos) << md.str();
  RunResult r = disa("eval compare one=" + a + " two=" + b + " --compare.format markdown");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("| one |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("| two |"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("paths"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("macro"), std::string::npos) << r.output;
  // Identical runs give identical rows.
  std::istringstream lines(r.output);
  std::string line, row_one, row_two;
  while (std::getline(lines, line)) {
    if (line.rfind("| one |", 0) == 0) row_one = line.substr(7);
    if (line.rfind("| two |", 0) == 0) row_two = line.substr(7);
  }
  EXPECT_EQ(row_one, row_two);
  r = disa("eval compare " + (dir / "eval.json").string());
  EXPECT_NE(r.exit_code, 0);
  r = disa("eval compare " + a + " --compare.metric no_such_metric");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--compare.metric"), std::string::npos) << r.output;
}

}  // namespace
