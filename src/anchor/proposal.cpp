// Proposal options and their validation.
#include "disa/anchor/proposal.hpp"

#include <fmt/format.h>

#include "disa/core/option_table.hpp"

namespace disa::anchor {

const char* ProposalSpec::kind_name() const {
  switch (kind) {
    case Kind::Reference: return "reference";
    case Kind::Model: return "model";
    case Kind::Mixture: return "mixture";
  }
  return "?";
}

std::string ProposalSpec::describe() const {
  std::string sampler = fmt::format("T={}, top_k={}, top_p={}", sampling.temperature, sampling.top_k, sampling.top_p);
  switch (kind) {
    case Kind::Reference: return fmt::format("reference({})", sampler);
    case Kind::Model: return fmt::format("model({}, {})", model_dir, sampler);
    case Kind::Mixture:
      return fmt::format("mixture(alpha={}, q_strong=model({}, {}), 1-alpha: reference(T=1))", alpha, model_dir,
                         sampler);
  }
  return "?";
}

const core::OptionTable<ProposalSpec>& proposal_option_table() {
  using Kind = ProposalSpec::Kind;
  static const core::OptionTable<ProposalSpec> table = [] {
    core::OptionTable<ProposalSpec> t;
    t.choice("proposal.kind", DISA_FIELD(kind),
             std::vector<std::pair<std::string, Kind>>{{"reference", Kind::Reference},
                                                       {"model", Kind::Model},
                                                       {"mixture", Kind::Mixture}},
             "proposal q: reference (the reference model itself), model (another model directory, "
             "--proposal.model), mixture (alpha * q_strong + (1 - alpha) * pi_ref)");
    t.text("proposal.model", DISA_FIELD(model_dir), "model directory of the strong proposal (kind model or mixture)");
    t.real("proposal.alpha", DISA_FIELD(alpha), "mixture weight of the strong proposal, in (0, 1)");
    t.real("proposal.temperature", DISA_FIELD(sampling.temperature),
           "sampling temperature of the proposal (of the strong component for a mixture)",
           core::above(0.0, "greedy decoding has no density to importance-sample with"));
    t.integer("proposal.top-k", DISA_FIELD(sampling.top_k),
              "top-k truncation of the proposal (0: off; truncation biases log Z low)", core::at_least<int64_t>(0));
    t.real("proposal.top-p", DISA_FIELD(sampling.top_p),
           "top-p truncation of the proposal (1: off; truncation biases log Z low)", core::above_up_to(0, 1));
    t.check(
        "proposal.model", [](const ProposalSpec& p) { return p.kind == Kind::Reference || !p.model_dir.empty(); },
        "is required for proposal.kind = model or mixture");
    t.check(
        "proposal.alpha", [](const ProposalSpec& p) { return p.kind != Kind::Mixture || (p.alpha > 0 && p.alpha < 1); },
        "must lie in (0, 1)");
    return t;
  }();
  return table;
}

}  // namespace disa::anchor
