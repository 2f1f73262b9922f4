#!/usr/bin/env python3
"""Diagnostics plots and summary of the anchors in one partition file (`disa anchor`).

    tools/plot_anchors.py OUT/anchors.h5 -o OUT/report

Writes DIR/anchor_ess_hist.png (histogram of ESS/N over prompts) and, when the file has
exact log Z values, DIR/anchor_logz_vs_exact.png (log Zhat against exact log Z with the
identity line and +-2 delta-method standard errors), and prints a one-paragraph summary:
mean |log Zhat - log Z|, the share of prompts within 2 SE, and the flagged prompts.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import disa_h5  # noqa: E402


def anchor_stats(part):
    """Summary numbers of a Partition's anchors and diagnostics (a dict)."""
    p = part.prompts
    err = (p["log_z_hat"] - p["log_z_exact"]).to_numpy()
    exact = np.isfinite(err)
    se = p["delta_se"].to_numpy() if "delta_se" in p else np.full(len(p), np.nan)
    within = np.abs(err[exact]) <= 2 * se[exact]
    spread = se[exact] > 0  # a delta-method SE of 0 (e.g. every sample wrong) covers nothing
    ess = p["ess_fraction"].to_numpy() if "ess_fraction" in p else np.full(len(p), np.nan)
    k_hat = p["k_hat"].to_numpy() if "k_hat" in p else np.full(len(p), np.nan)
    flags = p["flags"].to_numpy() if "flags" in p else np.zeros(len(p), dtype=np.int64)
    return {
        "file": part.path,
        "prompts": len(p),
        "samples_per_prompt": part.samples_per_prompt,
        "beta": part.beta,
        "proposal": part.attrs.get("proposal", ""),
        "proposal_kind": part.attrs.get("proposal_kind", ""),
        "ess_fraction_mean": float(np.nanmean(ess)) if np.isfinite(ess).any() else np.nan,
        "ess_fraction_min": float(np.nanmin(ess)) if np.isfinite(ess).any() else np.nan,
        "pass_rate_mean": float(p["pass_rate"].mean()) if "pass_rate" in p else np.nan,
        "exact_prompts": int(exact.sum()),
        "mean_abs_error": float(np.mean(np.abs(err[exact]))) if exact.any() else np.nan,
        "mean_error": float(np.mean(err[exact])) if exact.any() else np.nan,
        "within_2se": int(within.sum()),
        "within_2se_fraction": float(within.mean()) if exact.any() else np.nan,
        "positive_se_prompts": int(spread.sum()),
        "within_2se_positive_se": int(within[spread].sum()),
        "k_hat_above_threshold": int(np.sum((flags & 2) != 0)),
        "flagged_prompts": int(np.sum(flags != 0)),
        "flag_counts": disa_h5.flag_counts(flags),
    }


def summary_paragraph(s):
    """One paragraph of plain text from anchor_stats()."""
    f = disa_h5.fmt_num
    text = (f"{os.path.basename(s['file'])}: {s['prompts']} prompts x N = "
            f"{s['samples_per_prompt']} samples from the proposal {s['proposal']} "
            f"({s['proposal_kind']}), beta = {f(s['beta'])}; mean pass rate "
            f"{f(s['pass_rate_mean'], 3)}; ESS/N mean {f(s['ess_fraction_mean'], 3)}, "
            f"min {f(s['ess_fraction_min'], 3)}. ")
    if s["exact_prompts"]:
        text += (f"Against the exact log Z ({s['exact_prompts']} prompts): mean "
                 f"|log Zhat - log Z| = {f(s['mean_abs_error'], 3)} (mean signed error "
                 f"{f(s['mean_error'], 3)}); {s['within_2se']}/{s['exact_prompts']} "
                 f"({100 * s['within_2se_fraction']:.0f}%) within 2 delta-method SE")
        if s["positive_se_prompts"] < s["exact_prompts"]:
            text += (f" ({s['within_2se_positive_se']}/{s['positive_se_prompts']} of the "
                     "prompts whose SE is not 0; an SE of 0, as when every sample is wrong, "
                     "covers only an exact hit)")
        text += ". "
    else:
        text += "No prompt has an exact log Z, so the anchors cannot be checked against truth. "
    if s["flagged_prompts"]:
        parts = ", ".join(f"{n} {name}" for name, n in s["flag_counts"].items())
        text += f"Flagged prompts: {s['flagged_prompts']} ({parts})."
    else:
        text += "No prompt is flagged."
    return text


def plot_anchors(part, out_dir):
    """Draws the ESS/N histogram and (with exact values) the log Z scatter; returns paths."""
    plt = disa_h5.pyplot()
    out_dir = disa_h5.ensure_dir(out_dir)
    p = part.prompts
    paths = []

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    ess = p["ess_fraction"].to_numpy(dtype=float)
    ess = ess[np.isfinite(ess)]
    ax.hist(ess, bins=np.linspace(0, 1, 21), color="tab:blue", edgecolor="white")
    ax.set_xlabel("ESS / N")
    ax.set_ylabel("prompts")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"effective sample size, N = {part.samples_per_prompt}, "
                 f"beta = {disa_h5.fmt_num(part.beta)}", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "anchor_ess_hist.png"))
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    exact = np.isfinite(p["log_z_exact"].to_numpy(dtype=float))
    if exact.any():
        q = p[exact]
        flagged = (q["flags"].to_numpy() & ~8) != 0 if "flags" in q else np.zeros(len(q), bool)
        se = q["delta_se"].to_numpy(dtype=float) if "delta_se" in q else np.zeros(len(q))
        fig, ax = plt.subplots(figsize=(5, 5))
        for mask, color, label in [(~flagged, "tab:blue", "prompts"),
                                   (flagged, "tab:red", "flagged prompts")]:
            if mask.any():
                ax.errorbar(q["log_z_exact"][mask], q["log_z_hat"][mask], yerr=2 * se[mask],
                            fmt="o", markersize=3, color=color, ecolor=color, alpha=0.7,
                            elinewidth=0.8, label=label)
        lo = float(np.nanmin([q["log_z_exact"].min(), (q["log_z_hat"] - 2 * se).min()]))
        hi = float(np.nanmax([q["log_z_exact"].max(), (q["log_z_hat"] + 2 * se).max()]))
        pad = 0.05 * (hi - lo) if hi > lo else 0.5
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], "k--", linewidth=1,
                label="identity")
        ax.set_xlabel("exact log Z")
        ax.set_ylabel("log Zhat (± 2 delta-method SE)")
        ax.set_title(f"anchors vs exact log Z ({exact.sum()} prompts)", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        paths.append(os.path.join(out_dir, "anchor_logz_vs_exact.png"))
        fig.savefig(paths[-1], dpi=110)
        plt.close(fig)
    return paths


def parser():
    p = argparse.ArgumentParser(
        description="ESS/N histogram, log Zhat vs exact log Z scatter and a summary of "
                    "the anchors of a partition file.")
    p.add_argument("partition", metavar="PARTITION_H5", help="partition file (disa anchor)")
    p.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="output directory (anchor_ess_hist.png, anchor_logz_vs_exact.png)")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    part = disa_h5.read_partition(args.partition)
    for path in plot_anchors(part, args.out):
        print(f"wrote {path}")
    if not np.isfinite(part.prompts["log_z_exact"]).any():
        print("note: no exact log Z in the file; anchor_logz_vs_exact.png not drawn")
    print(summary_paragraph(anchor_stats(part)))
    return 0


if __name__ == "__main__":
    disa_h5.run_main(main)
