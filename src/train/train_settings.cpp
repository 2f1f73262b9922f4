// Options and settings of `disa train` (include/disa/train/train_settings.hpp).
#include "disa/train/train_settings.hpp"

#include <algorithm>
#include <filesystem>

#include "disa/core/option_table.hpp"
#include "disa/train/objective.hpp"

namespace disa::train {

namespace fs = std::filesystem;

namespace {

std::string algorithm_list() {
  std::string names;
  for (const auto& n : objective_names()) names += (names.empty() ? "" : ", ") + n;
  return names;
}

core::Rule<std::string> model_directory(const std::string& what) {
  return {[](const std::string& v) { return v.empty() || fs::is_directory(v); },
          "must be an existing model directory (" + what + ")"};
}

const core::OptionTable<Settings>& settings_table() {
  static const core::OptionTable<Settings> table = [] {
    using Words = std::vector<std::pair<std::string, bool>>;
    core::OptionTable<Settings> t;
    t.text("train.algorithm", DISA_FIELD(algorithm_name), "one of " + algorithm_list() + " (docs/method.md §3)",
           {[](const std::string& v) {
              const auto names = objective_names();
              return std::find(names.begin(), names.end(), v) != names.end();
            },
            "must be one of " + algorithm_list()});
    t.text("train.model", DISA_FIELD(model_dir), "initial policy (HF model directory; usually the reference)",
           core::required("the initial policy, HF model directory"));
    t.text("train.reference", DISA_FIELD(reference_dir), "frozen reference pi_ref (default: train.model)",
           model_directory("the frozen reference"));
    t.text("train.anchors", DISA_FIELD(anchors_path), "partition file of 'disa anchor' (required for disa and sft)");
    t.text("train.out", DISA_FIELD(out_dir), "output directory: train.h5, checkpoints/, policy/ (and adapter/)",
           core::required("the output directory"));
    t.integer("train.steps", DISA_FIELD(steps),
              "training steps (each: rollouts, then ppo-epochs x mini-batches optimiser updates)",
              core::at_least<int64_t>(0));
    t.integer("train.prompts-per-step", DISA_FIELD(prompts_per_step), "prompts per step over all ranks",
              core::at_least<int64_t>(1));
    t.integer("train.group-size", DISA_FIELD(group_size), "responses sampled per prompt (G)",
              core::at_least<int64_t>(1));
    t.integer("train.mini-batches", DISA_FIELD(mini_batches),
              "optimiser steps per pass over a step's rollouts (prompt-wise split)", core::at_least<int64_t>(1));
    t.integer("train.ppo-epochs", DISA_FIELD(ppo_epochs), "passes over a step's rollouts", core::at_least<int64_t>(1));
    t.integer("train.micro-batch", DISA_FIELD(micro_batch),
              "sequences per forward/backward (gradient accumulation bounds memory)", core::at_least<int64_t>(1));
    t.real("train.lr", DISA_FIELD(lr), "AdamW peak learning rate", core::above(0.0));
    t.integer("train.warmup", DISA_FIELD(warmup), "linear warm-up steps", core::at_least<int64_t>(0));
    t.choice("train.schedule", DISA_FIELD(cosine), Words{{"constant", false}, {"cosine", true}},
             "after warm-up: constant or cosine");
    t.real("train.min-lr-ratio", DISA_FIELD(min_lr_ratio), "cosine: final learning rate / peak",
           core::within(0.0, 1.0));
    t.real("train.weight-decay", DISA_FIELD(weight_decay), "AdamW weight decay");
    t.real("train.adam-beta1", DISA_FIELD(adam_beta1), "AdamW beta1");
    t.real("train.adam-beta2", DISA_FIELD(adam_beta2), "AdamW beta2");
    t.real("train.adam-eps", DISA_FIELD(adam_eps), "AdamW epsilon");
    t.real("train.clip", DISA_FIELD(clip), "global gradient-norm clip (0: off)");
    t.integer("train.max-skipped-updates", DISA_FIELD(guard.max_consecutive),
              "optimiser updates skipped in a row (non-finite or outlier loss or gradient norm) before the run "
              "stops with an error",
              core::at_least<int64_t>(1));
    t.integer("train.outlier-window", DISA_FIELD(guard.window),
              "accepted updates the outlier z-scores of loss and gradient norm are taken over",
              core::at_least<int64_t>(2));
    t.real("train.outlier-z", DISA_FIELD(guard.z_max),
           "skip an update whose loss or gradient norm is more than this many standard deviations from the "
           "window's mean (0: off)",
           core::at_least(0.0));
    t.integer("train.seed", DISA_FIELD(seed), "seed of the prompt order, rollouts and adapters");
    t.real("train.temperature", DISA_FIELD(temperature), "rollout sampling temperature",
           core::above(0.0, "rollouts need a density"));
    t.integer("train.max-new-tokens", DISA_FIELD(max_new_tokens), "rollout generation limit",
              core::at_least<int64_t>(1));
    t.integer("train.max-batch-size", DISA_FIELD(max_batch_size), "sequences per generation forward pass",
              core::at_least<int64_t>(1));
    t.integer("train.log-every", DISA_FIELD(log_every), "steps between progress lines (every step goes to train.h5)",
              core::at_least<int64_t>(1));
    t.integer("train.checkpoint-every", DISA_FIELD(checkpoint_every), "steps between checkpoints (0: only at the end)",
              core::at_least<int64_t>(0));
    t.integer("train.keep-checkpoints", DISA_FIELD(keep_checkpoints), "complete checkpoints kept (0: all)",
              core::at_least<int64_t>(0));
    t.flag("train.resume", DISA_FIELD(resume), "continue from the newest complete checkpoint in train.out");
    t.integer("train.stop-after-steps", DISA_FIELD(stop_after_steps),
              "stop (with a checkpoint) after this many steps of this run (-1: never)");
    t.integer("train.exact-every", DISA_FIELD(exact_every),
              "steps between exact KL/TV to p* on the correct set (listable tasks; 0: off)",
              core::at_least<int64_t>(0));
    t.integer("train.exact-prompts", DISA_FIELD(exact_prompts), "training prompts of the exact metrics",
              core::at_least<int64_t>(1));
    t.choice("train.source", DISA_FIELD(offline), Words{{"online", false}, {"offline", true}},
             "disa: online rollouts, or offline (the partition file's trajectories, self-normalised pi_theta/q "
             "weights)");
    t.flag("train.allow-missing-anchors", DISA_FIELD(allow_missing_anchors),
           "train without the prompts that have no anchor (counted)");
    t.real("train.anchor-shift", DISA_FIELD(anchor_shift),
           "added to every anchor: a deliberately wrong anchor (sensitivity studies)");
    t.include(DISA_FIELD(compute), stage::compute_option_table("train"));
    t.text("train.lora", DISA_FIELD(lora_mode), "LoRA adapters: on, off, or auto (on for sft)",
           {[](const std::string& v) { return v == "auto" || v == "on" || v == "off"; }, "must be auto, on or off"});
    t.integer("train.lora.rank", DISA_FIELD(lora_config.rank), "LoRA rank r");
    t.real("train.lora.alpha", DISA_FIELD(lora_config.alpha), "LoRA alpha (scaling alpha / r)");
    t.real("train.lora.dropout", DISA_FIELD(lora_config.dropout), "LoRA dropout (> 0 makes resume non-bitwise)");
    t.list("train.lora.targets", DISA_FIELD(lora_config.target_modules),
           "projections to adapt (q k v o gate up down; default all)");
    add_objective_options(t);  // disa.*, flowrl.*, grpo.*, gspo.*, sft.*: each objective its own
    t.include(DISA_FIELD(task), tasks::task_option_table());
    t.check(
        "train.model", [](const Settings& s) { return fs::is_directory(s.model_dir); },
        "must be an existing model directory");
    t.check(
        "train.mini-batches", [](const Settings& s) { return s.mini_batches <= s.prompts_per_step; },
        "must be between 1 and train.prompts-per-step");
    return t;
  }();
  return table;
}

}  // namespace

Settings read_settings(const core::Config& c) {
  Settings s = settings_table().read(c);
  if (s.reference_dir.empty()) s.reference_dir = s.model_dir;  // the default reference: the initial policy
  return s;
}

void add_train_options(core::Options& o) { settings_table().declare(o); }

const char* Settings::anchor_kind() const {
  switch (anchor_source) {
    case AnchorSource::Raw: return "estimate";
    case AnchorSource::Exact: return "exact";
    case AnchorSource::Regressor: return "regressor";
    case AnchorSource::Shrinkage: return "shrinkage";
  }
  return "estimate";
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

}  // namespace disa::train
