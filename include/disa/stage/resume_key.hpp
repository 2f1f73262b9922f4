// The resume key of a stage's .incomplete file: its resolved configuration as INI, less
// the options a resumed run may change (ranks are not options; threads, the resume flag,
// the checkpoint interval, fault injection and logging are). A resume with another key is
// refused, so a resumed file never mixes two configurations.
#pragma once

#include <set>
#include <string>

namespace disa::core {
class Config;
}  // namespace disa::core

namespace disa::stage {

std::string resume_key(const core::Config& config, const std::set<std::string>& resume_free_options);

}  // namespace disa::stage
