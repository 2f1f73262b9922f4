// The evaluation statistics (include/disa/stage/statistics.hpp): Pass@k, means and
// standard errors over prompts, macro averages and the exact distribution metrics.
#include "disa/stage/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "disa/core/error.hpp"
#include "disa/core/logsumexp.hpp"

namespace disa::stage {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();
}  // namespace

double pass_at_k(int64_t n, int64_t c, int64_t k) {
  DISA_CHECK(n >= 1 && c >= 0 && c <= n, DataError,
             "pass@k: need 0 <= correct <= samples and samples >= 1 (got {} of {})", c, n);
  DISA_CHECK(k >= 1 && k <= n, DataError, "pass@k: need 1 <= k <= samples (got k={} with {} samples)", k, n);
  if (c == 0) return 0.0;
  if (n - c < k) return 1.0;  // every k-subset contains a correct sample
  // C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i)
  double none_correct = 1.0;
  for (int64_t i = n - c + 1; i <= n; ++i) none_correct *= 1.0 - double(k) / double(i);
  return 1.0 - none_correct;
}

std::vector<int64_t> pass_at_levels(int64_t k) {
  DISA_CHECK(k >= 1, DataError, "pass@k levels: k must be >= 1 (got {})", k);
  std::vector<int64_t> levels;
  for (int64_t j = 1; j < k; j *= 2) levels.push_back(j);
  levels.push_back(k);
  return levels;
}

PromptSampleStats prompt_sample_stats(const std::vector<SampleOutcome>& samples, const std::vector<int64_t>& levels) {
  DISA_CHECK(!samples.empty(), DataError, "prompt statistics: a prompt has no samples");
  PromptSampleStats s;
  s.n = int64_t(samples.size());
  std::set<std::string> correct_keys, answer_keys;
  double reward = 0.0, length = 0.0, correct_length = 0.0;
  int64_t truncated = 0;
  for (const auto& x : samples) {
    reward += x.reward;
    length += double(x.length);
    truncated += x.truncated ? 1 : 0;
    if (!x.key.empty()) answer_keys.insert(x.key);
    if (x.correct) {
      ++s.n_correct;
      correct_length += double(x.length);
      correct_keys.insert(x.key);
    }
  }
  s.mean_at_k = double(s.n_correct) / double(s.n);
  s.mean_reward = reward / double(s.n);
  for (int64_t k : levels) s.pass_at.push_back(pass_at_k(s.n, s.n_correct, k));
  s.distinct_correct = int64_t(correct_keys.size());
  s.distinct_answers = int64_t(answer_keys.size());
  s.mean_length = length / double(s.n);
  s.mean_correct_length = s.n_correct > 0 ? correct_length / double(s.n_correct) : kNaN;
  s.truncated_fraction = double(truncated) / double(s.n);
  return s;
}

MeanSe mean_se(const std::vector<double>& values) {
  MeanSe r;
  double sum = 0.0;
  for (double v : values)
    if (std::isfinite(v)) {
      sum += v;
      ++r.count;
    }
  if (r.count == 0) return {kNaN, kNaN, 0};
  r.mean = sum / double(r.count);
  if (r.count < 2) {
    r.se = kNaN;
    return r;
  }
  double ss = 0.0;
  for (double v : values)
    if (std::isfinite(v)) ss += (v - r.mean) * (v - r.mean);
  r.se = std::sqrt(ss / double(r.count - 1) / double(r.count));
  return r;
}

MeanSe macro_average(const std::vector<MeanSe>& per_benchmark) {
  MeanSe r;
  double sum = 0.0, var = 0.0;
  for (const auto& b : per_benchmark) {
    if (!std::isfinite(b.mean)) continue;
    sum += b.mean;
    var += b.se * b.se;  // NaN propagates: an undefined se makes the macro se undefined
    ++r.count;
  }
  if (r.count == 0) return {kNaN, kNaN, 0};
  r.mean = sum / double(r.count);
  r.se = std::sqrt(var) / double(r.count);
  return r;
}

double target_mass(double beta, double reference_mass) {
  if (std::isnan(beta) || std::isnan(reference_mass)) return std::numeric_limits<double>::quiet_NaN();
  if (reference_mass <= 0) return 0.0;
  if (reference_mass >= 1) return 1.0;
  // 1 / (1 + e^-beta (1 - P) / P): no overflow of e^beta.
  return 1.0 / (1.0 + std::exp(-beta) * (1.0 - reference_mass) / reference_mass);
}

double kl_lower_bound(double target_mass, double policy_mass, double kl_on_correct) {
  const double p = target_mass, q = policy_mass;
  if (std::isnan(p) || std::isnan(q) || std::isnan(kl_on_correct)) return std::numeric_limits<double>::quiet_NaN();
  // x log(x / y) with 0 log 0 = 0 and x log(x / 0) = +inf for x > 0.
  auto term = [](double x, double y) {
    if (x <= 0) return 0.0;
    if (y <= 0) return std::numeric_limits<double>::infinity();
    return x * std::log(x / y);
  };
  const double binary = term(p, q) + term(1.0 - p, 1.0 - q);
  return binary + (p > 0 ? p * kl_on_correct : 0.0);
}

ExactMetrics exact_metrics(const std::vector<double>& log_policy, const std::vector<double>& log_reference,
                           double coverage_threshold) {
  DISA_CHECK(log_reference.empty() || log_reference.size() == log_policy.size(), DataError,
             "exact metrics: {} reference log-probabilities for {} policy log-probabilities", log_reference.size(),
             log_policy.size());
  DISA_CHECK(coverage_threshold > 0 && std::isfinite(coverage_threshold), DataError,
             "exact metrics: the coverage threshold must be > 0 (got {})", coverage_threshold);
  for (const auto* v : {&log_policy, &log_reference})
    for (double x : *v)
      DISA_CHECK(!std::isnan(x) && x != kInf, DataError, "exact metrics: log-probability {} is not allowed", x);
  const bool with_reference = !log_reference.empty();
  ExactMetrics m;
  m.size = int64_t(log_policy.size());
  if (m.size == 0) {
    m.policy_mass = 0.0;
    m.reference_mass = with_reference ? 0.0 : kNaN;
    m.kl = m.tv = m.coverage = kNaN;
    return m;
  }
  const double log_policy_mass = core::logsumexp(log_policy);
  m.policy_mass = std::exp(log_policy_mass);
  const double log_reference_mass = with_reference ? core::logsumexp(log_reference) : kNaN;
  m.reference_mass = with_reference ? std::exp(log_reference_mass) : kNaN;

  const bool policy_defined = log_policy_mass > -kInf;
  const bool reference_defined = with_reference && log_reference_mass > -kInf;
  if (policy_defined) {
    // pi_theta|C(y) >= threshold / |C|  <=>  log pi_theta(y) - log pi_theta(C) >= log threshold - log |C|
    const double cut = std::log(coverage_threshold) - std::log(double(m.size));
    int64_t covered = 0;
    for (double lp : log_policy) covered += (lp - log_policy_mass >= cut) ? 1 : 0;
    m.coverage = double(covered) / double(m.size);
  } else {
    m.coverage = kNaN;
  }
  if (!policy_defined || !reference_defined) {
    m.kl = m.tv = kNaN;
    return m;
  }
  double kl = 0.0, tv = 0.0;
  for (size_t i = 0; i < log_policy.size(); ++i) {
    const double log_target = log_reference[i] - log_reference_mass;  // log p*|C
    const double log_model = log_policy[i] - log_policy_mass;         // log pi_theta|C
    const double target = std::exp(log_target), model = std::exp(log_model);
    if (target > 0.0) kl += log_model == -kInf ? kInf : target * (log_target - log_model);
    tv += std::abs(target - model);
  }
  m.kl = std::max(kl, 0.0);  // rounding can leave -1e-17 for identical distributions
  m.tv = 0.5 * tv;
  return m;
}

}  // namespace disa::stage
