// The resolved settings of `disa train` (options train.*, disa.*, flowrl.*, grpo.*,
// gspo.*, sft.*, task.*): declared with their help texts and defaults, read from a
// Config and validated (ConfigError naming the option for bad values), so the loop in
// trainer.cpp works on plain fields. docs/train.md describes every option.
#pragma once

#include <cstdint>
#include <string>

#include "disa/io/partition_file.hpp"
#include "disa/model/lora.hpp"
#include "disa/stage/compute.hpp"
#include "disa/tasks/task_options.hpp"
#include "disa/train/losses.hpp"
#include "disa/train/lr_schedule.hpp"
#include "disa/train/update_guard.hpp"

namespace disa::core {
class Options;
class Config;
}  // namespace disa::core

namespace disa::train {

// Where DISA's frozen anchor c(x) comes from (option disa.anchor; docs/train.md).
enum class AnchorSource {
  Raw,        // the partition file's log Zhat (alias: estimate)
  Exact,      // the partition file's exact log Z (listable tasks; sensitivity studies)
  Regressor,  // g(x) of the regressor file, for every prompt
  Shrinkage,  // c(x) = (log Zhat / s^2 + g / tau^2) / (1 / s^2 + 1 / tau^2); g(x) without an anchor
};

// The settings of `disa train`; the initialisers are the options' defaults
// (train_settings.cpp declares each option once, bound to its field).
struct Settings {
  std::string algorithm_name = "disa";  // a registered objective (objective.hpp)
  std::string model_dir, reference_dir, anchors_path, out_dir = "train";
  int64_t steps = 100, prompts_per_step = 16, group_size = 8, mini_batches = 1, ppo_epochs = 1, micro_batch = 64;
  double lr = 1e-3;
  int64_t warmup = 0;
  bool cosine = false;
  double min_lr_ratio = 0.1, weight_decay = 0, adam_beta1 = 0.9, adam_beta2 = 0.999, adam_eps = 1e-8;
  double clip = 1.0;
  UpdateGuardSettings guard;  // non-finite and outlier updates (update_guard.hpp)
  uint64_t seed = 1;
  double temperature = 1.0;
  int64_t max_new_tokens = 64, max_batch_size = 64, log_every = 1, checkpoint_every = 0, keep_checkpoints = 2;
  bool resume = false;
  int64_t stop_after_steps = -1;
  int64_t exact_every = 0, exact_prompts = 32;
  bool offline = false, allow_missing_anchors = false;
  double anchor_shift = 0;
  stage::ComputeSettings compute;
  std::string lora_mode = "auto";  // auto: the objective's default (objective.hpp)
  bool lora = false;               // resolved by the trainer from lora_mode and the objective
  model::LoraConfig lora_config;
  // disa
  double beta = 1.0;
  bool length_normalized = false;
  AnchorSource anchor_source = AnchorSource::Raw;
  std::string regressor_path;  // disa.regressor: with it, prompts without an anchor get g(x)
  double w_max = 10.0;
  // flowrl
  double flowrl_beta = 15.0, flowrl_w_max = 10.0;
  int64_t flowrl_head_blocks = 2;
  // grpo / gspo
  double grpo_eps_low = 0.2, grpo_eps_high = 0.2, grpo_dual_clip = 0;
  Aggregation aggregation = Aggregation::TokenMean;
  std::string kl_kind = "none";
  double kl_coef = 0;
  double gspo_eps_low = 3e-4, gspo_eps_high = 4e-4, gspo_dual_clip = 0;
  // sft
  int64_t sft_batch = 64;
  double sft_min_reward = 1.0;
  tasks::TaskOptions task;
  // The train.h5 attribute anchor_kind: estimate (raw), exact, regressor or shrinkage.
  const char* anchor_kind() const;
  const char* residual() const {
    return length_normalized ? io::partition::kLengthNormalizedAnchor : io::partition::kSequenceAnchor;
  }
};

// Adds every option of `disa train`.
void add_train_options(core::Options& options);
// Reads and validates the options of `disa train`.
Settings read_settings(const core::Config& config);
// The learning-rate schedule of the train.lr, train.warmup, train.schedule,
// train.min-lr-ratio and train.steps options.
LrSchedule lr_schedule(const Settings& settings);

}  // namespace disa::train
