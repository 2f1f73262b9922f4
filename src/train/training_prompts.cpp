// The training prompts and their anchors (include/disa/train/training_prompts.hpp).
#include "disa/train/training_prompts.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "disa/core/error.hpp"
#include "disa/core/log.hpp"
#include "disa/stage/prompts.hpp"
#include "disa/stage/solution_set.hpp"

namespace disa::train {

TrainingPrompts load_training_prompts(const tasks::Dataset& dataset, const tasks::Task& task,
                                      const model::Tokenizer& tokenizer, const stage::PromptLimit& limit,
                                      const FrozenAnchors* anchors, const Settings& s, bool needs_anchor) {
  if (s.exact_anchor)
    if (auto why = stage::inexact_solution_scoring(tokenizer))
      DISA_THROW(ConfigError, "option --disa.anchor: exact is not available: {}; train on the estimate", *why);
  TrainingPrompts out;
  std::vector<std::string> missing;
  auto encoded = stage::encode_prompts(task, dataset, tokenizer, limit);
  for (size_t i = 0; i < dataset.size(); ++i) {
    Prompt p;
    p.record = encoded[i].record;
    p.tokens = std::move(encoded[i].tokens);
    if (anchors) {
      if (auto fi = anchors->index_of(dataset[i].id)) {
        anchors->check_prompt(*fi, dataset[i].id, p.tokens);
        p.file_index = *fi;
        p.anchor = s.exact_anchor ? anchors->exact(*fi) : anchors->anchor(*fi);
        p.exact_log_z = anchors->exact(*fi);
      }
      if (needs_anchor && !std::isfinite(p.anchor)) {
        missing.push_back(dataset[i].id);
        continue;
      }
    }
    out.prompts.push_back(std::move(p));
  }
  out.missing_anchors = int64_t(missing.size());
  if (!missing.empty()) {
    std::string some;
    for (size_t i = 0; i < std::min<size_t>(5, missing.size()); ++i) some += (i ? ", " : "") + missing[i];
    DISA_CHECK(s.allow_missing_anchors, ConfigError,
               "option --train.anchors: {} of {} training prompts have no anchor in '{}' (e.g. {}); anchor them, "
               "or pass --train.allow-missing-anchors to train without them",
               missing.size(), dataset.size(), s.anchors_path, some);
    core::log::warn("train: {} of {} prompts have no anchor in '{}' and are left out (e.g. {})", missing.size(),
                    dataset.size(), s.anchors_path, some);
  }
  return out;
}

}  // namespace disa::train
