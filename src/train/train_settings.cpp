// Options and settings of `disa train` (include/disa/train/train_settings.hpp).
#include "disa/train/train_settings.hpp"

#include <algorithm>
#include <filesystem>

#include "disa/core/config.hpp"
#include "disa/tasks/task_options.hpp"
#include "disa/train/objective.hpp"

namespace disa::train {

namespace fs = std::filesystem;

namespace {

std::string algorithm_list() {
  std::string names;
  for (const auto& n : objective_names()) names += (names.empty() ? "" : ", ") + n;
  return names;
}

}  // namespace

Settings read_settings(const Config& c) {
  Settings s;
  s.algorithm_name = c.get_string("train.algorithm");
  const auto names = objective_names();
  c.require(std::find(names.begin(), names.end(), s.algorithm_name) != names.end(), "train.algorithm",
            "must be one of " + algorithm_list());
  s.model_dir = c.get_string("train.model");
  c.require(!s.model_dir.empty(), "train.model", "is required (the initial policy, HF model directory)");
  c.require(fs::is_directory(s.model_dir), "train.model", "must be an existing model directory");
  s.reference_dir = c.get_string("train.reference");
  if (s.reference_dir.empty()) s.reference_dir = s.model_dir;
  c.require(fs::is_directory(s.reference_dir), "train.reference", "must be an existing model directory");
  s.anchors_path = c.get_string("train.anchors");
  s.out_dir = c.get_string("train.out");
  c.require(!s.out_dir.empty(), "train.out", "is required");
  s.steps = c.get_int("train.steps");
  c.require(s.steps >= 0, "train.steps", "must be >= 0");
  s.prompts_per_step = c.get_int("train.prompts-per-step");
  c.require(s.prompts_per_step >= 1, "train.prompts-per-step", "must be >= 1");
  s.group_size = c.get_int("train.group-size");
  c.require(s.group_size >= 1, "train.group-size", "must be >= 1");
  s.mini_batches = c.get_int("train.mini-batches");
  c.require(s.mini_batches >= 1 && s.mini_batches <= s.prompts_per_step, "train.mini-batches",
            "must be between 1 and train.prompts-per-step");
  s.ppo_epochs = c.get_int("train.ppo-epochs");
  c.require(s.ppo_epochs >= 1, "train.ppo-epochs", "must be >= 1");
  s.micro_batch = c.get_int("train.micro-batch");
  c.require(s.micro_batch >= 1, "train.micro-batch", "must be >= 1");
  s.lr = c.get_double("train.lr");
  c.require(s.lr > 0, "train.lr", "must be > 0");
  s.warmup = c.get_int("train.warmup");
  c.require(s.warmup >= 0, "train.warmup", "must be >= 0");
  const std::string schedule = c.get_string("train.schedule");
  c.require(schedule == "constant" || schedule == "cosine", "train.schedule", "must be constant or cosine");
  s.cosine = schedule == "cosine";
  s.min_lr_ratio = c.get_double("train.min-lr-ratio");
  c.require(s.min_lr_ratio >= 0 && s.min_lr_ratio <= 1, "train.min-lr-ratio", "must be in [0, 1]");
  s.weight_decay = c.get_double("train.weight-decay");
  s.adam_beta1 = c.get_double("train.adam-beta1");
  s.adam_beta2 = c.get_double("train.adam-beta2");
  s.adam_eps = c.get_double("train.adam-eps");
  s.clip = c.get_double("train.clip");
  s.seed = uint64_t(c.get_int("train.seed"));
  s.temperature = c.get_double("train.temperature");
  c.require(s.temperature > 0, "train.temperature", "must be > 0 (rollouts need a density)");
  s.max_new_tokens = c.get_int("train.max-new-tokens");
  c.require(s.max_new_tokens >= 1, "train.max-new-tokens", "must be >= 1");
  s.max_batch_size = c.get_int("train.max-batch-size");
  c.require(s.max_batch_size >= 1, "train.max-batch-size", "must be >= 1");
  s.log_every = std::max<int64_t>(1, c.get_int("train.log-every"));
  s.checkpoint_every = c.get_int("train.checkpoint-every");
  s.keep_checkpoints = c.get_int("train.keep-checkpoints");
  s.resume = c.get_bool("train.resume");
  s.stop_after_steps = c.get_int("train.stop-after-steps");
  s.exact_every = c.get_int("train.exact-every");
  s.exact_prompts = c.get_int("train.exact-prompts");
  const std::string source = c.get_string("train.source");
  c.require(source == "online" || source == "offline", "train.source", "must be online or offline");
  s.offline = source == "offline";
  s.allow_missing_anchors = c.get_bool("train.allow-missing-anchors");
  s.anchor_shift = c.get_double("train.anchor-shift");
  s.lora_mode = c.get_string("train.lora");
  c.require(s.lora_mode == "auto" || s.lora_mode == "on" || s.lora_mode == "off", "train.lora",
            "must be auto, on or off");
  s.lora_config.rank = c.get_int("train.lora.rank");
  s.lora_config.alpha = c.get_double("train.lora.alpha");
  s.lora_config.dropout = c.get_double("train.lora.dropout");
  if (!c.get_list("train.lora.targets").empty()) s.lora_config.target_modules = c.get_list("train.lora.targets");

  s.beta = c.get_double("disa.beta");
  c.require(s.beta > 0, "disa.beta", "must be > 0");
  s.w_max = c.get_double("disa.w-max");
  const std::string residual = c.get_string("disa.residual");
  c.require(residual == "sequence" || residual == "length-normalized", "disa.residual",
            "must be sequence (s = 1) or length-normalized (s = 1/|y|)");
  s.length_normalized = residual == "length-normalized";
  const std::string anchor = c.get_string("disa.anchor");
  c.require(anchor == "estimate" || anchor == "exact", "disa.anchor", "must be estimate or exact");
  s.exact_anchor = anchor == "exact";
  c.require(!s.exact_anchor || !s.length_normalized, "disa.anchor",
            "exact is the exact log Z, the anchor of disa.residual = sequence only");
  s.flowrl_beta = c.get_double("flowrl.beta");
  s.flowrl_w_max = c.get_double("flowrl.w-max");
  s.flowrl_head_blocks = c.get_int("flowrl.head-blocks");
  c.require(s.flowrl_head_blocks >= 0, "flowrl.head-blocks", "must be >= 0");
  s.grpo_eps_low = c.get_double("grpo.eps-low");
  s.grpo_eps_high = c.get_double("grpo.eps-high");
  s.gspo_eps_low = c.get_double("gspo.eps-low");
  s.gspo_eps_high = c.get_double("gspo.eps-high");
  s.aggregation = parse_aggregation(c.get_string("grpo.aggregation"));
  s.kl_kind = c.get_string("grpo.kl");
  c.require(s.kl_kind == "none" || s.kl_kind == "k1" || s.kl_kind == "k2" || s.kl_kind == "k3", "grpo.kl",
            "must be none, k1, k2 or k3");
  s.kl_coef = c.get_double("grpo.kl-coef");
  s.sft_batch = c.get_int("sft.batch-size");
  c.require(s.sft_batch >= 1, "sft.batch-size", "must be >= 1");
  s.sft_min_reward = c.get_double("sft.min-reward");
  return s;
}

void add_train_options(Options& o) {
  o.add_string("train.algorithm", "disa", "one of " + algorithm_list() + " (docs/method.md §3)");
  o.add_string("train.model", "", "initial policy (HF model directory; usually the reference)");
  o.add_string("train.reference", "", "frozen reference pi_ref (default: train.model)");
  o.add_string("train.anchors", "", "partition file of 'disa anchor' (required for disa and sft)");
  o.add_string("train.out", "train", "output directory: train.h5, checkpoints/, policy/ (and adapter/)");
  o.add_int("train.steps", 100, "training steps (each: rollouts, then ppo-epochs x mini-batches optimiser updates)");
  o.add_int("train.prompts-per-step", 16, "prompts per step over all ranks");
  o.add_int("train.group-size", 8, "responses sampled per prompt (G)");
  o.add_int("train.mini-batches", 1, "optimiser steps per pass over a step's rollouts (prompt-wise split)");
  o.add_int("train.ppo-epochs", 1, "passes over a step's rollouts");
  o.add_int("train.micro-batch", 64, "sequences per forward/backward (gradient accumulation bounds memory)");
  o.add_double("train.lr", 1e-3, "AdamW peak learning rate");
  o.add_int("train.warmup", 0, "linear warm-up steps");
  o.add_string("train.schedule", "constant", "after warm-up: constant or cosine");
  o.add_double("train.min-lr-ratio", 0.1, "cosine: final learning rate / peak");
  o.add_double("train.weight-decay", 0.0, "AdamW weight decay");
  o.add_double("train.adam-beta1", 0.9, "AdamW beta1");
  o.add_double("train.adam-beta2", 0.999, "AdamW beta2");
  o.add_double("train.adam-eps", 1e-8, "AdamW epsilon");
  o.add_double("train.clip", 1.0, "global gradient-norm clip (0: off)");
  o.add_int("train.seed", 1, "seed of the prompt order, rollouts and adapters");
  o.add_double("train.temperature", 1.0, "rollout sampling temperature");
  o.add_int("train.max-new-tokens", 64, "rollout generation limit");
  o.add_int("train.max-batch-size", 64, "sequences per generation forward pass");
  o.add_int("train.log-every", 1, "steps between progress lines (every step goes to train.h5)");
  o.add_int("train.checkpoint-every", 0, "steps between checkpoints (0: only at the end)");
  o.add_int("train.keep-checkpoints", 2, "complete checkpoints kept (0: all)");
  o.add_bool("train.resume", false, "continue from the newest complete checkpoint in train.out");
  o.add_int("train.stop-after-steps", -1, "stop (with a checkpoint) after this many steps of this run (-1: never)");
  o.add_int("train.exact-every", 0, "steps between exact KL/TV to p* on the correct set (listable tasks; 0: off)");
  o.add_int("train.exact-prompts", 32, "training prompts of the exact metrics");
  o.add_string("train.source", "online", "disa: online rollouts, or offline (the partition file's trajectories, "
               "self-normalised pi_theta/q weights)");
  o.add_bool("train.allow-missing-anchors", false, "train without the prompts that have no anchor (counted)");
  o.add_double("train.anchor-shift", 0.0, "added to every anchor: a deliberately wrong anchor (sensitivity studies)");
  o.add_string("train.device", "auto", "auto, cpu or cuda (rank r uses cuda:local_rank)");
  o.add_int("train.threads", 0, "CPU threads per rank (0: hardware threads / ranks per node)");
  o.add_string("train.lora", "auto", "LoRA adapters: on, off, or auto (on for sft)");
  o.add_int("train.lora.rank", 8, "LoRA rank r");
  o.add_double("train.lora.alpha", 16.0, "LoRA alpha (scaling alpha / r)");
  o.add_double("train.lora.dropout", 0.0, "LoRA dropout (> 0 makes resume non-bitwise)");
  o.add_list("train.lora.targets", "projections to adapt (q k v o gate up down; default all)");
  o.add_double("disa.beta", 1.0, "inverse temperature beta; must equal the partition file's");
  o.add_string("disa.residual", "sequence", "sequence (s = 1, logmeanexp anchor) or length-normalized (s = 1/|y|, "
               "root-found anchor)");
  o.add_string("disa.anchor", "estimate", "estimate (log Zhat of the file) or exact (the file's exact log Z, "
               "listable tasks only: for sensitivity studies)");
  o.add_double("disa.w-max", 10.0, "clamp of the importance weight pi_theta/pi_old (<= 0: none)");
  o.add_double("flowrl.beta", 15.0, "FlowRL's beta on the group-normalised reward");
  o.add_double("flowrl.w-max", 10.0, "FlowRL's clamp of pi_theta/pi_old");
  o.add_int("flowrl.head-blocks", 2, "Linear-GELU-LayerNorm blocks of the log Z head");
  o.add_double("grpo.eps-low", 0.2, "GRPO lower clip eps_low");
  o.add_double("grpo.eps-high", 0.2, "GRPO upper clip eps_high");
  o.add_string("grpo.aggregation", "token-mean", "token-mean, seq-mean-token-mean or seq-mean-token-sum");
  o.add_string("grpo.kl", "none", "KL penalty to the reference: none, k1, k2 or k3");
  o.add_double("grpo.kl-coef", 0.0, "coefficient of the KL penalty");
  o.add_double("gspo.eps-low", 3e-4, "GSPO lower clip of the sequence ratio");
  o.add_double("gspo.eps-high", 4e-4, "GSPO upper clip of the sequence ratio");
  o.add_int("sft.batch-size", 64, "sft: trajectories per step over all ranks");
  o.add_double("sft.min-reward", 1.0, "sft: trajectories with reward >= this are trained on");
  tasks::add_task_options(o);
}

}  // namespace disa::train
