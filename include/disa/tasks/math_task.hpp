// math: free-form solutions to problems with a reference answer, read from JSONL
// ({"id", "problem", "answer"}, field names configurable; GSM8K / MATH-500 / AIME
// style). The response's final answer is the last \boxed{...}, else an "Answer:"
// line, else a "####" line; it is compared with the reference by compare_answers.
// The set of correct responses is infinite, so there is no enumerate_solutions. The
// canonical key is the answer's normal form (its numeric value when it has one).
#pragma once

#include "disa/tasks/math_answer.hpp"
#include "disa/tasks/task.hpp"
#include "disa/tasks/task_options.hpp"

namespace disa::tasks {

class MathTask : public Task {
 public:
  explicit MathTask(TaskOptions options);
  std::string name() const override { return "math"; }
  Dataset make_dataset() const override;
  std::string render_prompt(const Record& record) const override;
  RewardResult reward(const Record& record, const std::string& response) const override;

  static constexpr const char* kDefaultTemplate = "{problem}\\nPut the final answer in \\boxed{{}}.\\n";

 private:
  TaskOptions options_;
  MathCompareOptions compare_;
};

}  // namespace disa::tasks
