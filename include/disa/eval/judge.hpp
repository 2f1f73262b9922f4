// Strategy-level diversity by an LLM judge: a judge model (any model directory the
// model stack loads) is shown the distinct correct responses of a prompt through a
// prompt template (configs/eval-judge-prompt.txt) and asked how many distinct
// strategies they use. Its answer is parsed robustly (parse_judge_answer); an answer
// without a usable integer is counted as unparsable, never an error. Prompts with no
// correct response or a single distinct one are not sent to the judge.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "disa/model/causal_lm.hpp"
#include "disa/model/tokenizer.hpp"

namespace disa::eval {

// The judged number of strategies in `answer`, in [1, max_count]: the first integer in
// that range after the last "answer" (case-insensitive) if there is one, else the first
// in range anywhere. Integers are digit runs that are not part of a word ("2nd"), a
// decimal ("2.5") or a negative number ("-2"), or the words one .. twenty. nullopt when
// there is none (empty, garbage, only out-of-range numbers).
std::optional<int64_t> parse_judge_answer(const std::string& answer, int64_t max_count);

// What happened to a prompt's judgement (stored per prompt in eval.h5).
enum class JudgeStatus : int8_t {
  Disabled = 0,    // no judge configured
  NoCorrect = 1,   // no correct response: nothing to judge (strategies undefined)
  Single = 2,      // one distinct correct response: 1 strategy, the judge is not asked
  Parsed = 3,      // the judge answered with a usable count
  Unparsable = 4,  // the judge's answer had no integer in range
  TooLong = 5,     // even two responses exceed the judge's context
};
inline constexpr int kJudgeStatuses = 6;
const char* judge_status_name(JudgeStatus status);
// judge_status_name of every status, by code: the "names" attribute in eval.h5.
std::vector<std::string> judge_status_names();

// The judge's prompt template: "{problem}" (the task prompt), "{responses}" (the
// numbered responses) and "{count}" (how many are shown); "{{" "}}" are literal braces.
class JudgeTemplate {
 public:
  // Reads and checks the file: ConfigError naming `option` and the file when it cannot
  // be read, has no {responses} or uses another placeholder.
  static JudgeTemplate load(const std::string& path, const std::string& option);
  JudgeTemplate(std::string text, std::string origin);
  std::string render(const std::string& problem, const std::vector<std::string>& responses) const;
  const std::string& text() const { return text_; }

 private:
  std::string text_, origin_;
};

struct JudgeSettings {
  std::string model_dir;  // empty: no judge
  std::string template_path = "configs/eval-judge-prompt.txt";
  int64_t max_new_tokens = 32;
  double temperature = 0.0;   // 0: greedy
  int64_t max_responses = 8;  // distinct correct responses shown at most
  int64_t max_batch_size = 16;
  uint64_t seed = 0;
};

// One prompt to judge: its text and its correct responses (decoded, in sample order).
struct JudgeCase {
  int64_t prompt_id = 0;  // with the seed: the random stream when temperature > 0
  std::string problem;
  std::vector<std::string> correct_responses;
};

struct JudgeVerdict {
  JudgeStatus status = JudgeStatus::Disabled;
  double strategies = 0.0;  // NaN when undefined (no correct, unparsable, too long)
  int64_t distinct = 0;     // distinct correct responses
  int64_t shown = 0;        // responses shown to the judge
  std::string answer;       // the judge's raw answer (empty when not asked)
};

class Judge {
 public:
  // Loads the model and tokenizer of settings.model_dir and the template.
  Judge(const JudgeSettings& settings, torch::Device device, torch::Dtype dtype);
  // One verdict per case, in order. The cases that need the judge are generated
  // together (in micro-batches of max_batch_size), so the result depends only on the
  // cases, never on the MPI rank that runs them.
  std::vector<JudgeVerdict> judge(const std::vector<JudgeCase>& cases);

  const std::string& model_fingerprint() const { return model_->fingerprint; }
  std::string tokenizer_fingerprint() const { return tokenizer_->fingerprint(); }
  const JudgeTemplate& prompt_template() const { return template_; }

 private:
  JudgeSettings settings_;
  model::CausalLM model_{nullptr};
  std::unique_ptr<model::Tokenizer> tokenizer_;
  JudgeTemplate template_;
};

}  // namespace disa::eval
