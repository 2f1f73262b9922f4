// Proposal options and their validation.
#include "disa/anchor/proposal.hpp"

#include <fmt/format.h>

#include "disa/core/config.hpp"

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
  std::string sampler = fmt::format("T={}, top_k={}, top_p={}", sampling.temperature, sampling.top_k,
                                    sampling.top_p);
  switch (kind) {
    case Kind::Reference: return fmt::format("reference({})", sampler);
    case Kind::Model: return fmt::format("model({}, {})", model_dir, sampler);
    case Kind::Mixture:
      return fmt::format("mixture(alpha={}, q_strong=model({}, {}), 1-alpha: reference(T=1))", alpha,
                         model_dir, sampler);
  }
  return "?";
}

void add_proposal_options(Options& o) {
  o.add_string("proposal.kind", "reference",
               "proposal q: reference (the reference model itself), model (another model "
               "directory, --proposal.model), mixture (alpha * q_strong + (1 - alpha) * pi_ref)");
  o.add_string("proposal.model", "", "model directory of the strong proposal (kind model or mixture)");
  o.add_double("proposal.alpha", 0.5, "mixture weight of the strong proposal, in (0, 1)");
  o.add_double("proposal.temperature", 1.0,
               "sampling temperature of the proposal (of the strong component for a mixture)");
  o.add_int("proposal.top-k", 0, "top-k truncation of the proposal (0: off; truncation biases log Z low)");
  o.add_double("proposal.top-p", 1.0, "top-p truncation of the proposal (1: off; truncation biases log Z low)");
}

ProposalSpec proposal_from_config(const Config& c) {
  ProposalSpec p;
  const std::string kind = c.get_string("proposal.kind");
  if (kind == "reference")
    p.kind = ProposalSpec::Kind::Reference;
  else if (kind == "model")
    p.kind = ProposalSpec::Kind::Model;
  else if (kind == "mixture")
    p.kind = ProposalSpec::Kind::Mixture;
  else
    c.require(false, "proposal.kind", "must be reference, model or mixture");
  p.model_dir = c.get_string("proposal.model");
  p.alpha = c.get_double("proposal.alpha");
  p.sampling.temperature = c.get_double("proposal.temperature");
  p.sampling.top_k = c.get_int("proposal.top-k");
  p.sampling.top_p = c.get_double("proposal.top-p");
  if (p.kind != ProposalSpec::Kind::Reference)
    c.require(!p.model_dir.empty(), "proposal.model", "is required for proposal.kind=" + kind);
  if (p.kind == ProposalSpec::Kind::Mixture)
    c.require(p.alpha > 0 && p.alpha < 1, "proposal.alpha", "must lie in (0, 1)");
  c.require(p.sampling.temperature > 0, "proposal.temperature",
            "must be > 0 (greedy decoding has no density to importance-sample with)");
  c.require(p.sampling.top_k >= 0, "proposal.top-k", "must be >= 0");
  c.require(p.sampling.top_p > 0 && p.sampling.top_p <= 1, "proposal.top-p", "must lie in (0, 1]");
  return p;
}

}  // namespace disa::anchor
