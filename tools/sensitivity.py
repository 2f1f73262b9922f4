#!/usr/bin/env python3
"""Bias-variance study of the importance-sampled anchors log Zhat, from stored trajectories.

    tools/sensitivity.py --ref OUT/study/ref.h5 [--strong OUT/study/strong.h5] \
        [--mixture OUT/study/mixture.h5] [--betas 0.5,1,2,4] [--ns 1,2,4,8,16,32,64] -o DIR

No model is run: every estimate is recomputed from the partition files' trajectories.
For each sample size N, each prompt's samples (canonical (prompt, sample) order) are cut
into floor(S / N) disjoint groups of N; per group log Zhat = logsumexp(l) - log N and its
error against the exact log Z. Empirical bias = mean error over a prompt's groups,
variance = variance over its groups (ddof 1), both averaged over the prompts with a
finite exact log Z (docs/method.md §2). Prediction: bias ~ -V / (2N), variance ~ V / N,
V the relative variance of w = exp(l) under q: exact for q = pi_ref with binary rewards,
V = (e^beta - 1)^2 p (1 - p) / Z^2, else estimated from all S samples as
S sum w^2 / (sum w)^2 - 1. Other inverse temperatures beta' reuse the stored columns,
l' = beta' r + log pi_ref - log q, with exact log Z(beta') = log(1 + (e^beta' - 1) p) and
p = (e^{log Z} - 1) / (e^beta - 1) from the file's exact log Z (binary rewards only).

Writes DIR/sensitivity.csv (every number), DIR/sensitivity_n.png (|bias| and variance vs
N, reference proposal, file's beta), DIR/sensitivity_beta.png (vs beta at a fixed N) and
DIR/sensitivity_proposal.png (vs N for each proposal file), and prints a short summary
comparing the empirical pattern with the prediction.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import disa_h5  # noqa: E402

ROLES = ["reference", "strong", "mixture"]
CSV_COLUMNS = ["role", "proposal", "proposal_kind", "file", "samples", "file_beta", "beta",
               "n", "groups", "prompts", "bias", "bias_se", "variance", "pred_bias",
               "pred_variance", "v_mean", "v_source", "bias_ratio", "variance_ratio"]
ASYMPTOTIC_N = 8  # the second-order prediction is judged at N >= this


class Study:
    """The trajectories of one partition file as [P, S] arrays, and what is exact."""

    def __init__(self, part, role):
        self.part = part
        self.role = role
        self.beta0 = part.beta
        self.reward = disa_h5.trajectory_grid(part, "reward")
        self.log_pi_ref = disa_h5.trajectory_grid(part, "log_pi_ref")
        self.log_q = disa_h5.trajectory_grid(part, "log_q")
        self.log_weight = disa_h5.trajectory_grid(part, "log_weight")
        self.samples = self.reward.shape[1]
        self.exact0 = part.prompts["log_z_exact"].to_numpy(dtype=float)
        self.binary = bool(np.all((self.reward == 0) | (self.reward == 1)))
        # q = pi_ref exactly (temperature 1, no truncation): log q equals log pi_ref.
        self.q_is_ref = bool(np.allclose(self.log_q, self.log_pi_ref, rtol=0, atol=1e-9))
        with np.errstate(invalid="ignore"):
            p = np.expm1(self.exact0) / np.expm1(self.beta0)
        self.p_correct = np.clip(p, 0.0, 1.0) if self.binary else np.full_like(p, np.nan)

    def log_weights(self, beta):
        if beta == self.beta0:
            return self.log_weight
        return beta * self.reward + self.log_pi_ref - self.log_q

    def exact_log_z(self, beta):
        if beta == self.beta0:
            return self.exact0
        return np.log1p(np.expm1(beta) * self.p_correct)  # NaN unless binary and known

    def relative_variance(self, beta):
        """(V per prompt, True where V is exact rather than estimated)."""
        l = self.log_weights(beta)
        a = l - np.max(l, axis=1, keepdims=True)
        w = np.exp(a)
        estimated = self.samples * np.sum(w * w, axis=1) / np.sum(w, axis=1) ** 2 - 1
        if not (self.q_is_ref and self.binary):
            return estimated, np.zeros(len(estimated), dtype=bool)
        p = self.p_correct
        z = 1 + np.expm1(beta) * p
        exact = np.expm1(beta) ** 2 * p * (1 - p) / z ** 2
        known = np.isfinite(exact)
        return np.where(known, exact, estimated), known


def study_point(study, beta, n):
    """One CSV row: empirical and predicted bias/variance of log Zhat at (beta, N)."""
    groups = study.samples // n
    l = study.log_weights(beta)[:, : groups * n].reshape(-1, groups, n)
    log_z_hat = disa_h5.logsumexp(l, axis=2) - np.log(n)  # [P, groups]
    exact = study.exact_log_z(beta)
    use = np.isfinite(exact)
    if not use.any():  # nothing to compare with: spread only, over every prompt
        use = np.ones(len(exact), dtype=bool)
    err = log_z_hat[use] - exact[use, None]  # NaN rows when no exact value
    v, v_exact = study.relative_variance(beta)
    v, v_exact = v[use], v_exact[use]
    row = {
        "role": study.role,
        "proposal": study.part.attrs.get("proposal", ""),
        "proposal_kind": study.part.attrs.get("proposal_kind", ""),
        "file": study.part.path,
        "samples": study.samples,
        "file_beta": study.beta0,
        "beta": beta,
        "n": n,
        "groups": groups,
        "prompts": int(use.sum()),
        "bias": float(np.mean(err)) if np.isfinite(err).all() else np.nan,
        "bias_se": np.nan,
        "variance": np.nan,
        "pred_bias": float(-np.mean(v) / (2 * n)),
        "pred_variance": float(np.mean(v) / n),
        "v_mean": float(np.mean(v)),
        "v_source": "exact" if v_exact.all() else ("estimated" if not v_exact.any() else "mixed"),
    }
    if groups >= 2:
        var_p = np.var(log_z_hat[use], axis=1, ddof=1)  # the spread needs no exact value
        row["variance"] = float(np.mean(var_p))
        if np.isfinite(row["bias"]):
            row["bias_se"] = float(np.sqrt(np.sum(var_p / groups)) / len(var_p))
    with np.errstate(divide="ignore", invalid="ignore"):
        row["bias_ratio"] = row["bias"] / row["pred_bias"] if row["pred_bias"] else np.nan
        row["variance_ratio"] = (row["variance"] / row["pred_variance"]
                                 if row["pred_variance"] else np.nan)
    return row


def run_study(studies, betas, ns):
    """All (file, beta, N) rows as a DataFrame with CSV_COLUMNS."""
    import pandas as pd

    rows = []
    betas = sorted(set(betas) | {s.beta0 for s in studies})  # compare proposals at each beta
    for study in studies:
        for beta in betas:
            for n in ns:
                if n <= study.samples:
                    rows.append(study_point(study, beta, n))
    return pd.DataFrame(rows, columns=CSV_COLUMNS)


def default_beta_n(df):
    """N of the beta study: 8 when it has >= 2 groups, else the largest such N."""
    ns = sorted(df.loc[df["groups"] >= 2, "n"].unique())
    if not ns:
        return int(df["n"].max())
    return 8 if 8 in ns else int(ns[-1])


def short(text, width=48):
    text = str(text)
    return text if len(text) <= width else text[: width - 1] + "…"


def _panel(ax, x, emp, pred, color, signed, err=None):
    """Empirical points (signed: filled when negative, open when positive) and the
    predicted curve of |value| on a log axis; ERR: standard errors drawn as ±2 SE bars
    (cut at the axis when they reach zero). Returns the positive values drawn."""
    order = np.argsort(np.asarray(x, dtype=float))
    x = np.asarray(x, dtype=float)[order]
    emp = np.asarray(emp, dtype=float)[order]
    pred = np.abs(np.asarray(pred, dtype=float)[order])
    mag = np.abs(emp)
    if err is not None:
        err = np.nan_to_num(np.asarray(err, dtype=float)[order])
        ax.errorbar(x, mag, yerr=[np.minimum(2 * err, mag * (1 - 1e-9)), 2 * err], fmt="none",
                    ecolor=color, alpha=0.4, elinewidth=0.8)
    filled = (emp < 0) if signed else np.isfinite(emp)
    ax.plot(x[filled], mag[filled], "o", color=color, linestyle="none")
    if signed:
        ax.plot(x[emp > 0], mag[emp > 0], "o", color=color, linestyle="none",
                markerfacecolor="white")
    ax.plot(x, pred, "-", color=color, alpha=0.8)
    ax.set_yscale("log")
    ax.grid(alpha=0.3, which="both")
    values = np.concatenate([mag, pred])
    return values[np.isfinite(values) & (values > 0)]


def plot_two_panels(groups, x_column, out_path, title, x_label, log_x):
    """|bias| (left) and variance (right) of log Zhat against X_COLUMN, one colour per
    (label, DataFrame) in GROUPS, with a legend of the colours and marker meanings."""
    plt = disa_h5.pyplot()
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    drawn = [[], []]
    for i, (_, d) in enumerate(groups):
        c = colors[i % len(colors)]
        drawn[0].append(_panel(axes[0], d[x_column], d["bias"], d["pred_bias"], c, True,
                               err=d["bias_se"]))
        dv = d[np.isfinite(d["variance"])]
        drawn[1].append(_panel(axes[1], dv[x_column], dv["variance"], dv["pred_variance"], c,
                               False))
    for ax, values, y_label in zip(axes, drawn, ["|bias| of log Zhat", "Var[log Zhat]"]):
        values = np.concatenate(values) if values else np.array([])
        if len(values):
            ax.set_ylim(values.min() / 4, values.max() * 3)
        if log_x:
            ax.set_xscale("log", base=2)
        ax.set(xlabel=x_label, ylabel=y_label)
    axes[0].set_title("|E[log Zhat] - log Z| (bars: ±2 SE)", fontsize=10)
    axes[1].set_title("variance over disjoint groups", fontsize=10)
    handles = [Line2D([], [], color=colors[i % len(colors)], marker="s", linestyle="none",
                      label=label) for i, (label, _) in enumerate(groups)]
    handles += [Line2D([], [], color="gray", marker="o", linestyle="none",
                       label="empirical (bias < 0)"),
                Line2D([], [], color="gray", marker="o", markerfacecolor="white",
                       linestyle="none", label="empirical (bias > 0)"),
                Line2D([], [], color="gray", label="predicted -V/(2N), V/N")]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 4), fontsize=8,
               frameon=False)
    fig.suptitle(title, fontsize=11)
    rows = (len(handles) + 3) // 4
    fig.tight_layout(rect=(0, 0.06 * rows, 1, 1))
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return out_path


def plot_study(df, out_dir, beta_n):
    """The three PNGs from a study DataFrame; returns their paths."""
    out_dir = disa_h5.ensure_dir(out_dir)
    ref = df[df["role"] == "reference"]
    beta0 = ref["file_beta"].iloc[0]
    b0 = disa_h5.fmt_num(beta0)
    at_b0 = ref[ref["beta"] == beta0]
    label = f"reference: {short(at_b0['proposal'].iloc[0])}"
    paths = [
        plot_two_panels([(label, at_b0)], "n", os.path.join(out_dir, "sensitivity_n.png"),
                        f"log Zhat against sample size N (beta = {b0}, V "
                        f"{at_b0['v_source'].iloc[0]})", "N (samples per estimate)", True),
        plot_two_panels([(label, ref[ref["n"] == beta_n])], "beta",
                        os.path.join(out_dir, "sensitivity_beta.png"),
                        f"log Zhat against the inverse temperature beta (N = {beta_n})",
                        "beta", False),
    ]
    groups = []
    for role in ROLES:
        d = df[(df["role"] == role) & (df["beta"] == beta0)]
        if len(d):
            groups.append((f"{role}: {short(d['proposal'].iloc[0])}", d))
    paths.append(plot_two_panels(groups, "n", os.path.join(out_dir, "sensitivity_proposal.png"),
                                 f"log Zhat against N for each proposal (beta = {b0}; "
                                 "predictions use each proposal's V)",
                                 "N (samples per estimate)", True))
    return paths


def _ratios(d):
    return ", ".join(f"N={int(r.n)}: {disa_h5.fmt_num(r.bias_ratio, 2)}/"
                     f"{disa_h5.fmt_num(r.variance_ratio, 2)}" for r in d.itertuples())


def summarize(df, beta_n=None):
    """Plain-text sentences on how the study's numbers compare with the prediction."""
    f = disa_h5.fmt_num
    lines = []
    ref = df[df["role"] == "reference"]
    if ref.empty:
        return ["No reference-proposal rows in the study."]
    beta_n = beta_n or default_beta_n(ref)
    at_b0 = ref[ref["beta"] == ref["file_beta"]].sort_values("n")
    b0 = f(at_b0["file_beta"].iloc[0])
    lines.append(f"Reference proposal, beta = {b0}, {int(at_b0['prompts'].iloc[0])} prompts, "
                 f"S = {int(at_b0['samples'].iloc[0])} samples each, V "
                 f"{at_b0['v_source'].iloc[0]} (mean V = {f(at_b0['v_mean'].iloc[0], 3)}). "
                 f"Empirical/predicted ratio of bias/variance: {_ratios(at_b0)}.")
    biased = at_b0[np.isfinite(at_b0["bias"])]
    if len(biased):
        neg = int((biased["bias"] < 0).sum())
        with_se = biased[np.isfinite(biased["bias_se"])]
        sig = with_se[np.abs(with_se["bias"]) > 2 * with_se["bias_se"]]
        lines.append(f"The empirical bias is negative at {neg} of {len(biased)} sample sizes; "
                     f"|bias| > 2 SE at {len(sig)} of the {len(with_se)} sizes with two or "
                     "more groups.")
    asym = at_b0[(at_b0["n"] >= ASYMPTOTIC_N) & np.isfinite(at_b0["variance_ratio"])]
    if len(asym):
        br = np.nanmedian(asym["bias_ratio"]) if np.isfinite(asym["bias_ratio"]).any() else np.nan
        vr = np.nanmedian(asym["variance_ratio"])
        within = asym[np.abs(asym["bias"] - asym["pred_bias"]) <= 2 * asym["bias_se"]]
        ok = np.isfinite(br) and 0.5 <= br <= 2 and 0.5 <= vr <= 2
        lines.append(f"For N >= {ASYMPTOTIC_N} (where the second-order expansion applies) the "
                     f"median ratio empirical/predicted is {f(br, 3)} for the bias and "
                     f"{f(vr, 3)} for the variance; the predicted bias lies within 2 SE of the "
                     f"empirical one at {len(within)} of {len(asym)} sizes. The pattern "
                     + ("matches the prediction (both median ratios within a factor 2)." if ok else
                        "does not match the prediction (a median ratio is outside a factor "
                        "2)."))
    else:
        lines.append(f"No sample size N >= {ASYMPTOTIC_N} with two or more groups: the "
                     "second-order prediction cannot be judged.")
    by_beta = ref[(ref["n"] == beta_n) & np.isfinite(ref["variance"])].sort_values("beta")
    if len(by_beta) >= 2:
        rising = bool(np.all(np.diff(by_beta["variance"].to_numpy()) > 0))
        lines.append(f"At N = {beta_n} the empirical variance over beta = "
                     f"{', '.join(f(b) for b in by_beta['beta'])} is "
                     f"{', '.join(f(v, 3) for v in by_beta['variance'])} (predicted "
                     f"{', '.join(f(v, 3) for v in by_beta['pred_variance'])}): "
                     + ("it grows with beta, as predicted." if rising else
                        "it does not grow monotonically with beta."))
    props = []
    for role in ROLES:
        d = df[(df["role"] == role) & (df["beta"] == at_b0["file_beta"].iloc[0])
               & (df["n"] == beta_n)]
        if len(d):
            props.append((role, d.iloc[0]))
    if len(props) >= 2:
        desc = "; ".join(f"{role}: V = {f(r['v_mean'], 3)} ({r['v_source']}), variance "
                         f"{f(r['variance'], 3)}, bias {f(r['bias'], 3)}" for role, r in props)
        ref_var = props[0][1]["variance"] if props[0][0] == "reference" else np.nan
        smaller = [role for role, r in props[1:] if r["variance"] < ref_var]
        lines.append(f"Proposals at beta = {b0}, N = {beta_n}: {desc}. Variance below the "
                     "reference "
                     f"proposal's: {', '.join(smaller) if smaller else 'none'}.")
    return lines


def parser():
    p = argparse.ArgumentParser(
        description="Bias-variance study of log Zhat against the exact log Z, recomputed "
                    "from partition-file trajectories (sample size N, beta, proposal).")
    p.add_argument("--ref", required=True, metavar="REF_H5",
                   help="partition file with q = pi_ref and many samples per prompt")
    p.add_argument("--strong", metavar="H5", help="partition file with a stronger proposal")
    p.add_argument("--mixture", metavar="H5", help="partition file with a defensive mixture")
    p.add_argument("--betas", default="0.5,1,2,4",
                   help="inverse temperatures of the beta study (the file's beta is added)")
    p.add_argument("--ns", default="1,2,4,8,16,32,64",
                   help="sample sizes N (those above the samples per prompt are skipped)")
    p.add_argument("--beta-n", type=int, metavar="N",
                   help="N of the beta and proposal comparison (default 8, else the largest "
                        "N with two groups)")
    p.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="output directory (sensitivity.csv and three PNGs)")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    betas = disa_h5.parse_floats(args.betas, "--betas")
    ns = sorted(set(disa_h5.parse_ints(args.ns, "--ns")))
    if any(b <= 0 for b in betas):
        raise disa_h5.InputError(f"--betas: inverse temperatures must be > 0, got {args.betas}")
    studies = []
    for role, path in zip(ROLES, [args.ref, args.strong, args.mixture]):
        if path:
            studies.append(Study(disa_h5.read_partition(path, trajectories=True), role))
    ref = studies[0]
    skipped = [n for n in ns if n > ref.samples]
    if skipped:
        print(f"note: N = {', '.join(map(str, skipped))} skipped ({args.ref} has "
              f"{ref.samples} samples per prompt)")
    if not ref.binary:
        print(f"note: {args.ref} has non-binary rewards: no exact log Z at other betas")
    df = run_study(studies, betas, ns)
    if df.empty:
        raise disa_h5.InputError(f"--ns: no N <= {ref.samples} samples per prompt of {args.ref}")
    beta_n = args.beta_n or default_beta_n(df[df["role"] == "reference"])
    if beta_n not in set(df["n"]):
        raise disa_h5.InputError(f"--beta-n {beta_n}: not among the sample sizes studied")
    out = disa_h5.ensure_dir(args.out)
    csv = os.path.join(out, "sensitivity.csv")
    df.to_csv(csv, index=False)
    print(f"wrote {csv}")
    for path in plot_study(df, out, beta_n):
        print(f"wrote {path}")
    print("\n".join(summarize(df, beta_n)))
    return 0


if __name__ == "__main__":
    disa_h5.run_main(main)
