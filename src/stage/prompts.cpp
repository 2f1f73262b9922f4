// Encoding a task's prompts (include/disa/stage/prompts.hpp).
#include "disa/stage/prompts.hpp"

#include "disa/core/error.hpp"

namespace disa::stage {

PromptLimit prompt_limit(const model::ModelConfig& config, int64_t max_new_tokens, const std::string& new_tokens_option,
                         int64_t task_max_prompt_tokens) {
  PromptLimit limit;
  limit.tokens = config.max_position_embeddings - max_new_tokens;
  limit.why = fmt::format("the model's context of {} tokens (max_position_embeddings) minus --{} {}",
                          config.max_position_embeddings, new_tokens_option, max_new_tokens);
  DISA_CHECK(limit.tokens >= 1, ConfigError, "option --{}: {} leaves no room for a prompt in the model's context of {}",
             new_tokens_option, max_new_tokens, config.max_position_embeddings);
  if (task_max_prompt_tokens > 0 && task_max_prompt_tokens < limit.tokens) {
    limit.tokens = task_max_prompt_tokens;
    limit.why = "--task.max-prompt-tokens";
  }
  return limit;
}

std::vector<EncodedPrompt> encode_prompts(const tasks::Task& task, const tasks::Dataset& dataset,
                                          const model::Tokenizer& tokenizer, const PromptLimit& limit,
                                          const std::string& where) {
  std::vector<EncodedPrompt> out;
  out.reserve(dataset.size());
  for (size_t i = 0; i < dataset.size(); ++i) {
    EncodedPrompt p;
    p.record = &dataset[i];
    p.text = task.render_prompt(dataset[i]);
    p.tokens = tokenizer.encode(p.text);
    const auto& origin = dataset[i].origin;
    DISA_CHECK(!p.tokens.empty(), DataError, "{}{}prompt '{}' encodes to no tokens", where,
               origin.empty() ? "" : origin + ": ", dataset[i].id);
    DISA_CHECK(limit.tokens <= 0 || int64_t(p.tokens.size()) <= limit.tokens, DataError,
               "{}{}prompt '{}' has {} tokens, more than {} ({})", where, origin.empty() ? "" : origin + ": ",
               dataset[i].id, p.tokens.size(), limit.tokens, limit.why);
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace disa::stage
