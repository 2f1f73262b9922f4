// The correct set C of a prompt whose task lists its solutions, as the exact metrics
// use it (docs/method.md §4): every listed solution that the sampler can emit within
// the generation limit, and the log-probability of each under a model. anchor (exact
// log Z), train (exact KL/TV during training) and eval (exact distribution metrics)
// all score C through these two functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "disa/model/causal_lm.hpp"
#include "disa/model/tokenizer.hpp"
#include "disa/tasks/task.hpp"

namespace disa::stage {

struct SolutionSet {
  std::vector<std::vector<int32_t>> reachable;  // token ids of each solution of at most max_new_tokens
  int64_t unreachable = 0;                      // listed solutions longer than that: never sampled
};

// Why scoring each listed solution's one encoding does not give its probability under this
// tokenizer, or nullopt when it does. Exact only when every string has one token sequence
// (model::Tokenizer::unique_tokenization); with merged BPE tokens a string's probability
// is a sum over all its tokenizations and the one encoding gives a lower bound. The exact
// log Z of `disa anchor`, `disa.anchor = exact` and the exact metrics of train and eval
// are refused or marked not available in that case.
std::optional<std::string> inexact_solution_scoring(const model::Tokenizer& tokenizer);

// The listed solutions of `record`, encoded; nullopt when the task does not list them.
std::optional<SolutionSet> listed_solutions(const tasks::Task& task, const tasks::Record& record,
                                            const model::Tokenizer& tokenizer, int64_t max_new_tokens);

// log model(y | prompt) of every reachable solution, in order, scored `batch` sequences
// per forward pass.
std::vector<double> score_solutions(model::CausalLMImpl& model, const std::vector<int32_t>& prompt,
                                    const SolutionSet& solutions, int64_t batch);

}  // namespace disa::stage
