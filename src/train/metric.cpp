// Metric declarations of train.h5 (include/disa/train/metric.hpp).
#include "disa/train/metric.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace disa::train {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

Metric mean_metric(const std::string& column, const std::string& stat, const std::string& log) {
  return {column, [stat](const StepRecord& r) { return r.stats.mean(stat); }, log, false};
}

Metric max_metric(const std::string& column, const std::string& stat, const std::string& log) {
  return {column, [stat](const StepRecord& r) { return r.stats.maximum(stat); }, log, false};
}

Metric per_update_metric(const std::string& column, const std::string& stat, const std::string& log) {
  return {column, [stat](const StepRecord& r) { return r.stats.sum(stat) / double(std::max<int64_t>(1, r.updates)); },
          log, false};
}

const std::vector<std::string>& common_statistics() {
  static const std::vector<std::string> names{"loss",
                                              "reward",
                                              "reward_sq",
                                              "accuracy",
                                              "zero_variance_groups",
                                              "response_length",
                                              "truncated",
                                              "entropy",
                                              "kl_ref",
                                              "anchor",
                                              "grad_norm",
                                              "skipped_updates",
                                              "tokens",
                                              "time_generate",
                                              "time_score",
                                              "time_backward",
                                              "time_communicate"};
  return names;
}

void record_rollout_statistics(const std::vector<Sample>& samples, StepStats& stats) {
  for (const auto& smp : samples) {
    stats.add("reward", smp.reward);
    stats.add("reward_sq", smp.reward * smp.reward);
    stats.add("accuracy", smp.correct ? 1.0 : 0.0);
    stats.add("response_length", double(smp.tokens.size()));
    stats.max("response_length", double(smp.tokens.size()));
    stats.add("truncated", smp.truncated ? 1.0 : 0.0);
    const double old_sum = sequence_sum(smp.old_logp), ref_sum = sequence_sum(smp.ref_logp);
    stats.add("entropy", -old_sum, double(smp.tokens.size()));
    stats.add("kl_ref", old_sum - ref_sum);
    if (std::isfinite(smp.anchor)) stats.add("anchor", smp.anchor);
  }
  // Groups whose rewards are all equal (no learning signal for group-normalised methods).
  size_t i = 0;
  while (i < samples.size()) {
    size_t j = i;
    bool same = true;
    while (j < samples.size() && samples[j].group == samples[i].group) {
      same = same && samples[j].reward == samples[i].reward;
      ++j;
    }
    stats.add("zero_variance_groups", same ? 1.0 : 0.0);
    i = j;
  }
}

std::vector<Metric> rollout_metrics() {
  return {per_update_metric("loss", "loss", "loss {:.4f}"),
          mean_metric("reward_mean", "reward", "reward {:.3f}"),
          {"reward_std",
           [](const StepRecord& r) {
             const double m = r.stats.mean("reward");
             return std::sqrt(std::max(0.0, r.stats.mean("reward_sq") - m * m));
           },
           "", false},
          mean_metric("accuracy", "accuracy", "acc {:.3f}"),
          mean_metric("zero_variance_groups", "zero_variance_groups"),
          mean_metric("response_length_mean", "response_length", "len {:.1f}"),
          max_metric("response_length_max", "response_length"),
          mean_metric("truncation_rate", "truncated"),
          mean_metric("entropy", "entropy"),
          mean_metric("kl_ref", "kl_ref", "kl_ref {:.3f}")};
}

std::vector<Metric> run_metrics() {
  return {mean_metric("grad_norm", "grad_norm", "gnorm {:.3f}"),
          {"skipped_updates", [](const StepRecord& r) { return r.stats.sum("skipped_updates"); }, "", false},
          {"lr", [](const StepRecord& r) { return r.lr; }, "lr {:.2e}", false},
          {"tokens_per_second", [](const StepRecord& r) { return r.stats.sum("tokens") / std::max(r.seconds, 1e-9); },
           "{:.0f} tok/s", false},
          {"time_generate", [](const StepRecord& r) { return r.time_generate; }, "gen {:.2f}s", false},
          {"time_score", [](const StepRecord& r) { return r.time_score; }, "score {:.2f}s", false},
          {"time_backward", [](const StepRecord& r) { return r.time_backward; }, "bwd {:.2f}s", false},
          {"time_communicate", [](const StepRecord& r) { return r.time_communicate; }, "comm {:.2f}s", false},
          {"time_step", [](const StepRecord& r) { return r.seconds; }, "", false}};
}

std::vector<Metric> exact_metric_columns() {
  auto exact = [](const std::string& name) {
    return [name](const StepRecord& r) {
      auto it = r.exact.find(name);
      return it == r.exact.end() ? kNaN : it->second;
    };
  };
  return {{"exact_kl", exact("exact_kl"), "exact KL {:.4f}", true},
          {"exact_tv", exact("exact_tv"), "", true},
          {"exact_policy_mass", exact("exact_policy_mass"), "", true},
          {"exact_target_mass", exact("exact_target_mass"), "", true},
          {"exact_kl_lower_bound", exact("exact_kl_lower_bound"), "KL bound {:.4f}", true}};
}

std::vector<std::string> metric_columns(const std::vector<Metric>& metrics) {
  std::vector<std::string> out;
  for (const auto& m : metrics) out.push_back(m.column);
  return out;
}

std::map<std::string, double> metric_row(const std::vector<Metric>& metrics, const StepRecord& record) {
  std::map<std::string, double> row;
  for (const auto& m : metrics) {
    const double v = m.value(record);
    if (!(m.sparse && std::isnan(v))) row[m.column] = v;
  }
  return row;
}

std::string progress_line(const std::vector<Metric>& metrics, const std::map<std::string, double>& row, int64_t step,
                          int64_t steps) {
  std::string line = fmt::format("step {:>4}/{}", step, steps);
  for (const auto& m : metrics) {
    auto it = row.find(m.column);
    if (m.log.empty() || it == row.end()) continue;
    line += " | " + fmt::format(fmt::runtime(m.log), it->second);
  }
  return line;
}

}  // namespace disa::train
