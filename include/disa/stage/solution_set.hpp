// The correct set C of a prompt whose task lists its solutions, as the exact metrics
// use it (docs/method.md §4): every listed solution that the sampler can emit within
// the generation limit, and the log-probability of each under a model. anchor (exact
// log Z), train (exact KL/TV during training) and eval (exact distribution metrics)
// all score C through these two functions.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "disa/model/causal_lm.hpp"
#include "disa/model/tokenizer.hpp"
#include "disa/tasks/task.hpp"

namespace disa::stage {

struct SolutionSet {
  std::vector<std::vector<int32_t>> reachable;  // token ids of each solution of at most max_new_tokens
  int64_t unreachable = 0;                      // listed solutions longer than that: never sampled
};

// The listed solutions of `record`, encoded; nullopt when the task does not list them.
std::optional<SolutionSet> listed_solutions(const tasks::Task& task, const tasks::Record& record,
                                            const Tokenizer& tokenizer, int64_t max_new_tokens);

// log model(y | prompt) of every reachable solution, in order, scored `batch` sequences
// per forward pass.
std::vector<double> score_solutions(CausalLMImpl& model, const std::vector<int32_t>& prompt,
                                    const SolutionSet& solutions, int64_t batch);

}  // namespace disa::stage
