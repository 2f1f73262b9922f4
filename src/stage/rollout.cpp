// Generation parameters and rewarding responses (include/disa/stage/rollout.hpp).
#include "disa/stage/rollout.hpp"

#include "disa/core/error.hpp"
#include "disa/model/response_text.hpp"

namespace disa::stage {

model::GenerationParams generation_params(const model::CausalLMImpl& model, const model::Tokenizer& tokenizer,
                                          const tasks::Task& task, const model::SamplingParams& sampling,
                                          int64_t max_new_tokens, int64_t max_batch_size) {
  model::GenerationParams p;
  p.sampling = sampling;
  p.max_new_tokens = max_new_tokens;
  p.max_batch_size = max_batch_size;
  model::set_model_stops(p, model, tokenizer);
  if (!task.response_terminator().empty()) p.stop_strings.push_back(task.response_terminator());
  p.validate();
  return p;
}

io::partition::ResponseStops response_stops(const model::GenerationParams& params) {
  io::partition::ResponseStops stops;
  stops.token_ids.assign(params.stop_token_ids.begin(), params.stop_token_ids.end());
  stops.strings = params.stop_strings;
  stops.vocab_limit = params.sampling.vocab_limit;
  return stops;
}

RewardedResponses reward_responses(const tasks::Task& task, const std::vector<const tasks::Record*>& records,
                                   const model::Tokenizer& tokenizer,
                                   const std::vector<model::GenerationResult>& results) {
  DISA_ASSERT(records.size() == results.size());
  RewardedResponses out;
  out.texts.reserve(results.size());
  for (const auto& r : results) out.texts.push_back(model::response_text(tokenizer, r.tokens));
  if (!records.empty()) out.rewards = task.reward_batch(records, out.texts);
  return out;
}

}  // namespace disa::stage
