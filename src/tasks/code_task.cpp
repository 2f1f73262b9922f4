// code: program extraction, test parsing, sandboxed test runs on the pool and the
// aggregation of per-test verdicts into a reward.
#include "disa/tasks/code_task.hpp"

#include <sstream>

#include "disa/core/error.hpp"

namespace disa::tasks {

namespace {

std::string rstrip(const std::string& s) {
  std::size_t end = s.find_last_not_of(" \t\r\n");
  return end == std::string::npos ? "" : s.substr(0, end + 1);
}

// Lines without trailing whitespace, trailing blank lines dropped.
std::string normalize_output(const std::string& text) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) out += rstrip(line) + "\n";
  return rstrip(out);
}

std::string program_key(const std::string& program) {
  std::istringstream in(program);
  std::string line, out;
  while (std::getline(in, line)) {
    std::string t = rstrip(line);
    std::size_t first = t.find_first_not_of(" \t");
    if (first == std::string::npos || t[first] == '#') continue;
    out += t + "\n";
  }
  return out;
}

Reason reason_of(SandboxVerdict v) {
  switch (v) {
    case SandboxVerdict::Pass: return Reason::Correct;
    case SandboxVerdict::Fail: return Reason::TestFailed;
    case SandboxVerdict::Timeout: return Reason::Timeout;
    case SandboxVerdict::Memory: return Reason::Memory;
    case SandboxVerdict::Crash: return Reason::Crash;
    case SandboxVerdict::Error: return Reason::SandboxError;
  }
  return Reason::SandboxError;
}

}  // namespace

std::optional<std::string> extract_python_block(const std::string& response) {
  std::optional<std::string> last_python, last_plain;
  std::size_t pos = 0;
  while ((pos = response.find("```", pos)) != std::string::npos) {
    if (pos > 0 && response[pos - 1] != '\n') {
      pos += 3;
      continue;
    }
    std::size_t eol = response.find('\n', pos);
    if (eol == std::string::npos) break;
    std::string lang = rstrip(response.substr(pos + 3, eol - pos - 3));
    std::size_t close = response.find("\n```", eol);
    if (close == std::string::npos) break;  // unclosed: not a complete block
    std::string body = response.substr(eol + 1, close - eol);
    if (lang == "python" || lang == "py" || lang == "python3")
      last_python = body;
    else if (lang.empty())
      last_plain = body;
    pos = close + 4;
  }
  if (last_python) return last_python;
  return last_plain;
}

std::vector<CodeTest> parse_code_tests(const Record& record) {
  const auto& tests = record.at("tests");
  DISA_CHECK(tests.is_array() && !tests.empty(), DataError, "record '{}': field 'tests' must be a non-empty list",
             record.id);
  std::vector<CodeTest> out;
  for (std::size_t i = 0; i < tests.size(); ++i) {
    const auto& t = tests[i];
    CodeTest ct;
    if (t.is_string()) {
      ct.assertion = t.get<std::string>();
      DISA_CHECK(!rstrip(ct.assertion).empty(), DataError, "record '{}': field 'tests' element {}: empty test",
                 record.id, i);
    } else if (t.is_object() && t.contains("input") && t.contains("output") && t["input"].is_string() &&
               t["output"].is_string()) {
      ct.io = true;
      ct.input = t["input"].get<std::string>();
      ct.expected_output = t["output"].get<std::string>();
    } else {
      DISA_THROW(DataError,
                 "record '{}': field 'tests' element {}: expected an assert string or "
                 "{{\"input\": string, \"output\": string}}",
                 record.id, i);
    }
    out.push_back(std::move(ct));
  }
  return out;
}

CodeTask::CodeTask(TaskOptions options)
    : options_(std::move(options)),
      pool_(options_.sandbox, options_.sandbox_concurrency),
      fraction_reward_(options_.code_reward == "fraction") {
  DISA_CHECK(options_.code_reward == "binary" || options_.code_reward == "fraction", ConfigError,
             "option --task.code-reward: must be binary or fraction (got '{}')", options_.code_reward);
}

Dataset CodeTask::make_dataset() const {
  Dataset ds = load_task_data(options_, "code", {{"prompt", options_.prompt_field}, {"tests", options_.tests_field}});
  for (const auto& r : ds.records()) {
    try {
      parse_code_tests(r);
    } catch (const core::DataError& e) {
      DISA_THROW(DataError, "{}: {}", options_.data_path, e.what());
    }
  }
  return ds;
}

std::string CodeTask::render_prompt(const Record& record) const {
  return render_template(options_.prompt_template.empty() ? kDefaultTemplate : options_.prompt_template, record);
}

RewardResult CodeTask::reward(const Record& record, const std::string& response) const {
  return reward_batch({&record}, {response}).front();
}

std::vector<RewardResult> CodeTask::reward_batch(const std::vector<const Record*>& records,
                                                 const std::vector<std::string>& responses) const {
  DISA_CHECK(records.size() == responses.size(), DataError, "reward_batch: {} records but {} responses", records.size(),
             responses.size());
  std::vector<RewardResult> results(records.size());
  std::vector<SandboxJob> jobs;
  std::vector<std::pair<std::size_t, CodeTest>> owners;  // (response index, test)
  std::vector<std::size_t> first_job(records.size(), 0), n_jobs(records.size(), 0);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const auto tests = parse_code_tests(*records[i]);
    if (auto screened = screen_response(responses[i], options_.response_limits)) {
      results[i] = *screened;
      continue;
    }
    auto program = extract_python_block(responses[i]);
    if (!program || rstrip(*program).empty()) {
      results[i].reason = Reason::NoAnswer;
      results[i].detail = "no complete ```python block";
      continue;
    }
    results[i].canonical_key = program_key(*program);
    first_job[i] = jobs.size();
    n_jobs[i] = tests.size();
    for (const auto& t : tests) {
      SandboxJob job;
      job.program = *program;
      if (t.io)
        job.stdin_text = t.input;
      else
        job.test_code = t.assertion;
      jobs.push_back(std::move(job));
      owners.push_back({i, t});
    }
  }
  const auto runs = pool_.run_all(jobs);
  for (std::size_t i = 0; i < records.size(); ++i) {
    if (n_jobs[i] == 0) continue;
    std::size_t passed = 0;
    std::optional<std::size_t> first_bad;
    std::optional<Reason> first_bad_reason;
    for (std::size_t k = 0; k < n_jobs[i]; ++k) {
      const std::size_t j = first_job[i] + k;
      const SandboxResult& run = runs[j];
      const CodeTest& test = owners[j].second;
      SandboxVerdict v = run.verdict;
      if (v == SandboxVerdict::Pass && test.io &&
          normalize_output(run.stdout_text) != normalize_output(test.expected_output))
        v = SandboxVerdict::Fail;
      if (v == SandboxVerdict::Pass) {
        ++passed;
      } else if (!first_bad) {
        first_bad = k;
        first_bad_reason = reason_of(v);
        results[i].detail = fmt::format("test {} of {}: {}{}", k + 1, n_jobs[i], to_string(v),
                                        test.io && run.verdict == SandboxVerdict::Pass
                                            ? fmt::format(" (expected '{}', got '{}')",
                                                          normalize_output(test.expected_output).substr(0, 80),
                                                          normalize_output(run.stdout_text).substr(0, 80))
                                            : (run.detail.empty() ? "" : ": " + run.detail.substr(0, 300)));
      }
    }
    const double fraction = static_cast<double>(passed) / static_cast<double>(n_jobs[i]);
    if (passed == n_jobs[i]) {
      results[i].reward = 1.0;
      results[i].reason = Reason::Correct;
    } else if (fraction_reward_ && passed > 0) {
      results[i].reward = fraction;
      results[i].reason = Reason::Partial;
    } else {
      results[i].reward = fraction_reward_ ? fraction : 0.0;
      results[i].reason = *first_bad_reason;
    }
  }
  return results;
}

}  // namespace disa::tasks
