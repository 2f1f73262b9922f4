// Wall-clock time per phase of a stage (generate, score, reward, write, ...), summed on
// each rank and reported as the slowest rank's time. The phases are named up front, so
// every rank reduces the same list, also a rank that never entered a phase.
#pragma once

#include <string>
#include <vector>

#include "disa/core/timing.hpp"
#include "disa/dist/communicator.hpp"

namespace disa::stage {

class PhaseTimes {
 public:
  explicit PhaseTimes(std::vector<std::string> phases);
  // Adds the seconds since `start` to `phase` (one of the named phases).
  void add(const std::string& phase, core::Clock::time_point start);
  // Per phase, in the order named, the largest time over all ranks (collective).
  std::vector<double> slowest_rank(dist::Communicator& comm) const;

 private:
  size_t index(const std::string& phase) const;
  std::vector<std::string> phases_;
  std::vector<double> seconds_;
};

}  // namespace disa::stage
