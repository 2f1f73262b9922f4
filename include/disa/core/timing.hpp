// Wall-clock timing of the phases the stages report (generate, score, write, ...).
#pragma once

#include <chrono>

namespace disa::core {

using Clock = std::chrono::steady_clock;

// Seconds elapsed since `start`.
inline double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace disa::core
