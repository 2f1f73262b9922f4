// The `disa eval` stage driver (see include/disa/eval/eval_stage.hpp): options,
// validation before any output exists, sampling and scoring of each rank's batches in
// rounds, judging, exact distribution metrics, the streamed (resumable) staging of every
// round's rows in EVAL.incomplete (eval_rows.hpp), the assembly of eval.h5 in prompt
// order, the aggregation over prompts and benchmarks, and the printed, markdown and JSON
// summary. Memory holds one round's rows, not the run's.
#include "disa/eval/eval_stage.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>

#include <torch/torch.h>

#include "disa/build_info.hpp"
#include "disa/core/config.hpp"
#include "disa/core/log.hpp"
#include "disa/core/logsumexp.hpp"
#include "disa/core/option_table.hpp"
#include "disa/core/stop_request.hpp"
#include "disa/core/table.hpp"
#include "disa/core/timing.hpp"
#include "disa/dist/communicator.hpp"
#include "disa/dist/device.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/dist/stop_agreement.hpp"
#include "disa/dist/work_split.hpp"
#include "disa/eval/benchmarks.hpp"
#include "disa/eval/judge.hpp"
#include "disa/eval/summary.hpp"
#include "disa/io/hdf5.hpp"
#include "disa/io/provenance.hpp"
#include "disa/model/generate.hpp"
#include "disa/model/score.hpp"
#include "disa/model/tokenizer.hpp"
#include "disa/stage/code_names.hpp"
#include "disa/stage/compute.hpp"
#include "disa/stage/models.hpp"
#include "disa/stage/phase_times.hpp"
#include "disa/stage/prompts.hpp"
#include "disa/stage/resume_key.hpp"
#include "disa/stage/rollout.hpp"
#include "disa/stage/solution_set.hpp"
#include "disa/stage/statistics.hpp"
#include "disa/tasks/task_options.hpp"
#include "eval_rows.hpp"

namespace disa::eval {
namespace {

using namespace disa::stage;  // the statistics (stage/statistics.hpp)

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Options that may differ between an interrupted run and its --eval.resume.
const std::set<std::string> kResumeFreeOptions{
    "eval.resume", "eval.stop-after-rounds", "eval.checkpoint-seconds", "eval.threads", "log.level", "log.all-ranks"};
// The finished file is assembled as EVAL.assembled(.incomplete) beside EVAL.incomplete.
constexpr const char* kAssembledSuffix = ".assembled";
// Prompts per rank and pass of the assembly (bounds its memory).
constexpr int64_t kAssemblyPrompts = 64;

// The settings of `disa eval`; the initialisers are the options' defaults.
struct Settings {
  std::string model_dir, reference_dir, out = "eval.h5";
  std::vector<std::string> datasets;
  int64_t samples = 8;
  model::SamplingParams sampling;
  int64_t max_new_tokens = 512;
  uint64_t seed = 1234;
  int64_t batch_prompts = 8, max_batch_size = 64, score_batch = 64;
  bool exact = true, resume = false;
  double checkpoint_seconds = 60;
  int64_t stop_after_rounds = -1;
  double coverage_threshold = kDefaultCoverageThreshold;
  stage::ComputeSettings compute;
  int deflate = 0;
  JudgeSettings judge;
  tasks::TaskOptions task;
  bool judged() const { return !judge.model_dir.empty(); }
};

const core::OptionTable<Settings>& settings_table() {
  static const core::OptionTable<Settings> table = [] {
    core::OptionTable<Settings> t;
    t.text("eval.model", DISA_FIELD(model_dir), "the policy to evaluate (model directory, HF layout)",
           core::required("the policy's model directory"));
    t.text("eval.reference", DISA_FIELD(reference_dir),
           "reference model pi_ref for the exact KL/TV against p* (empty: policy mass and coverage only)");
    t.text("eval.out", DISA_FIELD(out), "the eval file to write (eval.md and eval.json are written beside it)",
           core::required("the eval.h5 file to write"));
    t.list("eval.dataset", DISA_FIELD(datasets),
           "benchmark, repeatable: NAME=PATH (JSONL, task of --task.name), NAME=TASK:PATH, NAME=TASK or TASK "
           "(synthetic, generated with task.*); none: the task of task.*");
    t.integer("eval.samples", DISA_FIELD(samples), "samples per prompt (k)",
              core::at_least<int64_t>(1, "samples per prompt, k"));
    t.real("eval.temperature", DISA_FIELD(sampling.temperature), "sampling temperature (0: greedy)",
           {[](const double& v) { return v >= 0 && std::isfinite(v); }, "must be >= 0 (0: greedy)"});
    t.real("eval.top-p", DISA_FIELD(sampling.top_p), "nucleus sampling threshold (1: off)", core::above_up_to(0, 1));
    t.integer("eval.top-k", DISA_FIELD(sampling.top_k), "top-k sampling (0: off)",
              core::at_least<int64_t>(0, "0: off"));
    t.integer("eval.max-new-tokens", DISA_FIELD(max_new_tokens), "generation limit per response",
              core::at_least<int64_t>(1));
    t.integer("eval.seed", DISA_FIELD(seed), "seed: a sample's random stream depends on (seed, prompt, sample) only");
    t.integer("eval.batch-prompts", DISA_FIELD(batch_prompts),
              "prompts per batch (a batch generates batch-prompts x k samples)", core::at_least<int64_t>(1));
    t.integer("eval.max-batch-size", DISA_FIELD(max_batch_size), "sequences per forward pass during generation",
              core::at_least<int64_t>(1));
    t.integer("eval.score-batch", DISA_FIELD(score_batch), "correct responses scored per forward pass (exact metrics)",
              core::at_least<int64_t>(1));
    t.flag("eval.exact", DISA_FIELD(exact), "exact distribution metrics where the task lists its solutions");
    t.real("eval.coverage-threshold", DISA_FIELD(coverage_threshold),
           "coverage counts correct responses y with pi(y | C) >= this / |C| (1: at least the uniform share)",
           {[](const double& v) { return v > 0 && std::isfinite(v); }, "must be > 0"});
    t.include(DISA_FIELD(compute), stage::compute_option_table("eval"));
    t.integer("eval.deflate", DISA_FIELD(deflate), "gzip level 0-9 for the token datasets (0: none)",
              core::within<int64_t>(0, 9));
    t.flag("eval.resume", DISA_FIELD(resume),
           "continue EVAL.OUT.incomplete left by an interrupted or stopped run (same options)");
    t.real("eval.checkpoint-seconds", DISA_FIELD(checkpoint_seconds),
           "flush EVAL.OUT.incomplete (a resumable checkpoint) at most this often; 0: every round",
           core::at_least(0.0, "0: every round"));
    t.integer("eval.stop-after-rounds", DISA_FIELD(stop_after_rounds),
              "fault injection for tests: exit abruptly after this many rounds (-1: off)");
    t.text("judge.model", DISA_FIELD(judge.model_dir),
           "LLM judge of strategy diversity (model directory; empty: no judge)");
    t.text("judge.prompt", DISA_FIELD(judge.template_path), "judge prompt template ({problem}, {responses}, {count})");
    t.integer("judge.max-new-tokens", DISA_FIELD(judge.max_new_tokens), "generation limit of the judge's answer",
              core::at_least<int64_t>(1));
    t.real("judge.temperature", DISA_FIELD(judge.temperature), "judge sampling temperature (0: greedy)",
           {[](const double& v) { return v >= 0 && std::isfinite(v); }, "must be >= 0 (0: greedy)"});
    t.integer("judge.max-responses", DISA_FIELD(judge.max_responses),
              "distinct correct responses shown to the judge at most (>= 2)", core::at_least<int64_t>(2));
    t.integer("judge.max-batch-size", DISA_FIELD(judge.max_batch_size), "judge prompts per forward pass",
              core::at_least<int64_t>(1));
    t.integer("judge.seed", DISA_FIELD(judge.seed), "judge seed (temperature > 0)");
    t.include(DISA_FIELD(task), tasks::task_option_table());
    return t;
  }();
  return table;
}

// A batch: consecutive prompts [p0, p1) (global indices) of one benchmark.
struct Batch {
  int64_t benchmark = 0, p0 = 0, p1 = 0;
};

// The timed phases, in the order the summary reads them.
const std::vector<std::string> kPhases{"generate", "reward", "judge", "exact", "write"};

class EvalStage {
 public:
  EvalStage(const core::Config& config, dist::MpiContext& mpi)
      : config_(config),
        mpi_(mpi),
        s_(settings_table().read(config)),
        comm_(dist::make_mpi_communicator(mpi.world())) {}
  std::string run();

 private:
  void load_inputs();
  void plan_batches();
  void create_or_resume_file();
  void sample_rounds(const std::vector<int64_t>& todo);
  void process_batch(const Batch& batch, detail::ResultRows& rows);
  std::vector<ExactMetrics> exact_for(const Batch& batch, std::vector<int64_t>& reachable,
                                      std::vector<int64_t>& unreachable);
  void assemble(const EvalSummary& summary, const std::vector<int64_t>& judge_counts);
  void write_provenance(io::h5::File& f);
  EvalSummary aggregate(std::vector<int64_t>& judge_counts);
  void write_side_files(const EvalSummary& summary) const;
  void print_summary(const EvalSummary& summary, const std::vector<int64_t>& judge_counts, double seconds) const;

  const core::Config& config_;
  dist::MpiContext& mpi_;
  Settings s_;
  std::unique_ptr<dist::Communicator> comm_;
  torch::Device device_{torch::kCPU};
  model::CausalLM policy_{nullptr}, reference_{nullptr};
  std::shared_ptr<const model::Tokenizer> tokenizer_;
  std::string exact_unavailable_;  // why the exact metrics cannot be computed here ("" when they can)
  std::unique_ptr<Judge> judge_;
  std::vector<Benchmark> benchmarks_;
  // Global prompt list (benchmarks concatenated).
  std::vector<int64_t> prompt_benchmark_;
  std::vector<stage::EncodedPrompt> prompts_;
  std::vector<model::GenerationParams> generation_;  // per benchmark
  std::vector<int64_t> benchmark_first_;
  std::vector<Batch> batches_;
  std::vector<std::string> metric_names_;
  std::vector<int64_t> levels_;
  std::vector<detail::StagedBatch> staged_;  // by batch id (batch -1: not done yet)
  stage::PhaseTimes times_{kPhases};
  int64_t generated_tokens_ = 0, samples_ = 0;  // this rank's, this run
  io::h5::File file_;                           // EVAL.incomplete
};

void EvalStage::load_inputs() {
  // Everything that can fail on bad input is checked here, before the file exists.
  const auto specs = parse_benchmarks(s_.datasets, s_.task);
  benchmarks_ = load_benchmarks(specs);
  if (s_.judged()) JudgeTemplate::load(s_.judge.template_path, "judge.prompt");
  const auto out_dir = std::filesystem::path(s_.out).parent_path();
  if (!out_dir.empty() && std::filesystem::exists(out_dir) && !std::filesystem::is_directory(out_dir))
    DISA_THROW(ConfigError, "option --eval.out: '{}' is not a directory", out_dir.string());

  device_ = stage::setup_compute(mpi_, s_.compute);
  const torch::Dtype dtype = stage::compute_dtype(device_);
  std::optional<stage::ModelSource> reference;
  if (!s_.reference_dir.empty()) reference = stage::ModelSource{"eval.reference", "reference", s_.reference_dir, ""};
  auto models = stage::load_models({"eval.model", "policy", s_.model_dir, ""}, reference,
                                   "the exact metrics need both to score the same token sequences", device_, dtype);
  policy_ = models.first;
  policy_->eval();
  reference_ = models.second;
  if (reference_) reference_->eval();
  tokenizer_ = models.tokenizer;
  if (auto why = stage::inexact_solution_scoring(*tokenizer_); why && s_.exact) {
    exact_unavailable_ = *why;
    core::log::warn("eval: no exact distribution metrics: {} (their columns are NaN)", exact_unavailable_);
  }
  if (s_.judged()) judge_ = std::make_unique<Judge>(s_.judge, device_, dtype);

  for (size_t b = 0; b < benchmarks_.size(); ++b) {
    benchmark_first_.push_back(int64_t(prompts_.size()));
    const auto& bench = benchmarks_[b];
    const auto limit = stage::prompt_limit(policy_->config(), s_.max_new_tokens, "eval.max-new-tokens",
                                           bench.spec.task.max_prompt_tokens);
    for (auto& prompt : stage::encode_prompts(*bench.task, bench.dataset, *tokenizer_, limit,
                                              fmt::format("benchmark '{}': ", bench.spec.name))) {
      prompt_benchmark_.push_back(int64_t(b));
      prompts_.push_back(std::move(prompt));
    }
  }
  benchmark_first_.push_back(int64_t(prompts_.size()));
  // Each benchmark's sampler: the policy's stops and its task's terminator, made once.
  for (const auto& bench : benchmarks_)
    generation_.push_back(stage::generation_params(*policy_, *tokenizer_, *bench.task, s_.sampling, s_.max_new_tokens,
                                                   s_.max_batch_size));
  levels_ = pass_at_levels(s_.samples);
  metric_names_ = prompt_metric_names(s_.samples);
}

void EvalStage::plan_batches() {
  for (size_t b = 0; b < benchmarks_.size(); ++b)
    for (int64_t p = benchmark_first_[b]; p < benchmark_first_[b + 1]; p += s_.batch_prompts)
      batches_.push_back({int64_t(b), p, std::min(benchmark_first_[b + 1], p + s_.batch_prompts)});
}

std::vector<ExactMetrics> EvalStage::exact_for(const Batch& batch, std::vector<int64_t>& reachable,
                                               std::vector<int64_t>& unreachable) {
  const auto& task = *benchmarks_[size_t(batch.benchmark)].task;
  std::vector<ExactMetrics> out;
  for (int64_t p = batch.p0; p < batch.p1; ++p) {
    const auto& prompt = prompts_[size_t(p)];
    auto solutions = s_.exact && exact_unavailable_.empty()
                         ? stage::listed_solutions(task, *prompt.record, *tokenizer_, s_.max_new_tokens)
                         : std::nullopt;
    if (!solutions) {
      ExactMetrics m;
      m.policy_mass = m.reference_mass = m.kl = m.tv = m.coverage = kNaN;
      m.size = -1;
      out.push_back(m);
      reachable.push_back(-1);
      unreachable.push_back(-1);
      continue;
    }
    const auto log_policy = stage::score_solutions(*policy_, prompt.tokens, *solutions, s_.score_batch);
    const auto log_reference = reference_
                                   ? stage::score_solutions(*reference_, prompt.tokens, *solutions, s_.score_batch)
                                   : std::vector<double>{};
    out.push_back(exact_metrics(log_policy, log_reference, s_.coverage_threshold));
    reachable.push_back(int64_t(solutions->reachable.size()));
    unreachable.push_back(solutions->unreachable);
  }
  return out;
}

void EvalStage::process_batch(const Batch& batch, detail::ResultRows& rows) {
  const auto& bench = benchmarks_[size_t(batch.benchmark)];
  const int64_t k = s_.samples;
  const model::GenerationParams& params = generation_[size_t(batch.benchmark)];
  std::vector<model::GenerationRequest> requests;
  for (int64_t p = batch.p0; p < batch.p1; ++p)
    for (int64_t j = 0; j < k; ++j) requests.push_back({prompts_[size_t(p)].tokens, p, j});
  auto t0 = core::Clock::now();
  auto results = model::generate(*policy_, requests, params, s_.seed, tokenizer_.get());
  times_.add("generate", t0);

  t0 = core::Clock::now();
  std::vector<const tasks::Record*> records;
  for (const auto& request : requests) records.push_back(prompts_[size_t(request.prompt_id)].record);
  const auto rewarded = stage::reward_responses(*bench.task, records, *tokenizer_, results);
  const auto& responses = rewarded.texts;
  const auto& rewards = rewarded.rewards;
  times_.add("reward", t0);

  std::vector<JudgeCase> cases;
  std::vector<PromptSampleStats> stats;
  for (int64_t p = batch.p0; p < batch.p1; ++p) {
    std::vector<SampleOutcome> outcomes;
    JudgeCase c;
    c.prompt_id = p;
    c.problem = prompts_[size_t(p)].text;
    for (int64_t j = 0; j < k; ++j) {
      const size_t i = size_t((p - batch.p0) * k + j);
      const auto& g = results[i];
      const auto& r = rewards[i];
      const bool correct = r.reason == tasks::Reason::Correct;
      outcomes.push_back({correct, r.reward, r.canonical_key, int64_t(g.tokens.size()),
                          g.finish_reason == model::FinishReason::Length});
      if (correct) c.correct_responses.push_back(responses[i]);
      rows.prompt_index.push_back(p);
      rows.sample_index.push_back(j);
      rows.tokens.push_back(g.tokens);
      rows.length.push_back(int32_t(g.tokens.size()));
      rows.finish_reason.push_back(stage::finish_code(g.finish_reason));
      rows.reason.push_back(int8_t(r.reason));
      rows.correct.push_back(correct ? 1 : 0);
      rows.reward.push_back(r.reward);
      rows.log_prob.push_back(g.sum_model_logprob);
      rows.key.push_back(r.canonical_key);
      generated_tokens_ += int64_t(g.tokens.size());
    }
    samples_ += k;
    stats.push_back(prompt_sample_stats(outcomes, levels_));
    cases.push_back(std::move(c));
  }

  t0 = core::Clock::now();
  std::vector<JudgeVerdict> verdicts(cases.size());
  if (judge_) verdicts = judge_->judge(cases);
  times_.add("judge", t0);

  t0 = core::Clock::now();
  std::vector<int64_t> reachable, unreachable;
  auto exact = exact_for(batch, reachable, unreachable);
  times_.add("exact", t0);

  for (int64_t p = batch.p0; p < batch.p1; ++p) {
    const size_t q = size_t(p - batch.p0);
    const auto& st = stats[q];
    const auto& ex = exact[q];
    const auto& v = verdicts[q];
    std::vector<double> row{double(st.n_correct), st.mean_at_k, st.mean_reward};
    row.insert(row.end(), st.pass_at.begin(), st.pass_at.end());
    const double strategies = judge_ ? v.strategies : kNaN;
    for (double x : {double(st.distinct_correct), double(st.distinct_answers), st.mean_length, st.mean_correct_length,
                     st.truncated_fraction, strategies, ex.size >= 0 ? double(ex.size) : kNaN, ex.policy_mass,
                     ex.reference_mass, ex.kl, ex.tv, ex.coverage})
      row.push_back(x);
    DISA_ASSERT(row.size() == metric_names_.size());
    rows.prompts.push_back(p);
    rows.metrics.insert(rows.metrics.end(), row.begin(), row.end());
    rows.judge_status.push_back(int8_t(judge_ ? v.status : JudgeStatus::Disabled));
    rows.judge_answer.push_back(v.answer);
    rows.reachable_solutions.push_back(reachable[q]);
    rows.unreachable_solutions.push_back(unreachable[q]);
  }
}

void EvalStage::create_or_resume_file() {
  const std::string incomplete = s_.out + io::h5::kIncompleteSuffix;
  staged_.assign(batches_.size(), detail::StagedBatch{-1});
  if (mpi_.is_root()) {
    const auto dir = std::filesystem::path(s_.out).parent_path();
    if (!dir.empty()) std::filesystem::create_directories(dir);
  }
  comm_->barrier();
  if (s_.resume && std::filesystem::exists(incomplete)) {
    file_ = io::h5::File::reopen_incomplete(s_.out, comm_->comm(), kEvalFormat, kEvalFormatVersion);
    if (file_.attr_string("/", "resume_key") != stage::resume_key(config_, kResumeFreeOptions))
      DISA_THROW(ConfigError,
                 "--eval.resume: '{}' was written with another configuration; rerun with the same options (only "
                 "the number of ranks, eval.resume, eval.checkpoint-seconds, eval.threads and log.* may change), "
                 "or delete it",
                 incomplete);
    // Keep only the rows of batches recorded complete; a round cut short is redone.
    auto prompts_of = [&](int64_t b) {
      DISA_CHECK(b >= 0 && b < int64_t(batches_.size()), IoError, "'{}': staged batch {} is not one of the {} batches",
                 incomplete, b, batches_.size());
      return batches_[size_t(b)].p1 - batches_[size_t(b)].p0;
    };
    for (const auto& b : detail::drop_unrecorded_rows(file_, s_.samples, prompts_of)) staged_[size_t(b.batch)] = b;
    int64_t done = 0;
    for (const auto& b : staged_) done += b.batch >= 0 ? 1 : 0;
    core::log::info("resuming '{}': {} of {} batches already done", incomplete, done, batches_.size());
    return;
  }
  if (s_.resume) core::log::info("--eval.resume: no '{}' to resume, starting afresh", incomplete);
  file_ = io::h5::File::create(s_.out, comm_->comm(), kEvalFormat, kEvalFormatVersion);
  write_provenance(file_);
  file_.set_attr("/", "resume_key", stage::resume_key(config_, kResumeFreeOptions));
  detail::create_staging(file_, int64_t(metric_names_.size()), s_.deflate);
  file_.flush();
}

void EvalStage::sample_rounds(const std::vector<int64_t>& todo) {
  auto [a, b] = dist::balanced_block(int64_t(todo.size()), comm_->rank(), comm_->size());
  const int64_t rounds = (int64_t(todo.size()) + comm_->size() - 1) / comm_->size();
  auto last_flush = core::Clock::now();
  for (int64_t t = 0; t < rounds; ++t) {
    detail::ResultRows rows;
    int64_t batch = -1;
    if (a + t < b) {
      batch = todo[size_t(a + t)];
      process_batch(batches_[size_t(batch)], rows);
    }
    // Collective append (a rank without a batch joins with no rows); the batch is
    // recorded after its rows, so the index is the checkpoint.
    const auto t0 = core::Clock::now();
    detail::append_staging(file_, rows, batch);
    const bool injected_stop = s_.stop_after_rounds >= 0 && t + 1 >= s_.stop_after_rounds;
    const bool due = mpi_.is_root() && (core::seconds_since(last_flush) >= s_.checkpoint_seconds || injected_stop);
    const auto agreed = dist::agree_at_boundary(*comm_, due);
    if (agreed.flag || agreed.stop_signal != 0) {
      file_.flush();
      last_flush = core::Clock::now();
    }
    times_.add("write", t0);
    core::log::debug("eval: round {}/{} done", t + 1, rounds);
    if (injected_stop) {
      // Fault injection for the resume tests: die as a killed job would, file not closed.
      core::log::warn("--eval.stop-after-rounds={}: stopping abruptly (simulated kill)", s_.stop_after_rounds);
      comm_->barrier();
      std::fflush(nullptr);
      std::_Exit(137);  // what a shell reports for SIGKILL
    }
    if (agreed.stop_signal != 0 && t + 1 < rounds)
      throw core::StopRequested(
          fmt::format("eval: {} after round {} of {}: '{}{}' holds every finished batch; "
                      "continue with --eval.resume",
                      core::signal_name(agreed.stop_signal), t + 1, rounds, s_.out, io::h5::kIncompleteSuffix));
  }
}

EvalSummary EvalStage::aggregate(std::vector<int64_t>& judge_counts) {
  // The per-prompt rows of every staged batch (O(prompts x metrics)), put in prompt order,
  // so the aggregation runs on identical inputs in identical order whatever the rank
  // count and however the run was interrupted.
  const size_t M = metric_names_.size(), P = prompts_.size();
  const auto staged_prompts = file_.read<int64_t>("/staging/prompts/prompt");
  const auto staged_metrics = file_.read<double>("/staging/prompts/metrics");
  const auto staged_status = file_.read<int8_t>("/staging/prompts/judge_status");
  DISA_CHECK(staged_prompts.size() == P && staged_metrics.size() == P * M && staged_status.size() == P, IoError,
             "'{}': {} staged prompts ({} metric values), expected {} prompts of {} metrics", file_.path(),
             staged_prompts.size(), staged_metrics.size(), P, M);
  std::vector<std::vector<double>> columns(M, std::vector<double>(P, kNaN));
  const size_t B = benchmarks_.size();
  judge_counts.assign((B + 1) * kJudgeStatuses, 0);
  for (size_t i = 0; i < P; ++i) {
    const size_t p = size_t(staged_prompts[i]);
    DISA_CHECK(p < P, IoError, "'{}': staged prompt index {} out of range", file_.path(), p);
    for (size_t m = 0; m < M; ++m) columns[m][p] = staged_metrics[i * M + m];
    const size_t b = size_t(prompt_benchmark_[p]);
    judge_counts[b * kJudgeStatuses + size_t(staged_status[i])] += 1;
    judge_counts[B * kJudgeStatuses + size_t(staged_status[i])] += 1;
  }
  std::vector<std::string> names;
  for (const auto& bench : benchmarks_) names.push_back(bench.spec.name);
  return summarize(s_.samples, names, prompt_benchmark_, metric_names_, columns);
}

void EvalStage::write_provenance(io::h5::File& f) {
  f.set_attr("/", "samples_per_prompt", s_.samples);
  f.set_attr("/", "pass_at_levels", levels_);
  f.set_attr("/", "temperature", s_.sampling.temperature);
  f.set_attr("/", "top_p", s_.sampling.top_p);
  f.set_attr("/", "top_k", s_.sampling.top_k);
  f.set_attr("/", "max_new_tokens", s_.max_new_tokens);
  f.set_attr("/", "seed", int64_t(s_.seed));
  f.set_attr("/", "batch_prompts", s_.batch_prompts);
  f.set_attr("/", "coverage_threshold", s_.coverage_threshold);
  f.set_attr("/", "exact_not_available", exact_unavailable_);  // why the exact metrics are NaN ("" if they are not)
  f.set_attr("/", "model", s_.model_dir);
  f.set_attr("/", "model_fingerprint", policy_->fingerprint);
  f.set_attr("/", "tokenizer_fingerprint", tokenizer_->fingerprint());
  f.set_attr("/", "reference_model", s_.reference_dir);
  f.set_attr("/", "reference_fingerprint", reference_ ? reference_->fingerprint : std::string());
  f.set_attr("/", "judge_model", s_.judge.model_dir);
  f.set_attr("/", "judge_fingerprint", judge_ ? judge_->model_fingerprint() : std::string());
  f.set_attr("/", "judge_tokenizer_fingerprint", judge_ ? judge_->tokenizer_fingerprint() : std::string());
  f.set_attr("/", "judge_prompt_template", judge_ ? judge_->prompt_template().text() : std::string());
  std::string fingerprints;
  for (const auto& b : benchmarks_)
    fingerprints += (fingerprints.empty() ? "" : ",") + b.spec.name + ":" + b.dataset.fingerprint();
  f.set_attr("/", "dataset_fingerprints", fingerprints);
  io::write_run_provenance(f, config_, *comm_);
}

void EvalStage::assemble(const EvalSummary& summary, const std::vector<int64_t>& judge_counts) {
  auto t0 = core::Clock::now();
  auto f = io::h5::File::create(s_.out + kAssembledSuffix, comm_->comm(), kEvalFormat, kEvalFormatVersion);
  write_provenance(f);
  // Benchmarks (metadata every rank holds; rank 0 writes).
  f.create_group("/benchmarks");
  std::vector<std::string> names, task_names, sources, fps;
  std::vector<int64_t> first, count;
  for (size_t b = 0; b < benchmarks_.size(); ++b) {
    names.push_back(benchmarks_[b].spec.name);
    task_names.push_back(benchmarks_[b].task->name());
    sources.push_back(benchmarks_[b].dataset.source());
    fps.push_back(benchmarks_[b].dataset.fingerprint());
    first.push_back(benchmark_first_[b]);
    count.push_back(benchmark_first_[b + 1] - benchmark_first_[b]);
  }
  auto root_strings = [&](const std::string& path, const std::vector<std::string>& v) {
    f.write_strings(path, mpi_.is_root() ? v : std::vector<std::string>{});
  };
  root_strings("/benchmarks/name", names);
  root_strings("/benchmarks/task", task_names);
  root_strings("/benchmarks/source", sources);
  root_strings("/benchmarks/dataset_fingerprint", fps);
  f.write_root("/benchmarks/first_prompt", first);
  f.write_root("/benchmarks/num_prompts", count);

  // The prompts themselves (in memory since the data set was read): each rank its block.
  f.create_group("/prompts");
  {
    auto [p0, p1] = dist::balanced_block(int64_t(prompts_.size()), comm_->rank(), comm_->size());
    std::vector<std::string> ids, texts;
    std::vector<std::vector<int32_t>> toks;
    std::vector<int64_t> bench;
    for (int64_t p = p0; p < p1; ++p) {
      ids.push_back(prompts_[size_t(p)].record->id);
      texts.push_back(prompts_[size_t(p)].text);
      toks.push_back(prompts_[size_t(p)].tokens);
      bench.push_back(prompt_benchmark_[size_t(p)]);
    }
    f.write_strings("/prompts/id", ids);
    f.write_strings("/prompts/text", texts);
    f.write_ragged("/prompts/tokens", toks, s_.deflate);
    f.write_rows("/prompts/benchmark", bench);
  }

  // The results, copied from the staging tables in batch (= prompt) order, a bounded
  // number of prompts per rank and pass.
  detail::FinalWidths widths;
  for (const auto& b : staged_) {
    widths.answer_bytes = std::max(widths.answer_bytes, b.answer_bytes);
    widths.key_bytes = std::max(widths.key_bytes, b.key_bytes);
  }
  detail::create_final(f, metric_names_, widths, s_.deflate);
  const int64_t per_pass = comm_->size() * std::max<int64_t>(1, kAssemblyPrompts / s_.batch_prompts);
  for (int64_t pass0 = 0; pass0 < int64_t(batches_.size()); pass0 += per_pass) {
    const int64_t n = std::min<int64_t>(per_pass, int64_t(batches_.size()) - pass0);
    auto [b0, b1] = dist::balanced_block(n, comm_->rank(), comm_->size());
    detail::ResultRows rows;
    for (int64_t b = pass0 + b0; b < pass0 + b1; ++b) {
      const auto& rec = staged_[size_t(b)];
      DISA_CHECK(rec.batch == b, IoError, "'{}': batch {} is missing from the staging index", file_.path(), b);
      const auto& batch = batches_[size_t(b)];
      rows.extend(detail::read_staged(file_, rec, batch.p1 - batch.p0, s_.samples, int64_t(metric_names_.size())));
    }
    detail::append_final(f, rows, metric_names_);
  }

  // Summary: rows = benchmarks + macro; rank 0 writes.
  f.create_group("/summary");
  root_strings("/summary/row", summary.rows);
  f.write_root("/summary/prompts", summary.prompts);
  std::string metrics;
  for (const auto& m : summary.metrics) metrics += (metrics.empty() ? "" : ",") + m;
  f.set_attr("/summary", "metrics", metrics);
  for (const auto& m : summary.metrics) {
    std::vector<double> mean, se;
    std::vector<int64_t> cnt;
    for (const auto& v : summary.values.at(m)) {
      mean.push_back(v.mean);
      se.push_back(v.se);
      cnt.push_back(v.count);
    }
    f.create_group("/summary/" + m);
    f.write_root("/summary/" + m + "/mean", mean);
    f.write_root("/summary/" + m + "/se", se);
    f.write_root("/summary/" + m + "/count", cnt);
  }
  f.write_root("/summary/judge_status_counts", judge_counts, kJudgeStatuses);
  f.set_code_names("/summary/judge_status_counts", judge_status_names());
  f.commit();  // EVAL.assembled
  // The staging file goes once the finished file is complete on disk; a job killed in
  // between leaves EVAL.incomplete, and --eval.resume assembles again.
  file_.close();
  comm_->barrier();
  if (mpi_.is_root()) {
    std::filesystem::rename(s_.out + kAssembledSuffix, s_.out);
    std::filesystem::remove(s_.out + io::h5::kIncompleteSuffix);
  }
  comm_->barrier();
  times_.add("write", t0);
}

void EvalStage::write_side_files(const EvalSummary& summary) const {
  if (!mpi_.is_root()) return;
  std::filesystem::path base(s_.out);
  const auto md = std::filesystem::path(base).replace_extension(".md");
  const auto js = std::filesystem::path(base).replace_extension(".json");
  std::ofstream(md) << render_summary_markdown(summary, "disa eval: " + base.filename().string());
  nlohmann::json j = summary_json(summary);
  j["format"] = "disa-eval-summary";
  j["eval_file"] = s_.out;
  j["model"] = s_.model_dir;
  j["model_fingerprint"] = policy_->fingerprint;
  j["temperature"] = s_.sampling.temperature;
  j["top_p"] = s_.sampling.top_p;
  j["max_new_tokens"] = s_.max_new_tokens;
  j["seed"] = s_.seed;
  std::ofstream(js) << j.dump(2) << "\n";
  for (const auto& p : {md, js})
    if (!std::filesystem::exists(p)) DISA_THROW(IoError, "cannot write the summary '{}'", p.string());
}

void EvalStage::print_summary(const EvalSummary& summary, const std::vector<int64_t>& judge_counts,
                              double seconds) const {
  const auto slowest = times_.slowest_rank(*comm_);  // in the order of kPhases
  const double gen = slowest[0], rew = slowest[1], jud = slowest[2], exa = slowest[3], wri = slowest[4];
  const int64_t tokens = comm_->all_reduce(generated_tokens_, dist::ReduceOp::Sum);
  const int64_t samples = comm_->all_reduce(samples_, dist::ReduceOp::Sum);
  if (!mpi_.is_root()) return;
  core::Table t("disa eval: summary");
  t.row("eval file", s_.out);
  t.row("benchmarks x prompts x k",
        fmt::format("{} x {} x {} = {} samples", benchmarks_.size(), prompts_.size(), s_.samples, samples));
  const size_t B = benchmarks_.size();
  if (judge_) {
    auto c = [&](JudgeStatus st) { return judge_counts[B * kJudgeStatuses + size_t(st)]; };
    t.row("judge", fmt::format("{} asked: {} parsed, {} unparsable; {} single, {} no correct, {} too long",
                               c(JudgeStatus::Parsed) + c(JudgeStatus::Unparsable), c(JudgeStatus::Parsed),
                               c(JudgeStatus::Unparsable), c(JudgeStatus::Single), c(JudgeStatus::NoCorrect),
                               c(JudgeStatus::TooLong)));
  }
  t.row("samples/s, tokens/s",
        fmt::format("{:.1f}, {:.0f}", double(samples) / std::max(seconds, 1e-9), double(tokens) / std::max(gen, 1e-9)));
  t.row("time: generate / reward / judge", fmt::format("{:.2f} / {:.2f} / {:.2f} s", gen, rew, jud));
  t.row("time: exact metrics / write", fmt::format("{:.2f} / {:.2f} s", exa, wri));
  t.row("wall time", fmt::format("{:.2f} s on {} rank(s)", seconds, mpi_.size()));
  std::fputs(t.render().c_str(), stderr);
  std::fputs(render_summary_table(summary).c_str(), stdout);
  std::fflush(stdout);
}

std::string EvalStage::run() {
  const auto start = core::Clock::now();
  load_inputs();
  plan_batches();
  create_or_resume_file();
  std::vector<int64_t> todo;
  for (size_t b = 0; b < batches_.size(); ++b)
    if (staged_[b].batch < 0) todo.push_back(int64_t(b));
  core::log::info("eval: {} benchmark(s), {} prompts, k = {}, {} batches ({} to do) over {} rank(s)",
                  benchmarks_.size(), prompts_.size(), s_.samples, batches_.size(), todo.size(), comm_->size());
  sample_rounds(todo);
  // Every rank reads what the others staged: all of it on disk first.
  file_.flush();
  comm_->barrier();
  staged_.assign(batches_.size(), detail::StagedBatch{-1});
  for (const auto& b : detail::read_staged_batches(file_)) staged_[size_t(b.batch)] = b;
  std::vector<int64_t> judge_counts;
  const EvalSummary summary = aggregate(judge_counts);
  assemble(summary, judge_counts);
  write_side_files(summary);
  print_summary(summary, judge_counts, core::seconds_since(start));
  return s_.out;
}

}  // namespace

void add_eval_options(core::Options& o) { settings_table().declare(o); }

std::string run_eval(const core::Config& config, dist::MpiContext& mpi) {
  const core::StopSignals stop_signals;  // SIGTERM: flush after the round, exit 75
  EvalStage stage(config, mpi);
  return stage.run();
}

}  // namespace disa::eval
