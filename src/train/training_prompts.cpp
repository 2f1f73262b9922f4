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
                                      const FrozenAnchors* anchors, const Settings& s, bool needs_anchor,
                                      const RegressorSource& regressor) {
  if (s.anchor_source == AnchorSource::Exact)
    if (auto why = stage::inexact_solution_scoring(tokenizer))
      DISA_THROW(ConfigError, "option --disa.anchor: exact is not available: {}; train on the estimate", *why);
  TrainingPrompts out;
  std::vector<std::string> missing;
  auto encoded = stage::encode_prompts(task, dataset, tokenizer, limit);
  // g(x) of every prompt, with a regressor.
  std::vector<double> g;
  if (regressor.regressor) {
    std::vector<std::vector<int32_t>> tokens;
    for (const auto& e : encoded) tokens.push_back(e.tokens);
    const auto features = regressor.features(tokens);
    for (const auto& x : features) g.push_back(regressor.regressor->predict(x));
  }
  for (size_t i = 0; i < dataset.size(); ++i) {
    Prompt p;
    p.record = encoded[i].record;
    p.tokens = std::move(encoded[i].tokens);
    if (anchors) {
      if (auto fi = anchors->index_of(dataset[i].id)) {
        anchors->check_prompt(*fi, dataset[i].id, p.tokens);
        p.file_index = *fi;
        switch (s.anchor_source) {
          case AnchorSource::Raw: p.anchor = anchors->anchor(*fi); break;
          case AnchorSource::Exact: p.anchor = anchors->exact(*fi); break;
          case AnchorSource::Regressor: p.anchor = g[i]; break;
          case AnchorSource::Shrinkage:
            p.anchor = io::regressor::shrinkage(anchors->anchor(*fi), anchors->standard_error(*fi), g[i],
                                                regressor.regressor->tau2());
            break;
        }
        p.exact_log_z = anchors->exact(*fi);
      } else if (!g.empty() && !s.offline) {
        p.anchor = g[i];  // no anchor in the file: the regressor's
        ++out.regressor_anchors;
      }
      if (needs_anchor && !std::isfinite(p.anchor)) {
        missing.push_back(dataset[i].id);
        continue;
      }
    }
    out.prompts.push_back(std::move(p));
  }
  if (out.regressor_anchors > 0)
    core::log::info("train: {} of {} prompts have no anchor in '{}' and take g(x) of the regressor '{}'",
                    out.regressor_anchors, dataset.size(), s.anchors_path, s.regressor_path);
  out.missing_anchors = int64_t(missing.size());
  if (!missing.empty()) {
    std::string some;
    for (size_t i = 0; i < std::min<size_t>(5, missing.size()); ++i) some += (i ? ", " : "") + missing[i];
    DISA_CHECK(s.allow_missing_anchors, ConfigError,
               "option --train.anchors: {} of {} training prompts have no anchor in '{}' (e.g. {}); anchor them, give "
               "them g(x) with --disa.regressor (disa anchor fit), "
               "or pass --train.allow-missing-anchors to train without them",
               missing.size(), dataset.size(), s.anchors_path, some);
    core::log::warn("train: {} of {} prompts have no anchor in '{}' and are left out (e.g. {})", missing.size(),
                    dataset.size(), s.anchors_path, some);
  }
  return out;
}

}  // namespace disa::train
