// math: JSONL loading and scoring by answer extraction and equivalence.
#include "disa/tasks/math_task.hpp"

#include "disa/core/error.hpp"

namespace disa::tasks {

MathTask::MathTask(TaskOptions options) : options_(std::move(options)) {
  compare_.strict_brackets = options_.math_strict_brackets;
  compare_.relative_tolerance = options_.math_relative_tolerance;
  DISA_CHECK(compare_.relative_tolerance >= 0.0 && compare_.relative_tolerance < 1.0, ConfigError,
             "option --task.math-relative-tolerance: must be in [0, 1) (got {})", compare_.relative_tolerance);
}

Dataset MathTask::make_dataset() const {
  return load_task_data(options_, "math", {{"problem", options_.problem_field}, {"answer", options_.answer_field}});
}

std::string MathTask::render_prompt(const Record& record) const {
  return render_template(options_.prompt_template.empty() ? kDefaultTemplate : options_.prompt_template, record);
}

RewardResult MathTask::reward(const Record& record, const std::string& response) const {
  const std::string reference = record.text("answer");
  if (auto screened = screen_response(response, options_.response_limits)) return *screened;
  RewardResult r;
  auto answer = extract_answer(response);
  if (!answer) {
    r.reason = Reason::NoAnswer;
    r.detail = "no \\boxed{}, 'Answer:' or '####' line";
    return r;
  }
  MathComparison cmp = compare_answers(*answer, reference, compare_);
  r.reward = cmp.equal ? 1.0 : 0.0;
  r.reason = cmp.reason;
  r.detail = cmp.detail;
  r.canonical_key = cmp.candidate_key;
  return r;
}

}  // namespace disa::tasks
