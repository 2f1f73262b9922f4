// DISA (docs/method.md §3): the squared residual of the reward-tilted target on frozen
// anchors, delta = c(x) + s (log pi_theta - log pi_ref) - beta r, weighted by the clamped
// ratio to the rollout policy, or (train.source = offline) by per-prompt self-normalised
// pi_theta / q weights on the partition file's own trajectories.
#include <cmath>

#include "disa/core/logsumexp.hpp"
#include "disa/core/option_table.hpp"
#include "disa/train/objective.hpp"

namespace disa::train {

namespace {

class DisaObjective final : public Objective {
 public:
  explicit DisaObjective(const Settings& s) : s_(s) { require_untempered_rollouts(s); }

  SampleKind samples() const override { return s_.offline ? SampleKind::StoredTrajectories : SampleKind::Rollouts; }
  bool accepts_offline() const override { return true; }
  // Offline weights are normalised per prompt: the prompt is the unit.
  LossNormaliser normaliser() const override {
    return s_.offline ? LossNormaliser::Prompts : LossNormaliser::Sequences;
  }
  void expect(AnchorExpectations& e) const override {
    e.beta = s_.beta;
    e.residual = s_.residual();
    e.max_new_tokens = s_.max_new_tokens;
  }
  bool needs_anchor() const override { return true; }

  void prepare(std::vector<Sample>& samples) const override {
    if (!s_.offline) return;
    // Per prompt (group): w_i = exp(l_i - logsumexp(l)), l = log pi_theta - log q at the step's start.
    size_t i = 0;
    while (i < samples.size()) {
      size_t j = i;
      std::vector<double> l;
      while (j < samples.size() && samples[j].group == samples[i].group) {
        l.push_back(sequence_sum(samples[j].old_logp) - samples[j].log_q);
        ++j;
      }
      const double lse = core::logsumexp(l);
      for (size_t k = i; k < j; ++k) samples[k].offline_weight = std::exp(l[k - i] - lse);
      i = j;
    }
  }

  torch::Tensor loss_sum(const MicroBatch& b, StepStats& stats) override {
    ResidualTerms t;
    t.seq_logp = b.seq_logp;
    t.seq_ref_logp = b.seq_ref;
    t.log_anchor = b.column(&Sample::anchor);
    t.scale = s_.length_normalized ? 1.0 / b.lengths : torch::ones_like(b.lengths);
    std::vector<float> target;
    for (auto* smp : b.samples) target.push_back(float(s_.beta * smp->reward));
    t.target = torch::tensor(target).to(b.device);
    torch::Tensor clamped;
    if (s_.offline) {
      t.weight = b.column(&Sample::offline_weight);
    } else {
      auto cr = clamped_ratio(b.seq_logp, b.seq_old, s_.w_max);
      t.weight = cr.weight;
      clamped = cr.clamped;
    }
    auto rl = residual_loss(t);
    record_residuals(rl, t.weight, clamped, b.samples.size(), stats);
    return rl.sum;
  }

  std::vector<std::string> statistics() const override { return residual_statistics(); }
  std::vector<Metric> metrics() const override {
    auto m = residual_metrics();
    m.push_back(mean_metric("anchor_mean", "anchor"));
    return m;
  }
  double beta() const override { return s_.beta; }
  std::string residual() const override { return s_.residual(); }

 private:
  const Settings& s_;
};

}  // namespace

void add_disa_options(core::OptionTable<Settings>& t) {
  using Words = std::vector<std::pair<std::string, bool>>;
  t.real("disa.beta", DISA_FIELD(beta), "inverse temperature beta; must equal the partition file's", core::above(0.0));
  t.choice("disa.residual", DISA_FIELD(length_normalized), Words{{"sequence", false}, {"length-normalized", true}},
           "sequence (s = 1, logmeanexp anchor) or length-normalized (s = 1/|y|, root-found anchor)");
  t.choice("disa.anchor", DISA_FIELD(anchor_source),
           std::vector<std::pair<std::string, AnchorSource>>{{"raw", AnchorSource::Raw},
                                                             {"estimate", AnchorSource::Raw},
                                                             {"exact", AnchorSource::Exact},
                                                             {"regressor", AnchorSource::Regressor},
                                                             {"shrinkage", AnchorSource::Shrinkage}},
           "raw (alias estimate: log Zhat of the partition file), exact (the file's exact log Z, listable tasks "
           "only: for sensitivity studies), regressor (g(x) of --disa.regressor for every prompt) or shrinkage "
           "((log Zhat / s^2 + g / tau^2) / (1 / s^2 + 1 / tau^2); g(x) for prompts without an anchor)");
  t.text("disa.regressor", DISA_FIELD(regressor_path),
         "regressor file of 'disa anchor fit' (g(x)); with it, prompts without an anchor get g(x)");
  t.real("disa.w-max", DISA_FIELD(w_max), "clamp of the importance weight pi_theta/pi_old (<= 0: none)");
  t.check(
      "disa.anchor", [](const Settings& s) { return s.anchor_source == AnchorSource::Raw || !s.length_normalized; },
      "exact, regressor and shrinkage are anchors of disa.residual = sequence only (the logmeanexp anchor)");
  t.check(
      "disa.anchor",
      [](const Settings& s) {
        return !s.regressor_path.empty() ||
               (s.anchor_source != AnchorSource::Regressor && s.anchor_source != AnchorSource::Shrinkage);
      },
      "regressor and shrinkage need --disa.regressor (the regressor file of 'disa anchor fit')");
}

std::unique_ptr<Objective> make_disa_objective(const ObjectiveContext& c) {
  return std::make_unique<DisaObjective>(c.settings);
}

}  // namespace disa::train
