// The statistics train and eval report (docs/method.md §4) as small pure functions: the
// unbiased Pass@k estimator in its stable product form, the Pass@k levels reported for
// a given k, means and standard errors over prompts (skipping undefined values), the
// macro average over benchmarks, and the exact distribution metrics of one prompt
// computed from the log-probabilities of every correct response under the policy and
// the reference (policy mass on the correct set, KL and total variation between the
// normalised restrictions, coverage). docs/eval.md defines every figure.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace disa::stage {

// Unbiased Pass@k from n samples of which c are correct: 1 - C(n-c, k) / C(n, k),
// computed as 1 - prod_{i=n-c+1}^{n} (1 - k/i) (no binomial coefficients, stable for
// any n). Requires 0 <= c <= n and 1 <= k <= n (DataError otherwise).
double pass_at_k(int64_t n, int64_t c, int64_t k);

// The k' reported for k samples: every power of two below k, and k itself
// (k = 8: 1 2 4 8; k = 6: 1 2 4 6).
std::vector<int64_t> pass_at_levels(int64_t k);

// One sample of a prompt as the per-prompt statistics see it.
struct SampleOutcome {
  bool correct = false;  // the task's verdict is "correct" (reward 1)
  double reward = 0.0;
  std::string key;         // the task's canonical key ("" when no parsable answer)
  int64_t length = 0;      // response tokens
  bool truncated = false;  // stopped by the generation limit
};

// The sample statistics of one prompt with n = samples.size() >= 1:
//   n_correct c, mean_at_k = c / n, mean_reward, pass_at[i] = pass_at_k(n, c, levels[i]),
//   distinct_correct = distinct keys among the correct samples,
//   distinct_answers = distinct non-empty keys among all samples,
//   mean_length, mean_correct_length (NaN when c = 0), truncated_fraction.
struct PromptSampleStats {
  int64_t n = 0, n_correct = 0;
  double mean_at_k = 0.0, mean_reward = 0.0;
  std::vector<double> pass_at;
  int64_t distinct_correct = 0, distinct_answers = 0;
  double mean_length = 0.0, mean_correct_length = 0.0, truncated_fraction = 0.0;
};
PromptSampleStats prompt_sample_stats(const std::vector<SampleOutcome>& samples, const std::vector<int64_t>& levels);

// Mean and standard error of the mean over the finite entries of `values` (NaN marks
// "not defined for this prompt"): se = sample standard deviation / sqrt(count), NaN
// when count < 2; mean NaN when count == 0.
struct MeanSe {
  double mean = 0.0;
  double se = 0.0;
  int64_t count = 0;
};
MeanSe mean_se(const std::vector<double>& values);

// Macro average of per-benchmark means: the mean over the benchmarks whose mean is
// finite; its standard error sqrt(sum se_b^2) / B (benchmarks are independent samples;
// NaN if any of them has an undefined se). count = number of benchmarks averaged.
MeanSe macro_average(const std::vector<MeanSe>& per_benchmark);

// Exact distribution metrics of one prompt over its correct set C (every listed
// correct response that fits the generation limit). With
//   pi_theta|C(y) = pi_theta(y) / pi_theta(C),   p*|C(y) = pi_ref(y) / pi_ref(C)
// (p* is proportional to pi_ref on C because r = 1 there):
//   policy_mass    = pi_theta(C)
//   reference_mass = pi_ref(C)
//   kl             = KL(p*|C || pi_theta|C) = sum_C p*|C log(p*|C / pi_theta|C)
//   tv             = 1/2 sum_C |p*|C - pi_theta|C|
//   coverage       = |{y in C : pi_theta|C(y) >= threshold / |C|}| / |C|
struct ExactMetrics {
  int64_t size = 0;             // |C|
  double policy_mass = 0.0;     // 0 when C is empty
  double reference_mass = 0.0;  // NaN without reference log-probabilities
  double kl = 0.0;              // NaN without reference, or when C is empty
  double tv = 0.0;              // NaN likewise
  double coverage = 0.0;        // NaN when C is empty or the policy mass is 0
};

// `log_policy[i]` = log pi_theta(y_i | x) for every y_i in C; `log_reference` the same
// under pi_ref, or empty when no reference is given (then reference_mass, kl and tv are
// NaN). `coverage_threshold` > 0. -inf entries are allowed. DataError when the sizes
// differ or an entry is NaN or +inf.
ExactMetrics exact_metrics(const std::vector<double>& log_policy, const std::vector<double>& log_reference,
                           double coverage_threshold);
// The mass p*(C) of the reward-tilted target p* ∝ pi_ref exp(beta r) on the correct set,
// for a reward of 1 on C and 0 off it (the listable tasks'): e^beta P_ref(C) / (1 + (e^beta
// - 1) P_ref(C)), computed stably for large beta.
double target_mass(double beta, double reference_mass);
// The exact part of KL(p* || pi) that a listable task allows, by the chain rule over the
// partition {C, not C}: the binary KL between p*(C) and pi(C), plus p*(C) times
// KL(p*|C || pi|C) (kl_on_correct); the KL within the incorrect responses is unknown (>= 0),
// so this is a lower bound of KL(p* || pi). +inf when pi(C) = 0 < p*(C); NaN when an input is.
double kl_lower_bound(double target_mass, double policy_mass, double kl_on_correct);

// The coverage threshold of eval (eval.coverage-threshold's default) and of the exact
// metrics train records: a correct response counts as covered when the policy gives it
// at least a tenth of the uniform share 1/|C|.
inline constexpr double kDefaultCoverageThreshold = 0.1;

}  // namespace disa::stage
