// Exact distribution metrics of training (include/disa/train/exact_metrics.hpp).
#include "disa/train/exact_metrics.hpp"

#include <cmath>

#include <torch/torch.h>

#include "disa/core/error.hpp"
#include "disa/dist/communicator.hpp"
#include "disa/dist/work_split.hpp"
#include "disa/model/tokenizer.hpp"
#include "disa/stage/solution_set.hpp"
#include "disa/stage/statistics.hpp"
#include "disa/tasks/task.hpp"

namespace disa::train {
namespace {
// Solutions scored per forward pass.
constexpr int64_t kScoreBatch = 64;
}  // namespace

ExactMetrics::ExactMetrics(const tasks::Task& task, const model::Tokenizer& tokenizer,
                           const std::vector<Prompt>& prompts, int64_t count, int64_t max_new_tokens,
                           double target_beta)
    : prompts_(prompts), target_beta_(target_beta) {
  if (auto why = stage::inexact_solution_scoring(tokenizer))
    DISA_THROW(ConfigError, "option --train.exact-every: the exact metrics are not available: {} (set it to 0)", *why);
  const int64_t n = std::min<int64_t>(count, int64_t(prompts.size()));
  for (int64_t i = 0; i < n; ++i) {
    auto solutions = stage::listed_solutions(task, *prompts[size_t(i)].record, tokenizer, max_new_tokens);
    DISA_CHECK(solutions.has_value(), ConfigError,
               "option --train.exact-every: task '{}' does not list its solutions (set it to 0)", task.name());
    solutions_.push_back(std::move(*solutions));
  }
  reference_.resize(solutions_.size());
}

std::map<std::string, double> ExactMetrics::measure(model::CausalLMImpl& policy, model::CausalLMImpl& reference,
                                                    dist::Communicator& comm) {
  torch::NoGradGuard no_grad;
  policy.eval();
  auto [b0, b1] = dist::balanced_block(int64_t(solutions_.size()), comm.rank(), comm.size());
  std::vector<double> sums(6, 0.0);  // kl, tv, mass, target mass, lower bound, prompts with a finite kl
  for (int64_t i = b0; i < b1; ++i) {
    const auto& solutions = solutions_[size_t(i)];
    if (solutions.reachable.empty()) continue;
    const auto& prompt = prompts_[size_t(i)].tokens;
    auto pol = stage::score_solutions(policy, prompt, solutions, kScoreBatch);
    if (reference_[size_t(i)].empty())
      reference_[size_t(i)] = stage::score_solutions(reference, prompt, solutions, kScoreBatch);
    auto m = stage::exact_metrics(pol, reference_[size_t(i)], stage::kDefaultCoverageThreshold);
    if (!std::isfinite(m.kl)) continue;
    const double target = stage::target_mass(target_beta_, m.reference_mass);
    sums[0] += m.kl;
    sums[1] += m.tv;
    sums[2] += m.policy_mass;
    sums[3] += target;
    sums[4] += stage::kl_lower_bound(target, m.policy_mass, m.kl);
    sums[5] += 1;
  }
  comm.all_reduce(sums, dist::ReduceOp::Sum);
  if (sums[5] == 0) return {};
  std::map<std::string, double> out{{"exact_kl", sums[0] / sums[5]},
                                    {"exact_tv", sums[1] / sums[5]},
                                    {"exact_policy_mass", sums[2] / sums[5]}};
  if (!std::isnan(target_beta_)) {
    out["exact_target_mass"] = sums[3] / sums[5];
    out["exact_kl_lower_bound"] = sums[4] / sums[5];
  }
  return out;
}

}  // namespace disa::train
