// The training prompts of `disa train`: the task's records, encoded, each with its
// frozen anchor from the partition file (looked up by prompt id; the file's tokens must
// equal the run's encoding). Where the objective needs an anchor, prompts without one
// are refused (ConfigError naming --train.anchors and some of them) or, with
// --train.allow-missing-anchors, left out and counted.
#pragma once

#include <cstdint>
#include <vector>

#include "disa/stage/prompts.hpp"
#include "disa/train/frozen_anchors.hpp"
#include "disa/train/sample.hpp"
#include "disa/train/train_settings.hpp"

namespace disa::model {
class Tokenizer;
}  // namespace disa::model
namespace disa::tasks {
class Task;
}  // namespace disa::tasks

namespace disa::train {

struct TrainingPrompts {
  std::vector<Prompt> prompts;
  int64_t missing_anchors = 0;
};

TrainingPrompts load_training_prompts(const tasks::Dataset& dataset, const tasks::Task& task,
                                      const model::Tokenizer& tokenizer, const stage::PromptLimit& limit,
                                      const FrozenAnchors* anchors, const Settings& settings, bool needs_anchor);

}  // namespace disa::train
