// Exact distribution metrics of training (include/disa/train/exact_metrics.hpp).
#include "disa/train/exact_metrics.hpp"

#include <cmath>

#include <torch/torch.h>

#include "disa/core/error.hpp"
#include "disa/dist/communicator.hpp"
#include "disa/dist/work_split.hpp"
#include "disa/eval/statistics.hpp"
#include "disa/model/score.hpp"
#include "disa/model/tokenizer.hpp"
#include "disa/tasks/task.hpp"

namespace disa::train {

ExactMetrics::ExactMetrics(const tasks::Task& task, const Tokenizer& tokenizer, const std::vector<Prompt>& prompts,
                           int64_t count, int64_t max_new_tokens)
    : prompts_(prompts) {
  const int64_t n = std::min<int64_t>(count, int64_t(prompts.size()));
  for (int64_t i = 0; i < n; ++i) {
    auto sols = task.enumerate_solutions(*prompts[size_t(i)].record);
    DISA_CHECK(sols.has_value(), ConfigError,
               "option --train.exact-every: task '{}' does not list its solutions (set it to 0)", task.name());
    std::vector<std::vector<int32_t>> toks;
    for (const auto& sol : *sols) {
      auto t = tokenizer.encode(sol);
      if (int64_t(t.size()) <= max_new_tokens) toks.push_back(std::move(t));
    }
    solutions_.push_back(std::move(toks));
  }
  reference_.resize(solutions_.size());
}

std::map<std::string, double> ExactMetrics::measure(CausalLMImpl& policy, CausalLMImpl& reference,
                                                    Communicator& comm) {
  torch::NoGradGuard no_grad;
  policy.eval();
  auto [b0, b1] = balanced_block(int64_t(solutions_.size()), comm.rank(), comm.size());
  std::vector<double> sums(4, 0.0);  // kl, tv, mass, prompts with a finite kl
  for (int64_t i = b0; i < b1; ++i) {
    const auto& sols = solutions_[size_t(i)];
    if (sols.empty()) continue;
    std::vector<ScoreItem> items;
    for (const auto& t : sols) items.push_back({prompts_[size_t(i)].tokens, t});
    ScoreOptions opts;
    opts.max_batch_size = 64;
    auto pol = score(policy, items, opts).sums();
    if (reference_[size_t(i)].empty()) reference_[size_t(i)] = score(reference, items, opts).sums();
    auto m = eval::exact_metrics(pol, reference_[size_t(i)], 0.1);
    if (!std::isfinite(m.kl)) continue;
    sums[0] += m.kl;
    sums[1] += m.tv;
    sums[2] += m.policy_mass;
    sums[3] += 1;
  }
  comm.all_reduce(sums, ReduceOp::Sum);
  if (sums[3] == 0) return {};
  return {{"exact_kl", sums[0] / sums[3]}, {"exact_tv", sums[1] / sums[3]}, {"exact_policy_mass", sums[2] / sums[3]}};
}

}  // namespace disa::train
