// The frozen regressor with its provenance checks (include/disa/train/frozen_regressor.hpp).
#include "disa/train/frozen_regressor.hpp"

#include <cmath>

#include <fmt/format.h>

#include "disa/core/error.hpp"
#include "provenance_checks.hpp"

namespace disa::train {

FrozenRegressor FrozenRegressor::open(const std::string& path, const AnchorExpectations& e) {
  FrozenRegressor r;
  r.path_ = path;
  r.regressor_ = io::regressor::read(path);
  const auto& p = r.regressor_.provenance;
  std::vector<std::string> problems;
  detail::add_run_mismatches(p, e, "the regressor was fitted", problems);
  if (p.anchors != e.residual)
    problems.push_back(fmt::format("estimator: the regressor was fitted on the '{}' anchor, the run needs '{}'",
                                   p.anchors, e.residual));
  if (p.features != io::regressor::kFeatureDefinition)
    problems.push_back(fmt::format("features: the file's are '{}', this code computes '{}'", p.features,
                                   io::regressor::kFeatureDefinition));
  if (!problems.empty()) {
    std::string msg;
    for (const auto& s : problems) msg += "\n  - " + s;
    DISA_THROW(ConfigError, "regressor file '{}' (option --disa.regressor) does not match this run:{}", path, msg);
  }
  return r;
}

}  // namespace disa::train
