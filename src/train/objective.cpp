// Pieces shared by the objectives (include/disa/train/objective.hpp).
#include "disa/train/objective.hpp"

#include "disa/core/error.hpp"

namespace disa::train {

torch::Tensor MicroBatch::column(double Sample::*field) const {
  std::vector<float> v;
  for (auto* s : samples) v.push_back(float(s->*field));
  return torch::tensor(v).to(device);
}

std::vector<std::string> residual_statistics() { return {"residual", "residual_sq", "weight", "weight_clamped"}; }

std::vector<Metric> residual_metrics() {
  return {mean_metric("residual_mean", "residual", "resid {:+.3f}"), mean_metric("residual_sq_mean", "residual_sq"),
          mean_metric("weight_mean", "weight", "w {:.2f}"), max_metric("weight_max", "weight"),
          mean_metric("weight_clamp_fraction", "weight_clamped")};
}

void record_residuals(const ResidualLoss& loss, const torch::Tensor& weight, const torch::Tensor& clamped,
                      size_t batch_size, StepStats& stats) {
  auto res = loss.residual.to(torch::kCPU, torch::kDouble);
  stats.add("residual", res.sum().item<double>(), double(batch_size));
  stats.add("residual_sq", res.pow(2).sum().item<double>(), double(batch_size));
  auto w = weight.to(torch::kCPU, torch::kDouble);
  stats.add("weight", w.sum().item<double>(), double(batch_size));
  stats.max("weight", w.max().item<double>());
  if (clamped.defined())
    stats.add("weight_clamped", clamped.to(torch::kCPU, torch::kDouble).sum().item<double>(), double(batch_size));
}

std::vector<Metric> clip_metrics() {
  return {{"clip_fraction", [](const StepRecord& r) { return r.stats.mean("clip_low") + r.stats.mean("clip_high"); },
           "clip {:.3f}", false},
          mean_metric("clip_fraction_low", "clip_low"),
          mean_metric("clip_fraction_high", "clip_high"),
          mean_metric("clip_fraction_dual", "clip_dual")};
}

core::Rule<double> dual_clip_rule() {
  return {[](double c) { return c == 0 || c > 1; }, "must be 0 (off) or above 1"};
}

void require_untempered_rollouts(const Settings& s) {
  DISA_CHECK(s.temperature == 1.0, ConfigError,
             "option --train.temperature: {} trains on rollouts from pi_theta at temperature 1 (its residual and "
             "importance weights use the untempered log pi_theta, the density the samples must come from); "
             "got {}, and scoring at the rollout temperature is not implemented",
             s.algorithm_name, s.temperature);
}

void group_advantages(std::vector<Sample>& samples, int64_t group_size) {
  std::vector<float> r;
  for (auto& smp : samples) r.push_back(float(smp.reward));
  if (r.empty()) return;
  torch::Tensor a = group_normalized(torch::tensor(r, torch::kFloat64), group_size);
  for (size_t i = 0; i < samples.size(); ++i) samples[i].advantage = a[int64_t(i)].item<double>();
}

}  // namespace disa::train
