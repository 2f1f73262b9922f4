// The provenance checks shared by the two frozen sources of log Z, the partition file
// (frozen_anchors.cpp) and the regressor file (frozen_regressor.cpp): both provenance
// records spell these fields alike. Private to src/train/.
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "disa/train/frozen_anchors.hpp"

namespace disa::train::detail {

// Appends to `problems` one line per mismatch of beta, reference and tokenizer
// fingerprints, generation limit and task. `made_from` completes "reference model: <...>
// on '<model>'" ("the file was anchored", "the regressor was fitted").
template <class Provenance>
void add_run_mismatches(const Provenance& p, const AnchorExpectations& e, const std::string& made_from,
                        std::vector<std::string>& problems) {
  if (e.beta && !(std::abs(p.beta - *e.beta) <= 1e-12 * std::max(1.0, std::abs(*e.beta))))
    problems.push_back(fmt::format("beta: the file has {} but option --{} is {}", p.beta, e.beta_option, *e.beta));
  if (!e.reference_fingerprint.empty() && p.reference_fingerprint != e.reference_fingerprint)
    problems.push_back(fmt::format("reference model: {} on '{}' (fingerprint {}), option --{} has fingerprint {}",
                                   made_from, p.reference_model, p.reference_fingerprint, e.reference_option,
                                   e.reference_fingerprint));
  if (!e.tokenizer_fingerprint.empty() && p.tokenizer_fingerprint != e.tokenizer_fingerprint)
    problems.push_back(fmt::format("tokenizer: the file's fingerprint is {}, the run's is {}", p.tokenizer_fingerprint,
                                   e.tokenizer_fingerprint));
  if (e.max_new_tokens && p.max_new_tokens != *e.max_new_tokens)
    problems.push_back(
        fmt::format("max_new_tokens: the file's responses are cut at {} tokens (anchor.max-new-tokens), "
                    "option --train.max-new-tokens is {}; log Z is defined over that response space",
                    p.max_new_tokens, *e.max_new_tokens));
  if (!e.task.empty() && p.task != e.task)
    problems.push_back(fmt::format("task: the file is for '{}', the run for '{}'", p.task, e.task));
}

}  // namespace disa::train::detail
