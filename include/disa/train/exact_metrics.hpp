// The exact distribution metrics of training (train.exact-every): KL(p*|C || pi_theta|C),
// TV and the policy mass on the correct set C, averaged over the first
// train.exact-prompts training prompts, from their listed solutions (each rank scores a
// share; the reference's log-probs are computed once).
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
  ExactMetrics(const tasks::Task& task, const model::Tokenizer& tokenizer, const std::vector<Prompt>& prompts,
               int64_t count, int64_t max_new_tokens);
  // exact_kl, exact_tv, exact_policy_mass (empty when no prompt has a finite KL).
  std::map<std::string, double> measure(model::CausalLMImpl& policy, model::CausalLMImpl& reference,
                                        dist::Communicator& comm);

 private:
  const std::vector<Prompt>& prompts_;
  std::vector<stage::SolutionSet> solutions_;
  std::vector<std::vector<double>> reference_;
};

}  // namespace disa::train
