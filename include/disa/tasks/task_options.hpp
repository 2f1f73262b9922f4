// Configuration of a task: which task, which data (generated or a JSONL file), prompt
// template, difficulty knobs, verifier strictness and sandbox limits. The same options
// ("task.*", "sandbox.*") are added to every command that needs a task.
#pragma once

#include <cstdint>
#include <string>

#include "disa/core/option_table.hpp"
#include "disa/tasks/reward.hpp"
#include "disa/tasks/sandbox.hpp"

namespace disa::tasks {

struct TaskOptions {
  std::string name = "countdown";  // countdown, graph_paths, math, code
  std::string prompt_template;     // empty: the task's default template

  // Synthetic tasks (countdown, graph_paths).
  uint64_t seed = 1;
  std::string split = "train";  // train or test (content-hashed, disjoint)
  int test_percent = 20;
  int count = 100;
  int min_solutions = 1;   // accept prompts whose solution set has this many ...
  int max_solutions = 32;  // ... up to this many correct responses
  int countdown_operands = 3;
  int countdown_max_number = 9;
  int graph_nodes = 6;
  double graph_edge_probability = 0.4;

  // Data files (math, code).
  std::string data_path;
  std::string id_field = "id";
  std::string problem_field = "problem";  // math
  std::string answer_field = "answer";    // math
  std::string prompt_field = "prompt";    // code
  std::string tests_field = "tests";      // code
  // Input limits (docs/runtime.md): a data-set line longer than this many bytes is
  // refused while reading; a prompt longer than this many tokens (0: only the model's
  // context) is refused before any generation.
  int64_t max_line_bytes = 1 << 20;
  int64_t max_prompt_tokens = 0;

  // Math verifier.
  bool math_strict_brackets = true;  // (1,2) vs [1,2] differ when true
  double math_relative_tolerance = 1e-6;

  // Code verifier.
  std::string code_reward = "binary";  // binary (all tests pass) or fraction
  SandboxLimits sandbox;
  int sandbox_concurrency = 2;

  ResponseLimits response_limits;
};

// The "task.*" and "sandbox.*" options, declared once; their defaults are the
// initialisers above.
const core::OptionTable<TaskOptions>& task_option_table();
// Adds them to a command.
void add_task_options(core::Options& options);
// Reads them back; ConfigError naming the option for a bad value.
TaskOptions task_options_from_config(const core::Config& config);

}  // namespace disa::tasks
