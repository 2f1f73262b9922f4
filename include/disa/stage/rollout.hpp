// Rollout pieces every stage shares: the generation parameters of a model, its
// tokenizer and a task (sampling, limits, and the stops of all three), and rewarding
// generated responses (decode, then the task's verdict).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "disa/io/partition_file.hpp"
#include "disa/model/causal_lm.hpp"
#include "disa/model/generate.hpp"
#include "disa/model/tokenizer.hpp"
#include "disa/tasks/task.hpp"

namespace disa::stage {

// Sampling with `sampling`, at most `max_new_tokens` per response and `max_batch_size`
// sequences per forward pass, stopping at the model's and tokenizer's end tokens
// (set_model_stops: the model must be restricted to the tokenizer) and at the task's
// response terminator. Validated.
model::GenerationParams generation_params(const model::CausalLMImpl& model, const model::Tokenizer& tokenizer,
                                          const tasks::Task& task, const model::SamplingParams& sampling,
                                          int64_t max_new_tokens, int64_t max_batch_size);

// The stops of `params` as the partition file records them (the response space of the
// anchors), so train can compare its own.
io::partition::ResponseStops response_stops(const model::GenerationParams& params);

struct RewardedResponses {
  std::vector<std::string> texts;            // the decoded responses (response_text)
  std::vector<tasks::RewardResult> rewards;  // the task's verdicts, in the same order
};

// Decodes each result and rewards it against records[i]. Empty input: empty output.
RewardedResponses reward_responses(const tasks::Task& task, const std::vector<const tasks::Record*>& records,
                                   const model::Tokenizer& tokenizer,
                                   const std::vector<model::GenerationResult>& results);

}  // namespace disa::stage
