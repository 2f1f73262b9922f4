// `disa train`: stage 2 (docs/method.md §3). One data-parallel loop for every algorithm
// (train.algorithm = disa | flowrl | grpo | gspo | sft):
//   each step takes its prompts from a seeded epoch order (the step is the data cursor),
//   every rank a disjoint balanced share of each mini-batch's prompts; samples G
//   responses per prompt from the current policy (streams from (seed, step, prompt,
//   sample), so nothing depends on the rank count), scores rewards, computes log pi_old
//   and log pi_ref, then for every PPO epoch and mini-batch: the loss over micro-batches
//   (gradient accumulation), normalised by the mini-batch's global token or sequence
//   count, a bucketed gradient all-reduce, a global-norm clip and one AdamW step
//   (warm-up, then constant or cosine).
// DISA reads its frozen anchors c(x) from the partition file (frozen_anchors.hpp) and
// refuses a file from another beta, estimator, reference or tokenizer; its offline
// variant (train.source = offline) trains on the file's own trajectories with
// per-prompt self-normalised pi_theta / q weights. SFT trains (LoRA by default) on the
// file's correct trajectories. Metrics go to OUT/train.h5 (metrics_file.hpp), one line
// per step to the log; checkpoints to OUT/checkpoints (checkpoint.hpp); the final
// policy to OUT/policy (HF layout; LoRA runs also write OUT/adapter in the PEFT layout
// and the merged model to OUT/policy). Options: train_settings.hpp; docs/train.md
// documents options and metrics.
#pragma once

#include <string>

namespace disa::core {
class Options;
class Config;
}  // namespace disa::core
namespace disa::dist {
class MpiContext;
}  // namespace disa::dist

namespace disa::train {

// Runs training; returns the final policy directory.
std::string run_train(const core::Config& config, dist::MpiContext& mpi);

}  // namespace disa::train
