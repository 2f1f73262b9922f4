// The Task interface: renders a prompt from a data record, scores a response (reward,
// reason, canonical solution key) and, for tasks whose correct responses form a finite
// set, lists every correct response string exactly (for exact log Z ground truth).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "disa/tasks/dataset.hpp"
#include "disa/tasks/reward.hpp"

namespace disa::tasks {

class Task {
 public:
  virtual ~Task() = default;

  // The registry name ("countdown", "graph_paths", "math", "code").
  virtual std::string name() const = 0;
  // The data set the task was configured with (generated or loaded).
  virtual Dataset make_dataset() const = 0;
  // The prompt text for a record (the configured template filled with its fields).
  virtual std::string render_prompt(const Record& record) const = 0;
  // Reward of `response` to the record's prompt. Never throws for bad responses: they
  // get reward 0 and a reason. Throws only for a bad record (DataError).
  virtual RewardResult reward(const Record& record, const std::string& response) const = 0;
  // Scores many (record, response) pairs; tasks with expensive verifiers (code) run
  // them concurrently. The default calls reward() in order.
  virtual std::vector<RewardResult> reward_batch(const std::vector<const Record*>& records,
                                                 const std::vector<std::string>& responses) const;
  // Every response string that gets reward 1, each exactly as the model must emit it
  // (including the terminator), sorted; nullopt when the set is not finite or not
  // listable (math, code).
  virtual std::optional<std::vector<std::string>> enumerate_solutions(const Record& record) const {
    return std::nullopt;
  }
  // The text after which a response is complete (documented per task), empty if none.
  virtual std::string response_terminator() const { return ""; }
};

// Fills "{field}" placeholders of `tmpl` with the record's fields ("{{" and "}}" are
// literal braces; "\n" in the template is a newline). An unknown field is a DataError
// naming the field, the record and the template.
std::string render_template(const std::string& tmpl, const Record& record);

}  // namespace disa::tasks
