// Implementation of the partition-function estimators and diagnostics.
#include "disa/anchor/estimators.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "disa/core/error.hpp"
#include "disa/core/logsumexp.hpp"
#include "disa/core/random.hpp"

namespace disa::anchor {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
}

double log_mean_exp(const std::vector<double>& log_weights) {
  DISA_CHECK(!log_weights.empty(), DataError, "log_mean_exp of no weights");
  return core::logsumexp(log_weights) - std::log(double(log_weights.size()));
}

double exact_log_partition(double beta, double log_p_correct) {
  // log(1 - p) without cancellation (log1p(-e^l) for small p, log(-expm1(l)) near p = 1),
  // and p's share e^beta p; a mass rounded to 1 or past it leaves no incorrect share.
  const double l = log_p_correct;
  const double incorrect = l >= 0               ? -std::numeric_limits<double>::infinity()
                           : l < -std::log(2.0) ? std::log1p(-std::exp(l))
                                                : std::log(-std::expm1(l));
  return core::logsumexp(std::vector<double>{incorrect, beta + log_p_correct});
}

WeightDiagnostics diagnose(const std::vector<double>& log_weights) {
  WeightDiagnostics d;
  d.n = int64_t(log_weights.size());
  DISA_CHECK(d.n > 0, DataError, "diagnostics of no weights");
  double max_l = *std::max_element(log_weights.begin(), log_weights.end());
  d.log_z_hat = log_mean_exp(log_weights);
  if (std::isinf(max_l)) {  // every weight is zero
    d.ess = 0;
    d.ess_fraction = 0;
    d.max_normalized_weight = 0;
    d.relative_variance = kInf;
    d.delta_se = kInf;
    d.k_hat = std::numeric_limits<double>::quiet_NaN();
    return d;
  }
  // Weights scaled by the largest one: w~ in (0, 1].
  double sum = 0, sum_sq = 0;
  for (double l : log_weights) {
    double w = std::exp(l - max_l);
    sum += w;
    sum_sq += w * w;
  }
  d.ess = sum * sum / sum_sq;
  d.ess_fraction = d.ess / double(d.n);
  d.max_normalized_weight = 1.0 / sum;
  d.relative_variance = std::max(0.0, double(d.n) / d.ess - 1.0);
  d.delta_se = std::sqrt(d.relative_variance / double(d.n));
  d.k_hat = psis_k_hat(log_weights);
  return d;
}

std::pair<double, double> fit_generalized_pareto(std::vector<double> x) {
  const size_t n = x.size();
  DISA_CHECK(n >= 2, DataError, "generalised Pareto fit needs at least 2 exceedances, got {}", n);
  std::sort(x.begin(), x.end());
  DISA_CHECK(x.front() > 0, DataError, "generalised Pareto fit needs positive exceedances");
  const double prior = 3.0;
  const size_t m = 80 + size_t(std::floor(std::sqrt(double(n))));
  const double x_max = x.back();
  const double x_quartile = x[size_t(std::floor(double(n) / 4.0 + 0.5)) - 1];
  // Candidate b (= -k / sigma) values and their profile log-likelihoods.
  std::vector<double> b(m), profile(m);
  for (size_t j = 0; j < m; ++j) {
    b[j] = 1.0 / x_max + (1.0 - std::sqrt(double(m) / (double(j + 1) - 0.5))) / prior / x_quartile;
    double k = 0;
    for (double xi : x) k += std::log1p(-b[j] * xi);
    k /= double(n);
    profile[j] = double(n) * (std::log(-b[j] / k) - k - 1.0);
  }
  // Posterior-mean b with weights proportional to exp(profile).
  double b_post = 0, weight_sum = 0;
  std::vector<double> w(m);
  for (size_t j = 0; j < m; ++j) {
    double s = 0;
    for (size_t i = 0; i < m; ++i) s += std::exp(profile[i] - profile[j]);
    w[j] = 1.0 / s;
  }
  for (size_t j = 0; j < m; ++j) {
    if (!(w[j] >= 10 * std::numeric_limits<double>::epsilon())) continue;  // negligible or NaN
    b_post += b[j] * w[j];
    weight_sum += w[j];
  }
  b_post /= weight_sum;
  double k = 0;
  for (double xi : x) k += std::log1p(-b_post * xi);
  k /= double(n);
  const double sigma = -k / b_post;
  // Weakly informative prior pulling k towards 0.5 (PSIS, Vehtari et al.).
  k = (double(n) * k + 10.0 * 0.5) / (double(n) + 10.0);
  return {k, sigma};
}

double psis_k_hat(const std::vector<double>& log_weights) {
  constexpr double kNotAssessable = std::numeric_limits<double>::quiet_NaN();
  const size_t n = log_weights.size();
  if (n < 2) return kNotAssessable;
  const size_t tail = size_t(std::ceil(std::min(0.2 * double(n), 3.0 * std::sqrt(double(n)))));
  std::vector<double> sorted = log_weights;
  std::sort(sorted.begin(), sorted.end());
  const double max_l = sorted.back();
  if (std::isinf(max_l)) return kNotAssessable;
  if (tail + 1 > n) return kNotAssessable;
  const double cutoff = sorted[n - tail - 1];
  const double w_cut = std::exp(cutoff - max_l);
  std::vector<double> exceedances;
  for (size_t i = n - tail; i < n; ++i) {
    double w = std::exp(sorted[i] - max_l);
    if (sorted[i] > cutoff) exceedances.push_back(w - w_cut);
  }
  if (exceedances.size() <= 4) return kNotAssessable;
  // Exceedances so small they are rounding noise: no tail at all.
  if (exceedances.back() <= 0) return kNotAssessable;
  exceedances.erase(std::remove_if(exceedances.begin(), exceedances.end(), [](double e) { return !(e > 0); }),
                    exceedances.end());
  // Fewer than 5 distinct tail values cannot be fitted: 5 equal exceedances (a binary
  // reward with 5 correct samples) would give a degenerate fit, not a tail index.
  std::vector<double> distinct = exceedances;  // ascending, as `sorted`
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  if (distinct.size() <= 4) return kNotAssessable;
  return fit_generalized_pareto(exceedances).first;
}

double k_hat_threshold(int64_t n) {
  DISA_CHECK(n >= 2, DataError, "k_hat_threshold: N = {} < 2", n);
  return std::min(1.0 - 1.0 / std::log10(double(n)), 0.7);
}

double bootstrap_sd(const std::vector<double>& log_weights, int resamples, uint64_t seed) {
  const size_t n = log_weights.size();
  DISA_CHECK(n > 0, DataError, "bootstrap of no weights");
  if (resamples < 2) return 0.0;
  std::vector<double> estimates;
  estimates.reserve(size_t(resamples));
  std::vector<double> pick(n);
  uint64_t state = core::mix64(seed);
  for (int b = 0; b < resamples; ++b) {
    for (size_t i = 0; i < n; ++i) {
      state = core::mix64(state);
      pick[i] = log_weights[core::uniform_index(state, n)];
    }
    estimates.push_back(log_mean_exp(pick));
  }
  // Resamples that are all -inf (possible when most weights are zero) are skipped.
  std::vector<double> finite;
  for (double e : estimates)
    if (std::isfinite(e)) finite.push_back(e);
  if (finite.size() < 2) return kInf;
  double mean = std::accumulate(finite.begin(), finite.end(), 0.0) / double(finite.size());
  double ss = 0;
  for (double e : finite) ss += (e - mean) * (e - mean);
  return std::sqrt(ss / double(finite.size() - 1));
}

double length_normalized_residual(const std::vector<double>& log_ratio, const std::vector<double>& lengths,
                                  const std::vector<double>& beta_reward, double c) {
  core::LogSumExp acc;
  for (size_t i = 0; i < log_ratio.size(); ++i) acc.add(log_ratio[i] + lengths[i] * (beta_reward[i] - c));
  return acc.value() - std::log(double(log_ratio.size()));
}

double length_normalized_anchor(const std::vector<double>& log_ratio, const std::vector<double>& lengths,
                                const std::vector<double>& beta_reward, double tolerance) {
  const size_t n = log_ratio.size();
  DISA_CHECK(n > 0 && lengths.size() == n && beta_reward.size() == n, DataError,
             "length-normalised anchor: {} log ratios, {} lengths, {} rewards", n, lengths.size(), beta_reward.size());
  for (size_t i = 0; i < n; ++i)
    DISA_CHECK(lengths[i] >= 1 && std::isfinite(log_ratio[i]) && std::isfinite(beta_reward[i]), DataError,
               "length-normalised anchor: sample {} has length {}, log ratio {}, beta*r {}", i, lengths[i],
               log_ratio[i], beta_reward[i]);
  // g(c) = log mean exp(a_i + L_i (b_i - c)) is convex and strictly decreasing with
  // slope -sum_i p_i L_i in [-max L, -min L], p = softmax of the terms.
  auto g = [&](double c, double* slope) {
    double m = -kInf;
    std::vector<double> t(n);
    for (size_t i = 0; i < n; ++i) m = std::max(m, t[i] = log_ratio[i] + lengths[i] * (beta_reward[i] - c));
    double s = 0, sl = 0;
    for (size_t i = 0; i < n; ++i) {
      double e = std::exp(t[i] - m);
      s += e;
      sl += e * lengths[i];
    }
    if (slope) *slope = -sl / s;
    return m + std::log(s) - std::log(double(n));
  };
  // Bracket: g(lo) > 0 > g(hi). Start from the sequence-level anchor scale.
  double c = 0, lo = -1, hi = 1;
  while (g(lo, nullptr) <= 0) lo = lo * 2 - 1;
  while (g(hi, nullptr) >= 0) hi = hi * 2 + 1;
  c = 0.5 * (lo + hi);
  for (int it = 0; it < 200; ++it) {
    double slope = 0;
    double v = g(c, &slope);
    if (std::abs(v) < tolerance) return c;
    if (v > 0)
      lo = c;
    else
      hi = c;
    double next = c - v / slope;                            // Newton step
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);  // safeguard
    c = next;
    if (hi - lo < 1e-15 * std::max(1.0, std::abs(c))) return c;
  }
  return c;
}

}  // namespace disa::anchor
