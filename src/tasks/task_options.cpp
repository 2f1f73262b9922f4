// The "task.*" and "sandbox.*" options shared by every command that builds a task,
// declared once (core/option_table.hpp); the defaults are TaskOptions' initialisers.
#include "disa/tasks/task_options.hpp"

#include "disa/core/option_table.hpp"

namespace disa::tasks {
const core::OptionTable<TaskOptions>& task_option_table() {
  static const core::OptionTable<TaskOptions> table = [] {
    core::OptionTable<TaskOptions> t;
    t.text("task.name", DISA_FIELD(name), "task: countdown, graph_paths, math or code");
    t.text("task.prompt-template", DISA_FIELD(prompt_template),
           "prompt template with {field} placeholders ({{ }} for braces, \\n for a newline); empty: the task's "
           "default");
    t.integer("task.seed", DISA_FIELD(seed), "synthetic tasks: generation seed", core::at_least<int64_t>(0));
    t.text("task.split", DISA_FIELD(split), "synthetic tasks: train or test (disjoint by content)",
           {[](const std::string& v) { return v == "train" || v == "test"; }, "must be train or test"});
    t.integer("task.test-percent", DISA_FIELD(test_percent),
              "synthetic tasks: percent of prompt contents that belong to the test split",
              core::within<int64_t>(1, 99));
    t.integer("task.count", DISA_FIELD(count), "synthetic tasks: number of prompts", core::within<int64_t>(1, 1000000));
    t.integer("task.min-solutions", DISA_FIELD(min_solutions),
              "synthetic tasks: least number of correct responses per prompt", core::at_least<int64_t>(1));
    t.integer("task.max-solutions", DISA_FIELD(max_solutions),
              "synthetic tasks: largest number of correct responses per prompt");
    t.integer("task.countdown-operands", DISA_FIELD(countdown_operands), "countdown: numbers per prompt (2..5)");
    t.integer("task.countdown-max-number", DISA_FIELD(countdown_max_number),
              "countdown: numbers are drawn from 1..this");
    t.integer("task.graph-nodes", DISA_FIELD(graph_nodes), "graph_paths: nodes per graph (3..26)");
    t.real("task.graph-edge-probability", DISA_FIELD(graph_edge_probability), "graph_paths: probability of each edge");
    t.text("task.data", DISA_FIELD(data_path), "math/code: JSONL data file");
    t.integer("task.max-line-bytes", DISA_FIELD(max_line_bytes),
              "math/code: longest data-file line in bytes; a longer one is a data error (memory stays bounded)",
              core::at_least<int64_t>(2));
    t.integer("task.max-prompt-tokens", DISA_FIELD(max_prompt_tokens),
              "longest prompt in tokens (0: the model's context minus the generation limit); a longer one is a "
              "data error before any generation",
              core::at_least<int64_t>(0));
    t.text("task.id-field", DISA_FIELD(id_field),
           "math/code: JSON key of the record id (empty: number records by line)");
    t.text("task.problem-field", DISA_FIELD(problem_field), "math: JSON key of the problem text");
    t.text("task.answer-field", DISA_FIELD(answer_field), "math: JSON key of the reference answer");
    t.text("task.prompt-field", DISA_FIELD(prompt_field), "code: JSON key of the prompt text");
    t.text("task.tests-field", DISA_FIELD(tests_field), "code: JSON key of the test list");
    t.flag("task.math-strict-brackets", DISA_FIELD(math_strict_brackets),
           "math: (1,2) and [1,2] are different answers");
    t.real("task.math-relative-tolerance", DISA_FIELD(math_relative_tolerance),
           "math: relative tolerance of numeric equality");
    t.text("task.code-reward", DISA_FIELD(code_reward),
           "code: binary (all tests pass) or fraction (fraction of tests passed)");
    t.integer("task.max-response-chars", DISA_FIELD(response_limits.max_chars),
              "responses longer than this get reward 0 (too_long)", core::at_least<int64_t>(1));
    t.text("sandbox.python", DISA_FIELD(sandbox.python), "absolute path of the Python interpreter",
           {[](const std::string& v) { return !v.empty() && v[0] == '/'; }, "must be an absolute path"});
    t.real("sandbox.cpu-seconds", DISA_FIELD(sandbox.cpu_seconds), "CPU-time limit per test run", core::above(0.0));
    t.real("sandbox.wall-seconds", DISA_FIELD(sandbox.wall_seconds), "wall-clock limit per test run", core::above(0.0));
    t.integer("sandbox.memory-mb", DISA_FIELD(sandbox.memory_mb), "address-space limit per test run (MiB)",
              core::at_least<int64_t>(16));
    t.integer("sandbox.max-processes", DISA_FIELD(sandbox.max_processes), "process limit per test run",
              core::at_least<int64_t>(1));
    t.integer("sandbox.max-file-mb", DISA_FIELD(sandbox.max_file_mb), "largest file a test run may write (MiB)",
              core::at_least<int64_t>(1));
    t.integer("sandbox.max-open-files", DISA_FIELD(sandbox.max_open_files), "open-file limit per test run",
              core::at_least<int64_t>(8));
    t.text("sandbox.work-root", DISA_FIELD(sandbox.work_root), "directory for the temporary working dirs");
    t.integer("sandbox.uid-base", DISA_FIELD(sandbox.uid_base), "first private uid for test runs (as root)",
              core::at_least<int64_t>(1000));
    t.integer("sandbox.uid-count", DISA_FIELD(sandbox.uid_count), "number of private uids", core::at_least<int64_t>(1));
    t.flag("sandbox.require-network-isolation", DISA_FIELD(sandbox.require_network_isolation),
           "fail instead of running without a private network namespace");
    t.integer("sandbox.concurrency", DISA_FIELD(sandbox_concurrency), "test runs executed at the same time",
              core::at_least<int64_t>(1));
    t.check(
        "task.max-solutions", [](const TaskOptions& o) { return o.max_solutions >= o.min_solutions; },
        "must be >= task.min-solutions");
    return t;
  }();
  return table;
}

void add_task_options(core::Options& o) { task_option_table().declare(o); }

TaskOptions task_options_from_config(const core::Config& c) { return task_option_table().read(c); }

}  // namespace disa::tasks
