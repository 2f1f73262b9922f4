// GRPO (docs/method.md §3): the clipped token-level policy gradient with group-normalised
// advantages, an optional KL penalty to pi_ref (k1, k2 or k3) and verl's loss
// aggregation modes.
#include "disa/train/objective.hpp"

namespace disa::train {

namespace {

class GrpoObjective final : public Objective {
 public:
  explicit GrpoObjective(const Settings& s) : s_(s) {}

  LossNormaliser normaliser() const override {
    return s_.aggregation == Aggregation::TokenMean ? LossNormaliser::Tokens : LossNormaliser::Sequences;
  }
  void prepare(std::vector<Sample>& samples) const override { group_advantages(samples, s_.group_size); }

  torch::Tensor loss_sum(const MicroBatch& b, StepStats& stats) override {
    auto pg = grpo_token_loss(b.logp, b.old_logp, b.mask, b.column(&Sample::advantage), s_.grpo_eps_low,
                              s_.grpo_eps_high);
    torch::Tensor loss = aggregate(pg.per_token, b.mask, s_.aggregation).sum;
    const double tokens = b.mask.sum().item<double>();
    stats.add("clip_low", pg.clipped_low.sum().item<double>(), tokens);
    stats.add("clip_high", pg.clipped_high.sum().item<double>(), tokens);
    if (kl_penalised()) {
      auto kl = aggregate(kl_penalty(b.logp, b.ref_logp, b.mask, s_.kl_kind), b.mask, s_.aggregation);
      loss = loss + s_.kl_coef * kl.sum;
      stats.add("kl_penalty", kl.sum.item<double>() / b.global_units, 0);
    }
    return loss;
  }

  std::vector<std::string> statistics() const override { return {"clip_low", "clip_high", "kl_penalty"}; }
  std::vector<Metric> metrics() const override {
    auto m = clip_metrics();
    if (kl_penalised()) m.push_back(per_update_metric("kl_penalty", "kl_penalty"));
    return m;
  }

 private:
  bool kl_penalised() const { return s_.kl_kind != "none"; }
  const Settings& s_;
};

}  // namespace

std::unique_ptr<Objective> make_grpo_objective(const ObjectiveContext& c) {
  return std::make_unique<GrpoObjective>(c.settings);
}

}  // namespace disa::train
