// Numerically stable log-sum-exp accumulation as a pair (running maximum m, scaled sum
// s) with value m + log(s). Pairs merge associatively, which is what the per-prompt
// reduction of log importance weights across batches and MPI ranks needs. -inf entries
// (zero weights) are allowed: the empty accumulator is (-inf, 0).
#pragma once

#include <cmath>
#include <limits>
#include <vector>

namespace disa::core {

struct LogSumExp {
  double max = -std::numeric_limits<double>::infinity();
  double scaled_sum = 0.0;

  void add(double log_value) { merge(LogSumExp{log_value, std::isinf(log_value) && log_value < 0 ? 0.0 : 1.0}); }

  void merge(const LogSumExp& other) {
    if (other.scaled_sum == 0.0) return;
    if (scaled_sum == 0.0) {
      *this = other;
      return;
    }
    if (other.max > max) {
      scaled_sum = scaled_sum * std::exp(max - other.max) + other.scaled_sum;
      max = other.max;
    } else {
      scaled_sum += other.scaled_sum * std::exp(other.max - max);
    }
  }

  // log(sum exp(x_i)); -inf when empty.
  double value() const {
    return scaled_sum == 0.0 ? -std::numeric_limits<double>::infinity() : max + std::log(scaled_sum);
  }
};

// Serial reference: log(sum_i exp(x_i)).
inline double logsumexp(const std::vector<double>& xs) {
  LogSumExp acc;
  for (double x : xs) acc.add(x);
  return acc.value();
}

}  // namespace disa::core
