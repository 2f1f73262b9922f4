// The training prompts of `disa train`: the task's records, encoded, each with its
// frozen anchor from the partition file (looked up by prompt id; the file's tokens must
// equal the run's encoding) and, with a regressor file, g(x) (disa.anchor: raw or exact
// take the file's anchor, regressor takes g(x) for every prompt, shrinkage the
// precision-weighted combination of both; a prompt without an anchor in the file gets
// g(x), except offline, where it has no trajectories). Where the objective needs an
// anchor, prompts still without one are refused (ConfigError naming --train.anchors and
// some of them) or, with --train.allow-missing-anchors, left out and counted.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "disa/stage/prompts.hpp"
#include "disa/train/frozen_anchors.hpp"
#include "disa/train/frozen_regressor.hpp"
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
  int64_t regressor_anchors = 0;  // prompts whose anchor is g(x) alone (no anchor in the partition file)
};

// The regressor and the features of the run's prompts (stage::prompt_features under the
// reference), computed only when a regressor is given.
struct RegressorSource {
  const FrozenRegressor* regressor = nullptr;
  std::function<std::vector<std::vector<double>>(const std::vector<std::vector<int32_t>>&)> features;
};

TrainingPrompts load_training_prompts(const tasks::Dataset& dataset, const tasks::Task& task,
                                      const model::Tokenizer& tokenizer, const stage::PromptLimit& limit,
                                      const FrozenAnchors* anchors, const Settings& settings, bool needs_anchor,
                                      const RegressorSource& regressor = {});

}  // namespace disa::train
