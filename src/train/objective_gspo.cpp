// GSPO (docs/method.md §3): the clipped policy gradient on the length-normalised
// sequence ratio with group-normalised advantages.
#include "disa/core/option_table.hpp"
#include "disa/train/objective.hpp"

namespace disa::train {

namespace {

class GspoObjective final : public Objective {
 public:
  explicit GspoObjective(const Settings& s) : s_(s) {}

  LossNormaliser normaliser() const override { return LossNormaliser::Sequences; }
  void prepare(std::vector<Sample>& samples) const override { group_advantages(samples, s_.group_size); }

  torch::Tensor loss_sum(const MicroBatch& b, StepStats& stats) override {
    auto pg = gspo_sequence_loss(b.logp, b.old_logp, b.mask, b.column(&Sample::advantage), s_.gspo_eps_low,
                                 s_.gspo_eps_high, s_.gspo_dual_clip);
    stats.add("clip_low", pg.clipped_low.sum().item<double>(), double(b.samples.size()));
    stats.add("clip_high", pg.clipped_high.sum().item<double>(), double(b.samples.size()));
    stats.add("clip_dual", pg.clipped_dual.sum().item<double>(), double(b.samples.size()));
    return pg.per_token.sum();
  }

  std::vector<std::string> statistics() const override { return {"clip_low", "clip_high", "clip_dual"}; }
  std::vector<Metric> metrics() const override { return clip_metrics(); }

 private:
  const Settings& s_;
};

}  // namespace

void add_gspo_options(core::OptionTable<Settings>& t) {
  t.real("gspo.eps-low", DISA_FIELD(gspo_eps_low), "GSPO lower clip of the sequence ratio");
  t.real("gspo.eps-high", DISA_FIELD(gspo_eps_high), "GSPO upper clip of the sequence ratio");
  t.real("gspo.dual-clip", DISA_FIELD(gspo_dual_clip),
         "dual clip c of the sequence ratio on a negative advantage (0: off)", dual_clip_rule());
}

std::unique_ptr<Objective> make_gspo_objective(const ObjectiveContext& c) {
  return std::make_unique<GspoObjective>(c.settings);
}

}  // namespace disa::train
