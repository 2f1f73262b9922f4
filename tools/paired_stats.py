#!/usr/bin/env python3
"""Means and paired comparisons of policies on shared evaluation prompts, over training
seeds: the statistics behind the results table and the verdicts of tools/make_report.py.

    tools/paired_stats.py --a disa=OUT/eval/disa/seed-1.h5 --a disa=OUT/eval/disa/seed-2.h5 \\
        --b sft=OUT/eval/sft/seed-1.h5 --b sft=OUT/eval/sft/seed-2.h5 [--metric mean_at_k ...]

Data. A policy is one algorithm trained with S seeds, each evaluated (eval.h5) on the same
n prompts; its per-prompt figure (`/prompts/metrics/<name>`) forms an n x S grid Y_is.
Prompts are matched by their key (benchmark name, prompt id), never by position; files
whose prompt sets differ, or whose prompt texts differ under the same key, are refused
(PromptMismatch). The seed of a file is N in its name `seed-N.h5`; otherwise its position
among the policy's files (1, 2, ...), or no seed at all for a lone file (the reference,
which is not trained). Cells that are NaN (a figure undefined for the prompt, such as the
judge's count without a correct response) drop their prompt from the grid of that
comparison (complete cases); the number of prompts used is reported.

Error model. The estimate is the macro mean over benchmarks, averaged over seeds:
M = (1/S) sum_s M_s, M_s = (1/B) sum_b mean_{i in b} Y_is (B = 1: the mean of the grid).
Within benchmark b the grid follows the crossed random-effects model

    Y_is = mu_b + a_i + c_s + e_is     (prompt a_i, seed c_s, prompt x seed e_is)

with variances sigma_a^2, sigma_c^2, sigma_e^2 (e_is holds the evaluation's sampling noise
and the prompt-by-seed interaction), so that
Var(M) = (1/B^2) sum_b (sigma_a,b^2 + sigma_e,b^2 / S) / n_b + sigma_c^2 / S, sigma_c^2
the variance of the seed effect on the macro mean. The components are estimated by the
method of moments (two-way ANOVA without replication) and truncated at 0:

    MS_p,b = S Var_i(row means)         E = sigma_e^2 + S sigma_a^2          (n_b - 1 df)
    MS_e,b = residual mean square       E = sigma_e^2                   ((n_b-1)(S-1) df)
    V_s    = Var_s(M_s)                 E = sigma_c^2 + (1/B^2) sum_b sigma_e,b^2 / n_b
                                                                              (S - 1 df)

giving the prompt part max(MS_p,b, MS_e,b) / (n_b S) per benchmark (weights 1/B^2) and the
seed part max(0, V_s - (1/B^2) sum_b MS_e,b / n_b) / S. For B = 1 and no truncation this is
the unbiased (MS_p + MS_s - MS_e) / (nS) of the two-way layout. With one seed the seed
part cannot be estimated (it is left out and flagged) and the variance reduces to the
prompt-to-prompt one, sd / sqrt(n) per benchmark: the eval summary's standard error.
The 95% interval is M +- t(0.975, nu) se with Satterthwaite's degrees of freedom nu for
that linear combination of mean squares (with 3 seeds and a dominant seed part nu is
near 2 and the t quantile near 4.3: the interval is honest about the few seeds).

A paired comparison of policies A and B applies the same estimate to the per-prompt
differences D_is = Y^A_is - Y^B_is over the seeds both have (pairing seed s of A with
seed s of B, which share nothing but the label, is an arbitrary but fixed pairing; a
policy without seeds is the same for every s). Prompt effects common to A and B (an easy
prompt is easy for both) cancel in D: that is what pairing buys. The unpaired standard
error, sqrt(se_A^2 + se_B^2) of the two means estimated separately on the same prompts
and seeds, is reported beside it for comparison only.
"""

import argparse
import math
import os
import re
import statistics
import sys
from dataclasses import dataclass, field

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import disa_h5  # noqa: E402

CONFIDENCE = 0.95
SEED_FILE = re.compile(r"^seed-(\d+)\.h5$")


class PromptMismatch(disa_h5.InputError):
    """Two evaluations that should share their prompts do not."""


# ----------------------------------------------------------------------------- Student t


def _betacf(a, b, x):
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def incomplete_beta(a, b, x):
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                 + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t, df):
    """P(T <= t) for Student's t with DF (real, > 0) degrees of freedom."""
    if math.isinf(df):
        return statistics.NormalDist().cdf(t)
    tail = 0.5 * incomplete_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p, df):
    """The P-quantile of Student's t with DF (real, > 0; inf: normal) degrees of freedom."""
    if not 0.0 < p < 1.0 or not df > 0:
        return math.nan
    if math.isinf(df) or df > 1e7:
        return statistics.NormalDist().inv_cdf(p)
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-13 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)


# ----------------------------------------------------------------------------- estimate


@dataclass
class Estimate:
    """The macro mean of an n x S grid, its standard error and the error model's parts."""
    mean: float
    se: float
    df: float  # Satterthwaite degrees of freedom of se^2 (inf: se = 0)
    prompts: int
    seeds: int
    prompt_var: float = math.nan  # sigma_a^2 part of se^2
    seed_var: float = math.nan  # sigma_c^2 / S part of se^2 (NaN: one seed, not estimated)
    interaction_var: float = math.nan  # sigma_e^2 part of se^2

    def interval(self, confidence=CONFIDENCE):
        """(low, high) of the two-sided CONFIDENCE interval mean +- t se."""
        if not (math.isfinite(self.mean) and math.isfinite(self.se)):
            return math.nan, math.nan
        if self.se == 0:
            return self.mean, self.mean
        half = t_quantile(0.5 + confidence / 2.0, self.df) * self.se
        return self.mean - half, self.mean + half


def crossed_estimate(values, strata=None):
    """Estimate of the macro mean of VALUES (n prompts x S seeds, finite) under the crossed
    prompts x seeds model of the module docstring; STRATA: the benchmark of each prompt
    (None: one benchmark). The se is NaN when a benchmark has fewer than 2 prompts."""
    y = np.asarray(values, dtype=float)
    if y.ndim == 1:
        y = y[:, None]
    n, seeds = y.shape
    strata = np.zeros(n, dtype=np.int64) if strata is None else np.asarray(strata)
    groups = [y[strata == b] for b in np.unique(strata)] if n else []
    if not groups:
        return Estimate(math.nan, math.nan, math.nan, 0, seeds)
    nb = len(groups)
    macro_s = np.mean([g.mean(axis=0) for g in groups], axis=0)  # M_s
    mean = float(macro_s.mean())
    if any(len(g) < 2 for g in groups) or seeds < 1:
        return Estimate(mean, math.nan, math.nan, n, seeds)
    terms = []  # (c_j MS_j, df_j): se^2 = sum of the first entries
    prompt_var = interaction_var = 0.0
    expected_e = 0.0  # (1/B^2) sum_b MS_e,b / n_b: the interaction's share of V_s
    e_terms = []
    for g in groups:
        m = len(g)
        w = 1.0 / (nb * nb * m * seeds)
        ms_p = seeds * float(np.var(g.mean(axis=1), ddof=1))
        if seeds > 1:
            resid = g - g.mean(axis=1, keepdims=True) - g.mean(axis=0, keepdims=True) + g.mean()
            df_e = (m - 1) * (seeds - 1)
            ms_e = float(np.sum(resid ** 2)) / df_e
            expected_e += ms_e / (nb * nb * m)
            e_terms.append((ms_e / (nb * nb * m * seeds), df_e))
        else:
            ms_e, df_e = 0.0, 1  # not separable from the prompt part with one seed
        if ms_p >= ms_e:
            terms.append((w * ms_p, m - 1))
            prompt_var += w * (ms_p - ms_e)
        else:
            terms.append((w * ms_e, df_e))
        interaction_var += w * ms_e
    seed_var = math.nan
    if seeds > 1:
        v_s = float(np.var(macro_s, ddof=1))
        seed_var = 0.0
        if v_s > expected_e:
            seed_var = (v_s - expected_e) / seeds
            terms.append((v_s / seeds, seeds - 1))
            terms += [(-c, d) for c, d in e_terms]
    var = sum(c for c, _ in terms)
    denom = sum(c * c / d for c, d in terms)
    df = var * var / denom if denom > 0 else math.inf
    return Estimate(mean, math.sqrt(max(var, 0.0)), df, n, seeds,
                    prompt_var, seed_var, interaction_var)


# ----------------------------------------------------------------------------- policies


@dataclass
class Policy:
    """One algorithm's evaluations: (seed label or None, EvalPrompts) per file."""
    name: str
    runs: list = field(default_factory=list)

    @property
    def seeds(self):
        return [label for label, _ in self.runs]

    @property
    def seeded(self):
        return not (len(self.runs) == 1 and self.runs[0][0] is None)

    @property
    def k(self):
        return self.runs[0][1].k if self.runs else 0

    @property
    def keys(self):
        return self.runs[0][1].keys if self.runs else []

    def run(self, seed):
        return dict(self.runs)[seed]


def seed_label(path):
    """N for a file named seed-N.h5, else None."""
    m = SEED_FILE.match(os.path.basename(path))
    return int(m.group(1)) if m else None


def check_same_prompts(first, other, what=""):
    """PromptMismatch unless the EvalPrompts FIRST and OTHER hold the same prompts (keys
    (benchmark, id), as sets; the texts equal under each key)."""
    a, b = dict(zip(first.keys, first.texts)), dict(zip(other.keys, other.texts))
    if a.keys() != b.keys():
        only_a = [k for k in first.keys if k not in b]
        only_b = [k for k in other.keys if k not in a]
        show = lambda ks: ", ".join(f"{bench}/{pid}" for bench, pid in ks[:3]) + (
            f" and {len(ks) - 3} more" if len(ks) > 3 else "")
        parts = [f"{len(only_a)} only in {first.path} ({show(only_a)})" if only_a else "",
                 f"{len(only_b)} only in {other.path} ({show(only_b)})" if only_b else ""]
        raise PromptMismatch(
            f"{what}the evaluation prompts differ: {first.path} has {len(a)} prompts, "
            f"{other.path} has {len(b)}; " + "; ".join(p for p in parts if p)
            + ". Paired comparisons need the same prompts (evaluate with the same "
            "--eval.dataset and task.* options).")
    for key in first.keys:
        if a[key] != b[key]:
            raise PromptMismatch(f"{what}prompt {key[0]}/{key[1]} has different texts in "
                                 f"{first.path} and {other.path}")


def make_policy(name, runs):
    """Policy NAME from [(path, EvalPrompts)]: seed labels from the file names (position
    1, 2, ... for files not named seed-N.h5 when there are several; none for a lone one);
    InputError for a seed given twice or seeds with different prompts or k."""
    labels = [seed_label(path) for path, _ in runs]
    if len(runs) > 1 and any(label is None for label in labels):
        labels = list(range(1, len(runs) + 1))
    if len(set(labels)) != len(labels):
        raise disa_h5.InputError(f"{name}: seed {labels} given twice: "
                                 + ", ".join(path for path, _ in runs))
    policy = Policy(name, sorted(zip(labels, [p for _, p in runs]),
                                 key=lambda r: (r[0] is None, r[0] or 0)))
    first = policy.runs[0][1]
    for _, other in policy.runs[1:]:
        check_same_prompts(first, other, f"{name}: ")
        if other.k != first.k:
            raise disa_h5.InputError(f"{name}: k = {first.k} in {first.path} but {other.k} "
                                     f"in {other.path}")
    return policy


def load_policy(name, paths, beta=None):
    """Policy NAME from its eval.h5 PATHS; with BETA the target metrics of
    disa_h5.add_target_metrics are added (p*(C), the KL lower bound)."""
    runs = []
    for path in paths:
        prompts = disa_h5.read_eval_prompts(path)
        if beta is not None:
            disa_h5.add_target_metrics(prompts, beta)
        runs.append((path, prompts))
    return make_policy(name, runs)


def _grid(policy, metric, seeds, keys):
    """[n, len(seeds)] of METRIC in the prompt order KEYS; a seedless policy repeats."""
    cols = []
    for seed in seeds:
        run = policy.runs[0][1] if not policy.seeded else policy.run(seed)
        if metric not in run.metrics:
            raise KeyError(metric)
        values = dict(zip(run.keys, run.metrics[metric].to_numpy(dtype=float)))
        cols.append([values[k] for k in keys])
    return np.array(cols, dtype=float).T.reshape(len(keys), len(seeds))


def _strata(keys):
    names = {}
    return np.array([names.setdefault(b, len(names)) for b, _ in keys], dtype=np.int64)


def has_metric(policy, metric):
    return all(metric in run.metrics for _, run in policy.runs)


def estimate(policy, metric):
    """Estimate of POLICY's macro mean of METRIC over its seeds (complete cases). An
    infinite value makes the mean infinite (se NaN). None when a file lacks METRIC."""
    if not policy.runs or not has_metric(policy, metric):
        return None
    seeds = policy.seeds
    keys = policy.keys
    y = _grid(policy, metric, seeds, keys)
    keep = ~np.isnan(y).any(axis=1)
    y, strata = y[keep], _strata(keys)[keep]
    if np.isinf(y).any():
        return Estimate(float(np.mean(y)), math.nan, math.nan, len(y), len(seeds))
    return crossed_estimate(y, strata)


@dataclass
class Comparison:
    """A - B on one metric: the paired estimate, and the unpaired standard error."""
    a: str
    b: str
    metric: str
    mean_a: float
    mean_b: float
    paired: Estimate
    unpaired_se: float
    seeds: list  # the seed labels used
    dropped_seeds: list  # seeds of one policy that the other lacks (not used)
    confidence: float = CONFIDENCE

    @property
    def difference(self):
        return self.paired.mean

    @property
    def se(self):
        return self.paired.se

    @property
    def prompts(self):
        return self.paired.prompts

    def interval(self):
        return self.paired.interval(self.confidence)


def common_seeds(a, b):
    """(seeds used, seeds dropped): the labels both have; a seedless policy fits any."""
    if not a.seeded and not b.seeded:
        return [None], []
    if not a.seeded:
        return b.seeds, []
    if not b.seeded:
        return a.seeds, []
    used = [s for s in a.seeds if s in b.seeds]
    dropped = sorted(set(a.seeds) ^ set(b.seeds))
    if not used:
        raise disa_h5.InputError(f"{a.name} (seeds {a.seeds}) and {b.name} (seeds {b.seeds}) "
                                 "have no training seed in common")
    return used, dropped


def compare(a, b, metric, confidence=CONFIDENCE):
    """Comparison of policies A and B on METRIC, paired by prompt (matched by key) and seed;
    None when a file lacks METRIC. PromptMismatch when their prompts differ."""
    if not (a.runs and b.runs and has_metric(a, metric) and has_metric(b, metric)):
        return None
    check_same_prompts(a.runs[0][1], b.runs[0][1], f"{a.name} vs {b.name}: ")
    seeds, dropped = common_seeds(a, b)
    keys = a.keys
    ya, yb = _grid(a, metric, seeds, keys), _grid(b, metric, seeds, keys)
    keep = ~(np.isnan(ya).any(axis=1) | np.isnan(yb).any(axis=1))
    ya, yb, strata = ya[keep], yb[keep], _strata(keys)[keep]
    n = int(keep.sum())
    if np.isinf(ya).any() or np.isinf(yb).any():  # an infinite KL: no interval
        ma, mb = float(np.mean(ya)), float(np.mean(yb))
        with np.errstate(invalid="ignore"):
            diff = ma - mb
        paired = Estimate(diff, math.nan, math.nan, n, len(seeds))
        return Comparison(a.name, b.name, metric, ma, mb, paired, math.nan,
                          [s for s in seeds if s is not None], dropped, confidence)
    paired = crossed_estimate(ya - yb, strata)
    ea, eb = crossed_estimate(ya, strata), crossed_estimate(yb, strata)
    unpaired = math.sqrt(ea.se ** 2 + eb.se ** 2)
    return Comparison(a.name, b.name, metric, ea.mean, eb.mean, paired, unpaired,
                      [s for s in seeds if s is not None], dropped, confidence)


# ----------------------------------------------------------------------------- command line


def parser():
    p = argparse.ArgumentParser(
        description="Paired comparison of two policies on their shared evaluation prompts, "
                    "over training seeds (crossed prompts x seeds error model).")
    p.add_argument("--a", action="append", required=True, metavar="NAME=EVAL_H5",
                   help="an evaluation of policy A (repeat for its seeds, files seed-N.h5)")
    p.add_argument("--b", action="append", required=True, metavar="NAME=EVAL_H5",
                   help="an evaluation of policy B (repeat for its seeds)")
    p.add_argument("--metric", action="append", metavar="NAME",
                   help="per-prompt figure of /prompts/metrics, or target_mass, kl_mass, "
                        "kl_lower_bound (need --beta) [mean_at_k, pass_at_<k>]")
    p.add_argument("--beta", type=float, help="inverse temperature of the target p*")
    p.add_argument("--confidence", type=float, default=CONFIDENCE)
    return p


def policy_arg(entries, option):
    names, paths = set(), []
    for entry in entries:
        name, path = disa_h5.parse_named(entry)
        names.add(name or os.path.basename(os.path.dirname(os.path.abspath(path))))
        paths.append(path)
    if len(names) != 1:
        raise disa_h5.InputError(f"{option}: one policy name expected, got {sorted(names)}")
    return names.pop(), paths


def main(argv=None):
    args = parser().parse_args(argv)
    a = load_policy(*policy_arg(args.a, "--a"), beta=args.beta)
    b = load_policy(*policy_arg(args.b, "--b"), beta=args.beta)
    f = disa_h5.fmt_num
    for metric in args.metric or ["mean_at_k", f"pass_at_{a.k}"]:
        c = compare(a, b, metric, args.confidence)
        if c is None:
            raise disa_h5.InputError(f"metric '{metric}' is missing from an input file")
        lo, hi = c.interval()
        print(f"{metric}: {a.name} {f(c.mean_a)} - {b.name} {f(c.mean_b)} = {f(c.difference)}, "
              f"{round(100 * c.confidence)}% interval [{f(lo)}, {f(hi)}]; paired se "
              f"{f(c.se)} (df {f(c.paired.df, 3)}), unpaired se {f(c.unpaired_se)}; "
              f"{c.prompts} prompts, seeds {c.seeds or '-'}"
              + (f" (not in both: {c.dropped_seeds})" if c.dropped_seeds else ""))
    return 0


if __name__ == "__main__":
    disa_h5.run_main(main)
