// A column of train.h5, declared once: its name, how the step's value is computed from
// the step statistics, and how (if at all) it appears in the progress line. The trainer
// makes the file's columns, each step's row and the log line from the same list: the
// rollout metrics below, then the objective's own (objective.hpp), then the run's.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "disa/train/sample.hpp"
#include "disa/train/step_stats.hpp"

namespace disa::train {

// What a step's metric values are computed from (after the all-reduce).
struct StepRecord {
  const StepStats& stats;
  int64_t updates = 0;  // optimiser updates in the step
  double lr = 0;
  double seconds = 0;  // the step's wall time (slowest rank)
  // Phase times of the slowest rank: generate, score, backward, communicate.
  double time_generate = 0, time_score = 0, time_backward = 0, time_communicate = 0;
  // Exact distribution metrics, present on the steps that measure them.
  const std::map<std::string, double>& exact;
};

struct Metric {
  std::string column;
  std::function<double(const StepRecord&)> value;
  // fmt pattern of the value in the progress line ("loss {:.4f}"); empty: not logged.
  std::string log;
  // Measured on some steps only: NaN elsewhere, and left out of those steps' lines.
  bool sparse = false;
};

// A column that is the mean (count-weighted) of one statistic.
Metric mean_metric(const std::string& column, const std::string& stat, const std::string& log = "");
// A column that is the maximum of one statistic.
Metric max_metric(const std::string& column, const std::string& stat, const std::string& log = "");
// A column that is a statistic's sum per optimiser update (loss, penalties).
Metric per_update_metric(const std::string& column, const std::string& stat, const std::string& log = "");

// The statistics every step records (rollouts, timing, the optimiser).
const std::vector<std::string>& common_statistics();
// Records the rollout statistics of a step's samples (rewards, lengths, log-prob sums,
// groups whose rewards are all equal).
void record_rollout_statistics(const std::vector<Sample>& samples, StepStats& stats);
// Rollout columns of every algorithm: loss, reward, accuracy, lengths, entropy, KL to pi_ref.
std::vector<Metric> rollout_metrics();
// Run columns of every algorithm: gradient norm, learning rate, throughput, phase times.
std::vector<Metric> run_metrics();
// The exact distribution metrics (train.exact-every > 0).
std::vector<Metric> exact_metric_columns();

// Column names of a metric list, in order.
std::vector<std::string> metric_columns(const std::vector<Metric>& metrics);
// The row of one step, and its progress line ("step  10/60 | loss 0.1234 | ...").
std::map<std::string, double> metric_row(const std::vector<Metric>& metrics, const StepRecord& record);
std::string progress_line(const std::vector<Metric>& metrics, const std::map<std::string, double>& row, int64_t step,
                          int64_t steps);

}  // namespace disa::train
