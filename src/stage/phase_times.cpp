// Phase timing (include/disa/stage/phase_times.hpp).
#include "disa/stage/phase_times.hpp"

#include <algorithm>

#include "disa/core/error.hpp"

namespace disa::stage {

PhaseTimes::PhaseTimes(std::vector<std::string> phases) : phases_(std::move(phases)), seconds_(phases_.size(), 0.0) {}

size_t PhaseTimes::index(const std::string& phase) const {
  const auto it = std::find(phases_.begin(), phases_.end(), phase);
  DISA_CHECK(it != phases_.end(), Error, "PhaseTimes: no phase '{}'", phase);
  return size_t(it - phases_.begin());
}

void PhaseTimes::add(const std::string& phase, core::Clock::time_point start) {
  seconds_[index(phase)] += core::seconds_since(start);
}

std::vector<double> PhaseTimes::slowest_rank(dist::Communicator& comm) const {
  std::vector<double> out = seconds_;
  comm.all_reduce(out, dist::ReduceOp::Max);
  return out;
}

}  // namespace disa::stage
