// GRPO (docs/method.md §3): the clipped token-level policy gradient with group-normalised
// advantages, an optional KL penalty to pi_ref (k1, k2 or k3) and verl's loss
// aggregation modes.
#include "disa/core/option_table.hpp"
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
                              s_.grpo_eps_high, s_.grpo_dual_clip);
    torch::Tensor loss = aggregate(pg.per_token, b.mask, s_.aggregation).sum;
    const double tokens = b.mask.sum().item<double>();
    stats.add("clip_low", pg.clipped_low.sum().item<double>(), tokens);
    stats.add("clip_high", pg.clipped_high.sum().item<double>(), tokens);
    stats.add("clip_dual", pg.clipped_dual.sum().item<double>(), tokens);
    if (kl_penalised()) {
      auto kl = aggregate(kl_penalty(b.logp, b.ref_logp, b.mask, s_.kl_kind), b.mask, s_.aggregation);
      loss = loss + s_.kl_coef * kl.sum;
      stats.add("kl_penalty", kl.sum.item<double>() / b.global_units, 0);
    }
    return loss;
  }

  std::vector<std::string> statistics() const override { return {"clip_low", "clip_high", "clip_dual", "kl_penalty"}; }
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

void add_grpo_options(core::OptionTable<Settings>& t) {
  t.real("grpo.eps-low", DISA_FIELD(grpo_eps_low), "GRPO lower clip eps_low");
  t.real("grpo.eps-high", DISA_FIELD(grpo_eps_high), "GRPO upper clip eps_high");
  t.real("grpo.dual-clip", DISA_FIELD(grpo_dual_clip),
         "dual clip c: on a negative advantage the token term is at most -A c (0: off; verl's clip_ratio_c is 3)",
         dual_clip_rule());
  std::vector<std::pair<std::string, Aggregation>> aggregations;
  for (Aggregation a : {Aggregation::TokenMean, Aggregation::SequenceMeanTokenMean, Aggregation::SequenceMeanTokenSum})
    aggregations.emplace_back(aggregation_name(a), a);
  t.choice("grpo.aggregation", DISA_FIELD(aggregation), aggregations,
           "token-mean, seq-mean-token-mean or seq-mean-token-sum");
  t.text("grpo.kl", DISA_FIELD(kl_kind), "KL penalty to the reference: none, k1, k2 or k3",
         {[](const std::string& v) { return v == "none" || v == "k1" || v == "k2" || v == "k3"; },
          "must be none, k1, k2 or k3"});
  t.real("grpo.kl-coef", DISA_FIELD(kl_coef), "coefficient of the KL penalty");
}

std::unique_ptr<Objective> make_grpo_objective(const ObjectiveContext& c) {
  return std::make_unique<GrpoObjective>(c.settings);
}

}  // namespace disa::train
