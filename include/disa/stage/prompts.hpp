// A task's prompts as the stages use them: the record, the rendered text and its
// token ids, in data-set order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "disa/model/config.hpp"
#include "disa/model/tokenizer.hpp"
#include "disa/tasks/dataset.hpp"
#include "disa/tasks/task.hpp"

namespace disa::stage {

struct EncodedPrompt {
  const tasks::Record* record = nullptr;  // owned by the data set
  std::string text;                       // task.render_prompt(record)
  std::vector<int32_t> tokens;            // its token ids
};

// The longest prompt a stage accepts, and why: the model's context
// (max_position_embeddings) minus the stage's generation limit, or --task.max-prompt-tokens
// when that is set and smaller.
struct PromptLimit {
  int64_t tokens = 0;
  std::string why;
};
PromptLimit prompt_limit(const model::ModelConfig& config, int64_t max_new_tokens, const std::string& new_tokens_option,
                         int64_t task_max_prompt_tokens);

// Renders and encodes every record of `dataset`, before any generation. A prompt that
// encodes to no tokens, or to more than `limit.tokens`, is a DataError naming it (its
// id, and its file and line when it was read from one), prefixed by `where`
// ("benchmark 'gsm': "; may be empty).
std::vector<EncodedPrompt> encode_prompts(const tasks::Task& task, const tasks::Dataset& dataset,
                                          const model::Tokenizer& tokenizer, const PromptLimit& limit,
                                          const std::string& where = "");

}  // namespace disa::stage
