// Step statistics (include/disa/train/step_stats.hpp).
#include "disa/train/step_stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "disa/core/error.hpp"
#include "disa/dist/communicator.hpp"

namespace disa::train {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

StepStats::StepStats(const std::vector<std::string>& names) {
  for (const auto& n : names)
    if (index_.emplace(n, names_.size()).second) names_.push_back(n);
  sum_.assign(names_.size(), 0.0);
  count_.assign(names_.size(), 0.0);
  max_.assign(names_.size(), -std::numeric_limits<double>::infinity());
}

void StepStats::add(const std::string& name, double sum, double count) {
  const size_t i = at(name);
  sum_[i] += sum;
  count_[i] += count;
}

void StepStats::max(const std::string& name, double value) {
  const size_t i = at(name);
  max_[i] = std::max(max_[i], value);
}

void StepStats::reduce(dist::Communicator& comm) {
  comm.all_reduce(sum_, dist::ReduceOp::Sum);
  comm.all_reduce(count_, dist::ReduceOp::Sum);
  comm.all_reduce(max_, dist::ReduceOp::Max);
}

double StepStats::mean(const std::string& name) const {
  const size_t i = at(name);
  return count_[i] > 0 ? sum_[i] / count_[i] : kNaN;
}

double StepStats::sum(const std::string& name) const { return sum_[at(name)]; }
double StepStats::count(const std::string& name) const { return count_[at(name)]; }

double StepStats::maximum(const std::string& name) const {
  const size_t i = at(name);
  return std::isfinite(max_[i]) ? max_[i] : kNaN;
}

size_t StepStats::at(const std::string& name) const {
  auto it = index_.find(name);
  DISA_CHECK(it != index_.end(), Error, "internal: unknown step statistic '{}'", name);
  return it->second;
}

}  // namespace disa::train
