// The proposal q of the importance sampler (docs/method.md §2): the reference itself
// (any temperature, top-k, top-p), another model directory (a "stronger" proposal), or
// the defensive mixture alpha * q_strong + (1 - alpha) * pi_ref, whose log density is
// evaluated exactly by scoring each response under both components.
#pragma once

#include <string>

#include "disa/core/option_table.hpp"
#include "disa/model/sampling.hpp"

namespace disa::anchor {

struct ProposalSpec {
  enum class Kind { Reference, Model, Mixture };
  Kind kind = Kind::Reference;
  std::string model_dir;           // Model and Mixture: the strong proposal's directory
  double alpha = 0.5;              // Mixture: probability of the strong component
  model::SamplingParams sampling;  // of the reference (Reference) or the strong model

  bool truncates() const { return sampling.truncates(); }
  // q = pi_ref exactly (reference at temperature 1, no truncation): log q = log pi_ref.
  bool is_reference_itself() const {
    return kind == Kind::Reference && sampling.temperature == 1.0 && !sampling.truncates();
  }
  const char* kind_name() const;
  // "reference(T=0.7, top_k=0, top_p=1)", "mixture(alpha=0.3, q_strong=DIR, T=1, ...)".
  std::string describe() const;
};

// The proposal.* options, declared once (read and validated into a ProposalSpec).
const core::OptionTable<ProposalSpec>& proposal_option_table();

}  // namespace disa::anchor
