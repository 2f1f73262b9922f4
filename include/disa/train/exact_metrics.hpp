// The exact distribution metrics of training (train.exact-every): KL(p*|C || pi_theta|C),
// TV and the policy mass on the correct set C, the target's mass p*(C) and the lower
// bound of the full KL(p* || pi_theta) (stage/statistics.hpp kl_lower_bound), averaged
// over the first train.exact-prompts training prompts, from their listed solutions (each
// rank scores a share; the reference's log-probs are computed once).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "disa/stage/solution_set.hpp"
#include "disa/train/sample.hpp"

namespace disa::dist {
class Communicator;
}  // namespace disa::dist

namespace disa::train {

class ExactMetrics {
 public:
  // ConfigError naming --train.exact-every when the task does not list its solutions.
  // Solutions longer than max_new_tokens cannot be sampled and are left out.
  // `target_beta`: the beta of p* (NaN: unknown, no target mass and no bound).
  ExactMetrics(const tasks::Task& task, const model::Tokenizer& tokenizer, const std::vector<Prompt>& prompts,
               int64_t count, int64_t max_new_tokens, double target_beta);
  // exact_kl, exact_tv, exact_policy_mass, and with a target beta exact_target_mass and
  // exact_kl_lower_bound (empty when no prompt has a finite KL).
  std::map<std::string, double> measure(model::CausalLMImpl& policy, model::CausalLMImpl& reference,
                                        dist::Communicator& comm);

 private:
  const std::vector<Prompt>& prompts_;
  double target_beta_;
  std::vector<stage::SolutionSet> solutions_;
  std::vector<std::vector<double>> reference_;
};

}  // namespace disa::train
