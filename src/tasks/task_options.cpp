// The "task.*" and "sandbox.*" options shared by every command that builds a task.
#include "disa/tasks/task_options.hpp"

#include "disa/core/config.hpp"

namespace disa::tasks {

void add_task_options(Options& o) {
  const TaskOptions d;
  o.add_string("task.name", d.name, "task: countdown, graph_paths, math or code");
  o.add_string("task.prompt-template", d.prompt_template,
               "prompt template with {field} placeholders ({{ }} for braces, \\n for a "
               "newline); empty: the task's default");
  o.add_int("task.seed", static_cast<int64_t>(d.seed), "synthetic tasks: generation seed");
  o.add_string("task.split", d.split, "synthetic tasks: train or test (disjoint by content)");
  o.add_int("task.test-percent", d.test_percent,
            "synthetic tasks: percent of prompt contents that belong to the test split");
  o.add_int("task.count", d.count, "synthetic tasks: number of prompts");
  o.add_int("task.min-solutions", d.min_solutions,
            "synthetic tasks: least number of correct responses per prompt");
  o.add_int("task.max-solutions", d.max_solutions,
            "synthetic tasks: largest number of correct responses per prompt");
  o.add_int("task.countdown-operands", d.countdown_operands, "countdown: numbers per prompt (2..5)");
  o.add_int("task.countdown-max-number", d.countdown_max_number,
            "countdown: numbers are drawn from 1..this");
  o.add_int("task.graph-nodes", d.graph_nodes, "graph_paths: nodes per graph (3..26)");
  o.add_double("task.graph-edge-probability", d.graph_edge_probability,
               "graph_paths: probability of each edge");
  o.add_string("task.data", d.data_path, "math/code: JSONL data file");
  o.add_string("task.id-field", d.id_field,
               "math/code: JSON key of the record id (empty: number records by line)");
  o.add_string("task.problem-field", d.problem_field, "math: JSON key of the problem text");
  o.add_string("task.answer-field", d.answer_field, "math: JSON key of the reference answer");
  o.add_string("task.prompt-field", d.prompt_field, "code: JSON key of the prompt text");
  o.add_string("task.tests-field", d.tests_field, "code: JSON key of the test list");
  o.add_bool("task.math-strict-brackets", d.math_strict_brackets,
             "math: (1,2) and [1,2] are different answers");
  o.add_double("task.math-relative-tolerance", d.math_relative_tolerance,
               "math: relative tolerance of numeric equality");
  o.add_string("task.code-reward", d.code_reward,
               "code: binary (all tests pass) or fraction (fraction of tests passed)");
  o.add_int("task.max-response-chars", static_cast<int64_t>(d.response_limits.max_chars),
            "responses longer than this get reward 0 (too_long)");
  const SandboxLimits s;
  o.add_string("sandbox.python", s.python, "absolute path of the Python interpreter");
  o.add_double("sandbox.cpu-seconds", s.cpu_seconds, "CPU-time limit per test run");
  o.add_double("sandbox.wall-seconds", s.wall_seconds, "wall-clock limit per test run");
  o.add_int("sandbox.memory-mb", s.memory_mb, "address-space limit per test run (MiB)");
  o.add_int("sandbox.max-processes", s.max_processes, "process limit per test run");
  o.add_int("sandbox.max-file-mb", s.max_file_mb, "largest file a test run may write (MiB)");
  o.add_int("sandbox.max-open-files", s.max_open_files, "open-file limit per test run");
  o.add_string("sandbox.work-root", s.work_root, "directory for the temporary working dirs");
  o.add_int("sandbox.uid-base", s.uid_base, "first private uid for test runs (as root)");
  o.add_int("sandbox.uid-count", s.uid_count, "number of private uids");
  o.add_bool("sandbox.require-network-isolation", s.require_network_isolation,
             "fail instead of running without a private network namespace");
  o.add_int("sandbox.concurrency", TaskOptions{}.sandbox_concurrency,
            "test runs executed at the same time");
}

TaskOptions task_options_from_config(const Config& c) {
  TaskOptions t;
  t.name = c.get_string("task.name");
  t.prompt_template = c.get_string("task.prompt-template");
  const int64_t seed = c.get_int("task.seed");
  c.require(seed >= 0, "task.seed", "must be >= 0");
  t.seed = static_cast<uint64_t>(seed);
  t.split = c.get_string("task.split");
  c.require(t.split == "train" || t.split == "test", "task.split", "must be train or test");
  t.test_percent = static_cast<int>(c.get_int("task.test-percent"));
  c.require(t.test_percent >= 1 && t.test_percent <= 99, "task.test-percent", "must be 1..99");
  t.count = static_cast<int>(c.get_int("task.count"));
  c.require(t.count >= 1 && t.count <= 1000000, "task.count", "must be 1..1000000");
  t.min_solutions = static_cast<int>(c.get_int("task.min-solutions"));
  t.max_solutions = static_cast<int>(c.get_int("task.max-solutions"));
  c.require(t.min_solutions >= 1, "task.min-solutions", "must be >= 1");
  c.require(t.max_solutions >= t.min_solutions, "task.max-solutions",
            "must be >= task.min-solutions");
  t.countdown_operands = static_cast<int>(c.get_int("task.countdown-operands"));
  t.countdown_max_number = static_cast<int>(c.get_int("task.countdown-max-number"));
  t.graph_nodes = static_cast<int>(c.get_int("task.graph-nodes"));
  t.graph_edge_probability = c.get_double("task.graph-edge-probability");
  t.data_path = c.get_string("task.data");
  t.id_field = c.get_string("task.id-field");
  t.problem_field = c.get_string("task.problem-field");
  t.answer_field = c.get_string("task.answer-field");
  t.prompt_field = c.get_string("task.prompt-field");
  t.tests_field = c.get_string("task.tests-field");
  t.math_strict_brackets = c.get_bool("task.math-strict-brackets");
  t.math_relative_tolerance = c.get_double("task.math-relative-tolerance");
  t.code_reward = c.get_string("task.code-reward");
  const int64_t max_chars = c.get_int("task.max-response-chars");
  c.require(max_chars >= 1, "task.max-response-chars", "must be >= 1");
  t.response_limits.max_chars = static_cast<std::size_t>(max_chars);
  SandboxLimits& s = t.sandbox;
  s.python = c.get_string("sandbox.python");
  c.require(!s.python.empty() && s.python[0] == '/', "sandbox.python", "must be an absolute path");
  s.cpu_seconds = c.get_double("sandbox.cpu-seconds");
  c.require(s.cpu_seconds > 0, "sandbox.cpu-seconds", "must be > 0");
  s.wall_seconds = c.get_double("sandbox.wall-seconds");
  c.require(s.wall_seconds > 0, "sandbox.wall-seconds", "must be > 0");
  s.memory_mb = static_cast<int>(c.get_int("sandbox.memory-mb"));
  c.require(s.memory_mb >= 16, "sandbox.memory-mb", "must be >= 16");
  s.max_processes = static_cast<int>(c.get_int("sandbox.max-processes"));
  c.require(s.max_processes >= 1, "sandbox.max-processes", "must be >= 1");
  s.max_file_mb = static_cast<int>(c.get_int("sandbox.max-file-mb"));
  c.require(s.max_file_mb >= 1, "sandbox.max-file-mb", "must be >= 1");
  s.max_open_files = static_cast<int>(c.get_int("sandbox.max-open-files"));
  c.require(s.max_open_files >= 8, "sandbox.max-open-files", "must be >= 8");
  s.work_root = c.get_string("sandbox.work-root");
  s.uid_base = static_cast<int>(c.get_int("sandbox.uid-base"));
  c.require(s.uid_base >= 1000, "sandbox.uid-base", "must be >= 1000");
  s.uid_count = static_cast<int>(c.get_int("sandbox.uid-count"));
  c.require(s.uid_count >= 1, "sandbox.uid-count", "must be >= 1");
  s.require_network_isolation = c.get_bool("sandbox.require-network-isolation");
  t.sandbox_concurrency = static_cast<int>(c.get_int("sandbox.concurrency"));
  c.require(t.sandbox_concurrency >= 1, "sandbox.concurrency", "must be >= 1");
  return t;
}

}  // namespace disa::tasks
