#!/usr/bin/env python3
"""The report of jobs/study.sh: OUT/report/study.md from what the study's stages wrote.

    tools/study_report.py OUT [--docs docs/study.md] [--smoke]

Sections (each from whatever exists in OUT; a missing part is said, not invented):
  * setup and the wall time of every stage (OUT/logs/stage_times.tsv, written by the job);
  * the pipeline's report (OUT/report/results.md of tools/make_report.py: results table,
    paired comparisons, the claims, training, anchors, sensitivity of the study files),
    its headings one level down and its PNG/CSV/JSON links kept;
  * the beta sweep (OUT/sweep-beta/beta-<B>/anchors.h5, q = pi_ref): per beta the
    empirical bias and variance of log Zhat over disjoint groups of N samples against the
    second-order theory -V/(2N), V/N (tools/sensitivity.py's study_point at the file's
    own beta), with ESS/N; plots against beta and against N;
  * the proposal sweep (OUT/sweep-proposal/<name>/anchors.h5): the same per proposal;
  * the regressor measurements (OUT/regressor-study/report/regressor_study.md);
  * DISA vs FlowRL at matched target sharpness (OUT/report/matched/matched_sharpness.md,
    tools/matched_sharpness.py).
With --docs PATH the same text is written to PATH with its assets copied to the folder
named after PATH without .md (docs/study/). --smoke marks the report as a smoke run
(tiny dials: it shows that the job runs, not what the study finds).
"""

import argparse
import glob
import os
import re
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import disa_h5  # noqa: E402
import plot_anchors  # noqa: E402
import sensitivity  # noqa: E402

ASSETS = "@@ASSETS@@/"
NS = [1, 2, 4, 8, 16, 32, 64, 128]


def hms(seconds):
    s = int(round(seconds))
    return f"{s} s ({s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d})"


def stage_times(out):
    """[(stage, seconds)] from OUT/logs/stage_times.tsv, in order; a stage rerun alone
    (jobs/study.sh OUT report) counts with its latest time, not twice."""
    path = os.path.join(out, "logs", "stage_times.tsv")
    times = {}
    if os.path.exists(path):
        for line in open(path):
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 2 and parts[1].isdigit():
                times[parts[0]] = int(parts[1])
    return list(times.items())


def pass_rate(log):
    """(rate, 'c of n samples') from disa warm-start's last 'pass rate on the test split'."""
    found = None
    for line in open(log, errors="replace"):
        m = re.search(r"pass rate on the test split ([0-9.]+) \(([^)]*)\)", line)
        if m:
            found = (float(m.group(1)), m.group(2))
    return found


def embed(md_path, report_dir, src_dir, prefix):
    """The markdown at MD_PATH with headings one level down and its links to files of
    SRC_DIR copied to REPORT_DIR as PREFIX + name and pointed at ASSETS."""
    text = open(md_path).read()
    text = re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", text, flags=re.M)

    def link(m):
        target = m.group(2)
        if "/" in target or "://" in target or not os.path.exists(os.path.join(src_dir, target)):
            return m.group(0)
        name = prefix + target
        if os.path.abspath(os.path.join(src_dir, target)) != os.path.abspath(
                os.path.join(report_dir, name)):
            shutil.copy2(os.path.join(src_dir, target), os.path.join(report_dir, name))
        return f"{m.group(1)}({ASSETS}{name})"

    return re.sub(r"(!?\[[^\]]*\])\(([^)\s]+)\)", link, text).rstrip().split("\n")


def sweep_rows(files, label_of):
    """Sensitivity rows of each (label, partition file) at the file's own beta."""
    import pandas as pd

    rows, stats = [], []
    for path in files:
        part = disa_h5.read_partition(path, trajectories=True)
        st = sensitivity.Study(part, label_of(path, part))
        for n in NS:
            if n <= st.samples // 2:  # two groups or more: a variance
                rows.append(sensitivity.study_point(st, st.beta0, n))
        stats.append((st.role, plot_anchors.anchor_stats(part)))
    return pd.DataFrame(rows, columns=sensitivity.CSV_COLUMNS), stats


def sweep_table(df, stats, n, first):
    f = disa_h5.fmt_num
    header = [first, "beta", "N", "prompts", "bias ± se", "predicted bias", "variance",
              "predicted variance", "mean V", "ESS/N (mean)", "k̂ > 0.7"]
    rows = []
    for role, s in stats:
        d = df[(df["role"] == role) & (df["n"] == n)]
        if not len(d):
            continue
        r = d.iloc[0]
        rows.append([role, f(r["beta"]), int(r["n"]), int(r["prompts"]),
                     disa_h5.fmt_pm(r["bias"], r["bias_se"], 3), f(r["pred_bias"], 3),
                     f(r["variance"], 3), f(r["pred_variance"], 3), f(r["v_mean"], 3),
                     f(s["ess_fraction_mean"], 3), s.get("k_hat_above_threshold", "-")])
    return disa_h5.markdown_table(header, rows)


def common_n(df):
    ns = sorted(set(df["n"]))
    return 8 if 8 in ns else (ns[-1] if ns else None)


def beta_section(out, report_dir):
    files = sorted(glob.glob(os.path.join(out, "sweep-beta", "beta-*", "anchors.h5")),
                   key=lambda p: float(os.path.basename(os.path.dirname(p))[5:]))
    lines = ["## The β sweep: bias and variance of log Ẑ against the theory", ""]
    if not files:
        return lines + ["Not run (no OUT/sweep-beta/beta-*/anchors.h5).", ""]
    df, stats = sweep_rows(files, lambda p, part: f"β = {disa_h5.fmt_num(part.beta)}")
    df.to_csv(os.path.join(report_dir, "sweep_beta.csv"), index=False)
    n = common_n(df)
    groups = [(role, df[df["role"] == role]) for role, _ in stats]
    sensitivity.plot_two_panels([("q = π_ref, one file per β", df[df["n"] == n])], "beta",
                                os.path.join(report_dir, "sweep_beta.png"),
                                f"log Ẑ against β (sweep files, N = {n})", "beta", False)
    sensitivity.plot_two_panels(groups, "n", os.path.join(report_dir, "sweep_beta_n.png"),
                                "log Ẑ against N, one colour per β (lines: -V/(2N), V/N)",
                                "N (samples per estimate)", True)
    by = df[df["n"] == n].sort_values("beta")
    rising = bool(np.all(np.diff(by["variance"].to_numpy()) > 0)) if len(by) > 1 else None
    lines += [f"Each β anchored separately (`jobs/sweep-beta.sh`, q = π_ref, "
              f"{stats[0][1]['samples_per_prompt']} samples per prompt, "
              f"{stats[0][1]['prompts']} prompts). Every file's samples are cut into disjoint "
              "groups of N; bias and variance of log Ẑ over the groups against the exact "
              "log Z, beside the second-order prediction from the exact V "
              "(docs/method.md §2). At N = "
              f"{n} the variance " + ("grows with β, as predicted." if rising else
                                     "does not grow monotonically with β." if rising is False
                                     else "has one β only."), "",
              sweep_table(df, stats, n, "file"),
              f"All numbers: [sweep_beta.csv]({ASSETS}sweep_beta.csv).", "",
              f"![bias and variance vs beta]({ASSETS}sweep_beta.png)", "",
              f"![bias and variance vs N per beta]({ASSETS}sweep_beta_n.png)", ""]
    return lines


def proposal_section(out, report_dir):
    files = sorted(glob.glob(os.path.join(out, "sweep-proposal", "*", "anchors.h5")))
    lines = ["## The proposal sweep: bias and variance by proposal against the theory", ""]
    if not files:
        return lines + ["Not run (no OUT/sweep-proposal/*/anchors.h5).", ""]
    df, stats = sweep_rows(files, lambda p, part: os.path.basename(os.path.dirname(p)))
    order = {"reference": 0, "model": 1}
    stats.sort(key=lambda s: (order.get(s[0], 2), s[0]))
    df.to_csv(os.path.join(report_dir, "sweep_proposal.csv"), index=False)
    n = common_n(df)
    sensitivity.plot_two_panels([(role, df[df["role"] == role]) for role, _ in stats], "n",
                                os.path.join(report_dir, "sweep_proposal.png"),
                                "log Ẑ against N per proposal (lines: each proposal's "
                                "-V/(2N), V/N)", "N (samples per estimate)", True)
    d = df[df["n"] == n].set_index("role")
    smaller = [r for r, _ in stats if r != "reference" and "reference" in d.index
               and d.at[r, "variance"] < d.at["reference", "variance"]]
    lines += ["`jobs/sweep-proposal.sh`: q = π_ref, the stronger model, and defensive "
              "mixtures α q_strong + (1 − α) π_ref, all at the anchor β. V is estimated from "
              f"each file's own weights. At N = {n} the variance is below the reference "
              f"proposal's for: {', '.join(smaller) if smaller else 'none'}.", "",
              sweep_table(df, stats, n, "proposal"),
              f"All numbers: [sweep_proposal.csv]({ASSETS}sweep_proposal.csv).", "",
              f"![bias and variance by proposal]({ASSETS}sweep_proposal.png)", ""]
    return lines


def build(out, report_dir, smoke):
    lines = ["# DISA: the study (jobs/study.sh)", ""]
    if smoke:
        lines += ["**Smoke run (STUDY_SMOKE=1): tiny counts and steps. It shows that every "
                  "stage of the job runs and reports; its numbers say nothing about the "
                  "method.**", ""]
    lines += [f"Generated by `tools/study_report.py` from `{out}` (configurations and "
              "the reasons for their dials: `configs/study/README.md`).", "",
              "The embedded default (`jobs/quickstart.sh`) is a tiny model on 4-node graphs, "
              "where most prompts have one correct path. The study is the same pipeline one "
              "size up: a 0.78M-parameter qwen2 warm-started on 5-node graph paths (median 3 "
              "correct paths per prompt), five algorithms x the seeds of `DISA_SEEDS`, "
              "evaluated on held-out prompts, with the β and proposal sweeps, the frozen "
              "regressor measurements and DISA vs FlowRL at matched target sharpness. "
              "Run it with `jobs/study.sh runs/study` (2 ranks, about an hour on 2 cores; "
              "`DISA_DOCS=1` also rewrites `docs/study.md`, `STUDY_SMOKE=1` runs every stage "
              "at tiny dials, `DISA_DRY_RUN=1` prints the commands); "
              "`jobs/study.sh runs/study matched report` reruns stages.", ""]
    times = stage_times(out)
    if times:
        lines += ["Wall time per stage (2 ranks):", "",
                  disa_h5.markdown_table(["stage", "wall time"],
                                         [[s, hms(t)] for s, t in times]
                                         + [["total", hms(sum(t for _, t in times))]])]
    for name, what in [("warm-start", "reference π_ref"), ("strong", "strong proposal")]:
        log = os.path.join(out, "logs", f"{name}.log")
        rate = pass_rate(log) if os.path.exists(log) else None
        if rate is not None:
            lines += [f"Warm start of the {what}: test pass rate {rate[0]:.3g} ({rate[1]})."
                      + (" **The reference solves almost nothing: every algorithm sees reward "
                         "0 on most prompts, and the comparisons below say little.**"
                         if name == "warm-start" and rate[0] < 0.1 else ""), ""]
    results = os.path.join(out, "report", "results.md")
    lines += ["## The pipeline: every algorithm and seed", ""]
    if os.path.exists(results):
        body = embed(results, report_dir, os.path.join(out, "report"), "")
        lines += [l for l in body[1:]] + [""]  # its title dropped
    else:
        lines += ["Not run (no OUT/report/results.md).", ""]
    lines += beta_section(out, report_dir)
    lines += proposal_section(out, report_dir)
    lines += ["## DISA vs FlowRL at matched target sharpness", ""]
    matched = os.path.join(out, "report", "matched", "matched_sharpness.md")
    if os.path.exists(matched):
        lines += embed(matched, report_dir, os.path.dirname(matched), "")
        lines += ["", f"![matched sharpness]({ASSETS}matched_sharpness.png)", "",
                  f"All numbers: [matched_sharpness.csv]({ASSETS}matched_sharpness.csv).", ""]
        for name in ("matched_sharpness.png", "matched_sharpness.csv"):
            src = os.path.join(os.path.dirname(matched), name)
            if os.path.exists(src):
                shutil.copy2(src, os.path.join(report_dir, name))
    else:
        lines += ["Not run (no OUT/report/matched/matched_sharpness.md).", ""]
    lines += ["## The frozen regressor", ""]
    reg = os.path.join(out, "regressor-study", "report", "regressor_study.md")
    if os.path.exists(reg):
        lines += embed(reg, report_dir, os.path.dirname(reg), "regressor_")[1:] + [""]  # no title
    else:
        lines += ["Not run (no OUT/regressor-study/report/regressor_study.md).", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description="Write OUT/report/study.md from the outputs of "
                                            "jobs/study.sh.")
    p.add_argument("out", metavar="OUT", help="the study's output directory")
    p.add_argument("--docs", metavar="PATH", help="also write PATH (docs/study.md) with its "
                   "assets in the folder PATH without .md")
    p.add_argument("--smoke", action="store_true", help="mark the report as a smoke run")
    args = p.parse_args(argv)
    if not os.path.isdir(args.out):
        raise disa_h5.InputError(f"{args.out}: no such directory (expected jobs/study.sh's output)")
    report_dir = disa_h5.ensure_dir(os.path.join(args.out, "report"))
    text = build(args.out, report_dir, args.smoke)
    path = os.path.join(report_dir, "study.md")
    with open(path, "w") as fh:
        fh.write(text.replace(ASSETS, ""))
    print(f"wrote {path}")
    if args.docs:
        base = os.path.splitext(os.path.basename(args.docs))[0]
        assets = disa_h5.ensure_dir(os.path.join(os.path.dirname(os.path.abspath(args.docs)), base))
        for name in sorted(set(re.findall(re.escape(ASSETS) + r"([^)\s]+)", text))):
            shutil.copy2(os.path.join(report_dir, name), os.path.join(assets, name))
        with open(args.docs, "w") as fh:
            fh.write(text.replace(ASSETS, f"{base}/"))
        print(f"wrote {args.docs} (assets in {assets}/)")
    return 0


if __name__ == "__main__":
    disa_h5.run_main(main)
