// Prompt templates and the default batch scoring of the Task interface.
#include "disa/tasks/task.hpp"

#include "disa/core/error.hpp"

namespace disa::tasks {

std::vector<RewardResult> Task::reward_batch(const std::vector<const Record*>& records,
                                             const std::vector<std::string>& responses) const {
  DISA_CHECK(records.size() == responses.size(), DataError, "reward_batch: {} records but {} responses", records.size(),
             responses.size());
  std::vector<RewardResult> out;
  out.reserve(records.size());
  for (std::size_t i = 0; i < records.size(); ++i) out.push_back(reward(*records[i], responses[i]));
  return out;
}

std::string render_template(const std::string& tmpl, const Record& record) {
  std::string out;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    char c = tmpl[i];
    if (c == '\\' && i + 1 < tmpl.size() && tmpl[i + 1] == 'n') {
      out += '\n';
      ++i;
    } else if (c == '{' && i + 1 < tmpl.size() && tmpl[i + 1] == '{') {
      out += '{';
      ++i;
    } else if (c == '}' && i + 1 < tmpl.size() && tmpl[i + 1] == '}') {
      out += '}';
      ++i;
    } else if (c == '{') {
      auto close = tmpl.find('}', i + 1);
      DISA_CHECK(close != std::string::npos, ConfigError,
                 "option --task.prompt-template: unclosed '{{' at offset {} in '{}'", i, tmpl);
      std::string field = tmpl.substr(i + 1, close - i - 1);
      DISA_CHECK(record.fields.contains(field), DataError, "prompt template '{}': record '{}' has no field '{}'", tmpl,
                 record.id, field);
      out += record.text(field);
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace disa::tasks
