// Where a training step's samples come from (objective.hpp SampleKind): rollouts of the
// current policy, the partition file's stored trajectories of each prompt, or a pool of
// its correct trajectories. Every rank draws its share of each mini-batch; which prompts
// a step uses, and every sample's random stream, depend on (seed, step, prompt, sample)
// only, so nothing depends on the rank count.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "disa/model/generate.hpp"
#include "disa/train/objective.hpp"

namespace disa::dist {
class Communicator;
}  // namespace disa::dist
namespace disa::model {
class Tokenizer;
class CausalLMImpl;
}  // namespace disa::model
namespace disa::tasks {
class Task;
}  // namespace disa::tasks

namespace disa::train {

class SampleSource {
 public:
  virtual ~SampleSource() = default;
  // This rank's samples of `step`, each with its mini-batch (records time_generate).
  virtual std::vector<Sample> draw(int64_t step, StepStats& stats) = 0;
};

struct SourceContext {
  const Settings& settings;
  dist::Communicator& comm;
  const std::vector<Prompt>& prompts;  // the training prompts
  const FrozenAnchors* anchors = nullptr;
  model::CausalLMImpl* policy = nullptr;
  const model::Tokenizer* tokenizer = nullptr;
  const tasks::Task* task = nullptr;
  const model::GenerationParams* generation = nullptr;
};

std::unique_ptr<SampleSource> make_sample_source(SampleKind kind, const SourceContext& context);

// log pi_old (the policy before the step's updates) and log pi_ref per token of every
// sample, through the same fp32 scoring path as the loss, so the first pass has ratio
// exactly 1; `micro_batch` samples per forward pass.
void score_fixed_logprobs(model::CausalLMImpl& policy, model::CausalLMImpl& reference, std::vector<Sample>& samples,
                          int64_t micro_batch);

}  // namespace disa::train
