// The training loop of `disa train` (include/disa/train/trainer.hpp): models, training
// prompts and anchors, the data-parallel step (samples from the objective's source, the
// fixed log-probs, the objective's loss over micro-batches, the optimiser), metrics,
// exact distribution metrics, checkpoints and resume. The algorithm is an Objective
// (objective.hpp); nothing here depends on which one.
#include "disa/train/trainer.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>

#include <torch/torch.h>

#include "disa/core/config.hpp"
#include "disa/core/log.hpp"
#include "disa/core/stop_request.hpp"
#include "disa/core/timing.hpp"
#include "disa/dist/communicator.hpp"
#include "disa/dist/device.hpp"
#include "disa/dist/mpi_context.hpp"
#include "disa/dist/stop_agreement.hpp"
#include "disa/io/provenance.hpp"
#include "disa/model/generate.hpp"
#include "disa/model/lora.hpp"
#include "disa/model/score.hpp"
#include "disa/model/tokenizer.hpp"
#include "disa/stage/models.hpp"
#include "disa/stage/prompt_features.hpp"
#include "disa/stage/rollout.hpp"
#include "disa/tasks/registry.hpp"
#include "disa/train/checkpoint.hpp"
#include "disa/train/exact_metrics.hpp"
#include "disa/train/frozen_regressor.hpp"
#include "disa/train/gradients.hpp"
#include "disa/train/metrics_file.hpp"
#include "disa/train/objective.hpp"
#include "disa/train/policy_output.hpp"
#include "disa/train/sample_source.hpp"
#include "disa/train/train_settings.hpp"
#include "disa/train/training_prompts.hpp"

namespace disa::train {

namespace fs = std::filesystem;

namespace {

// Pads per-sample float vectors into [B, T] on `device` (T = `width`).
torch::Tensor pad_rows(const std::vector<const std::vector<float>*>& rows, int64_t width, torch::Device device) {
  torch::Tensor t = torch::zeros({int64_t(rows.size()), width});
  auto a = t.accessor<float, 2>();
  for (size_t b = 0; b < rows.size(); ++b)
    for (size_t j = 0; j < rows[b]->size() && int64_t(j) < width; ++j) a[int64_t(b)][int64_t(j)] = (*rows[b])[j];
  return t.to(device);
}

class Trainer {
 public:
  Trainer(const core::Config& config, dist::MpiContext& mpi) : config_(config), mpi_(mpi), s_(read_settings(config)) {}
  std::string run();

 private:
  void setup_objective();
  void setup_models();
  void setup_data();
  void setup_optimizer();
  std::vector<Sample> draw_samples(int64_t step, StepStats& stats);
  double local_units(const std::vector<Sample*>& batch) const;
  torch::Tensor micro_batch_loss(const std::vector<Sample*>& batch, double global_units, StepStats& stats);
  void optimizer_step(int64_t step, double local_loss, StepStats& stats);
  void save_checkpoint(int64_t steps_done);
  std::optional<model::LoraConfig> lora() const { return s_.lora ? std::optional(s_.lora_config) : std::nullopt; }
  void open_metrics(int64_t resume_rows);
  std::vector<torch::Tensor> trainable_parameters();

  const core::Config& config_;
  dist::MpiContext& mpi_;
  Settings s_;
  std::unique_ptr<Objective> objective_;
  std::vector<Metric> metrics_decl_;
  std::unique_ptr<dist::Communicator> comm_;
  torch::Device device_{torch::kCPU};
  model::CausalLM policy_{nullptr}, reference_{nullptr};
  // The checkpoint a --train.resume run continues from, if any.
  std::optional<ResumePoint> resume_;
  std::shared_ptr<const model::Tokenizer> tokenizer_;
  std::unique_ptr<tasks::Task> task_;
  tasks::Dataset dataset_;
  std::vector<Prompt> prompts_;
  std::optional<FrozenAnchors> anchors_;
  std::optional<FrozenRegressor> regressor_;
  int64_t missing_anchors_ = 0, regressor_anchors_ = 0;
  model::GenerationParams gen_;
  std::unique_ptr<SampleSource> source_;
  std::optional<ExactMetrics> exact_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::optional<UpdateGuard> guard_;
  MetricsFile metrics_;
};

// The objective, and the options whose meaning depends on it.
void Trainer::setup_objective() {
  ObjectiveContext c{s_, model::ModelConfig::load(s_.model_dir).hidden_size, device_, !s_.anchors_path.empty()};
  objective_ = make_objective(c);
  DISA_CHECK(!s_.offline || objective_->accepts_offline(), ConfigError,
             "option --train.source: offline is not available for train.algorithm = {}", s_.algorithm_name);
  const bool needs_file = objective_->needs_anchor() || objective_->samples() != SampleKind::Rollouts;
  DISA_CHECK(!needs_file || !s_.anchors_path.empty(), ConfigError,
             "option --train.anchors: is required for {} (the partition file of 'disa anchor')", s_.algorithm_name);
  s_.lora = s_.lora_mode == "on" || (s_.lora_mode == "auto" && objective_->lora_by_default());
  if (s_.lora) s_.lora_config.validate();
  metrics_decl_ = rollout_metrics();
  for (auto& m : objective_->metrics()) metrics_decl_.push_back(std::move(m));
  for (auto& m : run_metrics()) metrics_decl_.push_back(std::move(m));
  if (s_.exact_every > 0)
    for (auto& m : exact_metric_columns()) metrics_decl_.push_back(std::move(m));
}

void Trainer::setup_models() {
  comm_ = dist::make_communicator(mpi_.world(), device_);
  // A resumed full fine-tuning run starts from the checkpoint's weights, a LoRA run from
  // the base model with the checkpoint's adapter.
  const bool full_resume = resume_ && !s_.lora;
  auto models = stage::load_models({"train.model", "policy", s_.model_dir, full_resume ? resume_->dir + "/policy" : ""},
                                   stage::ModelSource{"train.reference", "reference", s_.reference_dir, ""},
                                   "the KL and the ratios to pi_ref need both to score the same token sequences",
                                   device_, torch::kFloat32);
  policy_ = models.first;
  reference_ = models.second;
  for (auto& p : reference_->parameters()) p.set_requires_grad(false);
  reference_->eval();
  tokenizer_ = models.tokenizer;
  if (s_.lora && resume_) {
    const model::LoraConfig saved = model::load_lora_adapter(*policy_, resume_->dir + "/adapter");
    DISA_CHECK(saved.rank == s_.lora_config.rank && saved.alpha == s_.lora_config.alpha, ConfigError,
               "option --train.resume: the adapter in '{}' has rank {} and alpha {}, the run asks for {} and {} "
               "(--train.lora.rank, --train.lora.alpha)",
               resume_->dir, saved.rank, saved.alpha, s_.lora_config.rank, s_.lora_config.alpha);
  } else if (s_.lora) {
    model::apply_lora(*policy_, s_.lora_config, s_.seed);
  }
}

void Trainer::setup_data() {
  task_ = tasks::make_task(s_.task);
  dataset_ = task_->make_dataset();
  model::SamplingParams sampling;
  sampling.temperature = s_.temperature;
  gen_ = stage::generation_params(*policy_, *tokenizer_, *task_, sampling, s_.max_new_tokens, s_.max_batch_size);
  if (!s_.anchors_path.empty()) {
    AnchorExpectations e;
    objective_->expect(e);
    e.reference_fingerprint = reference_->fingerprint;
    e.tokenizer_fingerprint = tokenizer_->fingerprint();
    e.task = task_->name();
    if (e.max_new_tokens) e.stops = stage::response_stops(gen_);  // the response space log Z is over
    anchors_ = FrozenAnchors::open(s_.anchors_path, e);
    if (!s_.regressor_path.empty()) regressor_ = FrozenRegressor::open(s_.regressor_path, e);
  }
  const auto limit =
      stage::prompt_limit(policy_->config(), s_.max_new_tokens, "train.max-new-tokens", s_.task.max_prompt_tokens);
  RegressorSource regressor;
  if (regressor_) {
    regressor.regressor = &*regressor_;
    regressor.features = [this](const std::vector<std::vector<int32_t>>& tokens) {
      return stage::prompt_features(*reference_, tokens, s_.max_batch_size, *comm_);
    };
  }
  auto loaded = load_training_prompts(dataset_, *task_, *tokenizer_, limit, anchors_ ? &*anchors_ : nullptr, s_,
                                      objective_->needs_anchor(), regressor);
  prompts_ = std::move(loaded.prompts);
  missing_anchors_ = loaded.missing_anchors;
  regressor_anchors_ = loaded.regressor_anchors;
  DISA_CHECK(!prompts_.empty() || objective_->samples() == SampleKind::CorrectTrajectories, DataError,
             "no training prompt left");
  source_ = make_sample_source(objective_->samples(), {s_, *comm_, prompts_, anchors_ ? &*anchors_ : nullptr,
                                                       policy_.get(), tokenizer_.get(), task_.get(), &gen_});
  if (s_.exact_every > 0) {
    // The target p*'s beta: the partition file's (every algorithm is compared with the same
    // p*), else DISA's own; none otherwise (then no target mass and no KL lower bound).
    double target_beta = std::numeric_limits<double>::quiet_NaN();
    if (anchors_)
      target_beta = anchors_->reader().provenance().beta;
    else if (s_.algorithm_name == "disa")
      target_beta = objective_->beta();
    exact_.emplace(*task_, *tokenizer_, prompts_, s_.exact_prompts, s_.max_new_tokens, target_beta);
  }
}

std::vector<torch::Tensor> Trainer::trainable_parameters() {
  std::vector<torch::Tensor> params;
  for (auto& p : policy_->parameters())
    if (p.requires_grad()) params.push_back(p);
  for (auto& p : objective_->parameters()) params.push_back(p);
  return params;
}

void Trainer::setup_optimizer() {
  torch::optim::AdamWOptions o(s_.lr);
  o.betas({s_.adam_beta1, s_.adam_beta2}).eps(s_.adam_eps).weight_decay(s_.weight_decay);
  optimizer_ = std::make_unique<torch::optim::AdamW>(trainable_parameters(), o);
  guard_.emplace(s_.guard, resume_ ? resume_->state.guard : UpdateGuardState{});
  if (!resume_) return;
  objective_->load(resume_->dir);
  torch::load(*optimizer_, resume_->dir + "/optimizer.pt");
  core::log::info("train: resumed from '{}' (step {}, written by {} ranks, now {})", resume_->dir, resume_->state.step,
                  resume_->state.world_size, comm_->size());
}

std::vector<Sample> Trainer::draw_samples(int64_t step, StepStats& stats) {
  auto samples = source_->draw(step, stats);
  const auto t0 = core::Clock::now();
  score_fixed_logprobs(*policy_, *reference_, samples, s_.micro_batch);
  stats.add("time_score", core::seconds_since(t0), 0);
  objective_->prepare(samples);
  record_rollout_statistics(samples, stats);
  return samples;
}

// This rank's count of the objective's loss normaliser in a mini-batch.
double Trainer::local_units(const std::vector<Sample*>& batch) const {
  switch (objective_->normaliser()) {
    case LossNormaliser::Tokens: {
      double n = 0;
      for (auto* smp : batch) n += double(smp->tokens.size());
      return n;
    }
    case LossNormaliser::Prompts: {
      std::vector<int64_t> groups;
      for (auto* smp : batch) groups.push_back(smp->group);
      std::sort(groups.begin(), groups.end());
      return double(std::unique(groups.begin(), groups.end()) - groups.begin());
    }
    case LossNormaliser::Sequences: break;
  }
  return double(batch.size());
}

torch::Tensor Trainer::micro_batch_loss(const std::vector<Sample*>& batch, double global_units, StepStats& stats) {
  std::vector<model::ScoreItem> items;
  std::vector<const std::vector<float>*> old_rows, ref_rows;
  for (auto* smp : batch) {
    items.push_back({*smp->prompt_tokens, smp->tokens});
    old_rows.push_back(&smp->old_logp);
    ref_rows.push_back(&smp->ref_logp);
  }
  model::ScoreOptions opts;
  opts.differentiable = true;
  opts.prompt_hidden_mean = objective_->needs_prompt_hidden_mean();
  model::ScoreResult r = model::score(*policy_, items, opts);
  MicroBatch b;
  b.samples = batch;
  b.device = device_;
  b.global_units = global_units;
  b.logp = r.token_logprobs;
  b.mask = r.response_mask.to(torch::kFloat32);
  b.old_logp = pad_rows(old_rows, b.logp.size(1), device_);
  b.ref_logp = pad_rows(ref_rows, b.logp.size(1), device_);
  b.seq_logp = (b.logp * b.mask).sum(1);
  b.seq_old = (b.old_logp * b.mask).sum(1);
  b.seq_ref = (b.ref_logp * b.mask).sum(1);
  b.lengths = b.mask.sum(1).clamp_min(1.0);
  b.prompt_hidden_mean = r.prompt_hidden_mean;
  return objective_->loss_sum(b, stats) / global_units;
}

// One guarded update: the gradients summed over the ranks, clipped, and applied unless the
// update guard skips them. The guard decides on rank 0's global loss and gradient norm,
// broadcast, so every rank takes the same decision.
void Trainer::optimizer_step(int64_t step, double local_loss, StepStats& stats) {
  auto params = trainable_parameters();
  const auto t0 = core::Clock::now();
  all_reduce_gradients(*comm_, params);
  std::vector<double> checked{comm_->all_reduce(local_loss, dist::ReduceOp::Sum), clip_gradient_norm(params, s_.clip)};
  comm_->broadcast(checked, 0);
  stats.add("time_communicate", core::seconds_since(t0), 0);
  stats.add("grad_norm", checked[1]);
  const UpdateVerdict verdict = guard_->check(step, checked[0], checked[1]);
  if (verdict == UpdateVerdict::Apply) {
    set_learning_rate(*optimizer_, lr_schedule(s_).at(step));
    optimizer_->step();
  } else {
    stats.add("skipped_updates", 1.0, 0);
    core::log::warn("train: step {}: update skipped ({}: loss {}, gradient norm {})", step + 1,
                    update_verdict_name(verdict), checked[0], checked[1]);
  }
  optimizer_->zero_grad();
}

void Trainer::save_checkpoint(int64_t steps_done) {
  if (comm_->rank() == 0) {
    const std::string dir = partial_dir(s_.out_dir, steps_done);
    fs::remove_all(dir);
    fs::create_directories(dir);
    save_policy(*policy_, lora(), s_.model_dir, dir, /*merged=*/false);
    torch::save(*optimizer_, dir + "/optimizer.pt");
    objective_->save(dir);
    write_state(dir,
                {steps_done, metrics_.rows(), s_.algorithm_name, int64_t(s_.seed), comm_->size(), guard_->state()});
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

void Trainer::open_metrics(int64_t resume_rows) {
  if (comm_->rank() != 0) return;
  const std::string path = s_.out_dir + "/train.h5";
  // Resuming a finished run (more steps): its committed file becomes incomplete again.
  if (resume_rows >= 0 && !fs::exists(path + io::h5::kIncompleteSuffix) && fs::exists(path))
    fs::rename(path, path + io::h5::kIncompleteSuffix);
  if (resume_rows >= 0 && fs::exists(path + io::h5::kIncompleteSuffix)) {
    metrics_ = MetricsFile::resume(path, resume_rows);
    return;
  }
  if (resume_rows > 0)
    core::log::warn("train: '{}{}' is missing; the resumed run's metrics start at its first step", path,
                    io::h5::kIncompleteSuffix);
  metrics_ = MetricsFile::create(path, metric_columns(metrics_decl_));
  auto& f = metrics_.file();
  auto self = dist::make_mpi_communicator(MPI_COMM_SELF);
  io::write_run_provenance(f, config_, *self);
  f.set_attr("/", "world_size", int64_t(comm_->size()));
  f.set_attr("/", "algorithm", s_.algorithm_name);
  f.set_attr("/", "beta", objective_->beta());  // NaN / "none" where the objective has none
  f.set_attr("/", "residual", objective_->residual());
  f.set_attr("/", "anchors", s_.anchors_path);
  f.set_attr("/", "anchor_shift", s_.anchor_shift);
  f.set_attr("/", "anchor_kind", std::string(s_.anchor_kind()));
  f.set_attr("/", "regressor", s_.regressor_path);
  f.set_attr("/", "regressor_anchors", regressor_anchors_);
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
  device_ = stage::setup_compute(mpi_, s_.compute);
  setup_objective();
  if (s_.resume) resume_ = find_resume_point(s_.out_dir, s_.algorithm_name, s_.seed);
  setup_models();
  setup_data();
  setup_optimizer();
  if (!s_.resume) refuse_existing_run(s_.out_dir);
  fs::create_directories(s_.out_dir);
  const int64_t start = resume_ ? resume_->state.step : 0;
  {
    // Identical weights on every rank (the adapters' and the objective's random init too).
    torch::NoGradGuard no_grad;
    auto params = policy_->parameters();
    for (auto& p : objective_->parameters()) params.push_back(p);
    comm_->broadcast(params, 0);
  }
  comm_->barrier();
  open_metrics(resume_ ? resume_->state.metric_rows : -1);
  core::log::info("train: {} on {} prompts, {} steps from step {}, {} ranks, {}{}", s_.algorithm_name, prompts_.size(),
                  s_.steps, start, comm_->size(), s_.lora ? "LoRA" : "full fine-tuning",
                  anchors_ ? ", anchors " + s_.anchors_path : "");
  std::vector<std::string> stat_names = common_statistics();
  for (const auto& n : objective_->statistics()) stat_names.push_back(n);

  const auto run_start = core::Clock::now();
  for (int64_t step = start; step < s_.steps; ++step) {
    // Exact metrics of the policy that draws this step's rollouts (before its updates).
    std::map<std::string, double> exact_row;
    if (exact_ && step % s_.exact_every == 0) exact_row = exact_->measure(*policy_, *reference_, *comm_);
    const auto t_step = core::Clock::now();
    StepStats stats(stat_names);
    auto samples = draw_samples(step, stats);
    policy_->train();
    int64_t updates = 0;
    for (int64_t epoch = 0; epoch < s_.ppo_epochs; ++epoch) {
      for (int64_t m = 0; m < s_.mini_batches; ++m) {
        std::vector<Sample*> mb;
        for (auto& smp : samples)
          if (smp.minibatch == m) mb.push_back(&smp);
        const double global_units = std::max(1.0, comm_->all_reduce(local_units(mb), dist::ReduceOp::Sum));
        const auto t0 = core::Clock::now();
        double loss = 0;
        for (size_t b = 0; b < mb.size(); b += size_t(s_.micro_batch)) {
          std::vector<Sample*> micro(mb.begin() + long(b),
                                     mb.begin() + long(std::min(mb.size(), b + size_t(s_.micro_batch))));
          torch::Tensor l = micro_batch_loss(micro, global_units, stats);
          l.backward();
          loss += l.item<double>();
        }
        stats.add("time_backward", core::seconds_since(t0), 0);
        stats.add("loss", loss, 0);
        optimizer_step(step, loss, stats);
        ++updates;
      }
    }
    policy_->eval();
    double tokens = 0;
    for (auto& smp : samples) tokens += double(smp.tokens.size());
    stats.add("tokens", tokens, 0);
    // Times: the slowest rank's.
    std::vector<double> times{stats.sum("time_generate"), stats.sum("time_score"), stats.sum("time_backward"),
                              stats.sum("time_communicate")};
    comm_->all_reduce(times, dist::ReduceOp::Max);
    stats.reduce(*comm_);
    const double step_time = comm_->all_reduce(core::seconds_since(t_step), dist::ReduceOp::Max);
    const StepRecord record{stats,    updates,  lr_schedule(s_).at(step), step_time, times[0], times[1], times[2],
                            times[3], exact_row};
    const auto row = metric_row(metrics_decl_, record);
    if (comm_->rank() == 0) {
      metrics_.append(step, row);
      if ((step + 1) % s_.log_every == 0 || step + 1 == s_.steps || step == start)
        core::log::info("{}", progress_line(metrics_decl_, row, step + 1, s_.steps));
    }
    const int64_t done = step + 1;
    const bool stop_now = s_.stop_after_steps >= 0 && done - start >= s_.stop_after_steps && done < s_.steps;
    // A stop signal on any rank: every rank checkpoints this step and stops (exit 75).
    const int stop_signal = done < s_.steps ? dist::agree_at_boundary(*comm_).stop_signal : 0;
    if ((s_.checkpoint_every > 0 && done % s_.checkpoint_every == 0) || done == s_.steps || stop_now ||
        stop_signal != 0)
      save_checkpoint(done);
    if (stop_signal == 0 && !stop_now) continue;
    // Stopping with the checkpoint just written: train.h5 stays train.h5.incomplete.
    if (comm_->rank() == 0) metrics_.file().close();
    if (stop_signal != 0) {
      comm_->barrier();
      throw core::StopRequested(fmt::format(
          "train: {} after step {} of {}: checkpoint written to {}/checkpoints; continue with --train.resume",
          core::signal_name(stop_signal), done, s_.steps, s_.out_dir));
    }
    core::log::warn("train: stopping after {} steps as asked (--train.stop-after-steps); resume with --train.resume",
                    done - start);
    return "";
  }
  if (s_.steps == start) save_checkpoint(start);
  std::map<std::string, double> final_exact;
  if (exact_) final_exact = exact_->measure(*policy_, *reference_, *comm_);
  if (comm_->rank() == 0) {
    save_policy(*policy_, lora(), s_.model_dir, s_.out_dir, /*merged=*/true);
    core::log::info("train: wrote the policy to {}/policy{}", s_.out_dir, s_.lora ? " (merged) and its adapter" : "");
  }
  comm_->barrier();
  if (comm_->rank() == 0) {
    auto& f = metrics_.file();
    for (auto& [k, v] : final_exact) {
      f.set_attr("/", "final_" + k, v);
      core::log::info("train: final {} {:.5f}", k, v);
    }
    f.set_attr("/", "final_policy", s_.out_dir + "/policy");
    f.set_attr("/", "train_seconds", core::seconds_since(run_start));
    f.set_attr("/", "skipped_updates", guard_->state().skipped_updates);
    metrics_.commit();
    core::log::info("train: done in {:.1f} s; metrics in {}/train.h5", core::seconds_since(run_start), s_.out_dir);
  }
  comm_->barrier();
  return s_.out_dir + "/policy";
}

}  // namespace

std::string run_train(const core::Config& config, dist::MpiContext& mpi) {
  const core::StopSignals stop_signals;  // SIGTERM: checkpoint at the end of the step, exit 75
  Trainer trainer(config, mpi);
  return trainer.run();
}

}  // namespace disa::train
