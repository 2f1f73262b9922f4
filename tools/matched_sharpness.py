#!/usr/bin/env python3
"""DISA against FlowRL at matched target sharpness (issue 16, item 5).

FlowRL has no beta of the target p* ∝ pi_ref exp(beta r) that DISA matches (its beta
multiplies a group-normalised reward), so comparing it with DISA at one beta mixes two
things: how sharp a target each method aims at, and how well it reaches its target. Here
DISA is trained at several betas, chosen so that the target's mass on the correct set,
p*_beta(C) = e^beta pi_ref(C) / (1 + (e^beta - 1) pi_ref(C)), brackets the mass pi(C) that
FlowRL reaches on the evaluation prompts; each DISA_beta and FlowRL are then measured
against the same p*_beta.

    tools/matched_sharpness.py --choose-betas COUNT --reference EVAL_H5 --flowrl EVAL_H5 [...]
    tools/matched_sharpness.py --reference EVAL_H5 --flowrl EVAL_H5 [--flowrl ...] \
        --disa BETA=EVAL_H5 [--disa BETA=EVAL_H5 ...] -o DIR

--choose-betas prints COUNT betas (space-separated, 2 significant digits) on a geometric
grid beta* x 2^(-1 ... 1), beta* the root of mean_x p*_beta(C)(x) = FlowRL's mean pi(C)
(both over the evaluation prompts; FlowRL's over its seeds): the grid's p*(C) brackets
FlowRL's mass. --disa BETA=FILE (repeatable; several files of one BETA are its seeds,
named seed-<s>.h5) gives DISA trained and anchored at BETA.

Per beta: p*_beta(C), DISA_beta's pi(C), KL(p*|C || pi|C) (the KL on C, which does not
depend on beta: with binary rewards p* restricted to C is pi_ref restricted to C) and the
KL lower bound kl2(p*_beta(C), pi(C)) + p*_beta(C) KL on C (docs/tools.md); FlowRL's
KL lower bound against the same p*_beta; the paired difference DISA_beta - FlowRL of the
lower bound and of the KL on C with its 95% interval (tools/paired_stats.py: prompts x
seeds; a DISA_beta with one seed is paired with every FlowRL seed, and the between-seed
spread of DISA is then not in the interval). The matched beta is where the mean
p*_beta(C) equals FlowRL's mean pi(C) (interpolated in log beta between the bracketing
betas). Writes DIR/matched_sharpness.csv, DIR/matched_sharpness.png (lower bound and KL on
C against p*(C), FlowRL's pi(C) marked; pi(C) against p*(C)) and DIR/matched_sharpness.md.
"""

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import disa_h5  # noqa: E402
import paired_stats  # noqa: E402

BETA_RANGE = (0.05, 50.0)
CSV_COLUMNS = ["beta", "disa_seeds", "prompts", "target_mass", "disa_mass", "disa_mass_se",
               "disa_kl", "disa_kl_se", "disa_bound", "disa_bound_se", "flowrl_bound",
               "flowrl_bound_se", "bound_difference", "bound_low", "bound_high",
               "kl_difference", "kl_low", "kl_high", "disa_mean_at_k", "flowrl_mean_at_k"]


def mean_target_mass(reference_mass, beta):
    return float(np.nanmean(disa_h5.target_mass(reference_mass, beta)))


def matched_beta(reference_mass, mass):
    """beta* with mean p*_beta*(C) = MASS (bisection in log beta over BETA_RANGE; clamped
    to the range when MASS is outside what it reaches)."""
    lo, hi = (math.log(b) for b in BETA_RANGE)
    if mean_target_mass(reference_mass, math.exp(lo)) >= mass:
        return BETA_RANGE[0]
    if mean_target_mass(reference_mass, math.exp(hi)) <= mass:
        return BETA_RANGE[1]
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if mean_target_mass(reference_mass, math.exp(mid)) < mass:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


def choose_betas(reference_mass, mass, count):
    """COUNT betas beta* x 2^t, t evenly spaced in [-1, 1] (2 significant digits)."""
    star = matched_beta(reference_mass, mass)
    ts = [0.0] if count == 1 else np.linspace(-1.0, 1.0, count)
    out = []
    for t in ts:
        b = float(f"{star * 2.0 ** t:.2g}")
        if b not in out:
            out.append(b)
    return star, out


def policy_mass_mean(policy):
    e = paired_stats.estimate(policy, "policy_mass")
    if e is None:
        raise disa_h5.InputError(f"{policy.runs[0][1].path}: no policy_mass (the task does "
                                 "not list its solutions)")
    return e


def reference_masses(reference):
    m = reference.runs[0][1].metrics
    if "reference_mass" not in m:
        raise disa_h5.InputError(f"{reference.runs[0][1].path}: no reference_mass")
    return m["reference_mass"].to_numpy(dtype=float)


def fmt_beta(b):
    return f"{b:g}"


def analyse(reference, flowrl_paths, disa_by_beta):
    """CSV rows (dicts), one per beta in DISA_BY_BETA ({beta: [paths]})."""
    rows = []
    for beta in sorted(disa_by_beta):
        disa = paired_stats.load_policy(f"DISA beta={fmt_beta(beta)}", disa_by_beta[beta], beta)
        flow = paired_stats.load_policy("FlowRL", flowrl_paths, beta)
        paired_stats.check_same_prompts(reference.runs[0][1], disa.runs[0][1], "reference vs DISA: ")
        est = {k: paired_stats.estimate(disa, k)
               for k in ("target_mass", "policy_mass", "kl", disa_h5.KL_LOWER_BOUND, "mean_at_k")}
        fb = paired_stats.estimate(flow, disa_h5.KL_LOWER_BOUND)
        fm = paired_stats.estimate(flow, "mean_at_k")
        cb = paired_stats.compare(disa, flow, disa_h5.KL_LOWER_BOUND)
        ck = paired_stats.compare(disa, flow, "kl")
        blo, bhi = cb.interval() if cb else (math.nan, math.nan)
        klo, khi = ck.interval() if ck else (math.nan, math.nan)
        val = lambda e, a="mean": getattr(e, a) if e is not None else math.nan
        rows.append({
            "beta": beta, "disa_seeds": " ".join(str(s) for s in disa.seeds if s is not None) or "-",
            "prompts": val(est["target_mass"], "prompts"),
            "target_mass": val(est["target_mass"]),
            "disa_mass": val(est["policy_mass"]), "disa_mass_se": val(est["policy_mass"], "se"),
            "disa_kl": val(est["kl"]), "disa_kl_se": val(est["kl"], "se"),
            "disa_bound": val(est[disa_h5.KL_LOWER_BOUND]),
            "disa_bound_se": val(est[disa_h5.KL_LOWER_BOUND], "se"),
            "flowrl_bound": val(fb), "flowrl_bound_se": val(fb, "se"),
            "bound_difference": cb.difference if cb else math.nan, "bound_low": blo,
            "bound_high": bhi, "kl_difference": ck.difference if ck else math.nan,
            "kl_low": klo, "kl_high": khi,
            "disa_mean_at_k": val(est["mean_at_k"]), "flowrl_mean_at_k": val(fm)})
    return rows


def verdict(low, high):
    """DISA - FlowRL on a KL (lower is better)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "not comparable"
    if high < 0:
        return "DISA lower (better)"
    if low > 0:
        return "DISA higher (worse)"
    return "no difference detected"


def plot(df, flow_mass, flow_kl, out_path):
    plt = disa_h5.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    x = df["target_mass"].to_numpy()
    ax = axes[0]
    ax.errorbar(x, df["disa_bound"], yerr=2 * df["disa_bound_se"].fillna(0), fmt="o-",
                color="C0", label="DISA_beta vs p*_beta")
    ax.errorbar(x, df["flowrl_bound"], yerr=2 * df["flowrl_bound_se"].fillna(0), fmt="s--",
                color="C1", label="FlowRL vs p*_beta")
    ax.set(xlabel="p*_beta(C) (mean over prompts)", ylabel="KL(p* ‖ π) lower bound",
           title="lower bound of the full KL")
    ax = axes[1]
    ax.errorbar(x, df["disa_kl"], yerr=2 * df["disa_kl_se"].fillna(0), fmt="o-", color="C0",
                label="DISA_beta")
    ax.axhspan(flow_kl.mean - 2 * flow_kl.se, flow_kl.mean + 2 * flow_kl.se, color="C1",
               alpha=0.2)
    ax.axhline(flow_kl.mean, color="C1", linestyle="--", label="FlowRL (±2 SE)")
    ax.set(xlabel="p*_beta(C) (mean over prompts)", ylabel="KL(p*|C ‖ π|C)",
           title="KL on the correct set (beta-free)")
    ax = axes[2]
    ax.errorbar(x, df["disa_mass"], yerr=2 * df["disa_mass_se"].fillna(0), fmt="o-", color="C0",
                label="DISA_beta's π(C)")
    lim = [min(0.0, np.nanmin(x)), 1.0]
    ax.plot(lim, lim, ":", color="gray", label="π(C) = p*(C)")
    ax.axhline(flow_mass.mean, color="C1", linestyle="--", label="FlowRL's π(C)")
    ax.set(xlabel="p*_beta(C) (mean over prompts)", ylabel="π(C)", title="mass on C reached")
    for a in axes:
        a.axvline(flow_mass.mean, color="C1", alpha=0.5, linewidth=0.8)
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    for b, xi, yi in zip(df["beta"], x, df["disa_bound"]):
        axes[0].annotate(f"β={fmt_beta(b)}", (xi, yi), textcoords="offset points",
                         xytext=(4, 4), fontsize=7)
    fig.suptitle("DISA at several β vs FlowRL, at matched target sharpness "
                 "(vertical line: FlowRL's π(C))", fontsize=11)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)


def markdown(df, flow_mass, flow_kl, ref_mass, star, flow_files):
    f = disa_h5.fmt_num
    lo_b, hi_b = df["target_mass"].min(), df["target_mass"].max()
    bracketed = lo_b <= flow_mass.mean <= hi_b
    lines = [f"FlowRL ({len(flow_files)} seed{'s' if len(flow_files) > 1 else ''}) reaches "
             f"π(C) = {f(flow_mass.mean, 3)} ± {f(flow_mass.se, 2)} on the evaluation prompts "
             f"(the reference: {f(ref_mass, 3)}); the target with the same mean mass on C is "
             f"p* at β* = {f(star, 3)}. The DISA runs' targets span p*(C) = {f(lo_b, 3)} … "
             f"{f(hi_b, 3)}: FlowRL's mass is "
             + ("bracketed." if bracketed else
                "**not bracketed**: FlowRL's mass is at or below the reference's, which no "
                "β > 0 reaches (β* is the search's lower end)." if flow_mass.mean <= ref_mass
                else "**not bracketed** (choose other betas: --choose-betas)."), "",
             f"FlowRL's KL on C (the same for every β): {f(flow_kl.mean, 3)} ± "
             f"{f(flow_kl.se, 2)}.", ""]
    header = ["β", "DISA seeds", "p*(C)", "DISA π(C)", "DISA KL on C", "DISA lower bound",
              "FlowRL lower bound", "DISA − FlowRL, lower bound [95%]", "",
              "DISA − FlowRL, KL on C [95%]", "", "Mean@k DISA / FlowRL"]
    rows = []
    for r in df.itertuples():
        rows.append([fmt_beta(r.beta), r.disa_seeds, f(r.target_mass, 3),
                     disa_h5.fmt_pm(r.disa_mass, r.disa_mass_se, 3),
                     disa_h5.fmt_pm(r.disa_kl, r.disa_kl_se, 3),
                     disa_h5.fmt_pm(r.disa_bound, r.disa_bound_se, 3),
                     disa_h5.fmt_pm(r.flowrl_bound, r.flowrl_bound_se, 3),
                     f"{f(r.bound_difference, 3)} [{f(r.bound_low, 3)}, {f(r.bound_high, 3)}]",
                     verdict(r.bound_low, r.bound_high),
                     f"{f(r.kl_difference, 3)} [{f(r.kl_low, 3)}, {f(r.kl_high, 3)}]",
                     verdict(r.kl_low, r.kl_high),
                     f"{f(r.disa_mean_at_k, 3)} / {f(r.flowrl_mean_at_k, 3)}"])
    lines.append(disa_h5.markdown_table(header, rows))
    near = df.iloc[int(np.argmin(np.abs(np.log(df["beta"].to_numpy()) - math.log(star))))]
    lines += [f"Nearest to the matched β* = {f(star, 3)}: β = {fmt_beta(near['beta'])} "
              f"(p*(C) = {f(near['target_mass'], 3)}); there DISA − FlowRL on the lower bound "
              f"is {f(near['bound_difference'], 3)} [{f(near['bound_low'], 3)}, "
              f"{f(near['bound_high'], 3)}]: {verdict(near['bound_low'], near['bound_high'])}; "
              f"on the KL on C {f(near['kl_difference'], 3)} [{f(near['kl_low'], 3)}, "
              f"{f(near['kl_high'], 3)}]: {verdict(near['kl_low'], near['kl_high'])}.", "",
              "Each DISA_β is anchored and trained at β (jobs/sweep-beta.sh) and, like FlowRL, "
              "measured against p*_β; intervals are paired over the evaluation prompts "
              "(and the seeds both have; a one-seed DISA_β is paired with every FlowRL "
              "seed, so DISA's own seed spread is not in its interval). KL on C is "
              "lower-better and β-free; the lower bound adds the mass term "
              "kl2(p*_β(C), π(C)), so a policy whose π(C) is far from p*_β(C) pays there."]
    return lines


def parse_disa(entries):
    out = {}
    for entry in entries:
        beta, sep, path = entry.partition("=")
        try:
            b = float(beta)
        except ValueError:
            b = math.nan
        if not sep or not path or not (b > 0):
            raise disa_h5.InputError(f"--disa {entry}: expected BETA=EVAL_H5 with BETA > 0")
        out.setdefault(b, []).append(path)
    return out


def parser():
    p = argparse.ArgumentParser(description="DISA at several betas vs FlowRL at matched "
                                            "target sharpness p*(C).")
    p.add_argument("--reference", required=True, metavar="EVAL_H5",
                   help="evaluation of the reference (its reference_mass gives p*_beta(C))")
    p.add_argument("--flowrl", required=True, action="append", metavar="EVAL_H5",
                   help="FlowRL's evaluation (repeat per seed: seed-<s>.h5)")
    p.add_argument("--disa", action="append", default=[], metavar="BETA=EVAL_H5",
                   help="DISA anchored and trained at BETA (repeat per beta and seed)")
    p.add_argument("--choose-betas", type=int, metavar="COUNT",
                   help="print COUNT betas whose p*(C) brackets FlowRL's pi(C), and exit")
    p.add_argument("-o", "--out", metavar="DIR", help="output directory")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    reference = paired_stats.load_policy("reference", [args.reference])
    ref_mass = reference_masses(reference)
    flow = paired_stats.load_policy("FlowRL", args.flowrl)
    paired_stats.check_same_prompts(reference.runs[0][1], flow.runs[0][1], "reference vs FlowRL: ")
    flow_mass = policy_mass_mean(flow)
    if args.choose_betas is not None:
        if args.choose_betas < 1:
            raise disa_h5.InputError("--choose-betas: COUNT must be >= 1")
        star, betas = choose_betas(ref_mass, flow_mass.mean, args.choose_betas)
        print(" ".join(fmt_beta(b) for b in betas))
        print(f"FlowRL pi(C) = {flow_mass.mean:.4g}, matched beta* = {star:.4g}", file=sys.stderr)
        return 0
    if not args.disa or not args.out:
        raise disa_h5.InputError("give --disa BETA=EVAL_H5 (one or more) and -o DIR, "
                                 "or --choose-betas COUNT")
    import pandas as pd

    disa = parse_disa(args.disa)
    df = pd.DataFrame(analyse(reference, args.flowrl, disa), columns=CSV_COLUMNS)
    star = matched_beta(ref_mass, flow_mass.mean)
    flow_kl = paired_stats.estimate(flow, "kl")
    out = disa_h5.ensure_dir(args.out)
    df.to_csv(os.path.join(out, "matched_sharpness.csv"), index=False)
    plot(df, flow_mass, flow_kl, os.path.join(out, "matched_sharpness.png"))
    text = "\n".join(markdown(df, flow_mass, flow_kl, float(np.nanmean(ref_mass)), star,
                              args.flowrl)) + "\n"
    with open(os.path.join(out, "matched_sharpness.md"), "w") as fh:
        fh.write(text)
    print(text, end="")
    print(f"wrote {out}/matched_sharpness.{{csv,png,md}}")
    return 0


if __name__ == "__main__":
    disa_h5.run_main(main)
