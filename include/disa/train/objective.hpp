// The training objective of one algorithm (docs/method.md §3), behind one interface: what
// it trains on, what it needs per sample, its loss over a micro-batch, its metric columns,
// its file attributes and its parameters beside the policy. The loop (trainer.cpp) never
// asks which algorithm it runs. Each algorithm is one file (objective_<name>.cpp) and one
// line in the registry (objective_registry.cpp); the loss formulas themselves are the pure
// functions of losses.hpp.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "disa/core/option_table.hpp"
#include "disa/train/frozen_anchors.hpp"
#include "disa/train/losses.hpp"
#include "disa/train/metric.hpp"
#include "disa/train/sample.hpp"
#include "disa/train/step_stats.hpp"
#include "disa/train/train_settings.hpp"

namespace disa::train {

// Where a step's samples come from (sample_source.hpp).
enum class SampleKind {
  Rollouts,             // G responses per prompt from the current policy
  StoredTrajectories,   // the partition file's trajectories of each prompt
  CorrectTrajectories,  // a pool of the file's correct trajectories (no prompt order)
};

// What a micro-batch's loss sum is divided by: its global count over the mini-batch.
enum class LossNormaliser { Tokens, Sequences, Prompts };

// One micro-batch as the objectives see it: the policy's differentiable per-token
// log-probs and the step's fixed terms, padded to [B, T].
struct MicroBatch {
  std::vector<Sample*> samples;
  torch::Tensor logp, mask, old_logp, ref_logp;       // [B, T] (mask 0/1 float)
  torch::Tensor seq_logp, seq_old, seq_ref, lengths;  // [B] (lengths >= 1)
  torch::Tensor prompt_hidden_mean;                   // [B, H] where the objective asks for it
  double global_units = 1;                            // the loss normaliser's global count
  torch::Device device{torch::kCPU};
  // A per-sample field as a float tensor [B] on the device.
  torch::Tensor column(double Sample::*field) const;
};

// What an objective is built from.
struct ObjectiveContext {
  const Settings& settings;
  int64_t hidden_size = 0;  // the policy's (heads over its hidden states)
  torch::Device device{torch::kCPU};
  bool has_anchors = false;  // a partition file is given
};

class Objective {
 public:
  virtual ~Objective() = default;

  virtual SampleKind samples() const { return SampleKind::Rollouts; }
  // Whether train.source = offline (the partition file's trajectories) is available.
  virtual bool accepts_offline() const { return false; }
  // Whether train.lora = auto means LoRA.
  virtual bool lora_by_default() const { return false; }
  virtual LossNormaliser normaliser() const = 0;
  // The partition file: what it must match (beta; the anchor of this residual form) and
  // whether a prompt without an anchor cannot be trained on.
  virtual void expect(AnchorExpectations& e) const {
    e.beta = std::nullopt;
    e.residual = io::partition::kSequenceAnchor;
  }
  virtual bool needs_anchor() const { return false; }
  // The policy's mean prompt hidden state in MicroBatch::prompt_hidden_mean.
  virtual bool needs_prompt_hidden_mean() const { return false; }

  // Per-step targets once log pi_old and log pi_ref are known (advantages, weights).
  virtual void prepare(std::vector<Sample>& samples) const { (void)samples; }
  // The micro-batch's loss SUM over its units (MicroBatch::global_units divides it).
  virtual torch::Tensor loss_sum(const MicroBatch& batch, StepStats& stats) = 0;

  // Step statistics its loss records, and the train.h5 columns made from them.
  virtual std::vector<std::string> statistics() const { return {}; }
  virtual std::vector<Metric> metrics() const { return {}; }
  // train.h5's root attributes "beta" and "residual" (NaN / "none": no such term).
  virtual double beta() const { return std::numeric_limits<double>::quiet_NaN(); }
  virtual std::string residual() const { return "none"; }

  // Parameters trained beside the policy (FlowRL's log Z head), broadcast at start and
  // kept in checkpoints.
  virtual std::vector<torch::Tensor> parameters() { return {}; }
  virtual void save(const std::string& checkpoint_dir) const { (void)checkpoint_dir; }
  virtual void load(const std::string& checkpoint_dir) { (void)checkpoint_dir; }
};

// The objective of settings.algorithm_name; ConfigError naming --train.algorithm and the
// registered names otherwise.
std::unique_ptr<Objective> make_objective(const ObjectiveContext& context);
// The registered algorithm names, in registration order.
std::vector<std::string> objective_names();
// Declares every registered objective's own options (disa.*, flowrl.*, ...), in
// registration order.
void add_objective_options(core::OptionTable<Settings>& table);

// Shared by the residual objectives (DISA, FlowRL): residual, weight and clamp statistics
// and their columns.
std::vector<std::string> residual_statistics();
std::vector<Metric> residual_metrics();
void record_residuals(const ResidualLoss& loss, const torch::Tensor& weight, const torch::Tensor& clamped,
                      size_t batch_size, StepStats& stats);
// The clipping columns of the policy-gradient objectives (GRPO, GSPO).
std::vector<Metric> clip_metrics();
// The rule of grpo.dual-clip and gspo.dual-clip: 0 (off) or above 1.
core::Rule<double> dual_clip_rule();
// ConfigError naming --train.temperature unless it is 1: the residual objectives (DISA,
// FlowRL) score log pi_theta at temperature 1 in their residuals and importance weights,
// which correct for the sampling distribution only when it is that same density.
void require_untempered_rollouts(const Settings& settings);
// Group-normalised rewards in Sample::advantage (groups of `group_size` consecutive
// samples): GRPO's and GSPO's advantages, FlowRL's reward.
void group_advantages(std::vector<Sample>& samples, int64_t group_size);

}  // namespace disa::train
