// Importance-sampling estimators of the partition function log Z(x) and their
// diagnostics (docs/method.md §2), as pure functions of one prompt's log importance
// weights l_i = beta * r_i + log pi_ref(y_i|x) - log q(y_i|x):
//   log Zhat = logsumexp_i(l_i) - log N                      (the `logmeanexp` anchor)
//   ESS = (sum w)^2 / sum w^2,  V = N / ESS - 1 (relative variance of w),
//   delta-method SE of log Zhat = sqrt(V / N),
//   PSIS k_hat: generalised Pareto shape of the largest weights (Zhang-Stephens),
//   bootstrap SD of log Zhat,
//   the length-normalised anchor c: root of (1/N) sum_i (pi_ref/q)(y_i) exp(|y_i| (beta r_i - c)) = 1.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

namespace disa::anchor {

// log((1/N) sum_i exp(l_i)); -inf for an all -inf input. Throws on an empty input.
double log_mean_exp(const std::vector<double>& log_weights);

// The exact log Z of a binary reward from the reference's log-probability of the correct
// set, log p: log(1 + (e^beta - 1) p), computed as logaddexp(log1p(-p), beta + log p) so
// that it stays finite for large beta and tiny p (e^beta overflows past beta ~ 709).
double exact_log_partition(double beta, double log_p_correct);

struct WeightDiagnostics {
  int64_t n = 0;
  double log_z_hat = 0;              // log mean exp of the log weights
  double ess = 0;                    // (sum w)^2 / sum w^2
  double ess_fraction = 0;           // ESS / N
  double max_normalized_weight = 0;  // max_i w_i / sum w
  double relative_variance = 0;      // V = Var_q[w] / E_q[w]^2 estimated as N / ESS - 1
  double delta_se = 0;               // sqrt(V / N): delta-method SE of log Zhat
  double k_hat = 0;                  // PSIS Pareto shape (NaN when not assessable)
};

// Every diagnostic above from one prompt's log weights (finite values only).
WeightDiagnostics diagnose(const std::vector<double>& log_weights);

// Generalised Pareto fit (shape k, scale sigma) to positive exceedances by the
// Zhang & Stephens (2009) profile-likelihood-weighted estimator with the weakly
// informative prior on k of Vehtari et al.'s PSIS (k <- (n k + 5) / (n + 10)).
std::pair<double, double> fit_generalized_pareto(std::vector<double> exceedances);

// PSIS k_hat of a set of log weights: GPD shape of the M = ceil(min(0.2 N, 3 sqrt N))
// largest weights over the threshold below them. NaN ("not assessable") when fewer than
// 5 weights lie strictly above the threshold: too few distinct tail values to fit, as
// with binary rewards under q = pi_ref, whose weights take two values (bounded, so the
// estimate is well behaved) or with N <= 20.
double psis_k_hat(const std::vector<double>& log_weights);

// The k_hat above which N importance weights are not trustworthy: min(1 - 1/log10 N, 0.7)
// (Vehtari et al., Pareto smoothed importance sampling, 2024: with few draws even a
// moderate k_hat leaves the estimate's error unreliable). N >= 2; 0.17 at N = 16, 0.58 at
// N = 256, 0.7 from N = 2154 on.
double k_hat_threshold(int64_t n);

// Standard deviation of log Zhat over `resamples` bootstrap resamples (indices drawn
// with replacement by a generator seeded with `seed`).
double bootstrap_sd(const std::vector<double>& log_weights, int resamples, uint64_t seed);

// The length-normalised anchor: the root c of
//   log( (1/N) sum_i exp(log_ratio_i + length_i * (beta_reward_i - c)) ) = 0
// (log_ratio = log pi_ref - log q, beta_reward = beta * r, length >= 1), found by
// Newton's method safeguarded by bisection on a bracketing interval. The left side is
// strictly decreasing in c, so the root is unique; residual below `tolerance`.
double length_normalized_anchor(const std::vector<double>& log_ratio, const std::vector<double>& lengths,
                                const std::vector<double>& beta_reward, double tolerance = 1e-12);

// The left side of the equation above at c (its root is the anchor), for checks.
double length_normalized_residual(const std::vector<double>& log_ratio, const std::vector<double>& lengths,
                                  const std::vector<double>& beta_reward, double c);

}  // namespace disa::anchor
