#!/usr/bin/env python3
"""Unit tests of tools/paired_stats.py (the crossed prompts x seeds standard error, the
pairing by prompt key, the t quantile) and of the chain-rule lower bound of KL(p* || pi)
in tools/disa_h5.py, on synthetic data with known answers.

    tests/tools/test_paired_stats.py [TOOLS_DIR]

Every test_* function runs; the exit code is the number of failures (0: all passed).
"""

import math
import os
import sys
import traceback

import numpy as np
import pandas as pd

TOOLS = (sys.argv[1] if len(sys.argv) > 1
         else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
sys.path.insert(0, TOOLS)
import disa_h5  # noqa: E402
import paired_stats as ps  # noqa: E402


def close(a, b, tol=1e-9):
    assert abs(a - b) <= tol * max(1.0, abs(b)), (a, b)


def prompts(values_by_metric, keys, path="mem.h5", texts=None, k=8):
    """An in-memory EvalPrompts."""
    return disa_h5.EvalPrompts(path, {"samples_per_prompt": k}, list(keys),
                               texts or [f"text of {b}/{i}" for b, i in keys],
                               pd.DataFrame(values_by_metric),
                               sorted({b for b, _ in keys}))


def policy(name, grid, keys=None, order=None, seeded=True):
    """A Policy whose metric 'm' is GRID (n prompts x S seeds); ORDER permutes the rows
    as stored in the files (the keys move with them)."""
    grid = np.asarray(grid, dtype=float)
    n, seeds = grid.shape
    keys = keys or [("bench", f"p{i}") for i in range(n)]
    order = np.arange(n) if order is None else np.asarray(order)
    runs = []
    for s in range(seeds):
        path = f"{name}/seed-{s + 1}.h5" if seeded else f"{name}.h5"
        runs.append((path, prompts({"m": grid[order, s]}, [keys[i] for i in order], path)))
    return ps.make_policy(name, runs)


def anova(y):
    """Mean squares of the two-way layout without replication, written out directly."""
    n, s = y.shape
    g = y.mean()
    rows, cols = y.mean(axis=1), y.mean(axis=0)
    ms_p = s * np.sum((rows - g) ** 2) / (n - 1)
    ms_s = n * np.sum((cols - g) ** 2) / (s - 1)
    ms_e = np.sum((y - rows[:, None] - cols[None, :] + g) ** 2) / ((n - 1) * (s - 1))
    return ms_p, ms_s, ms_e


# ----------------------------------------------------------------------------- t quantile


def test_t_quantile_table_values():
    for df, want in [(1, 12.7062047362), (2, 4.3026527297), (3, 3.1824463053),
                     (5, 2.5705818366), (10, 2.2281388520), (30, 2.0422724563),
                     (119, 1.9800998765), (math.inf, 1.9599639845)]:
        close(ps.t_quantile(0.975, df), want, 1e-8)
    close(ps.t_quantile(0.025, 4), -2.7764451052, 1e-8)
    close(ps.t_cdf(ps.t_quantile(0.9, 2.5), 2.5), 0.9, 1e-10)


# ----------------------------------------------------------------------------- crossed SE


def test_one_seed_is_the_prompt_standard_error():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(40, 1))
    e = ps.crossed_estimate(y)
    close(e.mean, y.mean())
    close(e.se, y[:, 0].std(ddof=1) / math.sqrt(40))
    close(e.df, 39)
    assert math.isnan(e.seed_var)  # not estimated with one seed


def test_one_seed_two_benchmarks_is_the_eval_summary_macro_se():
    # docs/eval.md: macro mean = mean of the benchmark means, se = sqrt(sum se_b^2) / B
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 10), rng.normal(3, 2, 25)
    e = ps.crossed_estimate(np.concatenate([a, b])[:, None], np.r_[[0] * 10, [1] * 25])
    close(e.mean, (a.mean() + b.mean()) / 2)
    se_a, se_b = a.std(ddof=1) / math.sqrt(10), b.std(ddof=1) / math.sqrt(25)
    close(e.se, math.sqrt(se_a ** 2 + se_b ** 2) / 2)


def test_balanced_grid_is_the_two_way_anova_estimate():
    # Large prompt and seed parts, so that no component is truncated:
    # Var(mean) = (MS_p + MS_s - MS_e) / (n S), Satterthwaite df of that combination.
    rng = np.random.default_rng(3)
    n, s = 50, 4
    y = (rng.normal(0, 1.0, (n, 1)) + rng.normal(0, 0.5, (1, s)) + rng.normal(0, 0.3, (n, s)))
    ms_p, ms_s, ms_e = anova(y)
    assert ms_p > ms_e and ms_s > ms_e
    e = ps.crossed_estimate(y)
    var = (ms_p + ms_s - ms_e) / (n * s)
    close(e.se ** 2, var)
    c = [ms_p / (n * s), ms_s / (n * s), -ms_e / (n * s)]
    dfs = [n - 1, s - 1, (n - 1) * (s - 1)]
    close(e.df, var ** 2 / sum(ci ** 2 / d for ci, d in zip(c, dfs)))
    close(e.prompt_var + e.seed_var + e.interaction_var, var)


def test_seed_term_is_counted():
    # Every prompt moves with the seed by c_s and there is no other noise: the mean
    # over prompts still varies with the seeds, and only the seed term can say so.
    rng = np.random.default_rng(4)
    c = np.array([-0.3, 0.0, 0.3])
    y = rng.normal(0, 0.1, (30, 1)) + c[None, :]
    e = ps.crossed_estimate(y)
    ms_p, _, _ = anova(y)
    close(e.se ** 2, ms_p / (30 * 3) + np.var(c, ddof=1) / 3)
    assert e.se > 3 * math.sqrt(ms_p / 90)  # the prompt part alone is far smaller
    assert 2 <= e.df < 2.2, e.df  # the seed part dominates: 3 seeds, 2 degrees of freedom


def test_coverage_under_the_model():
    # Monte Carlo: the 95% interval covers the true mean about 95% of the time, and the
    # mean of se^2 is close to Var(mean) = sa^2/n + sc^2/S + se^2/(nS). Dropping the seed
    # term (sc^2/S is most of the variance here) would cover far less than 90%.
    rng = np.random.default_rng(5)
    n, s, sa, sc, se = 60, 3, 0.3, 0.1, 0.2
    true_var = sa ** 2 / n + sc ** 2 / s + se ** 2 / (n * s)
    reps, covered, var_hat = 2000, 0, []
    for _ in range(reps):
        y = (sa * rng.standard_normal((n, 1)) + sc * rng.standard_normal((1, s))
             + se * rng.standard_normal((n, s)))
        e = ps.crossed_estimate(y)
        lo, hi = e.interval()
        covered += lo <= 0 <= hi
        var_hat.append(e.se ** 2)
    assert 0.92 <= covered / reps <= 0.98, covered / reps
    assert abs(np.mean(var_hat) / true_var - 1) < 0.12, np.mean(var_hat) / true_var


# ----------------------------------------------------------------------------- pairing


def two_policies(rng, n=80, s=3):
    """A and B share a large prompt effect; A is 0.05 better; seeds shift each policy."""
    a_i = rng.normal(0, 0.3, (n, 1))
    ya = 0.55 + a_i + rng.normal(0, 0.01, (1, s)) + rng.normal(0, 0.05, (n, s))
    yb = 0.50 + a_i + rng.normal(0, 0.01, (1, s)) + rng.normal(0, 0.05, (n, s))
    return ya, yb


def test_paired_comparison_uses_the_differences():
    rng = np.random.default_rng(6)
    ya, yb = two_policies(rng)
    c = ps.compare(policy("A", ya), policy("B", yb), "m")
    d = ps.crossed_estimate(ya - yb)
    close(c.difference, (ya - yb).mean())
    close(c.se, d.se)
    close(c.unpaired_se, math.sqrt(ps.crossed_estimate(ya).se ** 2
                                   + ps.crossed_estimate(yb).se ** 2))
    # The shared prompt effect cancels in the differences: pairing buys a lot here.
    assert c.se < c.unpaired_se / 2, (c.se, c.unpaired_se)
    assert c.seeds == [1, 2, 3] and c.prompts == 80 and not c.dropped_seeds
    lo, hi = c.interval()
    close(hi - c.difference, ps.t_quantile(0.975, c.paired.df) * c.se)


def test_prompts_are_matched_by_key_not_position():
    rng = np.random.default_rng(7)
    ya, yb = two_policies(rng, n=20)
    shuffled = rng.permutation(20)
    straight = ps.compare(policy("A", ya), policy("B", yb), "m")
    mixed = ps.compare(policy("A", ya), policy("B", yb, order=shuffled), "m")
    close(mixed.difference, straight.difference)
    close(mixed.se, straight.se)


def test_different_prompt_sets_are_refused():
    a = policy("A", np.ones((5, 1)))
    b = policy("B", np.ones((5, 1)), keys=[("bench", f"p{i}") for i in [0, 1, 2, 3, 9]])
    try:
        ps.compare(a, b, "m")
    except ps.PromptMismatch as e:
        text = str(e)
        assert "A/seed-1.h5" in text and "B/seed-1.h5" in text and "bench/p4" in text, text
        assert "bench/p9" in text, text
    else:
        raise AssertionError("no PromptMismatch for different prompt sets")
    keys = [("bench", f"p{i}") for i in range(3)]
    one = ps.make_policy("A", [("a.h5", prompts({"m": [1.0, 2, 3]}, keys, "a.h5"))])
    texts = [f"text of {b}/{i}" for b, i in keys[:2]] + ["changed"]
    other = ps.make_policy("B", [("b.h5", prompts({"m": [1.0, 2, 3]}, keys, "b.h5",
                                                    texts=texts))])
    try:
        ps.compare(one, other, "m")
    except ps.PromptMismatch as e:
        assert "bench/p2" in str(e), str(e)
    else:
        raise AssertionError("no PromptMismatch for a changed prompt text")


def test_seeds_of_one_policy_must_share_prompts():
    keys = [("bench", f"p{i}") for i in range(3)]
    runs = [("x/seed-1.h5", prompts({"m": [1.0, 2, 3]}, keys, "x/seed-1.h5")),
            ("x/seed-2.h5", prompts({"m": [1.0, 2]}, keys[:2], "x/seed-2.h5"))]
    try:
        ps.make_policy("x", runs)
    except ps.PromptMismatch:
        pass
    else:
        raise AssertionError("seeds with different prompts accepted")


def test_unseeded_reference_is_the_same_for_every_seed():
    rng = np.random.default_rng(8)
    ya, _ = two_policies(rng, n=30)
    ref = rng.normal(0.4, 0.2, (30, 1))
    c = ps.compare(policy("A", ya), policy("reference", ref, seeded=False), "m")
    d = ps.crossed_estimate(ya - ref)
    close(c.difference, d.mean)
    close(c.se, d.se)
    assert c.seeds == [1, 2, 3]


def test_seeds_only_in_one_policy_are_dropped_and_named():
    rng = np.random.default_rng(9)
    ya, yb = two_policies(rng, n=30, s=3)
    c = ps.compare(policy("A", ya), policy("B", yb[:, :2]), "m")
    assert c.seeds == [1, 2] and c.dropped_seeds == [3]
    close(c.difference, (ya[:, :2] - yb[:, :2]).mean())


def test_undefined_prompts_are_left_out_of_both():
    y = np.arange(12, dtype=float).reshape(6, 2)
    z = y.copy() * 0.5
    z[2, 1] = np.nan
    c = ps.compare(policy("A", y), policy("B", z), "m")
    keep = [0, 1, 3, 4, 5]
    assert c.prompts == 5
    close(c.difference, (y[keep] - z[keep]).mean())


# ----------------------------------------------------------------------------- KL bound


def test_target_mass_and_lower_bound_by_hand():
    beta = math.log(4.0)  # e^beta = 4
    # p*(C) = 4 * 0.2 / (1 + 3 * 0.2) = 0.5; kl2(0.5, 0.25) = 0.5 ln(4/3)
    pstar, mass, bound = disa_h5.kl_lower_bound([0.2], [0.25], [0.1], beta)
    close(pstar[0], 0.5)
    close(mass[0], 0.5 * math.log(4 / 3))
    close(bound[0], 0.5 * math.log(4 / 3) + 0.5 * 0.1)
    # The reference itself: KL on C is 0, the bound is the mass term kl2(p*(C), P_ref(C)).
    _, _, ref = disa_h5.kl_lower_bound([0.2], [0.2], [0.0], beta)
    close(ref[0], 0.5 * math.log(0.5 / 0.2) + 0.5 * math.log(0.5 / 0.8))
    # No correct mass under the reference: p*(C) = 0, the bound is -log(1 - pi(C)).
    pstar, _, bound = disa_h5.kl_lower_bound([0.0], [0.3], [np.nan], 2.0)
    close(pstar[0], 0.0)
    close(bound[0], -math.log(0.7))
    # A policy with all its mass on C while p* has some outside: infinite.
    _, _, bound = disa_h5.kl_lower_bound([0.5], [1.0], [0.0], 1.0)
    assert np.isinf(bound[0])


def test_lower_bound_is_the_chain_rule_part_of_the_full_kl():
    # A listed toy world: 8 responses, the first 3 correct. The full KL(p* || pi) is
    # computed exactly; the bound never exceeds it and equals it when the policy keeps
    # the reference's shape on the incorrect responses.
    rng = np.random.default_rng(10)
    beta, correct = 2.0, np.r_[np.ones(3), np.zeros(5)].astype(bool)
    for trial in range(50):
        ref = rng.dirichlet(np.ones(8))
        pol = rng.dirichlet(np.ones(8))
        if trial % 2:  # pi|not C = p*|not C = pi_ref|not C
            pol[~correct] = ref[~correct] / ref[~correct].sum() * pol[~correct].sum()
        pstar = ref * np.exp(beta * correct)
        pstar /= pstar.sum()
        full = float(np.sum(pstar * np.log(pstar / pol)))
        pc, qc = ref[correct] / ref[correct].sum(), pol[correct] / pol[correct].sum()
        kl_c = float(np.sum(pc * np.log(pc / qc)))
        mass_star, _, bound = disa_h5.kl_lower_bound([ref[correct].sum()],
                                                     [pol[correct].sum()], [kl_c], beta)
        close(mass_star[0], pstar[correct].sum())
        assert bound[0] <= full + 1e-12, (bound[0], full)
        if trial % 2:
            close(bound[0], full, 1e-10)


def main():
    tests = [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_")]
    failures = 0
    for name, fn in tests:
        try:
            fn()
            print(f"ok: {name}")
        except Exception:  # noqa: BLE001 - report every failure, then the count
            failures += 1
            print(f"FAIL: {name}\n{traceback.format_exc()}")
    print(f"test_paired_stats: {len(tests) - failures}/{len(tests)} passed")
    return failures


if __name__ == "__main__":
    sys.exit(main())
