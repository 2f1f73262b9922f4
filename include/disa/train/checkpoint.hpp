// Checkpoint directories of `disa train`: OUT/checkpoints/step-NNNNNN/ holds the state
// after NNNNNN completed steps: policy/ (HF layout, full fine-tuning) or adapter/ (PEFT
// layout, LoRA), optimizer.pt (AdamW moments and step counts), log_z_head.pt (FlowRL) and
// state.json (step, metric rows, algorithm, seed, world size, the update guard's state). Every random stream of
// training is counter-based on (seed, step, prompt, sample), so the step is the whole
// random state and the data cursor. A directory is written as step-NNNNNN.partial,
// renamed when complete, and gets its COMPLETE marker only after every rank finished
// the step; resuming takes the newest directory with the marker, with any number of
// ranks. Older complete checkpoints beyond the newest `keep` are deleted.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "disa/train/update_guard.hpp"

namespace disa::train {

struct CheckpointState {
  int64_t step = 0;         // completed steps
  int64_t metric_rows = 0;  // rows of train.h5 /metrics at that point
  std::string algorithm;
  int64_t seed = 0;
  int64_t world_size = 0;
  UpdateGuardState guard;  // absent in older checkpoints: an empty window
};

std::string checkpoint_dir(const std::string& out_dir, int64_t step);
// The path where a checkpoint is assembled before its rename.
std::string partial_dir(const std::string& out_dir, int64_t step);
// Renames the partial directory into place (replacing an old one).
void publish_checkpoint(const std::string& out_dir, int64_t step);
void write_state(const std::string& dir, const CheckpointState& state);
CheckpointState read_state(const std::string& dir);
// Writes DIR/COMPLETE.
void mark_complete(const std::string& dir);
// The newest OUT/checkpoints/step-* with COMPLETE, if any.
std::optional<std::string> latest_complete_checkpoint(const std::string& out_dir);
// Deletes all but the newest `keep` complete checkpoints (keep <= 0: keep all).
void prune_checkpoints(const std::string& out_dir, int64_t keep);

// The checkpoint a --train.resume run continues from (nullopt, with a warning, when OUT
// has none), with its state; ConfigError when it is of another algorithm or seed.
struct ResumePoint {
  std::string dir;
  CheckpointState state;
};
std::optional<ResumePoint> find_resume_point(const std::string& out_dir, const std::string& algorithm, uint64_t seed);
// ConfigError naming --train.out when OUT already holds a run (train.h5 or checkpoints):
// a fresh run never overwrites one or mixes with its checkpoints.
void refuse_existing_run(const std::string& out_dir);

}  // namespace disa::train
