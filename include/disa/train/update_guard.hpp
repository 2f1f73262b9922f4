// The guard in front of every optimiser update of `disa train` (as llm.c's outlier
// detector and the finite checks of the reference RL trainers):
//   * a non-finite loss or gradient norm skips the update (the gradients are dropped,
//     the AdamW moments and step count stay as they were);
//   * optionally, an outlier skips it too: a loss or gradient norm whose z-score over the
//     last `window` accepted updates exceeds `z_max` (0: off, the default);
//   * more than `max_consecutive` skipped updates in a row end the run with a DataError
//     that names the step and the last values (a diverged run stops instead of burning
//     its allocation).
// The decision is made on values every rank holds identically (the all-reduced loss and
// the norm of the all-reduced gradient), so every rank skips the same updates. The state
// (the window and the counters) goes into the checkpoint: a resumed run decides exactly
// as an uninterrupted one.
#pragma once

#include <cstdint>
#include <deque>
#include <string>

namespace disa::train {

struct UpdateGuardSettings {
  int64_t max_consecutive = 5;  // skipped updates in a row before the run is stopped (>= 1)
  int64_t window = 32;          // accepted updates the z-scores are taken over (>= 2)
  double z_max = 0;             // outlier threshold on |z| (0: no outlier detection)
};

enum class UpdateVerdict { Apply, SkipNonFinite, SkipOutlier };
const char* update_verdict_name(UpdateVerdict v);

// The serialisable state (checkpoint.hpp stores it in state.json).
struct UpdateGuardState {
  std::deque<double> recent_loss, recent_grad_norm;  // the accepted updates' values, oldest first
  int64_t consecutive_skips = 0;
  int64_t skipped_updates = 0;  // over the whole run
};

class UpdateGuard {
 public:
  explicit UpdateGuard(UpdateGuardSettings settings, UpdateGuardState state = {});
  // The verdict for an update with this loss and gradient norm; records it. Throws
  // DataError (naming `step`) when the update is the (max_consecutive + 1)-th skip in a row.
  UpdateVerdict check(int64_t step, double loss, double grad_norm);
  // |z| of a value against the window (NaN while the window is not full or has no spread).
  static double z_score(const std::deque<double>& window, double value);
  const UpdateGuardState& state() const { return state_; }

 private:
  UpdateGuardSettings s_;
  UpdateGuardState state_;
};

}  // namespace disa::train
