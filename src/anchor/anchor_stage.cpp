// The `disa anchor` stage driver (see include/disa/anchor/anchor_stage.hpp): options,
// validation before any output exists, the sampling rounds with collective appends to
// the partition file (and --resume from it), the cross-rank log-sum-exp reduction, the
// per-prompt anchors and diagnostics, and the end-of-run summary.
#include "disa/anchor/anchor_stage.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include <torch/torch.h>

#include "disa/anchor/estimators.hpp"
#include "disa/anchor/proposal.hpp"
#include "disa/anchor/work_plan.hpp"
#include "disa/build_info.hpp"
#include "disa/core/config.hpp"
#include "disa/core/log.hpp"
#include "disa/core/logsumexp.hpp"
#include "disa/core/option_table.hpp"
#include "disa/core/random.hpp"
#include "disa/core/stop_request.hpp"
#include "disa/core/table.hpp"
#include "disa/core/timing.hpp"
#include "disa/dist/communicator.hpp"
#include "disa/dist/device.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/dist/stop_agreement.hpp"
#include "disa/io/hdf5.hpp"
#include "disa/io/partition_file.hpp"
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
#include "disa/tasks/registry.hpp"
#include "disa/tasks/task_options.hpp"

namespace disa::anchor {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// The counter-stream step that decides a unit's mixture component (token steps are
// always far below it).
constexpr uint64_t kComponentStep = ~uint64_t(0);
// How far the strong model's teacher-forced re-score of a sample it drew may lie from the
// sampler's own log q. Both sum the same float32 log-softmax terms, computed once by the
// KV-cache decode and once by a full forward with other padding: per token they differ by
// rounding of logits of magnitude ~10 (float32: ~1e-6 relative, so ~1e-5 absolute), so
// 1e-4 per token plus 1e-4 bounds an honest disagreement; beyond it the two are not the
// same density (e.g. a top-p tie resolved differently), and the sampler's value is used.
constexpr double kRescorePerToken = 1e-4;
// Options that may differ between an interrupted run and its --resume.
const std::set<std::string> kResumeFreeOptions{
    "anchor.resume", "anchor.stop-after-rounds", "anchor.checkpoint-seconds", "anchor.threads", "log.level",
    "log.all-ranks"};

// The settings of `disa anchor`; the initialisers are the options' defaults.
struct Settings {
  std::string reference_dir, out = "anchors.h5";
  double beta = 1;
  int64_t samples = 16;
  uint64_t seed = 1234;
  int64_t batch_size = 64, max_new_tokens = 64, bootstrap = 200;
  bool exact = true, resume = false;
  stage::ComputeSettings compute;
  double checkpoint_seconds = 60;
  int deflate = 0;
  int64_t diagnostics_chunk = 1024, stop_after_rounds = -1;
  ProposalSpec proposal;
  tasks::TaskOptions task;
};

const core::OptionTable<Settings>& settings_table() {
  static const core::OptionTable<Settings> table = [] {
    core::OptionTable<Settings> t;
    t.text("anchor.reference", DISA_FIELD(reference_dir), "reference model directory (pi_ref; HF layout)",
           core::required("a model directory"));
    t.text("anchor.out", DISA_FIELD(out), "the partition file to write", core::required("the partition file to write"));
    t.real("anchor.beta", DISA_FIELD(beta), "inverse temperature beta > 0 of the reward-tilted target",
           {[](const double& v) { return v > 0 && std::isfinite(v); }, "must be > 0"});
    t.integer("anchor.samples", DISA_FIELD(samples), "proposal samples per prompt (N >= 1)",
              core::at_least<int64_t>(1, "samples per prompt, N"));
    t.integer("anchor.seed", DISA_FIELD(seed), "seed: a sample's random stream depends on (seed, prompt, sample) only");
    t.integer("anchor.batch-size", DISA_FIELD(batch_size), "work units (prompt, sample) per global batch",
              core::at_least<int64_t>(1));
    t.integer("anchor.max-new-tokens", DISA_FIELD(max_new_tokens), "generation limit per response",
              core::at_least<int64_t>(1));
    t.integer("anchor.bootstrap", DISA_FIELD(bootstrap), "bootstrap resamples for the SD of log Zhat (0: none)",
              core::at_least<int64_t>(0, "0: no bootstrap"));
    t.flag("anchor.exact", DISA_FIELD(exact), "compute the exact log Z where the task lists its solutions");
    t.flag("anchor.resume", DISA_FIELD(resume), "continue ANCHOR.OUT.incomplete left by an interrupted run");
    t.include(DISA_FIELD(compute), stage::compute_option_table("anchor"));
    t.real("anchor.checkpoint-seconds", DISA_FIELD(checkpoint_seconds),
           "flush the partition file (a resumable checkpoint) at most this often; 0: every round",
           core::at_least(0.0, "0: every round"));
    t.integer("anchor.deflate", DISA_FIELD(deflate), "gzip level 0-9 for trajectory datasets (0: none)",
              core::within<int64_t>(0, 9));
    t.integer("anchor.diagnostics-chunk", DISA_FIELD(diagnostics_chunk),
              "prompts read back per chunk when computing diagnostics", core::at_least<int64_t>(1));
    t.integer("anchor.stop-after-rounds", DISA_FIELD(stop_after_rounds),
              "fault injection for tests: exit abruptly after this many rounds (-1: off)");
    t.include(DISA_FIELD(proposal), proposal_option_table());
    t.include(DISA_FIELD(task), tasks::task_option_table());
    return t;
  }();
  return table;
}

// The per-unit columns of one batch, in unit order.
using Rows = io::partition::Trajectories;

// The timed phases, in the order the summary reads them.
const std::vector<std::string> kPhases{"generate", "score", "reward", "write", "reduce", "diagnostics"};

class AnchorStage {
 public:
  AnchorStage(const core::Config& config, dist::MpiContext& mpi)
      : config_(config),
        mpi_(mpi),
        s_(settings_table().read(config)),
        comm_(dist::make_mpi_communicator(mpi.world())) {}

  std::string run();

 private:
  void load_inputs();
  void create_or_resume_file();
  void write_provenance();
  void rebuild_accumulators(const std::vector<int64_t>& done_batches);
  void accumulate(const Rows& rows);
  Rows process_batch(int64_t batch);
  void sample_rounds(const std::vector<int64_t>& todo);
  void reduce_accumulators();
  void finalize_anchors();
  void print_summary(double total_seconds) const;
  std::vector<double> exact_log_z(int64_t p0, int64_t p1);
  io::h5::File& file() { return writer_.file(); }

  const core::Config& config_;
  dist::MpiContext& mpi_;
  Settings s_;
  std::unique_ptr<dist::Communicator> comm_;
  torch::Device device_{torch::kCPU};
  model::CausalLM reference_{nullptr}, strong_{nullptr};
  std::shared_ptr<const model::Tokenizer> tokenizer_;
  std::string exact_unavailable_;  // why the exact log Z cannot be computed here ("" when it can)
  std::unique_ptr<tasks::Task> task_;
  tasks::Dataset dataset_;
  std::vector<stage::EncodedPrompt> prompts_;
  WorkPlan plan_;
  model::GenerationParams generation_;          // stops and limit of every sample (per batch: its size)
  io::partition::Writer writer_;                // the partition file
  std::map<int64_t, int64_t> batch_first_row_;  // batch id -> first row (done batches)
  // Per-prompt accumulators (O(prompts)): log-sum-exp of the log weights, counts.
  std::vector<double> lse_max_, lse_sum_;
  std::vector<int64_t> count_, correct_;
  stage::PhaseTimes times_{kPhases};
  int64_t generated_tokens_ = 0, samples_ = 0;  // this rank's, this run
};

void AnchorStage::load_inputs() {
  device_ = stage::setup_compute(mpi_, s_.compute);
  std::optional<stage::ModelSource> strong;
  if (s_.proposal.kind != ProposalSpec::Kind::Reference)
    strong = stage::ModelSource{"proposal.model", "proposal", s_.proposal.model_dir, ""};
  auto models = stage::load_models({"anchor.reference", "reference", s_.reference_dir, ""}, strong,
                                   "importance weights need both to score the same token sequences", device_,
                                   stage::compute_dtype(device_));
  reference_ = models.first;
  reference_->eval();
  strong_ = models.second;
  if (strong_) strong_->eval();
  tokenizer_ = models.tokenizer;
  if (auto why = stage::inexact_solution_scoring(*tokenizer_); why && s_.exact) {
    exact_unavailable_ = *why;
    core::log::warn("anchor: no exact log Z: {} (log_z_exact is NaN, marked not available)", exact_unavailable_);
  }
  task_ = tasks::make_task(s_.task);
  dataset_ = task_->make_dataset();
  DISA_CHECK(dataset_.size() > 0, DataError, "the data set '{}' has no prompts", dataset_.source());
  prompts_ = stage::encode_prompts(*task_, dataset_, *tokenizer_,
                                   stage::prompt_limit(reference_->config(), s_.max_new_tokens, "anchor.max-new-tokens",
                                                       s_.task.max_prompt_tokens));
  plan_ = WorkPlan{int64_t(dataset_.size()), s_.samples, s_.batch_size};
  // The response space: the reference's stops (the proposal samples the same one).
  generation_ = stage::generation_params(*reference_, *tokenizer_, *task_, model::SamplingParams{}, s_.max_new_tokens,
                                         s_.batch_size);
  if (s_.proposal.truncates())
    core::log::warn(
        "the proposal is truncated (top-k={}, top-p={}): it cannot draw the reference mass outside its "
        "support, so log Zhat is biased low (docs/method.md §2, support). Recorded in the file.",
        s_.proposal.sampling.top_k, s_.proposal.sampling.top_p);
}

void AnchorStage::write_provenance() {
  auto& f = file();
  const auto& p = s_.proposal;
  f.set_attr("/", "beta", s_.beta);
  f.set_attr("/", "samples_per_prompt", s_.samples);
  f.set_attr("/", "anchors",
             fmt::format("{},{}", io::partition::kSequenceAnchor, io::partition::kLengthNormalizedAnchor));
  f.set_attr("/", "proposal", p.describe());
  f.set_attr("/", "proposal_kind", p.kind_name());
  f.set_attr("/", "proposal_truncated", int64_t(p.truncates() ? 1 : 0));
  f.set_attr("/", "mixture_alpha", p.kind == ProposalSpec::Kind::Mixture ? p.alpha : 0.0);
  f.set_attr("/", "temperature", p.sampling.temperature);
  f.set_attr("/", "top_k", p.sampling.top_k);
  f.set_attr("/", "top_p", p.sampling.top_p);
  f.set_attr("/", "max_new_tokens", s_.max_new_tokens);
  io::partition::write_response_stops(f, stage::response_stops(generation_));
  f.set_attr("/", "reference_model", s_.reference_dir);
  f.set_attr("/", "reference_fingerprint", reference_->fingerprint);
  f.set_attr("/", "tokenizer_fingerprint", tokenizer_->fingerprint());
  f.set_attr("/", "proposal_model", p.kind == ProposalSpec::Kind::Reference ? s_.reference_dir : p.model_dir);
  f.set_attr("/", "proposal_fingerprint",
             p.kind == ProposalSpec::Kind::Reference ? reference_->fingerprint : strong_->fingerprint);
  f.set_attr("/", "task", task_->name());
  f.set_attr("/", "dataset_source", dataset_.source());
  f.set_attr("/", "dataset_fingerprint", dataset_.fingerprint());
  f.set_attr("/", "seed", int64_t(s_.seed));
  f.set_attr("/", "batch_size", s_.batch_size);
  f.set_attr("/", "resume_key", stage::resume_key(config_, kResumeFreeOptions));
  io::write_run_provenance(f, config_, *comm_);
}

void AnchorStage::create_or_resume_file() {
  const std::string incomplete = s_.out + io::h5::kIncompleteSuffix;
  std::vector<int64_t> done;
  if (s_.resume && std::filesystem::exists(incomplete)) {
    writer_ = io::partition::Writer::reopen(s_.out, comm_->comm());
    std::string stored = file().attr_string("/", "resume_key");
    if (stored != stage::resume_key(config_, kResumeFreeOptions))
      DISA_THROW(ConfigError,
                 "--anchor.resume: '{}' was written with another configuration; rerun with the same "
                 "options (only the number of ranks, anchor.resume and log.* may change), or delete it",
                 incomplete);
    // Keep only rows of batches recorded complete; a round cut short is redone.
    for (const auto& b : writer_.drop_unrecorded_rows()) {
      done.push_back(b.batch);
      batch_first_row_[b.batch] = b.first_row;
    }
    core::log::info("resuming '{}': {} of {} batches already done", incomplete, done.size(), plan_.num_batches());
  } else {
    if (s_.resume) core::log::info("--anchor.resume: no '{}' to resume, starting afresh", incomplete);
    io::partition::Writer::Options options;
    options.deflate = s_.deflate;
    options.batch_size = s_.batch_size;
    options.reason_names = tasks::reason_names();
    writer_ = io::partition::Writer::create(s_.out, comm_->comm(), options);
    write_provenance();
    // Prompts: each rank writes its contiguous block.
    auto [p0, p1] = dist::balanced_block(plan_.num_prompts, comm_->rank(), comm_->size());
    std::vector<std::string> ids, texts;
    std::vector<std::vector<int32_t>> toks;
    for (int64_t p = p0; p < p1; ++p) {
      ids.push_back(dataset_[size_t(p)].id);
      texts.push_back(prompts_[size_t(p)].text);
      toks.push_back(prompts_[size_t(p)].tokens);
    }
    writer_.write_prompts(ids, texts, toks);
    file().flush();
  }
  lse_max_.assign(size_t(plan_.num_prompts), -kInf);
  lse_sum_.assign(size_t(plan_.num_prompts), 0.0);
  count_.assign(size_t(plan_.num_prompts), 0);
  correct_.assign(size_t(plan_.num_prompts), 0);
  rebuild_accumulators(done);
}

void AnchorStage::accumulate(const Rows& rows) {
  for (size_t i = 0; i < rows.size(); ++i) {
    const size_t p = size_t(rows.prompt_index[i]);
    core::LogSumExp acc{lse_max_[p], lse_sum_[p]};
    acc.add(rows.log_weight[i]);
    lse_max_[p] = acc.max;
    lse_sum_[p] = acc.scaled_sum;
    count_[p] += 1;
    correct_[p] += rows.reason[i] == int8_t(tasks::Reason::Correct) ? 1 : 0;
  }
}

void AnchorStage::rebuild_accumulators(const std::vector<int64_t>& done) {
  // Each rank re-reads its share of the batches already in the file.
  auto [b0, b1] = dist::balanced_block(int64_t(done.size()), comm_->rank(), comm_->size());
  for (int64_t i = b0; i < b1; ++i) {
    const int64_t batch = done[size_t(i)];
    auto [u0, u1] = plan_.batch_units(batch);
    accumulate(io::partition::read_trajectory_rows(file(), batch_first_row_.at(batch), u1 - u0));
  }
}

Rows AnchorStage::process_batch(int64_t batch) {
  auto [u0, u1] = plan_.batch_units(batch);
  const size_t n = size_t(u1 - u0);
  const auto& prop = s_.proposal;
  model::GenerationParams gp = generation_;
  gp.max_batch_size = int64_t(n);

  // Which component draws each unit (mixture only).
  std::vector<int8_t> component(n, io::partition::kComponentProposal);
  if (prop.kind == ProposalSpec::Kind::Mixture)
    for (size_t i = 0; i < n; ++i) {
      const int64_t u = u0 + int64_t(i);
      double draw =
          model::counter_uniform(s_.seed, uint64_t(plan_.prompt_of(u)), uint64_t(plan_.sample_of(u)), kComponentStep);
      component[i] = draw < prop.alpha ? io::partition::kComponentStrong : io::partition::kComponentReference;
    }

  auto t0 = core::Clock::now();
  std::vector<model::GenerationResult> results(n);
  auto run_generation = [&](model::CausalLMImpl& model, const model::SamplingParams& sampling, int8_t which) {
    std::vector<model::GenerationRequest> requests;
    std::vector<size_t> slots;
    for (size_t i = 0; i < n; ++i) {
      if (component[i] != which) continue;
      const int64_t u = u0 + int64_t(i);
      requests.push_back({prompts_[size_t(plan_.prompt_of(u))].tokens, plan_.prompt_of(u), plan_.sample_of(u)});
      slots.push_back(i);
    }
    if (requests.empty()) return;
    model::GenerationParams params = gp;
    params.sampling = sampling;
    auto out = model::generate(model, requests, params, s_.seed, tokenizer_.get());
    for (size_t k = 0; k < slots.size(); ++k) results[slots[k]] = std::move(out[k]);
  };
  if (prop.kind == ProposalSpec::Kind::Reference) {
    run_generation(*reference_, prop.sampling, io::partition::kComponentProposal);
  } else if (prop.kind == ProposalSpec::Kind::Model) {
    run_generation(*strong_, prop.sampling, io::partition::kComponentProposal);
  } else {
    run_generation(*strong_, prop.sampling, io::partition::kComponentStrong);
    run_generation(*reference_, model::SamplingParams{}, io::partition::kComponentReference);
  }
  times_.add("generate", t0);

  t0 = core::Clock::now();
  std::vector<const tasks::Record*> records;
  for (size_t i = 0; i < n; ++i) records.push_back(prompts_[size_t(plan_.prompt_of(u0 + int64_t(i)))].record);
  const auto rewards = stage::reward_responses(*task_, records, *tokenizer_, results).rewards;
  times_.add("reward", t0);

  // Teacher-forced log pi_ref (and log q_strong for a mixture).
  t0 = core::Clock::now();
  std::vector<model::ScoreItem> items;
  for (size_t i = 0; i < n; ++i)
    items.push_back({prompts_[size_t(plan_.prompt_of(u0 + int64_t(i)))].tokens, results[i].tokens});
  model::ScoreOptions ref_opts;
  ref_opts.max_batch_size = int64_t(n);
  const auto log_pi_ref = model::score(*reference_, items, ref_opts).sums();
  std::vector<double> log_q_strong(n, std::numeric_limits<double>::quiet_NaN());
  if (prop.kind == ProposalSpec::Kind::Mixture) {
    model::ScoreOptions strong_opts = ref_opts;
    strong_opts.sampling = prop.sampling;
    log_q_strong = model::score(*strong_, items, strong_opts).sums();
  }
  times_.add("score", t0);

  Rows rows;
  int64_t rescore_mismatches = 0;
  std::string worst_mismatch;
  double worst_gap = 0;
  for (size_t i = 0; i < n; ++i) {
    const int64_t u = u0 + int64_t(i);
    const auto& g = results[i];
    double log_q = g.sum_sampler_logprob;
    double strong = log_q_strong[i];
    if (prop.is_reference_itself()) {
      log_q = log_pi_ref[i];  // q is pi_ref: the weights are exactly exp(beta r)
    } else if (prop.kind == ProposalSpec::Kind::Model) {
      strong = g.sum_sampler_logprob;
    } else if (prop.kind == ProposalSpec::Kind::Mixture) {
      // The component that drew the sample has the sampler's own log q (the exact density
      // of the tokens it drew); the other one is teacher-forced. The reference's density
      // is always the score, the same number as in the weight's numerator.
      if (component[i] == io::partition::kComponentStrong) {
        const double gap = std::abs(g.sum_sampler_logprob - log_q_strong[i]);
        if (!(gap <= kRescorePerToken * double(1 + g.tokens.size()))) {
          ++rescore_mismatches;
          if (!(gap <= worst_gap)) {
            worst_gap = gap;
            worst_mismatch = fmt::format("prompt '{}' sample {}: sampler log q {}, re-score {}",
                                         dataset_[size_t(plan_.prompt_of(u))].id, plan_.sample_of(u),
                                         g.sum_sampler_logprob, log_q_strong[i]);
          }
        }
        strong = g.sum_sampler_logprob;
      }
      core::LogSumExp mix;
      mix.add(std::log(prop.alpha) + strong);
      mix.add(std::log1p(-prop.alpha) + log_pi_ref[i]);
      log_q = mix.value();
    }
    const double reward = rewards[i].reward;
    const double log_weight = s_.beta * reward + log_pi_ref[i] - log_q;
    if (!std::isfinite(log_weight))
      DISA_THROW(DataError,
                 "non-finite log importance weight {} for prompt '{}' (index {}), sample {}: reward {}, "
                 "log pi_ref {}, log q {}",
                 log_weight, dataset_[size_t(plan_.prompt_of(u))].id, plan_.prompt_of(u), plan_.sample_of(u), reward,
                 log_pi_ref[i], log_q);
    rows.prompt_index.push_back(plan_.prompt_of(u));
    rows.sample_index.push_back(plan_.sample_of(u));
    rows.tokens.push_back(g.tokens);
    rows.length.push_back(int32_t(g.tokens.size()));
    rows.finish_reason.push_back(stage::finish_code(g.finish_reason));
    rows.component.push_back(component[i]);
    rows.reason.push_back(int8_t(rewards[i].reason));
    rows.reward.push_back(reward);
    rows.log_q.push_back(log_q);
    rows.log_pi_ref.push_back(log_pi_ref[i]);
    rows.log_q_strong.push_back(strong);
    rows.log_weight.push_back(log_weight);
    generated_tokens_ += int64_t(g.tokens.size());
  }
  if (rescore_mismatches > 0)
    core::log::warn(
        "anchor: {} samples of the strong component re-score to another log q than the sampler gave them (beyond "
        "{} per token; -inf: outside the re-scored support); the sampler's value is used. Largest: {}",
        rescore_mismatches, kRescorePerToken, worst_mismatch);
  samples_ += int64_t(n);
  return rows;
}

void AnchorStage::sample_rounds(const std::vector<int64_t>& todo) {
  auto [a, b] = dist::balanced_block(int64_t(todo.size()), comm_->rank(), comm_->size());
  const int64_t rounds = (int64_t(todo.size()) + comm_->size() - 1) / comm_->size();
  const auto start = core::Clock::now();
  auto last_flush = start;
  int64_t done_units = 0, todo_units = 0;
  for (int64_t b : todo) todo_units += plan_.batch_units(b).second - plan_.batch_units(b).first;
  for (int64_t t = 0; t < rounds; ++t) {
    Rows rows;
    int64_t batch = -1;
    if (a + t < b) {
      batch = todo[size_t(a + t)];
      rows = process_batch(batch);
    }
    // Collective append: every rank joins, with zero rows when it has no batch left.
    auto t0 = core::Clock::now();
    const int64_t n = int64_t(rows.size());
    // The batch is recorded as done only after its rows: the index is the checkpoint.
    writer_.append(rows, batch);
    // Checkpoint: flush to disk every --anchor.checkpoint-seconds (rank 0 decides for all),
    // and before stopping on a signal that any rank received.
    const bool injected_stop = s_.stop_after_rounds >= 0 && t + 1 >= s_.stop_after_rounds;
    const bool due = mpi_.is_root() && (core::seconds_since(last_flush) >= s_.checkpoint_seconds || injected_stop);
    const auto agreed = dist::agree_at_boundary(*comm_, due);
    if (agreed.flag || agreed.stop_signal != 0) {
      file().flush();
      last_flush = core::Clock::now();
    }
    if (agreed.stop_signal != 0 && t + 1 < rounds)
      throw core::StopRequested(
          fmt::format("anchor: {} after round {} of {}: '{}{}' holds every finished batch; "
                      "continue with --anchor.resume",
                      core::signal_name(agreed.stop_signal), t + 1, rounds, s_.out, io::h5::kIncompleteSuffix));
    times_.add("write", t0);
    accumulate(rows);
    done_units += comm_->all_reduce(n, dist::ReduceOp::Sum);
    const double elapsed = core::seconds_since(start);
    const int64_t tokens = comm_->all_reduce(generated_tokens_, dist::ReduceOp::Sum);
    core::log::info("round {}/{}: {}/{} samples this run, {:.1f} samples/s, {:.0f} tokens/s", t + 1, rounds, done_units,
                    todo_units, done_units / std::max(elapsed, 1e-9), tokens / std::max(elapsed, 1e-9));
    if (injected_stop) {
      // Fault injection for the resume tests: die as a killed job would, file not closed.
      core::log::warn("--anchor.stop-after-rounds={}: stopping abruptly (simulated kill)", s_.stop_after_rounds);
      comm_->barrier();
      std::fflush(nullptr);
      std::_Exit(137);  // what a shell reports for SIGKILL
    }
  }
}

void AnchorStage::reduce_accumulators() {
  auto t0 = core::Clock::now();
  std::vector<double> lse(lse_max_.size());
  for (size_t p = 0; p < lse.size(); ++p) lse[p] = core::LogSumExp{lse_max_[p], lse_sum_[p]}.value();
  comm_->all_reduce_logsumexp(lse);
  comm_->all_reduce(count_, dist::ReduceOp::Sum);
  comm_->all_reduce(correct_, dist::ReduceOp::Sum);
  for (size_t p = 0; p < lse.size(); ++p) {
    DISA_CHECK(count_[p] == s_.samples, DataError, "prompt '{}' has {} samples in the file, expected {}",
               dataset_[p].id, count_[p], s_.samples);
    lse_max_[p] = lse[p];  // now the global log-sum-exp
  }
  times_.add("reduce", t0);
}

std::vector<double> AnchorStage::exact_log_z(int64_t p0, int64_t p1) {
  std::vector<double> out(size_t(p1 - p0), std::numeric_limits<double>::quiet_NaN());
  if (!s_.exact || !exact_unavailable_.empty()) return out;
  int64_t unreachable = 0;
  for (int64_t p = p0; p < p1; ++p) {
    const auto& prompt = prompts_[size_t(p)];
    auto solutions = stage::listed_solutions(*task_, *prompt.record, *tokenizer_, s_.max_new_tokens);
    if (!solutions) return out;  // the task does not list its solutions
    unreachable += solutions->unreachable;
    // P_ref(correct) = sum of the reference probabilities of the correct responses;
    // with binary rewards Z = 1 + (e^beta - 1) P_ref(correct).
    core::LogSumExp mass;
    for (double l : stage::score_solutions(*reference_, prompt.tokens, *solutions, s_.batch_size)) mass.add(l);
    out[size_t(p - p0)] = exact_log_partition(s_.beta, mass.value());
  }
  if (unreachable > 0)
    core::log::warn(
        "{} correct responses are longer than anchor.max-new-tokens={} and cannot be sampled; the exact "
        "log Z counts only reachable ones",
        unreachable, s_.max_new_tokens);
  return out;
}

void AnchorStage::finalize_anchors() {
  auto t0 = core::Clock::now();
  // Each rank handles a contiguous block of prompts, reading their log weights back
  // from the file in chunks (memory independent of the number of prompts).
  auto [p0, p1] = dist::balanced_block(plan_.num_prompts, comm_->rank(), comm_->size());
  const size_t m = size_t(p1 - p0);
  std::vector<double> log_z_hat(m), log_z_ln(m), log_z_exact(m), pass_rate(m), ess(m), ess_fraction(m), max_w(m),
      k_hat(m), delta_se(m), boot(m), rel_var(m);
  std::vector<int64_t> n_col(m), correct_col(m), flags(m);
  // Rows of every batch in the file (index complete after the rounds).
  {
    batch_first_row_.clear();
    for (const auto& b : io::partition::read_batches(file())) batch_first_row_[b.batch] = b.first_row;
  }
  const int64_t N = s_.samples;
  const double k_hat_limit = N >= 2 ? k_hat_threshold(N) : kInf;
  for (int64_t c0 = p0; c0 < p1; c0 += s_.diagnostics_chunk) {
    const int64_t c1 = std::min(p1, c0 + s_.diagnostics_chunk);
    // Units [c0*N, c1*N) in unit order, gathered batch by batch.
    Rows units;
    const int64_t u_begin = c0 * N, u_end = c1 * N;
    for (int64_t b = u_begin / s_.batch_size; b * s_.batch_size < u_end; ++b) {
      auto [bu0, bu1] = plan_.batch_units(b);
      const int64_t lo = std::max(bu0, u_begin), hi = std::min(bu1, u_end);
      auto part = io::partition::read_trajectory_rows(file(), batch_first_row_.at(b) + (lo - bu0), hi - lo);
      for (size_t i = 0; i < part.size(); ++i) units.push_back_row(part, i);
    }
    auto exact = exact_log_z(c0, c1);
    for (int64_t p = c0; p < c1; ++p) {
      const size_t k = size_t(p - p0), base = size_t((p - c0) * N);
      const size_t n_samples = static_cast<size_t>(N);
      std::vector<double> l(n_samples), ratio(n_samples), len(n_samples), br(n_samples);
      for (int64_t j = 0; j < N; ++j) {
        const size_t r = base + size_t(j);
        DISA_CHECK(units.prompt_index[r] == p && units.sample_index[r] == j, DataError,
                   "partition file rows out of order at prompt {} sample {}", p, j);
        l[size_t(j)] = units.log_weight[r];
        ratio[size_t(j)] = units.log_pi_ref[r] - units.log_q[r];
        len[size_t(j)] = std::max<double>(1.0, units.length[r]);
        br[size_t(j)] = s_.beta * units.reward[r];
      }
      auto d = diagnose(l);
      log_z_hat[k] = lse_max_[size_t(p)] - std::log(double(N));  // the cross-rank reduction
      log_z_ln[k] = length_normalized_anchor(ratio, len, br);
      log_z_exact[k] = exact[size_t(p - c0)];
      n_col[k] = N;
      correct_col[k] = correct_[size_t(p)];
      pass_rate[k] = double(correct_[size_t(p)]) / double(N);
      ess[k] = d.ess;
      ess_fraction[k] = d.ess_fraction;
      max_w[k] = d.max_normalized_weight;
      k_hat[k] = d.k_hat;
      delta_se[k] = d.delta_se;
      rel_var[k] = d.relative_variance;
      boot[k] = bootstrap_sd(l, int(s_.bootstrap), core::mix64(s_.seed ^ core::mix64(uint64_t(p) + 0x5bd1e995ULL)));
      int64_t f = 0;
      if (correct_[size_t(p)] == 0) f |= io::partition::kAllWrong;
      if (d.k_hat > k_hat_limit) f |= io::partition::kHeavyTail;
      if (std::isnan(d.k_hat)) f |= io::partition::kTailNotAssessable;
      if (s_.proposal.truncates()) f |= io::partition::kTruncatedProposal;
      if (std::isnan(log_z_exact[k])) f |= io::partition::kNoExact;
      flags[k] = f;
    }
  }
  times_.add("diagnostics", t0);
  t0 = core::Clock::now();
  auto& f = file();
  f.create_group("/anchors");
  f.write_rows("/anchors/log_z_hat", log_z_hat);
  f.write_rows("/anchors/log_z_length_normalized", log_z_ln);
  f.write_rows("/anchors/log_z_exact", log_z_exact);
  f.set_attr("/anchors/log_z_hat", "residual", std::string(io::partition::kSequenceAnchor));
  f.set_attr("/anchors/log_z_hat", "definition", std::string("logsumexp_i(l_i) - log N; residual s_i = 1"));
  f.set_attr("/anchors/log_z_length_normalized", "residual", std::string(io::partition::kLengthNormalizedAnchor));
  f.set_attr("/anchors/log_z_length_normalized", "definition",
             std::string("root c of (1/N) sum_i (pi_ref/q)(y_i) exp(|y_i| (beta r_i - c)) = 1; s_i = 1/|y_i|"));
  f.set_attr("/anchors/log_z_exact", "definition",
             std::string("log(1 + (e^beta - 1) P_ref(correct)), every listed solution scored; NaN if unknown"));
  f.set_attr("/anchors/log_z_exact", "not_available", exact_unavailable_);  // "" where it is exact
  f.write_rows("/diagnostics/n", n_col);
  f.write_rows("/diagnostics/n_correct", correct_col);
  f.write_rows("/diagnostics/pass_rate", pass_rate);
  f.write_rows("/diagnostics/ess", ess);
  f.write_rows("/diagnostics/ess_fraction", ess_fraction);
  f.write_rows("/diagnostics/max_normalized_weight", max_w);
  f.write_rows("/diagnostics/k_hat", k_hat);
  f.write_rows("/diagnostics/delta_se", delta_se);
  f.write_rows("/diagnostics/bootstrap_sd", boot);
  f.write_rows("/diagnostics/relative_variance", rel_var);
  f.write_rows("/diagnostics/flags", flags);
  f.set_attr("/diagnostics/flags", "bits",
             std::string("1: all samples wrong, 2: k_hat above the threshold of /diagnostics/k_hat, 4: truncated "
                         "proposal, 8: no exact log Z, 16: k_hat not assessable (fewer than 5 distinct tail "
                         "weights)"));
  f.set_attr("/diagnostics/k_hat", "threshold", k_hat_limit);
  f.set_attr("/diagnostics/bootstrap_sd", "resamples", s_.bootstrap);
  f.set_attr("/", "world_size", int64_t(mpi_.size()));
  times_.add("write", t0);
}

void AnchorStage::print_summary(double total_seconds) const {
  const auto slowest = times_.slowest_rank(*comm_);  // in the order of kPhases
  const double gen = slowest[0], sco = slowest[1], rew = slowest[2], wri = slowest[3], red = slowest[4],
               dia = slowest[5];
  const int64_t samples = comm_->all_reduce(samples_, dist::ReduceOp::Sum);
  const int64_t tokens = comm_->all_reduce(generated_tokens_, dist::ReduceOp::Sum);
  if (!mpi_.is_root()) return;
  auto reader = io::partition::Reader::open(s_.out);
  auto ess_fraction = reader.diagnostic("ess_fraction");
  auto k_hat = reader.diagnostic("k_hat");
  auto flags = reader.diagnostic("flags");
  auto hat = reader.anchors(io::partition::kSequenceAnchor);
  auto exact = reader.exact_log_z();
  std::vector<double> sorted = ess_fraction;
  std::sort(sorted.begin(), sorted.end());
  auto quantile = [&](double q) { return sorted[size_t(std::round(q * double(sorted.size() - 1)))]; };
  int64_t heavy = 0, all_wrong = 0, with_truth = 0, not_assessable = 0;
  double err_sum = 0, err_max = 0;
  for (size_t p = 0; p < k_hat.size(); ++p) {
    heavy += (int64_t(flags[p]) & io::partition::kHeavyTail) ? 1 : 0;
    not_assessable += std::isnan(k_hat[p]) ? 1 : 0;
    all_wrong += (int64_t(flags[p]) & io::partition::kAllWrong) ? 1 : 0;
    if (!std::isnan(exact[p])) {
      ++with_truth;
      double e = std::abs(hat[p] - exact[p]);
      err_sum += e;
      err_max = std::max(err_max, e);
    }
  }
  core::Table t("disa anchor: summary");
  t.row("partition file", s_.out);
  t.row("prompts x samples", fmt::format("{} x {} = {}", plan_.num_prompts, s_.samples, plan_.num_units()));
  t.row("sampled in this run", fmt::format("{} samples, {} tokens", samples, tokens));
  t.row("ESS/N quantiles 5/25/50/75/95%", fmt::format("{:.3f} / {:.3f} / {:.3f} / {:.3f} / {:.3f}", quantile(0.05),
                                                      quantile(0.25), quantile(0.5), quantile(0.75), quantile(0.95)));
  t.row(fmt::format("prompts with k_hat > {:.2f}", s_.samples >= 2 ? k_hat_threshold(s_.samples) : kInf),
        fmt::format("{} of {} ({} not assessable: < 5 distinct tail weights)", heavy, k_hat.size(), not_assessable));
  t.row("prompts with no correct sample", fmt::format("{} of {}", all_wrong, k_hat.size()));
  if (with_truth > 0)
    t.row("|log Zhat - log Z| mean / max",
          fmt::format("{:.4f} / {:.4f} over {} prompts", err_sum / double(with_truth), err_max, with_truth));
  else
    t.row("|log Zhat - log Z|", "no exact log Z (task does not list its solutions)");
  t.row("samples/s, tokens/s",
        fmt::format("{:.1f}, {:.0f}", samples / std::max(total_seconds, 1e-9), tokens / std::max(gen, 1e-9)));
  t.row("time: generate / score / reward", fmt::format("{:.2f} / {:.2f} / {:.2f} s", gen, sco, rew));
  t.row("time: reduce / write / diagnostics", fmt::format("{:.2f} / {:.2f} / {:.2f} s", red, wri, dia));
  t.row("wall time", fmt::format("{:.2f} s on {} rank(s)", total_seconds, mpi_.size()));
  std::fputs(t.render().c_str(), stderr);
}

std::string AnchorStage::run() {
  const auto start = core::Clock::now();
  load_inputs();
  create_or_resume_file();
  std::vector<int64_t> todo;
  for (int64_t b = 0; b < plan_.num_batches(); ++b)
    if (!batch_first_row_.count(b)) todo.push_back(b);
  sample_rounds(todo);
  reduce_accumulators();
  finalize_anchors();
  file().commit();
  print_summary(core::seconds_since(start));
  return s_.out;
}

}  // namespace

void add_anchor_options(core::Options& o) { settings_table().declare(o); }

std::string run_anchor(const core::Config& config, dist::MpiContext& mpi) {
  const core::StopSignals stop_signals;  // SIGTERM: flush after the round, exit 75
  AnchorStage stage(config, mpi);
  return stage.run();
}

}  // namespace disa::anchor
