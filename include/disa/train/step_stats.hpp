// The statistics of one training step: sums, counts and maxima under fixed names. Every
// rank holds the same names in the same order, so one all-reduce of each vector combines
// them; the metric declarations (metric.hpp) turn them into train.h5's columns.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace disa::dist {
class Communicator;
}  // namespace disa::dist

namespace disa::train {

class StepStats {
 public:
  // `names` may repeat a name (kept once, first position).
  explicit StepStats(const std::vector<std::string>& names);
  void add(const std::string& name, double sum, double count = 1.0);
  void max(const std::string& name, double value);
  void reduce(dist::Communicator& comm);
  double mean(const std::string& name) const;  // NaN without entries
  double sum(const std::string& name) const;
  double count(const std::string& name) const;
  double maximum(const std::string& name) const;  // NaN without entries

 private:
  size_t at(const std::string& name) const;
  std::vector<std::string> names_;
  std::map<std::string, size_t> index_;
  std::vector<double> sum_, count_, max_;
};

}  // namespace disa::train
