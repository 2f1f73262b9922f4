// The LLM judge of strategy diversity (include/disa/eval/judge.hpp): answer parser,
// prompt template and batched judging.
#include "disa/eval/judge.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include "disa/core/error.hpp"
#include "disa/core/log.hpp"
#include "disa/model/generate.hpp"
#include "disa/model/response_text.hpp"
#include "disa/model/weights.hpp"
#include "disa/tasks/task.hpp"

namespace disa::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Candidate {
  size_t position;
  int64_t value;  // -1: a number too large to represent
};

// Integers of `text` in order of appearance (see parse_judge_answer).
std::vector<Candidate> integer_candidates(const std::string& text) {
  static const char* kWords[] = {"zero",     "one",     "two",     "three",     "four",     "five",     "six",
                                 "seven",    "eight",   "nine",    "ten",       "eleven",   "twelve",   "thirteen",
                                 "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"};
  const std::string low = lower(text);
  std::vector<Candidate> out;
  size_t i = 0;
  while (i < low.size()) {
    const char c = low[i];
    if (is_digit(c)) {
      size_t j = i;
      while (j < low.size() && is_digit(low[j])) ++j;
      const char before = i > 0 ? low[i - 1] : ' ';
      const char after = j < low.size() ? low[j] : ' ';
      const bool decimal = (after == '.' || after == ',') && j + 1 < low.size() && is_digit(low[j + 1]);
      const bool negative = before == '-' && (i < 2 || !is_digit(low[i - 2]));
      const bool in_word = is_alpha(before) || is_alpha(after) || before == '.' || before == ',';
      if (!decimal && !negative && !in_word) {
        const std::string digits = low.substr(i, j - i);
        out.push_back({i, digits.size() > 12 ? -1 : int64_t(std::stoll(digits))});
      }
      i = j;
      // Skip the fractional part of a decimal so that it is not read as an integer.
      if (decimal) {
        i = j + 1;
        while (i < low.size() && is_digit(low[i])) ++i;
      }
      continue;
    }
    if (is_alpha(c)) {
      size_t j = i;
      while (j < low.size() && is_alpha(low[j])) ++j;
      const std::string word = low.substr(i, j - i);
      for (int64_t v = 0; v <= 20; ++v)
        if (word == kWords[v]) out.push_back({i, v});
      i = j;
      continue;
    }
    ++i;
  }
  return out;
}

std::string read_file(const std::string& path, const std::string& option) {
  if (!std::filesystem::is_regular_file(path))
    DISA_THROW(ConfigError, "option --{}: the judge prompt template '{}' does not exist", option, path);
  std::ifstream in(path, std::ios::binary);
  if (!in) DISA_THROW(ConfigError, "option --{}: cannot read the judge prompt template '{}'", option, path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::optional<int64_t> parse_judge_answer(const std::string& answer, int64_t max_count) {
  if (max_count < 1) return std::nullopt;
  const auto candidates = integer_candidates(answer);
  auto in_range = [&](const Candidate& c) { return c.value >= 1 && c.value <= max_count; };
  const size_t marker = lower(answer).rfind("answer");
  if (marker != std::string::npos)
    for (const auto& c : candidates)
      if (c.position > marker && in_range(c)) return c.value;
  for (const auto& c : candidates)
    if (in_range(c)) return c.value;
  return std::nullopt;
}

const char* judge_status_name(JudgeStatus status) {
  switch (status) {
    case JudgeStatus::Disabled: return "disabled";
    case JudgeStatus::NoCorrect: return "no_correct";
    case JudgeStatus::Single: return "single";
    case JudgeStatus::Parsed: return "parsed";
    case JudgeStatus::Unparsable: return "unparsable";
    case JudgeStatus::TooLong: return "too_long";
  }
  return "?";
}

std::vector<std::string> judge_status_names() {
  std::vector<std::string> out;
  for (int s = 0; s < kJudgeStatuses; ++s) out.emplace_back(judge_status_name(JudgeStatus(s)));
  return out;
}

JudgeTemplate::JudgeTemplate(std::string text, std::string origin)
    : text_(std::move(text)), origin_(std::move(origin)) {
  DISA_CHECK(text_.find("{responses}") != std::string::npos, ConfigError,
             "{}: the judge prompt template has no {{responses}} placeholder", origin_);
  try {
    render("problem", {"a", "b"});
  } catch (const core::Error& e) {
    DISA_THROW(ConfigError,
               "{}: bad judge prompt template (placeholders: {{problem}}, {{responses}}, "
               "{{count}}; {{{{ and }}}} for literal braces): {}",
               origin_, e.what());
  }
}

JudgeTemplate JudgeTemplate::load(const std::string& path, const std::string& option) {
  return JudgeTemplate(read_file(path, option), fmt::format("option --{}: file '{}'", option, path));
}

std::string JudgeTemplate::render(const std::string& problem, const std::vector<std::string>& responses) const {
  std::string listed;
  for (size_t i = 0; i < responses.size(); ++i)
    listed += fmt::format("{}Response {}:\n{}\n", i ? "\n" : "", i + 1, responses[i]);
  tasks::Record record;
  record.id = "judge";
  record.fields = {{"problem", problem}, {"responses", listed}, {"count", int64_t(responses.size())}};
  return tasks::render_template(text_, record);
}

Judge::Judge(const JudgeSettings& settings, torch::Device device, torch::Dtype dtype)
    : settings_(settings), template_(JudgeTemplate::load(settings.template_path, "judge.prompt")) {
  if (!std::filesystem::is_directory(settings_.model_dir))
    DISA_THROW(ConfigError, "option --judge.model: model directory '{}' does not exist", settings_.model_dir);
  model_ = model::load_model(settings_.model_dir, device, dtype);
  model_->eval();
  tokenizer_ = std::make_unique<model::Tokenizer>(model::Tokenizer::load(settings_.model_dir));
  model::restrict_to_tokenizer(*model_, *tokenizer_);
}

std::vector<JudgeVerdict> Judge::judge(const std::vector<JudgeCase>& cases) {
  std::vector<JudgeVerdict> verdicts(cases.size());
  std::vector<model::GenerationRequest> requests;
  std::vector<size_t> asked;
  const int64_t configured = model_->config().max_position_embeddings;
  const int64_t context = configured > 0 ? configured : std::numeric_limits<int64_t>::max() / 2;
  for (size_t i = 0; i < cases.size(); ++i) {
    auto& v = verdicts[i];
    std::vector<std::string> distinct;
    std::set<std::string> seen;
    for (const auto& r : cases[i].correct_responses)
      if (seen.insert(r).second) distinct.push_back(r);
    v.distinct = int64_t(distinct.size());
    if (distinct.empty()) {
      v.status = JudgeStatus::NoCorrect;
      v.strategies = kNaN;
      continue;
    }
    if (distinct.size() == 1) {
      v.status = JudgeStatus::Single;
      v.strategies = 1.0;
      continue;
    }
    // Show as many distinct responses as allowed and as fit the judge's context.
    size_t shown = std::min(distinct.size(), size_t(std::max<int64_t>(2, settings_.max_responses)));
    std::vector<int32_t> tokens;
    for (; shown >= 2; --shown) {
      std::vector<std::string> part(distinct.begin(), distinct.begin() + long(shown));
      tokens = tokenizer_->encode(template_.render(cases[i].problem, part));
      if (int64_t(tokens.size()) + settings_.max_new_tokens <= context && !tokens.empty()) break;
    }
    if (shown < 2) {
      v.status = JudgeStatus::TooLong;
      v.strategies = kNaN;
      continue;
    }
    v.shown = int64_t(shown);
    requests.push_back({std::move(tokens), cases[i].prompt_id, 0});
    asked.push_back(i);
  }
  if (requests.empty()) return verdicts;
  model::GenerationParams params;
  params.sampling.temperature = settings_.temperature;
  params.max_new_tokens = settings_.max_new_tokens;
  params.max_batch_size = settings_.max_batch_size;
  model::set_model_stops(params, *model_, *tokenizer_);
  auto results = model::generate(*model_, requests, params, settings_.seed, tokenizer_.get());
  for (size_t k = 0; k < asked.size(); ++k) {
    auto& v = verdicts[asked[k]];
    v.answer = model::response_text(*tokenizer_, results[k].tokens);
    if (auto count = parse_judge_answer(v.answer, v.shown)) {
      v.status = JudgeStatus::Parsed;
      v.strategies = double(*count);
    } else {
      v.status = JudgeStatus::Unparsable;
      v.strategies = kNaN;
    }
  }
  return verdicts;
}

}  // namespace disa::eval
