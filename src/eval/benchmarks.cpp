// Benchmark entries of `disa eval` (include/disa/eval/benchmarks.hpp).
#include "disa/eval/benchmarks.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

#include "disa/core/error.hpp"
#include "disa/tasks/registry.hpp"

namespace disa::eval {
namespace {

bool is_task_name(const std::string& s) {
  const auto names = tasks::task_names();
  return std::find(names.begin(), names.end(), s) != names.end();
}
bool is_file_task(const std::string& s) { return s == "math" || s == "code"; }

void require_file(const std::string& path, const std::string& entry) {
  if (path.empty()) DISA_THROW(ConfigError, "option --eval.dataset: entry '{}' names no data file", entry);
  if (!std::filesystem::is_regular_file(path))
    DISA_THROW(ConfigError, "option --eval.dataset: entry '{}': data file '{}' does not exist", entry, path);
}

}  // namespace

std::vector<BenchmarkSpec> parse_benchmarks(const std::vector<std::string>& entries, const tasks::TaskOptions& base) {
  std::vector<BenchmarkSpec> specs;
  if (entries.empty()) {
    BenchmarkSpec s;
    s.task = base;
    if (!is_task_name(base.name)) DISA_THROW(ConfigError, "option --task.name: unknown task '{}'", base.name);
    if (is_file_task(base.name)) {
      if (base.data_path.empty())
        DISA_THROW(ConfigError, "option --task.data: the {} task needs a JSONL file (or give --eval.dataset)",
                   base.name);
      require_file(base.data_path, "--task.data " + base.data_path);
      s.name = std::filesystem::path(base.data_path).stem().string();
    } else {
      s.name = base.name;
    }
    specs.push_back(std::move(s));
    return specs;
  }
  std::set<std::string> names;
  for (const auto& entry : entries) {
    BenchmarkSpec s;
    s.entry = entry;
    s.task = base;
    const auto eq = entry.find('=');
    std::string name = eq == std::string::npos ? "" : entry.substr(0, eq);
    const std::string spec = eq == std::string::npos ? entry : entry.substr(eq + 1);
    if (eq != std::string::npos && name.empty())
      DISA_THROW(ConfigError, "option --eval.dataset: entry '{}' has an empty name before '='", entry);
    if (spec.empty()) DISA_THROW(ConfigError, "option --eval.dataset: entry '{}' has nothing after '='", entry);
    const auto colon = spec.find(':');
    if (is_task_name(spec)) {
      if (is_file_task(spec))
        DISA_THROW(ConfigError, "option --eval.dataset: entry '{}': the {} task needs a data file ({}:PATH)", entry,
                   spec, spec);
      s.task.name = spec;
      if (name.empty()) name = spec;
    } else if (colon != std::string::npos && is_task_name(spec.substr(0, colon))) {
      const std::string task = spec.substr(0, colon), path = spec.substr(colon + 1);
      if (!is_file_task(task))
        DISA_THROW(ConfigError,
                   "option --eval.dataset: entry '{}': the {} task generates its prompts and reads no file", entry,
                   task);
      require_file(path, entry);
      s.task.name = task;
      s.task.data_path = path;
      if (name.empty()) name = std::filesystem::path(path).stem().string();
    } else {
      if (!is_file_task(base.name))
        DISA_THROW(ConfigError,
                   "option --eval.dataset: entry '{}' is a data file, but --task.name={} reads no file: write "
                   "NAME=math:PATH or NAME=code:PATH, or set --task.name",
                   entry, base.name);
      require_file(spec, entry);
      s.task.data_path = spec;
      if (name.empty()) name = std::filesystem::path(spec).stem().string();
    }
    if (name == "macro")
      DISA_THROW(ConfigError,
                 "option --eval.dataset: entry '{}': the name 'macro' is reserved for the macro "
                 "average",
                 entry);
    if (!names.insert(name).second)
      DISA_THROW(ConfigError, "option --eval.dataset: the benchmark name '{}' is used twice", name);
    s.name = name;
    specs.push_back(std::move(s));
  }
  return specs;
}

std::vector<Benchmark> load_benchmarks(const std::vector<BenchmarkSpec>& specs) {
  std::vector<Benchmark> out;
  for (const auto& spec : specs) {
    Benchmark b;
    b.spec = spec;
    b.task = tasks::make_task(spec.task);
    b.dataset = b.task->make_dataset();
    DISA_CHECK(b.dataset.size() > 0, DataError, "benchmark '{}': the data set '{}' has no prompts", spec.name,
               b.dataset.source());
    out.push_back(std::move(b));
  }
  return out;
}

}  // namespace disa::eval
