// code: write a Python program for a prompt, checked by tests in a sandbox. JSONL
// records {"id", "prompt", "tests"} where tests is a list whose elements are Python
// assert statements (strings, run after the program in its namespace) or stdin/stdout
// pairs ({"input": "...", "output": "..."}, compared line by line without trailing
// whitespace). The program is the last fenced ```python block of the response (an
// unlabelled ``` block if there is no python one). Reward: 1 when every test passes
// (binary) or the fraction passed (task.code-reward = fraction). Canonical key: the
// program without comments, blank lines and trailing spaces.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "disa/tasks/sandbox_pool.hpp"
#include "disa/tasks/task.hpp"
#include "disa/tasks/task_options.hpp"

namespace disa::tasks {

// The last fenced python block, or nullopt.
std::optional<std::string> extract_python_block(const std::string& response);

// One test of a code record.
struct CodeTest {
  bool io = false;        // stdin/stdout pair instead of an assert
  std::string assertion;  // Python statements (when !io)
  std::string input, expected_output;
};

// The record's tests; DataError naming the record, field and element when malformed.
std::vector<CodeTest> parse_code_tests(const Record& record);

class CodeTask : public Task {
 public:
  explicit CodeTask(TaskOptions options);
  std::string name() const override { return "code"; }
  Dataset make_dataset() const override;
  std::string render_prompt(const Record& record) const override;
  RewardResult reward(const Record& record, const std::string& response) const override;
  std::vector<RewardResult> reward_batch(const std::vector<const Record*>& records,
                                         const std::vector<std::string>& responses) const override;

  static constexpr const char* kDefaultTemplate = "{prompt}\\nAnswer with a Python program in a ```python block.\\n";

 private:
  TaskOptions options_;
  SandboxPool pool_;
  bool fraction_reward_;
};

}  // namespace disa::tasks
