// The frozen regressor with its provenance checks (include/disa/train/frozen_regressor.hpp).
#include "disa/train/frozen_regressor.hpp"

#include <cmath>

#include <fmt/format.h>

#include "disa/core/error.hpp"

namespace disa::train {

FrozenRegressor FrozenRegressor::open(const std::string& path, const AnchorExpectations& e) {
  FrozenRegressor r;
  r.path_ = path;
  r.regressor_ = io::regressor::read(path);
  const auto& p = r.regressor_.provenance;
  std::vector<std::string> problems;
  if (e.beta && !(std::abs(p.beta - *e.beta) <= 1e-12 * std::max(1.0, std::abs(*e.beta))))
    problems.push_back(fmt::format("beta: the file has {} but option --{} is {}", p.beta, e.beta_option, *e.beta));
  if (p.anchors != e.residual)
    problems.push_back(fmt::format("estimator: the regressor was fitted on the '{}' anchor, the run needs '{}'",
                                   p.anchors, e.residual));
  if (!e.reference_fingerprint.empty() && p.reference_fingerprint != e.reference_fingerprint)
    problems.push_back(
        fmt::format("reference model: the regressor was fitted on '{}' (fingerprint {}), option --{} has "
                    "fingerprint {}",
                    p.reference_model, p.reference_fingerprint, e.reference_option, e.reference_fingerprint));
  if (!e.tokenizer_fingerprint.empty() && p.tokenizer_fingerprint != e.tokenizer_fingerprint)
    problems.push_back(fmt::format("tokenizer: the file's fingerprint is {}, the run's is {}", p.tokenizer_fingerprint,
                                   e.tokenizer_fingerprint));
  if (e.max_new_tokens && p.max_new_tokens != *e.max_new_tokens)
    problems.push_back(fmt::format(
        "max_new_tokens: the regressor's anchors are over responses cut at {} tokens, option --train.max-new-tokens "
        "is {}",
        p.max_new_tokens, *e.max_new_tokens));
  if (!e.task.empty() && p.task != e.task)
    problems.push_back(fmt::format("task: the file is for '{}', the run for '{}'", p.task, e.task));
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
