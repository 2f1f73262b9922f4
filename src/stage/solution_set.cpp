// Listing and scoring a prompt's correct set (include/disa/stage/solution_set.hpp).
#include "disa/stage/solution_set.hpp"

#include <algorithm>

#include "disa/core/error.hpp"
#include "disa/model/score.hpp"

namespace disa::stage {

std::optional<std::string> inexact_solution_scoring(const model::Tokenizer& tokenizer) {
  if (tokenizer.unique_tokenization()) return std::nullopt;
  return "the tokenizer of '" + tokenizer.directory() +
         "' has merged (multi-byte) tokens, so a listed solution has many token sequences and scoring its one "
         "encoding gives a lower bound on its probability, not the probability";
}

std::optional<SolutionSet> listed_solutions(const tasks::Task& task, const tasks::Record& record,
                                            const model::Tokenizer& tokenizer, int64_t max_new_tokens) {
  auto listed = task.enumerate_solutions(record);
  if (!listed) return std::nullopt;
  SolutionSet set;
  for (const auto& solution : *listed) {
    auto tokens = tokenizer.encode(solution);
    if (int64_t(tokens.size()) > max_new_tokens)
      ++set.unreachable;
    else
      set.reachable.push_back(std::move(tokens));
  }
  return set;
}

std::vector<double> score_solutions(model::CausalLMImpl& model, const std::vector<int32_t>& prompt,
                                    const SolutionSet& solutions, int64_t batch) {
  DISA_CHECK(batch >= 1, ConfigError, "score_solutions: batch {} < 1", batch);
  const auto& all = solutions.reachable;
  std::vector<double> out;
  out.reserve(all.size());
  model::ScoreOptions options;
  options.max_batch_size = batch;
  // One chunk of `batch` at a time: memory bounded by the batch, not by |C|.
  for (size_t i = 0; i < all.size(); i += size_t(batch)) {
    std::vector<model::ScoreItem> chunk;
    for (size_t j = i; j < std::min(all.size(), i + size_t(batch)); ++j) chunk.push_back({prompt, all[j]});
    for (double l : model::score(model, chunk, options).sums()) out.push_back(l);
  }
  return out;
}

}  // namespace disa::stage
