// LoRA-SFT (docs/method.md §3): token-mean negative log-likelihood of the partition
// file's correct trajectories (reward >= sft.min-reward), LoRA by default.
#include "disa/core/error.hpp"
#include "disa/core/option_table.hpp"
#include "disa/train/objective.hpp"

namespace disa::train {

namespace {

class SftObjective final : public Objective {
 public:
  explicit SftObjective(const Settings& s) {
    DISA_CHECK(s.mini_batches <= s.sft_batch, ConfigError,
               "option --train.mini-batches: must not exceed sft.batch-size ({}) for sft (got {})", s.sft_batch,
               s.mini_batches);
  }
  SampleKind samples() const override { return SampleKind::CorrectTrajectories; }
  bool lora_by_default() const override { return true; }
  LossNormaliser normaliser() const override { return LossNormaliser::Tokens; }
  torch::Tensor loss_sum(const MicroBatch& b, StepStats&) override { return -(b.logp * b.mask).sum(); }
};

}  // namespace

void add_sft_options(core::OptionTable<Settings>& t) {
  t.integer("sft.batch-size", DISA_FIELD(sft_batch), "sft: trajectories per step over all ranks",
            core::at_least<int64_t>(1));
  t.real("sft.min-reward", DISA_FIELD(sft_min_reward), "sft: trajectories with reward >= this are trained on");
}

std::unique_ptr<Objective> make_sft_objective(const ObjectiveContext& c) {
  return std::make_unique<SftObjective>(c.settings);
}

}  // namespace disa::train
