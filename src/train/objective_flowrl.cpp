// FlowRL (docs/method.md §3), as in its reference recipe: the length-normalised residual
// with a learned log Z_phi(x) (an MLP over the policy's mean prompt hidden state, trained
// with the policy) and the group-normalised reward as target, weighted by the clamped
// ratio to the rollout policy.
#include <cmath>

#include "disa/core/error.hpp"
#include "disa/core/option_table.hpp"
#include "disa/train/log_z_head.hpp"
#include "disa/train/objective.hpp"

namespace disa::train {

namespace {

constexpr const char* kHeadFile = "/log_z_head.pt";

class FlowRlObjective final : public Objective {
 public:
  // FlowRL's log Z_phi normalises its own target (beta on the group-normalised reward,
  // s = 1/|y|): it is not on the scale of a partition file's anchor, so no difference to
  // one is reported.
  FlowRlObjective(const Settings& s, int64_t hidden, torch::Device device) : s_(s) {
    require_untempered_rollouts(s);
    torch::manual_seed(int64_t(s_.seed));
    head_ = LogZHead(hidden, s_.flowrl_head_blocks);
    head_->to(device);
  }

  LossNormaliser normaliser() const override { return LossNormaliser::Sequences; }
  bool needs_prompt_hidden_mean() const override { return true; }
  void prepare(std::vector<Sample>& samples) const override { group_advantages(samples, s_.group_size); }

  torch::Tensor loss_sum(const MicroBatch& b, StepStats& stats) override {
    ResidualTerms t;
    t.seq_logp = b.seq_logp;
    t.seq_ref_logp = b.seq_ref;
    t.log_anchor = head_->forward(b.prompt_hidden_mean);
    t.scale = 1.0 / b.lengths;
    t.target = s_.flowrl_beta * b.column(&Sample::advantage);
    auto cr = clamped_ratio(b.seq_logp, b.seq_old, s_.flowrl_w_max);
    t.weight = cr.weight;
    auto rl = residual_loss(t);
    record_residuals(rl, t.weight, cr.clamped, b.samples.size(), stats);
    auto lz = t.log_anchor.detach().to(torch::kCPU, torch::kDouble);
    stats.add("log_z_learned", lz.sum().item<double>(), double(b.samples.size()));
    return rl.sum;
  }

  std::vector<std::string> statistics() const override {
    auto n = residual_statistics();
    n.push_back("log_z_learned");
    return n;
  }
  std::vector<Metric> metrics() const override {
    auto m = residual_metrics();
    m.push_back(mean_metric("log_z_learned", "log_z_learned", "logZ {:.3f}"));
    return m;
  }
  double beta() const override { return s_.flowrl_beta; }
  std::string residual() const override { return io::partition::kLengthNormalizedAnchor; }

  std::vector<torch::Tensor> parameters() override { return head_->parameters(); }
  void save(const std::string& dir) const override { torch::save(head_, dir + kHeadFile); }
  void load(const std::string& dir) override { torch::load(head_, dir + kHeadFile); }

 private:
  const Settings& s_;
  LogZHead head_{nullptr};
};

}  // namespace

void add_flowrl_options(core::OptionTable<Settings>& t) {
  t.real("flowrl.beta", DISA_FIELD(flowrl_beta), "FlowRL's beta on the group-normalised reward");
  t.real("flowrl.w-max", DISA_FIELD(flowrl_w_max), "FlowRL's clamp of pi_theta/pi_old");
  t.integer("flowrl.head-blocks", DISA_FIELD(flowrl_head_blocks), "Linear-GELU-LayerNorm blocks of the log Z head",
            core::at_least<int64_t>(0));
}

std::unique_ptr<Objective> make_flowrl_objective(const ObjectiveContext& c) {
  return std::make_unique<FlowRlObjective>(c.settings, c.hidden_size, c.device);
}

}  // namespace disa::train
