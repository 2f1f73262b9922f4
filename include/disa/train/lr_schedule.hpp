// The learning-rate schedule shared by `disa train` and `disa warm-start`: linear
// warm-up over `warmup` steps to the peak `lr`, then constant or a cosine decay to
// `min_ratio * lr` at `steps`. A pure function of the step, so resuming needs no state.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace disa::train {

struct LrSchedule {
  double lr = 1e-3;
  int64_t warmup = 0;
  bool cosine = false;
  double min_ratio = 0.1;
  int64_t steps = 1;

  double at(int64_t step) const {
    if (step < warmup) return lr * double(step + 1) / double(warmup);
    if (!cosine) return lr;
    const double progress = double(step - warmup) / double(std::max<int64_t>(1, steps - warmup));
    const double lo = lr * min_ratio;
    return lo + (lr - lo) * 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress)));
  }
};

}  // namespace disa::train
