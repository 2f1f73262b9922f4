// The resume key of a stage's .incomplete file (include/disa/stage/resume_key.hpp).
#include "disa/stage/resume_key.hpp"

#include "disa/core/config.hpp"

namespace disa::stage {

std::string resume_key(const core::Config& config, const std::set<std::string>& resume_free_options) {
  std::string out;
  for (const auto& [k, v] : config.items())
    if (!resume_free_options.count(k)) out += k + " = " + v + "\n";
  return out;
}

}  // namespace disa::stage
