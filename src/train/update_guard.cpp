// The update guard (include/disa/train/update_guard.hpp).
#include "disa/train/update_guard.hpp"

#include <cmath>
#include <limits>

#include "disa/core/error.hpp"

namespace disa::train {

const char* update_verdict_name(UpdateVerdict v) {
  static constexpr const char* kNames[] = {"apply", "non-finite loss or gradient norm",
                                           "outlier loss or gradient norm"};
  return kNames[static_cast<int>(v)];
}

UpdateGuard::UpdateGuard(UpdateGuardSettings settings, UpdateGuardState state)
    : s_(settings), state_(std::move(state)) {
  DISA_CHECK(s_.max_consecutive >= 1 && s_.window >= 2 && s_.z_max >= 0, ConfigError,
             "update guard: max_consecutive >= 1, window >= 2 and z_max >= 0 (got {}, {}, {})", s_.max_consecutive,
             s_.window, s_.z_max);
}

double UpdateGuard::z_score(const std::deque<double>& window, double value) {
  const double n = double(window.size());
  if (window.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  double mean = 0;
  for (double v : window) mean += v;
  mean /= n;
  double ss = 0;
  for (double v : window) ss += (v - mean) * (v - mean);
  const double sd = std::sqrt(ss / (n - 1));
  if (!(sd > 0)) return std::numeric_limits<double>::quiet_NaN();
  return std::abs(value - mean) / sd;
}

UpdateVerdict UpdateGuard::check(int64_t step, double loss, double grad_norm) {
  UpdateVerdict v = UpdateVerdict::Apply;
  if (!std::isfinite(loss) || !std::isfinite(grad_norm)) {
    v = UpdateVerdict::SkipNonFinite;
  } else if (s_.z_max > 0 && int64_t(state_.recent_loss.size()) == s_.window) {
    const double zl = z_score(state_.recent_loss, loss), zg = z_score(state_.recent_grad_norm, grad_norm);
    if ((std::isfinite(zl) && zl > s_.z_max) || (std::isfinite(zg) && zg > s_.z_max)) v = UpdateVerdict::SkipOutlier;
  }
  if (v == UpdateVerdict::Apply) {
    state_.consecutive_skips = 0;
    state_.recent_loss.push_back(loss);
    state_.recent_grad_norm.push_back(grad_norm);
    while (int64_t(state_.recent_loss.size()) > s_.window) {
      state_.recent_loss.pop_front();
      state_.recent_grad_norm.pop_front();
    }
    return v;
  }
  ++state_.skipped_updates;
  ++state_.consecutive_skips;
  DISA_CHECK(state_.consecutive_skips <= s_.max_consecutive, DataError,
             "train: step {}: {} optimiser updates in a row skipped ({}; last loss {}, gradient norm {}); the run has "
             "diverged: lower --train.lr, or raise --train.max-skipped-updates",
             step + 1, state_.consecutive_skips, update_verdict_name(v), loss, grad_norm);
  return v;
}

}  // namespace disa::train
