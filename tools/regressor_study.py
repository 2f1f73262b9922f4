#!/usr/bin/env python3
"""The frozen-regressor study: error of the raw, regressor and shrinkage anchors against the
exact log Z, and DISA's exact KL to p* after training with each anchor.

    tools/regressor_study.py STUDY_DIR [--train-n N] [--wall-time SECONDS] -o DIR

STUDY_DIR is the output of jobs/regressor-study.sh: STUDY_DIR/<task>/n-<N>/regressor.h5
(`disa anchor fit` on STUDY_DIR/<task>/n-<N>/anchors.h5, the partition file of `disa
anchor` with N samples per prompt) and, optionally, STUDY_DIR/train/<anchor>/seed-<s>/train.h5
(`disa train --disa.anchor <anchor>` on the N = --train-n files of graph_paths).

Per task and N, over the prompts whose exact log Z is finite (the others are excluded and
counted), the mean squared error to the exact log Z of

* raw: `log_z_hat`, the partition file's anchor (anchored prompts);
* regressor: `prediction`, g(x) of the ridge fitted on all anchored prompts, this one
  included (anchored prompts, in sample);
* shrinkage: `shrinkage`, c(x) = (tau^2 log_z_hat + s^2 g(x)) / (s^2 + tau^2), the anchor
  `--disa.anchor shrinkage` trains with (anchored prompts);
* held-out regressor: `cv_prediction`, g(x) of the model fitted without the prompt's
  cross-validation fold (out of fold). This is the held-out prompt: its own anchor was not
  used to fit the g that predicts it, so it stands for a prompt the anchor stage never
  saw. Such a prompt has no log_z_hat, so held-out rows report the regressor only.
  (The ridge strength and tau^2 were chosen by the CV over all prompts, so the held-out
  numbers are not entirely free of the prompt; the fold models see (K-1)/K of the prompts.)

with the standard error of each MSE over prompts (sd of the squared errors / sqrt(n)) and
the paired difference shrinkage - raw (and held-out regressor - raw) with its standard
error over prompts. Also: how many prompts have s = 0 (all N weights equal: every sample
correct or every sample wrong under q = pi_ref with binary rewards; then c = log_z_hat,
and shrinkage cannot move the anchor), the MSE of raw and shrinkage on the prompts with
s > 0, and two diagnostics, not anchors training uses: the shrinkage built on the out-of-fold g,
and the shrinkage with s^2 of the s = 0 prompts floored at the delta-method V/N of a
Jeffreys-smoothed pass rate (k + 1/2)/(N + 1) (read from the partition file beside the
regressor file; q = pi_ref with binary rewards only, else NaN). The variance of the exact
log Z over the prompts is the MSE of the best constant predictor.

Training: final_exact_kl (KL(p*|C || pi_theta|C)), final_exact_tv and
final_exact_policy_mass (pi_theta(C)) of every train.h5, averaged over seeds with the
standard error over seeds, and each anchor's difference to raw paired by seed.

Writes DIR/regressor_study.csv (one row per task and N), DIR/regressor_study_train.csv (one
row per training run), DIR/regressor_study.png (MSE against N, log scales, one panel per
task, one line per estimator, the s-floored diagnostic and the variance of the exact log Z) and DIR/regressor_study.md (the tables).
"""

import argparse
import glob
import math
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import disa_h5  # noqa: E402

# (key, regressor-file column, prompt set, label)
ESTIMATORS = [
    ("raw", "log_z_hat", "anchored", "raw log Zhat"),
    ("regressor", "prediction", "anchored", "regressor g (in sample)"),
    ("shrinkage", "shrinkage", "anchored", "shrinkage c"),
    ("heldout", "cv_prediction", "held-out", "held-out regressor g (out of fold)"),
]
TASK_ORDER = ["graph_paths", "countdown"]
ANCHOR_ORDER = ["raw", "shrinkage", "regressor", "exact"]


def mean_se(x):
    """Mean and its standard error (sd with ddof 1 / sqrt(n)); se NaN for n < 2."""
    x = np.asarray(x, dtype=float)
    if len(x) == 0:
        return math.nan, math.nan
    se = float(np.std(x, ddof=1) / math.sqrt(len(x))) if len(x) > 1 else math.nan
    return float(np.mean(x)), se


def floored_s2(pass_rate, n, beta):
    """s^2 of a prompt whose N weights are all equal (s = 0), from a Jeffreys-smoothed pass
    rate p = (k + 1/2) / (N + 1) (k = 0 or N correct): the delta-method V / N of binary
    weights exp(beta r) under q = pi_ref, V = (e^beta - 1)^2 p (1 - p) / (1 + (e^beta - 1) p)^2."""
    k = np.asarray(pass_rate, dtype=float) * n
    p = (k + 0.5) / (n + 1)
    e = math.expm1(beta)
    return e * e * p * (1 - p) / (1 + e * p) ** 2 / n


def anchor_errors(prompts, tau2, s2_floor=None):
    """The study's numbers for one regressor file's per-prompt DataFrame (columns of
    disa_h5.REGRESSOR_PROMPT_DATASETS) and its tau^2, as a flat dict. S2_FLOOR: per-prompt
    s^2 to use where s = 0 (floored_s2), for the diagnostic 'shrinkage_floor'; None: NaN."""
    exact = prompts["log_z_exact"].to_numpy(dtype=float)
    cols = {key: prompts[col].to_numpy(dtype=float) for key, col, _, _ in ESTIMATORS}
    s = prompts["standard_error"].to_numpy(dtype=float)
    finite_exact = np.isfinite(exact)
    ok = finite_exact & np.isfinite(s)
    for v in cols.values():
        ok &= np.isfinite(v)
    row = {"prompts_total": int(len(exact)), "prompts": int(ok.sum()),
           "excluded_no_exact": int((~finite_exact).sum()),
           "excluded_nonfinite": int((finite_exact & ~ok).sum())}
    sq = {key: (v[ok] - exact[ok]) ** 2 for key, v in cols.items()}
    for key in sq:
        row[f"mse_{key}"], row[f"se_{key}"] = mean_se(sq[key])
    for key in ("shrinkage", "regressor", "heldout"):
        row[f"diff_{key}_raw"], row[f"se_diff_{key}_raw"] = mean_se(sq[key] - sq["raw"])
    s_ok = s[ok]
    zero = s_ok == 0
    row["s_zero"] = int(zero.sum())
    row["s_zero_fraction"] = float(zero.mean()) if len(s_ok) else math.nan
    pos = ~zero
    row["prompts_s_positive"] = int(pos.sum())
    row["mse_raw_s_positive"], row["se_raw_s_positive"] = mean_se(sq["raw"][pos])
    row["mse_shrinkage_s_positive"], row["se_shrinkage_s_positive"] = mean_se(sq["shrinkage"][pos])
    row["diff_shrinkage_raw_s_positive"], row["se_diff_shrinkage_raw_s_positive"] = \
        mean_se(sq["shrinkage"][pos] - sq["raw"][pos])
    # Diagnostic: the shrinkage formula with the out-of-fold g (no in-sample optimism).
    s2 = s_ok ** 2
    raw, g_oof = cols["raw"][ok], cols["heldout"][ok]
    with np.errstate(invalid="ignore", divide="ignore"):
        c_oof = np.where(s2 + tau2 > 0, (tau2 * raw + s2 * g_oof) / (s2 + tau2), raw)
    row["mse_shrinkage_oof"], row["se_shrinkage_oof"] = mean_se((c_oof - exact[ok]) ** 2)
    # Diagnostic: shrinkage with s^2 floored where s = 0 (not an anchor disa computes).
    if s2_floor is not None:
        s2f = np.where(zero, np.asarray(s2_floor, dtype=float)[ok], s2)
        c_f = (tau2 * raw + s2f * cols["regressor"][ok]) / (s2f + tau2)
        sq_f = (c_f - exact[ok]) ** 2
        row["mse_shrinkage_floor"], row["se_shrinkage_floor"] = mean_se(sq_f)
        row["diff_shrinkage_floor_raw"], row["se_diff_shrinkage_floor_raw"] = mean_se(sq_f - sq["raw"])
    else:
        for k in ("mse_shrinkage_floor", "se_shrinkage_floor", "diff_shrinkage_floor_raw",
                  "se_diff_shrinkage_floor_raw"):
            row[k] = math.nan
    row["var_exact"] = float(np.var(exact[ok])) if ok.any() else math.nan
    row["mean_s2"] = float(np.mean(s2)) if len(s2) else math.nan
    return row


def study_files(study_dir):
    """[(task, N, regressor path)] found as STUDY_DIR/<task>/n-<N>/regressor.h5."""
    found = []
    for path in glob.glob(os.path.join(study_dir, "*", "n-*", "regressor.h5")):
        m = re.fullmatch(r"n-(\d+)", os.path.basename(os.path.dirname(path)))
        if m:
            task = os.path.basename(os.path.dirname(os.path.dirname(path)))
            found.append((task, int(m.group(1)), path))
    order = {t: i for i, t in enumerate(TASK_ORDER)}
    return sorted(found, key=lambda x: (order.get(x[0], len(order)), x[0], x[1]))


def anchor_table(study_dir):
    import pandas as pd

    rows = []
    for task, n, path in study_files(study_dir):
        reg = disa_h5.read_regressor(path)
        file_task = str(reg.attrs.get("task", task))
        if file_task != task:
            raise disa_h5.InputError(f"{path}: task '{file_task}', but it lies under '{task}/'")
        part_path = os.path.join(os.path.dirname(path), "anchors.h5")
        s2_floor = None
        if os.path.exists(part_path):
            with disa_h5.open_h5(part_path, disa_h5.FORMAT_PARTITION) as f:
                file_n = int(disa_h5.decode(f.attrs.get("samples_per_prompt", n)))
                kind = str(disa_h5.decode(f.attrs.get("proposal_kind", "")))
                if file_n != n:
                    raise disa_h5.InputError(f"{part_path}: samples_per_prompt {file_n}, but it lies under n-{n}/")
                # The s = 0 floor needs binary weights exp(beta r): q = pi_ref, 0/1 rewards.
                if kind == "reference" and "diagnostics/pass_rate" in f and "prompts/id" in f:
                    rate = dict(zip(disa_h5.decode(f["prompts/id"][:]), f["diagnostics/pass_rate"][:]))
                    pr = np.array([rate.get(i, math.nan) for i in reg.prompts["id"]], dtype=float)
                    s2_floor = floored_s2(pr, n, float(reg.attrs.get("beta", math.nan)))
        row = {"task": task, "n": n, "file": path, "beta": float(reg.attrs.get("beta", math.nan)),
               "tau2": reg.tau2, "lambda": float(reg.attrs.get("lambda", math.nan)),
               "folds": int(reg.attrs.get("folds", 0) or 0)}
        row.update(anchor_errors(reg.prompts, reg.tau2, s2_floor))
        rows.append(row)
    return pd.DataFrame(rows)


def train_table(study_dir):
    """One row per STUDY_DIR/train/<anchor>/seed-<s>/train.h5."""
    import pandas as pd

    rows = []
    for path in sorted(glob.glob(os.path.join(study_dir, "train", "*", "seed-*", "train.h5"))):
        seed_dir = os.path.basename(os.path.dirname(path))
        anchor = os.path.basename(os.path.dirname(os.path.dirname(path)))
        run = disa_h5.read_train(path)
        kind = str(run.attrs.get("anchor_kind", anchor))
        if {"estimate": "raw"}.get(kind, kind) != anchor:
            raise disa_h5.InputError(f"{path}: anchor_kind '{kind}', but it lies under train/{anchor}/")
        m = run.metrics
        first = m["exact_kl"].dropna() if "exact_kl" in m else []
        rows.append({
            "anchor": anchor, "seed": int(run.attrs.get("seed", seed_dir.split("-")[-1])),
            "steps": int(run.attrs.get("steps", 0) or 0), "file": path,
            "initial_exact_kl": float(first.iloc[0]) if len(first) else math.nan,
            "initial_exact_policy_mass": float(m["exact_policy_mass"].dropna().iloc[0])
            if "exact_policy_mass" in m and m["exact_policy_mass"].notna().any() else math.nan,
            "final_exact_kl": float(run.attrs.get("final_exact_kl", math.nan)),
            "final_exact_tv": float(run.attrs.get("final_exact_tv", math.nan)),
            "final_exact_policy_mass": float(run.attrs.get("final_exact_policy_mass", math.nan)),
            "train_seconds": float(run.attrs.get("train_seconds", math.nan)),
        })
    df = pd.DataFrame(rows)
    if len(df):
        order = {a: i for i, a in enumerate(ANCHOR_ORDER)}
        df = df.sort_values(["anchor", "seed"], key=lambda c: c.map(lambda v: order.get(v, 99))
                            if c.name == "anchor" else c).reset_index(drop=True)
    return df


def train_summary(df):
    """Per anchor: mean and se over seeds; the difference to raw paired by seed."""
    out = []
    if not len(df):
        return out
    raw = df[df.anchor == "raw"].set_index("seed")
    for anchor, g in df.groupby("anchor", sort=False):
        r = {"anchor": anchor, "seeds": " ".join(str(s) for s in sorted(g.seed)),
             "steps": int(g.steps.iloc[0])}
        for metric in ("final_exact_kl", "final_exact_tv", "final_exact_policy_mass"):
            r[metric], r[metric + "_se"] = mean_se(g[metric])
            common = [s for s in g.seed if s in raw.index]
            if anchor != "raw" and common:
                d = g.set_index("seed").loc[common, metric] - raw.loc[common, metric]
                r[metric + "_minus_raw"], r[metric + "_minus_raw_se"] = mean_se(d)
            else:
                r[metric + "_minus_raw"] = r[metric + "_minus_raw_se"] = math.nan
        r["per_seed_kl"] = ", ".join(f"{v:.4f}" for v in g.sort_values("seed").final_exact_kl)
        out.append(r)
    return out


def plot(df, path):
    plt = disa_h5.pyplot()
    tasks = list(dict.fromkeys(df.task))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.4 * len(tasks), 3.6), squeeze=False)
    styles = {"raw": ("k", "o", "-"), "regressor": ("tab:blue", "s", "--"),
              "shrinkage": ("tab:red", "^", "-"), "heldout": ("tab:green", "D", ":")}
    for ax, task in zip(axes[0], tasks):
        d = df[df.task == task].sort_values("n")
        for key, _, _, label in ESTIMATORS:
            color, marker, ls = styles[key]
            ax.errorbar(d.n, d[f"mse_{key}"], yerr=d[f"se_{key}"], color=color, marker=marker,
                        ls=ls, ms=4, lw=1.2, capsize=2, label=label)
        if d.mse_shrinkage_floor.notna().any():
            ax.plot(d.n, d.mse_shrinkage_floor, color="tab:red", marker="v", ls="--", ms=3, lw=0.8,
                    alpha=0.6, label="diagnostic: c with s floored")
        ax.axhline(d.var_exact.iloc[0], color="grey", ls=":", lw=0.8, label="var of exact log Z")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks(list(d.n))
        ax.set_xticklabels([str(n) for n in d.n])
        ax.set_xlabel("N (samples per prompt)")
        ax.set_title(f"{task} ({int(d.prompts.iloc[0])} prompts)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].set_ylabel("MSE to exact log Z (± SE)")
    axes[0][-1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def pm(mean, se, digits=3):
    return disa_h5.fmt_pm(mean, se, digits)


def markdown(df, summary, train_n, wall_time):
    lines = ["# Frozen regressor: anchor error and training (tools/regressor_study.py)", ""]
    lines.append("MSE to the exact log Z over the prompts with a finite exact log Z, "
                 "± its standard error over prompts. Anchored: raw `log_z_hat`, the "
                 "in-sample regressor g and the shrinkage c. Held-out: the out-of-fold "
                 "regressor g (fitted without the prompt's CV fold); a held-out prompt has "
                 "no anchor, so only g. `c - raw`: the paired difference of squared errors "
                 "(negative: shrinkage is better). `s = 0`: prompts whose N weights are all "
                 "equal (c = log_z_hat there).")
    lines.append("")
    header = ["task", "N", "prompts", "s = 0", "raw", "regressor (in sample)", "shrinkage c",
              "c - raw (paired)", "held-out regressor", "held-out - raw (paired)"]
    rows = []
    for _, r in df.iterrows():
        rows.append([r.task, int(r.n), f"{int(r.prompts)}" + (f" (+{int(r.excluded_no_exact)} no exact)"
                     if r.excluded_no_exact else ""),
                     f"{int(r.s_zero)} ({100 * r.s_zero_fraction:.0f}%)",
                     pm(r.mse_raw, r.se_raw), pm(r.mse_regressor, r.se_regressor),
                     pm(r.mse_shrinkage, r.se_shrinkage),
                     pm(r.diff_shrinkage_raw, r.se_diff_shrinkage_raw),
                     pm(r.mse_heldout, r.se_heldout),
                     pm(r.diff_heldout_raw, r.se_diff_heldout_raw)])
    lines.append(disa_h5.markdown_table(header, rows))
    lines.append("On the prompts with s > 0 only (where shrinkage can move the anchor); the "
                 "fit (tau^2, lambda); `var exact log Z`: the MSE of the best constant "
                 "predictor. All prompts, diagnostics that disa does not train with: "
                 "`c (out-of-fold g)`, the shrinkage formula with the held-out g; "
                 "`c (s floored)`, the shrinkage with s^2 of the s = 0 prompts replaced by "
                 "the delta-method V/N at a Jeffreys pass rate (k + 1/2)/(N + 1) "
                 "(q = pi_ref, binary rewards).")
    lines.append("")
    header = ["task", "N", "prompts s > 0", "raw", "shrinkage c", "c - raw (paired)",
              "mean s^2", "tau^2", "lambda", "var exact log Z", "c (out-of-fold g)",
              "c (s floored)", "c (s floored) - raw"]
    rows = []
    for _, r in df.iterrows():
        rows.append([r.task, int(r.n), int(r.prompts_s_positive),
                     pm(r.mse_raw_s_positive, r.se_raw_s_positive),
                     pm(r.mse_shrinkage_s_positive, r.se_shrinkage_s_positive),
                     pm(r.diff_shrinkage_raw_s_positive, r.se_diff_shrinkage_raw_s_positive),
                     disa_h5.fmt_num(r.mean_s2, 3), disa_h5.fmt_num(r.tau2, 3),
                     disa_h5.fmt_num(r["lambda"], 3), disa_h5.fmt_num(r.var_exact, 3),
                     pm(r.mse_shrinkage_oof, r.se_shrinkage_oof),
                     pm(r.mse_shrinkage_floor, r.se_shrinkage_floor),
                     pm(r.diff_shrinkage_floor_raw, r.se_diff_shrinkage_floor_raw)])
    lines.append(disa_h5.markdown_table(header, rows))
    if summary:
        lines.append(f"DISA trained on graph_paths with the N = {train_n} anchors: exact metrics "
                     "on the correct set C at the end of training (train.h5 `final_exact_*`), "
                     "mean ± SE over seeds; `- raw`: difference to the raw anchor, paired by seed.")
        lines.append("")
        header = ["anchor", "seeds", "steps", "KL(p*|C || pi|C)", "KL - raw", "pi(C)",
                  "pi(C) - raw", "TV", "KL per seed"]
        rows = [[s["anchor"], s["seeds"], s["steps"],
                 pm(s["final_exact_kl"], s["final_exact_kl_se"]),
                 pm(s["final_exact_kl_minus_raw"], s["final_exact_kl_minus_raw_se"]),
                 pm(s["final_exact_policy_mass"], s["final_exact_policy_mass_se"]),
                 pm(s["final_exact_policy_mass_minus_raw"], s["final_exact_policy_mass_minus_raw_se"]),
                 pm(s["final_exact_tv"], s["final_exact_tv_se"]), s["per_seed_kl"]] for s in summary]
        lines.append(disa_h5.markdown_table(header, rows))
    if wall_time is not None:
        lines.append(f"Wall time of the job up to the report: {wall_time:.0f} s.")
        lines.append("")
    return "\n".join(lines)


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="MSE to the exact log Z of the raw, regressor and shrinkage anchors "
                    "(anchored and held-out prompts) per task and N, and DISA's exact KL "
                    "after training with each anchor, from the outputs of "
                    "jobs/regressor-study.sh.")
    p.add_argument("study", metavar="STUDY_DIR",
                   help="the job's output: <task>/n-<N>/regressor.h5 and train/<anchor>/seed-<s>/train.h5")
    p.add_argument("--train-n", type=int, default=4, metavar="N",
                   help="the N whose files the training runs used (for the text) [4]")
    p.add_argument("--wall-time", type=float, metavar="SECONDS", help="the job's wall time, for the report")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="output directory")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isdir(args.study):
        raise disa_h5.InputError(f"{args.study}: no such directory (the output of jobs/regressor-study.sh)")
    df = anchor_table(args.study)
    if not len(df):
        raise disa_h5.InputError(f"{args.study}: no <task>/n-<N>/regressor.h5 (run jobs/regressor-study.sh)")
    out = disa_h5.ensure_dir(args.out)
    df.to_csv(os.path.join(out, "regressor_study.csv"), index=False)
    train = train_table(args.study)
    if len(train):
        train.to_csv(os.path.join(out, "regressor_study_train.csv"), index=False)
    plot(df, os.path.join(out, "regressor_study.png"))
    md = markdown(df, train_summary(train), args.train_n, args.wall_time)
    with open(os.path.join(out, "regressor_study.md"), "w") as f:
        f.write(md)
    for _, r in df.iterrows():
        print(f"{r.task} N={int(r.n)}: MSE raw {r.mse_raw:.4g}, g {r.mse_regressor:.4g}, "
              f"c {r.mse_shrinkage:.4g} (c - raw {r.diff_shrinkage_raw:+.3g} ± {r.se_diff_shrinkage_raw:.2g}), "
              f"held-out g {r.mse_heldout:.4g}; s = 0 on {100 * r.s_zero_fraction:.0f}% "
              f"of {int(r.prompts)} prompts")
    print(f"wrote {out}/regressor_study.{{md,csv,png}}" + (" and regressor_study_train.csv" if len(train) else ""))
    return 0


if __name__ == "__main__":
    disa_h5.run_main(main)
