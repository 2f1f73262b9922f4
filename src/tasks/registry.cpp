// Task registry: builds the task named by --task.name.
#include "disa/tasks/registry.hpp"

#include "disa/core/error.hpp"
#include "disa/tasks/code_task.hpp"
#include "disa/tasks/countdown.hpp"
#include "disa/tasks/graph_paths.hpp"
#include "disa/tasks/math_task.hpp"

namespace disa::tasks {

std::vector<std::string> task_names() { return {"countdown", "graph_paths", "math", "code"}; }

std::unique_ptr<Task> make_task(const TaskOptions& options) {
  if (options.name == "countdown") return std::make_unique<CountdownTask>(options);
  if (options.name == "graph_paths") return std::make_unique<GraphPathsTask>(options);
  if (options.name == "math") return std::make_unique<MathTask>(options);
  if (options.name == "code") return std::make_unique<CodeTask>(options);
  DISA_THROW(ConfigError,
             "option --task.name: unknown task '{}' (known: countdown, "
             "graph_paths, math, code)",
             options.name);
}

}  // namespace disa::tasks
