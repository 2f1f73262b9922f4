// Tasks by name: make_task("countdown", options) builds the configured task.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "disa/tasks/task.hpp"
#include "disa/tasks/task_options.hpp"

namespace disa::tasks {

// The names make_task accepts.
std::vector<std::string> task_names();
// ConfigError naming option --task.name and the known names for an unknown name.
std::unique_ptr<Task> make_task(const TaskOptions& options);

}  // namespace disa::tasks
