// The training loop of `disa train` (include/disa/train/trainer.hpp): data
// (online rollouts or the partition file's trajectories), the per-algorithm loss of a
// micro-batch, the optimiser step, metrics, exact distribution metrics, checkpoints
// and resume.
#include "disa/train/trainer.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <numeric>
#include <optional>

#include <torch/torch.h>

#include "disa/core/config.hpp"
#include "disa/core/log.hpp"
#include "disa/core/logsumexp.hpp"
#include "disa/core/random.hpp"
#include "disa/core/timing.hpp"
#include "disa/dist/communicator.hpp"
#include "disa/dist/device.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/dist/work_split.hpp"
#include "disa/eval/statistics.hpp"
#include "disa/io/provenance.hpp"
#include "disa/model/generate.hpp"
#include "disa/model/lora.hpp"
#include "disa/model/response_text.hpp"
#include "disa/model/score.hpp"
#include "disa/model/tokenizer.hpp"
#include "disa/model/weights.hpp"
#include "disa/tasks/registry.hpp"
#include "disa/tasks/task_options.hpp"
#include "disa/train/checkpoint.hpp"
#include "disa/train/frozen_anchors.hpp"
#include "disa/train/gradients.hpp"
#include "disa/train/log_z_head.hpp"
#include "disa/train/lr_schedule.hpp"
#include "disa/train/metrics_file.hpp"
#include "disa/train/objectives.hpp"
#include "disa/train/train_settings.hpp"

namespace disa::train {

namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A training prompt: the data record, its tokens, its frozen anchor (NaN if none).
struct Prompt {
  const tasks::Record* record = nullptr;
  std::vector<int32_t> tokens;
  double anchor = kNaN;
  double exact_log_z = kNaN;
  int64_t file_index = -1;  // in the partition file
};

// One response of the step, on the rank that owns its prompt.
struct Sample {
  int64_t prompt = 0;     // training prompt index (sft: -1, prompt tokens in `prompt_tokens`)
  int64_t minibatch = 0;
  int64_t group = 0;      // consecutive samples of one prompt share a group id
  const std::vector<int32_t>* prompt_tokens = nullptr;
  std::vector<int32_t> tokens;
  double reward = 0;
  bool correct = false, truncated = false;
  double anchor = kNaN;
  double log_q = 0;            // offline: proposal log density
  double advantage = 0;        // grpo/gspo advantage; flowrl: normalised reward
  double offline_weight = 1;   // offline disa: self-normalised pi_theta/q weight
  std::vector<float> old_logp, ref_logp;
};

// Sums, counts and maxima of the step's statistics under fixed names (identical on every
// rank, so one all-reduce of each vector combines them).
class StepStats {
 public:
  explicit StepStats(const std::vector<std::string>& names) : names_(names) {
    for (size_t i = 0; i < names_.size(); ++i) index_[names_[i]] = i;
    sum_.assign(names_.size(), 0.0);
    count_.assign(names_.size(), 0.0);
    max_.assign(names_.size(), -std::numeric_limits<double>::infinity());
  }
  void add(const std::string& name, double sum, double count = 1.0) {
    size_t i = at(name);
    sum_[i] += sum;
    count_[i] += count;
  }
  void max(const std::string& name, double value) {
    size_t i = at(name);
    max_[i] = std::max(max_[i], value);
  }
  void reduce(Communicator& comm) {
    comm.all_reduce(sum_, ReduceOp::Sum);
    comm.all_reduce(count_, ReduceOp::Sum);
    comm.all_reduce(max_, ReduceOp::Max);
  }
  double mean(const std::string& name) const {
    size_t i = at(name);
    return count_[i] > 0 ? sum_[i] / count_[i] : kNaN;
  }
  double sum(const std::string& name) const { return sum_[at(name)]; }
  double count(const std::string& name) const { return count_[at(name)]; }
  double maximum(const std::string& name) const {
    size_t i = at(name);
    return std::isfinite(max_[i]) ? max_[i] : kNaN;
  }

 private:
  size_t at(const std::string& name) const {
    auto it = index_.find(name);
    DISA_CHECK(it != index_.end(), Error, "internal: unknown step statistic '{}'", name);
    return it->second;
  }
  std::vector<std::string> names_;
  std::map<std::string, size_t> index_;
  std::vector<double> sum_, count_, max_;
};

const std::vector<std::string>& stat_names() {
  static const std::vector<std::string> names{
      "loss", "reward", "reward_sq", "accuracy", "zero_variance_groups", "response_length", "truncated",
      "entropy", "kl_ref", "residual", "residual_sq", "weight", "weight_clamped", "anchor", "log_z_learned",
      "log_z_learned_minus_anchor", "clip_low", "clip_high", "kl_penalty", "grad_norm", "tokens",
      "time_generate", "time_score", "time_backward", "time_communicate"};
  return names;
}

// The metric columns of train.h5 for an algorithm.
std::vector<std::string> metric_columns(const Settings& s, bool has_anchor_comparison) {
  std::vector<std::string> m{"loss", "reward_mean", "reward_std", "accuracy", "zero_variance_groups",
                             "response_length_mean", "response_length_max", "truncation_rate", "entropy",
                             "kl_ref"};
  switch (s.algorithm) {
    case Algorithm::Disa:
      for (auto n : {"residual_mean", "residual_sq_mean", "weight_mean", "weight_max", "weight_clamp_fraction",
                     "anchor_mean"})
        m.push_back(n);
      break;
    case Algorithm::FlowRL:
      for (auto n : {"residual_mean", "residual_sq_mean", "weight_mean", "weight_max", "weight_clamp_fraction",
                     "log_z_learned"})
        m.push_back(n);
      if (has_anchor_comparison) m.push_back("log_z_learned_minus_anchor");
      break;
    case Algorithm::Grpo:
    case Algorithm::Gspo:
      for (auto n : {"clip_fraction", "clip_fraction_low", "clip_fraction_high"}) m.push_back(n);
      if (s.algorithm == Algorithm::Grpo && s.kl_kind != "none") m.push_back("kl_penalty");
      break;
    case Algorithm::Sft:
      break;
  }
  for (auto n : {"grad_norm", "lr", "tokens_per_second", "time_generate", "time_score", "time_backward",
                 "time_communicate", "time_step"})
    m.push_back(n);
  if (s.exact_every > 0)
    for (auto n : {"exact_kl", "exact_tv", "exact_policy_mass"}) m.push_back(n);
  return m;
}

LrSchedule lr_schedule(const Settings& s) {
  LrSchedule l;
  l.lr = s.lr;
  l.warmup = s.warmup;
  l.cosine = s.cosine;
  l.min_ratio = s.min_lr_ratio;
  l.steps = s.steps;
  return l;
}

// Pads per-sample float vectors into [B, T] on `device` (T = `width`).
torch::Tensor pad_rows(const std::vector<const std::vector<float>*>& rows, int64_t width, torch::Device device) {
  torch::Tensor t = torch::zeros({int64_t(rows.size()), width});
  auto a = t.accessor<float, 2>();
  for (size_t b = 0; b < rows.size(); ++b)
    for (size_t j = 0; j < rows[b]->size() && int64_t(j) < width; ++j) a[int64_t(b)][int64_t(j)] = (*rows[b])[j];
  return t.to(device);
}

torch::Tensor column(const std::vector<Sample*>& samples, double Sample::*field, torch::Device device) {
  std::vector<float> v;
  for (auto* s : samples) v.push_back(float(s->*field));
  return torch::tensor(v).to(device);
}

class Trainer {
 public:
  Trainer(const Config& config, MpiContext& mpi) : config_(config), mpi_(mpi), s_(read_settings(config)) {}
  std::string run();

 private:
  void find_checkpoint();
  void setup_models();
  void setup_data();
  void setup_optimizer();
  void restore_optimizer();
  std::vector<int64_t> step_prompts(int64_t step);
  std::vector<Sample> make_samples(int64_t step, StepStats& stats);
  void score_fixed(std::vector<Sample>& samples, StepStats& stats);
  void prepare_targets(std::vector<Sample>& samples);
  void rollout_stats(const std::vector<Sample>& samples, StepStats& stats);
  torch::Tensor micro_batch_loss(const std::vector<Sample*>& batch, double global_units, StepStats& stats);
  double local_units(const std::vector<Sample*>& batch) const;
  void optimizer_step(int64_t step, StepStats& stats);
  std::map<std::string, double> exact_metrics();
  void save_checkpoint(int64_t steps_done);
  void save_final();
  void open_metrics(int64_t resume_rows);
  std::vector<torch::Tensor> trainable_parameters();

  const Config& config_;
  MpiContext& mpi_;
  Settings s_;
  std::unique_ptr<Communicator> comm_;
  torch::Device device_{torch::kCPU};
  CausalLM policy_{nullptr}, reference_{nullptr};
  LogZHead head_{nullptr};
  // The checkpoint a --train.resume run continues from, if any.
  std::optional<std::string> resume_dir_;
  std::optional<CheckpointState> resume_state_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<tasks::Task> task_;
  tasks::Dataset dataset_;
  std::vector<Prompt> prompts_;
  std::optional<FrozenAnchors> anchors_;
  int64_t missing_anchors_ = 0;
  GenerationParams gen_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  MetricsFile metrics_;
  std::vector<std::string> columns_;
  // Offline data: the file's trajectories per training prompt, and (sft) the correct pool.
  std::vector<std::vector<int64_t>> offline_rows_;
  partition::Trajectories trajectories_;
  std::vector<std::vector<int32_t>> file_prompt_tokens_;
  std::vector<int64_t> sft_pool_;
  // Exact metrics: the listed solutions and their reference log-probabilities.
  std::vector<std::vector<std::vector<int32_t>>> exact_solutions_;
  std::vector<std::vector<double>> exact_reference_;
  int64_t optimizer_steps_in_step_ = 0;
};

// With --train.resume: the newest complete checkpoint, checked against the run.
void Trainer::find_checkpoint() {
  if (!s_.resume) return;
  resume_dir_ = latest_complete_checkpoint(s_.out_dir);
  if (!resume_dir_) {
    log::warn("train: --train.resume given but '{}/checkpoints' has no complete checkpoint; starting at step 0",
              s_.out_dir);
    return;
  }
  const std::string& dir = *resume_dir_;
  resume_state_ = read_state(dir);
  DISA_CHECK(resume_state_->algorithm == s_.algorithm_name, ConfigError,
             "option --train.resume: checkpoint '{}' is of algorithm '{}', the run is '{}'", dir,
             resume_state_->algorithm, s_.algorithm_name);
  DISA_CHECK(uint64_t(resume_state_->seed) == s_.seed, ConfigError,
             "option --train.resume: checkpoint '{}' was trained with seed {}, the run has --train.seed {}", dir,
             resume_state_->seed, s_.seed);
}

void Trainer::setup_models() {
  comm_ = make_communicator(mpi_.world(), device_);
  // A resumed full fine-tuning run starts from the checkpoint's weights, a LoRA run from
  // the base model with the checkpoint's adapter.
  const bool full_resume = resume_dir_ && !s_.lora;
  policy_ = load_model(full_resume ? *resume_dir_ + "/policy" : s_.model_dir, device_, torch::kFloat32);
  reference_ = load_model(s_.reference_dir, device_, torch::kFloat32);
  for (auto& p : reference_->parameters()) p.set_requires_grad(false);
  reference_->eval();
  tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::load(s_.model_dir));
  Tokenizer ref_tok = Tokenizer::load(s_.reference_dir);
  DISA_CHECK(ref_tok.fingerprint() == tokenizer_->fingerprint(), ConfigError,
             "option --train.reference: '{}' has another tokenizer than the policy '{}' (fingerprints {} vs {})",
             s_.reference_dir, s_.model_dir, ref_tok.fingerprint(), tokenizer_->fingerprint());
  restrict_to_tokenizer(*policy_, *tokenizer_);
  restrict_to_tokenizer(*reference_, *tokenizer_);
  if (s_.algorithm == Algorithm::FlowRL) {
    torch::manual_seed(int64_t(s_.seed));
    head_ = LogZHead(policy_->config().hidden_size, s_.flowrl_head_blocks);
    head_->to(device_);
  }
  if (s_.lora && resume_dir_) {
    const LoraConfig saved = load_lora_adapter(*policy_, *resume_dir_ + "/adapter");
    DISA_CHECK(saved.rank == s_.lora_config.rank && saved.alpha == s_.lora_config.alpha, ConfigError,
               "option --train.resume: the adapter in '{}' has rank {} and alpha {}, the run asks for {} and {} "
               "(--train.lora.rank, --train.lora.alpha)",
               *resume_dir_, saved.rank, saved.alpha, s_.lora_config.rank, s_.lora_config.alpha);
  } else if (s_.lora) {
    apply_lora(*policy_, s_.lora_config, s_.seed);
  }
  gen_.sampling.temperature = s_.temperature;
  gen_.max_new_tokens = s_.max_new_tokens;
  gen_.max_batch_size = s_.max_batch_size;
  set_model_stops(gen_, *policy_, *tokenizer_);
}

void Trainer::setup_data() {
  auto task_options = tasks::task_options_from_config(config_);
  task_ = tasks::make_task(task_options);
  dataset_ = task_->make_dataset();
  if (!task_->response_terminator().empty()) gen_.stop_strings.push_back(task_->response_terminator());
  gen_.validate();

  if (!s_.anchors_path.empty()) {
    // Only DISA's objective depends on beta and the estimator.
    const bool disa = s_.algorithm == Algorithm::Disa;
    AnchorExpectations e;
    e.beta = disa ? std::optional<double>(s_.beta) : std::nullopt;
    e.residual = disa ? s_.residual() : partition::kSequenceAnchor;
    e.reference_fingerprint = reference_->fingerprint;
    e.tokenizer_fingerprint = tokenizer_->fingerprint();
    e.task = task_->name();
    anchors_ = FrozenAnchors::open(s_.anchors_path, e);
  }

  std::vector<std::string> missing;
  for (size_t i = 0; i < dataset_.size(); ++i) {
    Prompt p;
    p.record = &dataset_[i];
    p.tokens = tokenizer_->encode(task_->render_prompt(dataset_[i]));
    DISA_CHECK(!p.tokens.empty(), DataError, "prompt '{}' encodes to no tokens", dataset_[i].id);
    if (anchors_) {
      if (auto fi = anchors_->index_of(dataset_[i].id)) {
        anchors_->check_prompt(*fi, dataset_[i].id, p.tokens);
        p.file_index = *fi;
        p.anchor = s_.exact_anchor ? anchors_->exact(*fi) : anchors_->anchor(*fi);
        p.exact_log_z = anchors_->exact(*fi);
      }
      if (s_.needs_anchors() && s_.algorithm == Algorithm::Disa && !std::isfinite(p.anchor)) {
        missing.push_back(dataset_[i].id);
        continue;
      }
    }
    prompts_.push_back(std::move(p));
  }
  missing_anchors_ = int64_t(missing.size());
  if (!missing.empty()) {
    std::string some;
    for (size_t i = 0; i < std::min<size_t>(5, missing.size()); ++i) some += (i ? ", " : "") + missing[i];
    DISA_CHECK(s_.allow_missing_anchors, ConfigError,
               "option --train.anchors: {} of {} training prompts have no anchor in '{}' (e.g. {}); anchor them, "
               "or pass --train.allow-missing-anchors to train without them",
               missing.size(), dataset_.size(), s_.anchors_path, some);
    log::warn("train: {} of {} prompts have no anchor in '{}' and are left out (e.g. {})", missing.size(),
              dataset_.size(), s_.anchors_path, some);
  }
  DISA_CHECK(!prompts_.empty() || s_.algorithm == Algorithm::Sft, DataError, "no training prompt left");

  if (s_.offline || s_.algorithm == Algorithm::Sft) {
    const auto& reader = anchors_->reader();
    trajectories_ = reader.read_trajectories(0, reader.num_trajectories());
    file_prompt_tokens_ = reader.prompt_tokens();
    if (s_.offline) {
      offline_rows_.resize(prompts_.size());
      std::map<int64_t, size_t> by_file;
      for (size_t i = 0; i < prompts_.size(); ++i) by_file[prompts_[i].file_index] = i;
      for (size_t r = 0; r < trajectories_.size(); ++r) {
        auto it = by_file.find(trajectories_.prompt_index[r]);
        if (it != by_file.end()) offline_rows_[it->second].push_back(int64_t(r));
      }
      for (auto& rows : offline_rows_)  // sample order, independent of the file's row order
        std::sort(rows.begin(), rows.end(), [&](int64_t a, int64_t b) {
          return trajectories_.sample_index[size_t(a)] < trajectories_.sample_index[size_t(b)];
        });
    } else {
      for (size_t r = 0; r < trajectories_.size(); ++r)
        if (trajectories_.reward[r] >= s_.sft_min_reward) sft_pool_.push_back(int64_t(r));
      // File order depends on batch completion order; sort by (prompt, sample) for determinism.
      std::sort(sft_pool_.begin(), sft_pool_.end(), [&](int64_t a, int64_t b) {
        return std::make_pair(trajectories_.prompt_index[size_t(a)], trajectories_.sample_index[size_t(a)]) <
               std::make_pair(trajectories_.prompt_index[size_t(b)], trajectories_.sample_index[size_t(b)]);
      });
      DISA_CHECK(!sft_pool_.empty(), DataError,
                 "partition file '{}' has no trajectory with reward >= {} (option --sft.min-reward) to train on",
                 s_.anchors_path, s_.sft_min_reward);
      log::info("train: sft on {} correct trajectories of {} in '{}'", sft_pool_.size(), trajectories_.size(),
                s_.anchors_path);
    }
  }

  if (s_.exact_every > 0) {
    const int64_t n = std::min<int64_t>(s_.exact_prompts, int64_t(prompts_.size()));
    for (int64_t i = 0; i < n; ++i) {
      auto sols = task_->enumerate_solutions(*prompts_[size_t(i)].record);
      DISA_CHECK(sols.has_value(), ConfigError,
                 "option --train.exact-every: task '{}' does not list its solutions (set it to 0)", task_->name());
      std::vector<std::vector<int32_t>> toks;
      for (const auto& sol : *sols) {
        auto t = tokenizer_->encode(sol);
        if (int64_t(t.size()) <= s_.max_new_tokens) toks.push_back(std::move(t));
      }
      exact_solutions_.push_back(std::move(toks));
    }
  }
}

std::vector<torch::Tensor> Trainer::trainable_parameters() {
  std::vector<torch::Tensor> params;
  for (auto& p : policy_->parameters())
    if (p.requires_grad()) params.push_back(p);
  if (head_)
    for (auto& p : head_->parameters()) params.push_back(p);
  return params;
}

void Trainer::setup_optimizer() {
  auto params = trainable_parameters();
  torch::optim::AdamWOptions o(s_.lr);
  o.betas({s_.adam_beta1, s_.adam_beta2}).eps(s_.adam_eps).weight_decay(s_.weight_decay);
  optimizer_ = std::make_unique<torch::optim::AdamW>(params, o);
}

// Resumes from the newest complete checkpoint; returns the first step to run.
// The rest of a resumed run's state: the FlowRL head and the optimiser.
void Trainer::restore_optimizer() {
  if (!resume_dir_) return;
  if (head_) torch::load(head_, *resume_dir_ + "/log_z_head.pt");
  torch::load(*optimizer_, *resume_dir_ + "/optimizer.pt");
  log::info("train: resumed from '{}' (step {}, written by {} ranks, now {})", *resume_dir_, resume_state_->step,
            resume_state_->world_size, comm_->size());
}

// The training-prompt indices of a step: positions [step P, (step + 1) P) of the
// concatenated epoch orders, each epoch a seeded permutation.
std::vector<int64_t> Trainer::step_prompts(int64_t step) {
  const int64_t n = int64_t(prompts_.size()), P = s_.prompts_per_step;
  std::vector<int64_t> out;
  std::vector<int64_t> perm;
  int64_t perm_epoch = -1;
  for (int64_t k = step * P; k < (step + 1) * P; ++k) {
    const int64_t epoch = k / n;
    if (epoch != perm_epoch) {
      perm.resize(size_t(n));
      std::iota(perm.begin(), perm.end(), 0);
      for (int64_t i = n - 1; i > 0; --i) {
        uint64_t h = mix64(s_.seed ^ mix64(0xE90C0000ULL + uint64_t(epoch)) ^ mix64(uint64_t(i) * 0x9E37ULL));
        std::swap(perm[size_t(i)], perm[uniform_index(h, size_t(i + 1))]);
      }
      perm_epoch = epoch;
    }
    out.push_back(perm[size_t(k % n)]);
  }
  return out;
}

std::vector<Sample> Trainer::make_samples(int64_t step, StepStats& stats) {
  std::vector<Sample> samples;
  const int rank = comm_->rank(), size = comm_->size();
  if (s_.algorithm == Algorithm::Sft) {
    for (int64_t m = 0; m < s_.mini_batches; ++m) {
    auto [m0, m1] = balanced_block(s_.sft_batch, int(m), int(s_.mini_batches));
    auto [r0, r1] = balanced_block(m1 - m0, rank, size);
    for (int64_t i = m0 + r0; i < m0 + r1; ++i) {
      uint64_t h = mix64(s_.seed ^ mix64(uint64_t(step) * 0x100000001B3ULL + uint64_t(i)));
      const size_t row = size_t(sft_pool_[uniform_index(h, sft_pool_.size())]);
      Sample smp;
      smp.prompt = -1;
      smp.minibatch = m;
      smp.group = i;
      smp.prompt_tokens = &file_prompt_tokens_[size_t(trajectories_.prompt_index[row])];
      smp.tokens = trajectories_.tokens[row];
      smp.reward = trajectories_.reward[row];
      smp.correct = true;
      smp.truncated = trajectories_.finish_reason[row] == partition::kFinishLength;
      samples.push_back(std::move(smp));
    }
    }
    return samples;
  }
  const auto global = step_prompts(step);
  // Mini-batch m holds prompts [m P / M, (m + 1) P / M); each rank a balanced share of each.
  std::vector<std::pair<int64_t, int64_t>> mine;  // (prompt, minibatch)
  for (int64_t m = 0; m < s_.mini_batches; ++m) {
    auto [m0, m1] = balanced_block(int64_t(global.size()), int(m), int(s_.mini_batches));
    auto [r0, r1] = balanced_block(m1 - m0, rank, size);
    for (int64_t i = m0 + r0; i < m0 + r1; ++i) mine.emplace_back(global[size_t(i)], m);
  }
  int64_t group = 0;
  if (s_.offline) {
    for (auto [p, m] : mine) {
      for (int64_t row : offline_rows_[size_t(p)]) {
        const size_t r = size_t(row);
        Sample smp;
        smp.prompt = p;
        smp.minibatch = m;
        smp.group = group;
        smp.prompt_tokens = &prompts_[size_t(p)].tokens;
        smp.tokens = trajectories_.tokens[r];
        smp.reward = trajectories_.reward[r];
        smp.correct = trajectories_.reason[r] == int8_t(tasks::Reason::Correct);
        smp.truncated = trajectories_.finish_reason[r] == partition::kFinishLength;
        smp.anchor = prompts_[size_t(p)].anchor + s_.anchor_shift;
        smp.log_q = trajectories_.log_q[r];
        samples.push_back(std::move(smp));
      }
      ++group;
    }
    return samples;
  }
  std::vector<GenerationRequest> requests;
  for (auto [p, m] : mine)
    for (int64_t g = 0; g < s_.group_size; ++g) requests.push_back({prompts_[size_t(p)].tokens, p, g});
  const auto t0 = Clock::now();
  std::vector<GenerationResult> results;
  if (!requests.empty()) {
    policy_->eval();
    results = generate(*policy_, requests, gen_, mix64(s_.seed ^ mix64(0x5EED0000ULL + uint64_t(step))),
                       tokenizer_.get());
  }
  stats.add("time_generate", seconds_since(t0), 0);
  std::vector<const tasks::Record*> records;
  std::vector<std::string> texts;
  for (size_t i = 0; i < results.size(); ++i) {
    records.push_back(prompts_[size_t(results[i].prompt_id)].record);
    texts.push_back(response_text(*tokenizer_, results[i].tokens));
  }
  auto rewards = records.empty() ? std::vector<tasks::RewardResult>{} : task_->reward_batch(records, texts);
  for (size_t i = 0; i < results.size(); ++i) {
    const auto [p, m] = mine[i / size_t(s_.group_size)];
    Sample smp;
    smp.prompt = p;
    smp.minibatch = m;
    smp.group = int64_t(i / size_t(s_.group_size));
    smp.prompt_tokens = &prompts_[size_t(p)].tokens;
    smp.tokens = std::move(results[i].tokens);
    smp.reward = rewards[i].reward;
    smp.correct = rewards[i].reason == tasks::Reason::Correct;
    smp.truncated = results[i].finish_reason == FinishReason::Length;
    smp.anchor = prompts_[size_t(p)].anchor + s_.anchor_shift;
    samples.push_back(std::move(smp));
  }
  return samples;
}

// log pi_old (the policy before this step's updates) and log pi_ref per token, through
// the same fp32 scoring path as the loss, so the first pass has ratio exactly 1.
void Trainer::score_fixed(std::vector<Sample>& samples, StepStats& stats) {
  const auto t0 = Clock::now();
  torch::NoGradGuard no_grad;
  policy_->eval();
  ScoreOptions opts;
  opts.differentiable = true;  // the fp32 path of the loss (no graph under NoGradGuard)
  for (size_t b = 0; b < samples.size(); b += size_t(s_.micro_batch)) {
    const size_t e = std::min(samples.size(), b + size_t(s_.micro_batch));
    std::vector<ScoreItem> items;
    for (size_t i = b; i < e; ++i) items.push_back({*samples[i].prompt_tokens, samples[i].tokens});
    for (int which = 0; which < 2; ++which) {
      auto r = score(which == 0 ? *policy_ : *reference_, items, opts);
      torch::Tensor v = r.token_logprobs.to(torch::kCPU).contiguous();
      auto a = v.accessor<float, 2>();
      for (size_t i = b; i < e; ++i) {
        auto& dst = which == 0 ? samples[i].old_logp : samples[i].ref_logp;
        dst.resize(samples[i].tokens.size());
        for (size_t j = 0; j < dst.size(); ++j) dst[j] = a[int64_t(i - b)][int64_t(j)];
      }
    }
  }
  stats.add("time_score", seconds_since(t0), 0);
}

void Trainer::prepare_targets(std::vector<Sample>& samples) {
  // Group-normalised rewards (GRPO, GSPO advantages; FlowRL's reward), groups of G.
  if (s_.algorithm == Algorithm::Grpo || s_.algorithm == Algorithm::Gspo || s_.algorithm == Algorithm::FlowRL) {
    std::vector<float> r;
    for (auto& smp : samples) r.push_back(float(smp.reward));
    if (!r.empty()) {
      torch::Tensor a = group_normalized(torch::tensor(r, torch::kFloat64), s_.group_size);
      for (size_t i = 0; i < samples.size(); ++i) samples[i].advantage = a[int64_t(i)].item<double>();
    }
  }
  // Offline DISA: per-prompt self-normalised weights pi_theta / q at the step's start.
  if (s_.offline) {
    size_t i = 0;
    while (i < samples.size()) {
      size_t j = i;
      std::vector<double> l;
      while (j < samples.size() && samples[j].group == samples[i].group) {
        double lp = 0;
        for (float v : samples[j].old_logp) lp += v;
        l.push_back(lp - samples[j].log_q);
        ++j;
      }
      const double lse = logsumexp(l);
      for (size_t k = i; k < j; ++k) samples[k].offline_weight = std::exp(l[k - i] - lse);
      i = j;
    }
  }
}

void Trainer::rollout_stats(const std::vector<Sample>& samples, StepStats& stats) {
  for (size_t i = 0; i < samples.size(); ++i) {
    const auto& smp = samples[i];
    stats.add("reward", smp.reward);
    stats.add("reward_sq", smp.reward * smp.reward);
    stats.add("accuracy", smp.correct ? 1.0 : 0.0);
    stats.add("response_length", double(smp.tokens.size()));
    stats.max("response_length", double(smp.tokens.size()));
    stats.add("truncated", smp.truncated ? 1.0 : 0.0);
    double old_sum = 0, ref_sum = 0;
    for (float v : smp.old_logp) old_sum += v;
    for (float v : smp.ref_logp) ref_sum += v;
    stats.add("entropy", -old_sum, double(smp.tokens.size()));
    stats.add("kl_ref", old_sum - ref_sum);
    if (std::isfinite(smp.anchor)) stats.add("anchor", smp.anchor);
  }
  // Groups whose rewards are all equal (no learning signal for group-normalised methods).
  size_t i = 0;
  while (i < samples.size()) {
    size_t j = i;
    bool same = true;
    while (j < samples.size() && samples[j].group == samples[i].group) {
      same = same && samples[j].reward == samples[i].reward;
      ++j;
    }
    stats.add("zero_variance_groups", same ? 1.0 : 0.0);
    i = j;
  }
}

double Trainer::local_units(const std::vector<Sample*>& batch) const {
  const bool tokens = s_.algorithm == Algorithm::Sft ||
                      (s_.algorithm == Algorithm::Grpo && s_.aggregation == Aggregation::TokenMean);
  if (tokens) {
    double n = 0;
    for (auto* smp : batch) n += double(smp->tokens.size());
    return n;
  }
  if (s_.offline) {  // per-prompt self-normalised weights: the unit is the prompt
    std::vector<int64_t> groups;
    for (auto* smp : batch) groups.push_back(smp->group);
    std::sort(groups.begin(), groups.end());
    return double(std::unique(groups.begin(), groups.end()) - groups.begin());
  }
  return double(batch.size());
}

torch::Tensor Trainer::micro_batch_loss(const std::vector<Sample*>& batch, double global_units, StepStats& stats) {
  std::vector<ScoreItem> items;
  std::vector<const std::vector<float>*> old_rows, ref_rows;
  for (auto* smp : batch) {
    items.push_back({*smp->prompt_tokens, smp->tokens});
    old_rows.push_back(&smp->old_logp);
    ref_rows.push_back(&smp->ref_logp);
  }
  ScoreOptions opts;
  opts.differentiable = true;
  opts.prompt_hidden_mean = s_.algorithm == Algorithm::FlowRL;
  ScoreResult r = score(*policy_, items, opts);
  const int64_t width = r.token_logprobs.size(1);
  torch::Tensor logp = r.token_logprobs;
  torch::Tensor mask = r.response_mask.to(torch::kFloat32);
  torch::Tensor old = pad_rows(old_rows, width, device_);
  torch::Tensor ref = pad_rows(ref_rows, width, device_);
  torch::Tensor seq_logp = (logp * mask).sum(1);
  torch::Tensor seq_old = (old * mask).sum(1), seq_ref = (ref * mask).sum(1);
  torch::Tensor lengths = mask.sum(1).clamp_min(1.0);
  torch::Tensor loss_sum;

  auto residual_stats = [&](const ResidualLoss& rl, const torch::Tensor& weight, const torch::Tensor& clamped) {
    auto res = rl.residual.to(torch::kCPU, torch::kDouble);
    stats.add("residual", res.sum().item<double>(), double(batch.size()));
    stats.add("residual_sq", res.pow(2).sum().item<double>(), double(batch.size()));
    auto w = weight.to(torch::kCPU, torch::kDouble);
    stats.add("weight", w.sum().item<double>(), double(batch.size()));
    stats.max("weight", w.max().item<double>());
    if (clamped.defined())
      stats.add("weight_clamped", clamped.to(torch::kCPU, torch::kDouble).sum().item<double>(), double(batch.size()));
  };

  switch (s_.algorithm) {
    case Algorithm::Disa: {
      ResidualTerms t;
      t.seq_logp = seq_logp;
      t.seq_ref_logp = seq_ref;
      t.log_anchor = column(batch, &Sample::anchor, device_);
      t.scale = s_.length_normalized ? 1.0 / lengths : torch::ones_like(lengths);
      std::vector<float> target;
      for (auto* smp : batch) target.push_back(float(s_.beta * smp->reward));
      t.target = torch::tensor(target).to(device_);
      torch::Tensor clamped;
      if (s_.offline) {
        t.weight = column(batch, &Sample::offline_weight, device_);
      } else {
        auto cr = clamped_ratio(seq_logp, seq_old, s_.w_max);
        t.weight = cr.weight;
        clamped = cr.clamped;
      }
      auto rl = residual_loss(t);
      residual_stats(rl, t.weight, clamped);
      loss_sum = rl.sum;
      break;
    }
    case Algorithm::FlowRL: {
      ResidualTerms t;
      t.seq_logp = seq_logp;
      t.seq_ref_logp = seq_ref;
      t.log_anchor = head_->forward(r.prompt_hidden_mean);
      t.scale = 1.0 / lengths;
      t.target = s_.flowrl_beta * column(batch, &Sample::advantage, device_);
      auto cr = clamped_ratio(seq_logp, seq_old, s_.flowrl_w_max);
      t.weight = cr.weight;
      auto rl = residual_loss(t);
      residual_stats(rl, t.weight, cr.clamped);
      auto lz = t.log_anchor.detach().to(torch::kCPU, torch::kDouble);
      stats.add("log_z_learned", lz.sum().item<double>(), double(batch.size()));
      for (size_t i = 0; i < batch.size(); ++i)
        if (std::isfinite(batch[i]->anchor))
          stats.add("log_z_learned_minus_anchor", lz[int64_t(i)].item<double>() - batch[i]->anchor);
      loss_sum = rl.sum;
      break;
    }
    case Algorithm::Grpo: {
      torch::Tensor adv = column(batch, &Sample::advantage, device_);
      auto pg = grpo_token_loss(logp, old, mask, adv, s_.eps_low, s_.eps_high);
      auto agg = aggregate(pg.per_token, mask, s_.aggregation);
      loss_sum = agg.sum;
      const double toks = mask.sum().item<double>();
      stats.add("clip_low", pg.clipped_low.sum().item<double>(), toks);
      stats.add("clip_high", pg.clipped_high.sum().item<double>(), toks);
      if (s_.kl_kind != "none") {
        auto kl = aggregate(kl_penalty(logp, ref, mask, s_.kl_kind), mask, s_.aggregation);
        loss_sum = loss_sum + s_.kl_coef * kl.sum;
        stats.add("kl_penalty", kl.sum.item<double>() / global_units, 0);
      }
      break;
    }
    case Algorithm::Gspo: {
      torch::Tensor adv = column(batch, &Sample::advantage, device_);
      auto pg = gspo_sequence_loss(logp, old, mask, adv, s_.eps_low, s_.eps_high);
      loss_sum = pg.per_token.sum();
      stats.add("clip_low", pg.clipped_low.sum().item<double>(), double(batch.size()));
      stats.add("clip_high", pg.clipped_high.sum().item<double>(), double(batch.size()));
      break;
    }
    case Algorithm::Sft:
      loss_sum = -(logp * mask).sum();
      break;
  }
  return loss_sum / global_units;
}

void Trainer::optimizer_step(int64_t step, StepStats& stats) {
  auto params = trainable_parameters();
  const auto t0 = Clock::now();
  all_reduce_gradients(*comm_, params);
  stats.add("time_communicate", seconds_since(t0), 0);
  stats.add("grad_norm", clip_gradient_norm(params, s_.clip));
  set_learning_rate(*optimizer_, lr_schedule(s_).at(step));
  optimizer_->step();
  optimizer_->zero_grad();
}

// KL(p*|C || pi_theta|C), TV and the policy mass on the correct set C, averaged over the
// first train.exact-prompts training prompts (each rank scores a share).
std::map<std::string, double> Trainer::exact_metrics() {
  torch::NoGradGuard no_grad;
  policy_->eval();
  const int64_t n = int64_t(exact_solutions_.size());
  auto [b0, b1] = balanced_block(n, comm_->rank(), comm_->size());
  if (exact_reference_.empty()) exact_reference_.resize(size_t(n));
  std::vector<double> sums(4, 0.0);  // kl, tv, mass, prompts with a finite kl
  for (int64_t i = b0; i < b1; ++i) {
    const auto& sols = exact_solutions_[size_t(i)];
    if (sols.empty()) continue;
    std::vector<ScoreItem> items;
    for (const auto& t : sols) items.push_back({prompts_[size_t(i)].tokens, t});
    ScoreOptions opts;
    opts.max_batch_size = 64;
    auto pol = score(*policy_, items, opts).sums();
    if (exact_reference_[size_t(i)].empty()) exact_reference_[size_t(i)] = score(*reference_, items, opts).sums();
    auto m = eval::exact_metrics(pol, exact_reference_[size_t(i)], 0.1);
    if (!std::isfinite(m.kl)) continue;
    sums[0] += m.kl;
    sums[1] += m.tv;
    sums[2] += m.policy_mass;
    sums[3] += 1;
  }
  comm_->all_reduce(sums, ReduceOp::Sum);
  if (sums[3] == 0) return {};
  return {{"exact_kl", sums[0] / sums[3]}, {"exact_tv", sums[1] / sums[3]}, {"exact_policy_mass", sums[2] / sums[3]}};
}

void Trainer::save_checkpoint(int64_t steps_done) {
  if (comm_->rank() == 0) {
    const std::string dir = partial_dir(s_.out_dir, steps_done);
    fs::remove_all(dir);
    fs::create_directories(dir);
    if (s_.lora) {
      save_lora_adapter(*policy_, s_.lora_config, dir + "/adapter", s_.model_dir);
    } else {
      SaveOptions so;
      so.copy_from_dir = s_.model_dir;
      save_model(*policy_, dir + "/policy", so);
    }
    torch::save(*optimizer_, dir + "/optimizer.pt");
    if (head_) torch::save(head_, dir + "/log_z_head.pt");
    CheckpointState st;
    st.step = steps_done;
    st.metric_rows = metrics_.rows();
    st.algorithm = s_.algorithm_name;
    st.seed = int64_t(s_.seed);
    st.world_size = comm_->size();
    write_state(dir, st);
    publish_checkpoint(s_.out_dir, steps_done);
  }
  comm_->barrier();  // every rank finished the step before the marker
  if (comm_->rank() == 0) {
    mark_complete(checkpoint_dir(s_.out_dir, steps_done));
    metrics_.record_checkpoint(steps_done);
    metrics_.flush();
    prune_checkpoints(s_.out_dir, s_.keep_checkpoints);
  }
}

void Trainer::save_final() {
  if (comm_->rank() != 0) return;
  const std::string policy_dir = s_.out_dir + "/policy";
  SaveOptions so;
  so.copy_from_dir = s_.model_dir;
  if (s_.lora) {
    const std::string adapter_dir = s_.out_dir + "/adapter";
    save_lora_adapter(*policy_, s_.lora_config, adapter_dir, s_.model_dir);
    CausalLM merged = load_model(s_.model_dir, torch::kCPU, torch::kFloat32);
    load_lora_adapter(*merged, adapter_dir);
    merge_lora(*merged);
    save_model(*merged, policy_dir, so);
    log::info("train: wrote the adapter to {} and the merged policy to {}", adapter_dir, policy_dir);
  } else {
    save_model(*policy_, policy_dir, so);
    log::info("train: wrote the policy to {}", policy_dir);
  }
}

void Trainer::open_metrics(int64_t resume_rows) {
  if (comm_->rank() != 0) return;
  const std::string path = s_.out_dir + "/train.h5";
  // Resuming a finished run (more steps): its committed file becomes incomplete again.
  if (resume_rows >= 0 && !fs::exists(path + h5::kIncompleteSuffix) && fs::exists(path))
    fs::rename(path, path + h5::kIncompleteSuffix);
  if (resume_rows >= 0 && fs::exists(path + h5::kIncompleteSuffix)) {
    metrics_ = MetricsFile::resume(path, resume_rows);
    return;
  }
  if (resume_rows > 0)
    log::warn("train: '{}{}' is missing; the resumed run's metrics start at its first step", path,
              h5::kIncompleteSuffix);
  metrics_ = MetricsFile::create(path, columns_);
  auto& f = metrics_.file();
  auto self = make_mpi_communicator(MPI_COMM_SELF);
  write_run_provenance(f, config_, *self);
  f.set_attr("/", "world_size", int64_t(comm_->size()));
  f.set_attr("/", "algorithm", s_.algorithm_name);
  // beta and the residual form of the objective (NaN / "none" where it has none).
  const bool residual_objective = s_.algorithm == Algorithm::Disa || s_.algorithm == Algorithm::FlowRL;
  f.set_attr("/", "beta", s_.algorithm == Algorithm::FlowRL ? s_.flowrl_beta
                          : s_.algorithm == Algorithm::Disa ? s_.beta
                                                            : kNaN);
  f.set_attr("/", "residual", std::string(!residual_objective ? "none"
                                          : s_.algorithm == Algorithm::FlowRL ? partition::kLengthNormalizedAnchor
                                                                              : s_.residual()));
  f.set_attr("/", "anchors", s_.anchors_path);
  f.set_attr("/", "anchor_shift", s_.anchor_shift);
  f.set_attr("/", "anchor_kind", std::string(s_.exact_anchor ? "exact" : "estimate"));
  f.set_attr("/", "missing_anchors", missing_anchors_);
  f.set_attr("/", "source", std::string(s_.offline ? "offline" : "online"));
  f.set_attr("/", "lora", int64_t(s_.lora ? 1 : 0));
  f.set_attr("/", "policy_init", s_.model_dir);
  f.set_attr("/", "reference_model", s_.reference_dir);
  f.set_attr("/", "reference_fingerprint", reference_->fingerprint);
  f.set_attr("/", "tokenizer_fingerprint", tokenizer_->fingerprint());
  f.set_attr("/", "task", task_->name());
  f.set_attr("/", "dataset_source", dataset_.source());
  f.set_attr("/", "dataset_fingerprint", dataset_.fingerprint());
  f.set_attr("/", "seed", int64_t(s_.seed));
  f.set_attr("/", "steps", s_.steps);
  f.set_attr("/", "prompts", int64_t(prompts_.size()));
  metrics_.flush();
}

std::string Trainer::run() {
  device_ = select_device(mpi_, config_.get_string("train.device"));
  configure_threads(mpi_, config_.get_int("train.threads"));
  find_checkpoint();
  setup_models();
  setup_data();
  setup_optimizer();
  // A fresh run never overwrites an earlier one's results or mixes with its checkpoints.
  if (!s_.resume) {
    const bool has_metrics = fs::exists(s_.out_dir + "/train.h5") ||
                             fs::exists(s_.out_dir + "/train.h5" + h5::kIncompleteSuffix);
    DISA_CHECK(!has_metrics && !latest_complete_checkpoint(s_.out_dir), ConfigError,
               "option --train.out: '{}' already holds a training run (train.h5 or checkpoints); continue it with "
               "--train.resume, or choose another --train.out (or delete it)",
               s_.out_dir);
  }
  fs::create_directories(s_.out_dir);
  columns_ = metric_columns(s_, anchors_.has_value());
  restore_optimizer();
  const int64_t start = resume_state_ ? resume_state_->step : 0;
  {
    // Identical weights on every rank (the adapters' and the head's random init too).
    torch::NoGradGuard no_grad;
    auto params = policy_->parameters();
    if (head_)
      for (auto& p : head_->parameters()) params.push_back(p);
    comm_->broadcast(params, 0);
  }
  const int64_t resume_rows = resume_state_ ? resume_state_->metric_rows : -1;
  comm_->barrier();
  open_metrics(resume_rows);
  log::info("train: {} on {} prompts, {} steps from step {}, {} ranks, {}{}", s_.algorithm_name, prompts_.size(),
            s_.steps, start, comm_->size(), s_.lora ? "LoRA" : "full fine-tuning",
            anchors_ ? ", anchors " + s_.anchors_path : "");

  const auto run_start = Clock::now();
  for (int64_t step = start; step < s_.steps; ++step) {
    // Exact metrics of the policy that draws this step's rollouts (before its updates).
    const bool exact_now = s_.exact_every > 0 && step % s_.exact_every == 0;
    std::map<std::string, double> exact_row;
    if (exact_now) exact_row = exact_metrics();
    const auto t_step = Clock::now();
    StepStats stats(stat_names());
    auto samples = make_samples(step, stats);
    score_fixed(samples, stats);
    prepare_targets(samples);
    rollout_stats(samples, stats);
    policy_->train();
    int64_t opt_steps = 0;
    for (int64_t epoch = 0; epoch < s_.ppo_epochs; ++epoch) {
      for (int64_t m = 0; m < s_.mini_batches; ++m) {
        std::vector<Sample*> mb;
        for (auto& smp : samples)
          if (smp.minibatch == m) mb.push_back(&smp);
        const double global_units = std::max(1.0, comm_->all_reduce(local_units(mb), ReduceOp::Sum));
        const auto t0 = Clock::now();
        double loss = 0;
        for (size_t b = 0; b < mb.size(); b += size_t(s_.micro_batch)) {
          std::vector<Sample*> micro(mb.begin() + long(b), mb.begin() + long(std::min(mb.size(), b + size_t(s_.micro_batch))));
          torch::Tensor l = micro_batch_loss(micro, global_units, stats);
          l.backward();
          loss += l.item<double>();
        }
        stats.add("time_backward", seconds_since(t0), 0);
        stats.add("loss", loss, 0);
        optimizer_step(step, stats);
        ++opt_steps;
      }
    }
    policy_->eval();
    double tokens = 0;
    for (auto& smp : samples) tokens += double(smp.tokens.size());
    stats.add("tokens", tokens, 0);
    // Times: the slowest rank's.
    std::vector<double> times{stats.sum("time_generate"), stats.sum("time_score"), stats.sum("time_backward"),
                              stats.sum("time_communicate")};
    comm_->all_reduce(times, ReduceOp::Max);
    stats.reduce(*comm_);
    std::map<std::string, double> row;
    row["loss"] = stats.sum("loss") / double(std::max<int64_t>(1, opt_steps));
    const double rm = stats.mean("reward");
    row["reward_mean"] = rm;
    row["reward_std"] = std::sqrt(std::max(0.0, stats.mean("reward_sq") - rm * rm));
    row["accuracy"] = stats.mean("accuracy");
    row["zero_variance_groups"] = stats.mean("zero_variance_groups");
    row["response_length_mean"] = stats.mean("response_length");
    row["response_length_max"] = stats.maximum("response_length");
    row["truncation_rate"] = stats.mean("truncated");
    row["entropy"] = stats.mean("entropy");
    row["kl_ref"] = stats.mean("kl_ref");
    row["residual_mean"] = stats.mean("residual");
    row["residual_sq_mean"] = stats.mean("residual_sq");
    row["weight_mean"] = stats.mean("weight");
    row["weight_max"] = stats.maximum("weight");
    row["weight_clamp_fraction"] = stats.mean("weight_clamped");
    row["anchor_mean"] = stats.mean("anchor");
    row["log_z_learned"] = stats.mean("log_z_learned");
    row["log_z_learned_minus_anchor"] = stats.mean("log_z_learned_minus_anchor");
    row["clip_fraction_low"] = stats.mean("clip_low");
    row["clip_fraction_high"] = stats.mean("clip_high");
    row["clip_fraction"] = row["clip_fraction_low"] + row["clip_fraction_high"];
    row["kl_penalty"] = stats.sum("kl_penalty") / double(std::max<int64_t>(1, opt_steps));
    row["grad_norm"] = stats.mean("grad_norm");
    row["lr"] = lr_schedule(s_).at(step);
    row["time_generate"] = times[0];
    row["time_score"] = times[1];
    row["time_backward"] = times[2];
    row["time_communicate"] = times[3];
    for (auto& [k, v] : exact_row) row[k] = v;
    const double step_time = comm_->all_reduce(seconds_since(t_step), ReduceOp::Max);
    row["time_step"] = step_time;
    row["tokens_per_second"] = stats.sum("tokens") / std::max(step_time, 1e-9);
    if (comm_->rank() == 0) {
      metrics_.append(step, row);
      if ((step + 1) % s_.log_every == 0 || step + 1 == s_.steps || step == start) {
        std::string extra;
        if (s_.algorithm == Algorithm::Disa || s_.algorithm == Algorithm::FlowRL)
          extra += fmt::format(" | resid {:+.3f} w {:.2f}", row["residual_mean"], row["weight_mean"]);
        if (s_.algorithm == Algorithm::FlowRL) extra += fmt::format(" logZ {:.3f}", row["log_z_learned"]);
        if (s_.algorithm == Algorithm::Grpo || s_.algorithm == Algorithm::Gspo)
          extra += fmt::format(" | clip {:.3f}", row["clip_fraction"]);
        if (exact_now && row.count("exact_kl")) extra += fmt::format(" | exact KL {:.4f}", row["exact_kl"]);
        log::info("step {:>4}/{} | loss {:.4f} | reward {:.3f} acc {:.3f}{} | kl_ref {:.3f} | len {:.1f} | gnorm "
                  "{:.3f} | lr {:.2e} | {:.0f} tok/s | gen {:.2f}s score {:.2f}s bwd {:.2f}s comm {:.2f}s",
                  step + 1, s_.steps, row["loss"], row["reward_mean"], row["accuracy"], extra, row["kl_ref"],
                  row["response_length_mean"], row["grad_norm"], row["lr"], row["tokens_per_second"], times[0],
                  times[1], times[2], times[3]);
      }
    }
    const int64_t done = step + 1;
    const bool stop_now = s_.stop_after_steps >= 0 && done - start >= s_.stop_after_steps && done < s_.steps;
    if ((s_.checkpoint_every > 0 && done % s_.checkpoint_every == 0) || done == s_.steps || stop_now)
      save_checkpoint(done);
    if (stop_now) {
      log::warn("train: stopping after {} steps as asked (--train.stop-after-steps); resume with --train.resume",
                done - start);
      if (comm_->rank() == 0) metrics_.file().close();
      return "";
    }
  }
  if (s_.steps == start) save_checkpoint(start);
  std::map<std::string, double> final_exact;
  if (s_.exact_every > 0) final_exact = exact_metrics();
  save_final();
  comm_->barrier();
  if (comm_->rank() == 0) {
    auto& f = metrics_.file();
    for (auto& [k, v] : final_exact) {
      f.set_attr("/", "final_" + k, v);
      log::info("train: final {} {:.5f}", k, v);
    }
    f.set_attr("/", "final_policy", s_.out_dir + "/policy");
    f.set_attr("/", "train_seconds", seconds_since(run_start));
    metrics_.commit();
    log::info("train: done in {:.1f} s; metrics in {}/train.h5", seconds_since(run_start), s_.out_dir);
  }
  comm_->barrier();
  return s_.out_dir + "/policy";
}

}  // namespace

std::string run_train(const Config& config, MpiContext& mpi) {
  Trainer trainer(config, mpi);
  return trainer.run();
}

}  // namespace disa::train
