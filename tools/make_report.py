#!/usr/bin/env python3
"""The run report: runs every analysis tool on a pipeline output directory and writes
OUT/report/results.md with the setup, the results table, the plots and a verdict on each
of the paper's claims computed from the numbers.

    tools/make_report.py OUT [--docs docs/results.md] [--wall-time SECONDS]

Layout read (whatever exists): OUT/anchors.h5, OUT/study/{ref,strong,mixture}.h5,
OUT/train/<alg>/train.h5, OUT/eval/<name>.h5 (reference, disa, flowrl, grpo, gspo, sft).
Outputs in OUT/report/: training_curves.png, anchor_*.png, sensitivity*.{png,csv},
results.csv, results_table.md, results.md. With --docs PATH the report is also written
to PATH with its PNGs (and CSVs) copied to the folder named after PATH (docs/results/).
Exit code 2 when OUT is missing or an input file is unreadable or of the wrong format
(the report is still written from the rest, listing the problem).
"""

import argparse
import glob
import math
import os
import re
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import disa_h5  # noqa: E402
import plot_anchors  # noqa: E402
import plot_training  # noqa: E402
import results_table  # noqa: E402
import sensitivity  # noqa: E402

ALGORITHMS = ["disa", "flowrl", "grpo", "gspo", "sft"]
EVAL_ORDER = ["reference"] + ALGORITHMS
DISPLAY = {"disa": "DISA", "flowrl": "FlowRL", "grpo": "GRPO", "gspo": "GSPO",
           "sft": "LoRA-SFT", "reference": "reference"}
HOLDS, FAILS, NOISE, UNTESTED = ("holds", "does not hold", "inconclusive (within noise)",
                                 "not tested")


def ordered(paths_by_name, order):
    known = [n for n in order if n in paths_by_name]
    return known + sorted(n for n in paths_by_name if n not in order)


def discover(out):
    """The files of the OUT layout that exist."""
    study = {role: os.path.join(out, "study", f"{name}.h5")
             for role, name in zip(sensitivity.ROLES, ["ref", "strong", "mixture"])}
    trains = {os.path.basename(os.path.dirname(p)): p
              for p in glob.glob(os.path.join(out, "train", "*", "train.h5"))}
    evals = {os.path.splitext(os.path.basename(p))[0]: p
             for p in glob.glob(os.path.join(out, "eval", "*.h5"))}
    anchors = os.path.join(out, "anchors.h5")
    unfinished = sorted(glob.glob(os.path.join(out, "*.h5.incomplete"))
                        + glob.glob(os.path.join(out, "*", "*.h5.incomplete"))
                        + glob.glob(os.path.join(out, "train", "*", "*.h5.incomplete")))
    return {
        "unfinished": [os.path.relpath(p, out) for p in unfinished],
        "anchors": anchors if os.path.exists(anchors) else None,
        "study": {r: p for r, p in study.items() if os.path.exists(p)},
        "train": {n: trains[n] for n in ordered(trains, ALGORITHMS)},
        "eval": {n: evals[n] for n in ordered(evals, EVAL_ORDER)},
    }


# ----------------------------------------------------------------------------- claims


METRIC_LABEL = {"mean_at_k": "Mean@k", "pass_at_k": "Pass@k", "kl": "exact KL to p*",
                "distinct_correct": "distinct correct", "coverage": "coverage"}
HIGHER_BETTER = {"mean_at_k": True, "pass_at_k": True, "kl": False,
                 "distinct_correct": True, "coverage": True}


def compare(df, a, b, key):
    """Outcome of A against B on metric KEY: (outcome, text) with outcome one of
    'better', 'worse', 'within noise' (|difference| <= 2 se of the difference), 'no se'
    (a standard error is unknown), or None when either value is missing."""
    f = disa_h5.fmt_num
    ma, sa = df.at[a, f"{key}_mean"], df.at[a, f"{key}_se"]
    mb, sb = df.at[b, f"{key}_mean"], df.at[b, f"{key}_se"]
    label = METRIC_LABEL[key]
    quoted = (f"{label}: {DISPLAY.get(a, a)} {disa_h5.fmt_pm(ma, sa, 3)} vs "
              f"{DISPLAY.get(b, b)} {disa_h5.fmt_pm(mb, sb, 3)}")
    if np.isnan(ma) or np.isnan(mb) or (np.isinf(ma) and np.isinf(mb)):
        return None, quoted + " (not comparable)"
    if "benchmarks" in df.columns and str(df.at[a, "benchmarks"]) != str(df.at[b, "benchmarks"]):
        return None, quoted + (f" (not comparable: benchmarks {df.at[a, 'benchmarks']} vs "
                               f"{df.at[b, 'benchmarks']})")
    if key == "pass_at_k" and df.at[a, "k"] != df.at[b, "k"]:
        return None, quoted + f" (not comparable: k = {df.at[a, 'k']} vs {df.at[b, 'k']})"
    sign = 1 if HIGHER_BETTER[key] else -1
    if np.isinf(ma) or np.isinf(mb):  # an infinite KL: the finite one is better
        outcome = "better" if sign * (ma - mb) > 0 else "worse"
        return outcome, f"{quoted}: {outcome}"
    diff = ma - mb
    if not (np.isfinite(sa) and np.isfinite(sb)):
        return "no se", f"{quoted} (difference {diff:+.3g}; no standard error: not judged)"
    two_se = 2 * math.sqrt(sa ** 2 + sb ** 2)
    if sign * diff > two_se:
        outcome = "better"
    elif sign * diff < -two_se:
        outcome = "worse"
    else:
        outcome = "within noise"
    return outcome, f"{quoted} (difference {diff:+.3g}, 2 se {f(two_se, 2)}): {outcome}"


def judge_claim(df, baselines, keys, mode):
    """Verdict and quoted numbers of 'DISA beats' (MODE 'beat') or 'matches or beats'
    (MODE 'match') the BASELINES on the metrics KEYS."""
    if "disa" not in df.index:
        return UNTESTED, ["no DISA evaluation (OUT/eval/disa.h5)"]
    present = [b for b in baselines if b in df.index]
    missing = [DISPLAY.get(b, b) for b in baselines if b not in df.index]
    lines, per_baseline = [], []
    for b in present:
        outcomes = []
        for key in keys:
            outcome, text = compare(df, "disa", b, key)
            lines.append(text)
            if outcome:
                outcomes.append(outcome)
        if outcomes:
            per_baseline.append(outcomes)
    if missing:
        lines.append(f"no evaluation of {', '.join(missing)}: not compared")
    if mode == "match" and per_baseline and not any("better" in o for o in per_baseline):
        lines.append("no metric differs by more than 2 se: DISA matches here, it is not "
                     "shown to be better")
    if not per_baseline:
        return UNTESTED, lines
    if any("worse" in o for o in per_baseline):
        return FAILS, lines
    if mode == "match" and all(set(o) <= {"better", "within noise"} for o in per_baseline):
        return HOLDS, lines
    if mode == "beat" and all("better" in o for o in per_baseline):
        return HOLDS, lines
    return NOISE, lines


def claims(df):
    """[(claim, verdict, quoted lines)] for the paper's claims (a)-(d)."""
    others = [b for b in ALGORITHMS[1:] if b in df.index]
    out = [
        ("(a) DISA matches or beats FlowRL (Mean@k, Pass@k, exact KL to p*)",
         *judge_claim(df, ["flowrl"], ["mean_at_k", "pass_at_k", "kl"], "match")),
        ("(b) DISA beats GRPO and GSPO (Mean@k, Pass@k)",
         *judge_claim(df, ["grpo", "gspo"], ["mean_at_k", "pass_at_k"], "beat")),
        ("(c) DISA beats LoRA-SFT on the same trajectories (Mean@k, Pass@k)",
         *judge_claim(df, ["sft"], ["mean_at_k", "pass_at_k"], "beat")),
        ("(d) DISA keeps more diverse solutions than "
         + (", ".join(DISPLAY[b] for b in others) if others else "the baselines")
         + " (distinct correct, coverage, lower exact KL to p*)",
         *judge_claim(df, others or ["flowrl", "grpo", "gspo", "sft"],
                      ["distinct_correct", "coverage", "kl"], "beat")),
    ]
    return out


CLAIM_RULES = (
    "A metric counts as better or worse when the difference of the macro means exceeds "
    "2 standard errors of the difference, sqrt(se_a^2 + se_b^2) (the runs share their "
    "evaluation prompts but are treated as independent, which is conservative); "
    "otherwise it is within noise (a metric without a standard error is not judged). "
    "\"Beats\" holds when DISA is better on at least one "
    "metric and worse on none against every baseline, \"matches or beats\" when it is "
    "worse on none; any significantly worse metric means the claim does not hold; "
    "all differences within noise give \"inconclusive (within noise)\"; a baseline "
    "without an evaluation file is not compared.")


# ----------------------------------------------------------------------------- report text


def hms(seconds):
    s = int(round(seconds))
    return f"{s} s ({s // 3600}:{s // 60 % 60:02d}:{s % 60:02d})"


def setup_section(files, part, study_parts, runs, evals, wall_time):
    f = disa_h5.fmt_num
    lines = ["## Setup", ""]
    source = part or (study_parts[0] if study_parts else None)
    if source is not None:
        a = source.attrs
        lines.append(f"* Reference model `{a.get('reference_model', '?')}`, task "
                     f"`{a.get('task', '?')}` ({a.get('dataset_source', '')}), code "
                     f"`{a.get('code_version', '?')}`.")
    if part is not None:
        a = part.attrs
        lines.append(f"* Anchors (`anchors.h5`): {len(part.prompts)} prompts, N = "
                     f"{part.samples_per_prompt} samples per prompt from {a.get('proposal')}, "
                     f"beta = {f(part.beta)}, {a.get('world_size', '?')} ranks.")
    for p in study_parts:
        a = p.attrs
        lines.append(f"* Study file `{os.path.relpath(p.path, files['out'])}`: "
                     f"{len(p.prompts)} prompts, N = {p.samples_per_prompt}, proposal "
                     f"{a.get('proposal')} ({a.get('proposal_kind')}), beta = {f(p.beta)}.")
    if runs:
        lines += ["", "Training runs:", ""]
        header = ["algorithm", "beta", "residual", "steps", "prompts", "ranks", "LoRA",
                  "policy init", "train time"]
        rows = []
        for name, r in runs.items():
            a = r.attrs
            t = a.get("train_seconds")
            rows.append([name, f(a.get("beta")), a.get("residual", "-"), a.get("steps", "-"),
                         a.get("prompts", "-"), a.get("world_size", "-"),
                         "yes" if a.get("lora") else "no", f"`{a.get('policy_init', '-')}`",
                         hms(t) if t is not None else "-"])
        lines.append(disa_h5.markdown_table(header, rows))
    if evals:
        lines += ["Evaluations:", ""]
        header = ["name", "model", "k", "benchmarks", "ranks"]
        rows = [[name, f"`{e.attrs.get('model', '-')}`", e.k,
                 ", ".join(e.benchmarks) or "-",
                 e.attrs.get("world_size", "-")] for name, e in evals.items()]
        lines.append(disa_h5.markdown_table(header, rows))
    if wall_time is not None:
        lines += [f"Total wall time of the pipeline: {hms(wall_time)}.", ""]
    if files["unfinished"]:
        lines += ["Unfinished files (a job still running or killed; not used): "
                  + ", ".join(f"`{p}`" for p in files["unfinished"]) + ".", ""]
    return lines


FINAL_METRICS = ["reward_mean", "residual_mean", "kl_ref", "entropy", "exact_kl",
                 "response_length_mean"]


def final_values_table(runs):
    """Markdown table of the last finite value of each training metric per run."""
    header = ["algorithm", "last step"] + FINAL_METRICS
    rows = []
    for name, r in runs.items():
        m = r.metrics
        cells = [name, disa_h5.fmt_num(m["step"].max()) if len(m) else "-"]
        for c in FINAL_METRICS:
            v = m[c].dropna() if c in m else []
            cells.append(disa_h5.fmt_num(v.iloc[-1]) if len(v) else "-")
        rows.append(cells)
    return disa_h5.markdown_table(header, rows)


OUTPUTS = ["training_curves.png", "anchor_ess_hist.png", "anchor_logz_vs_exact.png",
           "sensitivity.csv", "sensitivity_n.png", "sensitivity_beta.png",
           "sensitivity_proposal.png", "results.csv", "results_table.md", "results.md"]
ASSETS = "@@ASSETS@@/"  # replaced by the folder of the PNGs/CSVs relative to the report


def image(lines, report_dir, name, caption):
    if os.path.exists(os.path.join(report_dir, name)):
        lines += [f"![{caption}]({ASSETS}{name})", ""]


def build_report(files, report_dir, wall_time, problems):
    """Runs the tools into REPORT_DIR and returns the markdown of results.md, its links
    to PNGs and CSVs prefixed with ASSETS; unreadable inputs are added to PROBLEMS."""
    # Inputs (each read failure is recorded and that part skipped).
    def attempt(fn, *args):
        try:
            return fn(*args)
        except disa_h5.InputError as e:
            problems.append(str(e))
            print(f"error: {e}", file=sys.stderr)
            return None

    part = attempt(disa_h5.read_partition, files["anchors"]) if files["anchors"] else None
    study_parts = [p for p in (attempt(disa_h5.read_partition, path)
                               for path in files["study"].values()) if p is not None]
    runs = {n: r for n, r in ((n, attempt(disa_h5.read_train, p))
                              for n, p in files["train"].items()) if r is not None}
    evals = {n: e for n, e in ((n, attempt(disa_h5.read_eval, p))
                               for n, p in files["eval"].items()) if e is not None}

    lines = ["# DISA: results of this run", "",
             f"Generated by `tools/make_report.py` from the HDF5 files in `{files['out']}`.",
             ""]
    lines += setup_section(files, part, study_parts, runs, evals, wall_time)

    # Results table and claims.
    lines += ["## Results", ""]
    df = None
    if evals:
        argv = [a for n in evals for a in ("--eval", f"{n}={files['eval'][n]}")]
        argv += [a for n in runs if n in evals for a in ("--train", f"{n}={files['train'][n]}")]
        attempt(results_table.main, argv + ["-o", report_dir])
        csv = os.path.join(report_dir, "results.csv")
        if os.path.exists(csv):
            import pandas as pd

            df = pd.read_csv(csv, index_col="algorithm")
            with open(os.path.join(report_dir, "results_table.md")) as fh:
                lines += [fh.read(), f"All numbers: [results.csv]({ASSETS}results.csv).", ""]
    else:
        lines += ["No evaluation files (OUT/eval/*.h5): no results table.", ""]

    lines += ["## The paper's claims in this run", ""]
    if df is None:
        lines += ["Not tested: no evaluation results.", ""]
    else:
        for claim, verdict, quoted in claims(df):
            lines.append(f"* **{claim}: {verdict}.**")
            lines += [f"  * {q}" for q in quoted]
        lines += ["", CLAIM_RULES, ""]

    # Training.
    lines += ["## Training", ""]
    if runs:
        labels = disa_h5.train_labels(list(runs.values()), list(runs))
        attempt(plot_training.plot_training, list(runs.values()), labels, report_dir)
        image(lines, report_dir, "training_curves.png", "training curves")
        lines += ["Last logged value of each metric:", "", final_values_table(runs)]
        disa = runs.get("disa")
        if (disa is not None and "residual_mean" in disa.metrics
                and disa.attrs.get("residual") == "logmeanexp"):
            res = disa.metrics["residual_mean"].dropna()
            if len(res):
                lines += ["With the sequence-level residual the mean residual at convergence "
                          "estimates the anchor error without ground truth (docs/method.md §"
                          f"3); DISA's last logged mean residual is "
                          f"{disa_h5.fmt_num(res.iloc[-1], 3)} (step "
                          f"{int(disa.metrics.loc[res.index[-1], 'step'])}).", ""]
    else:
        lines += ["No training runs (OUT/train/*/train.h5).", ""]

    # Anchors.
    lines += ["## Anchor diagnostics", ""]
    if part is not None:
        attempt(plot_anchors.plot_anchors, part, report_dir)
        lines += [plot_anchors.summary_paragraph(plot_anchors.anchor_stats(part)), ""]
        image(lines, report_dir, "anchor_ess_hist.png", "ESS/N histogram")
        image(lines, report_dir, "anchor_logz_vs_exact.png", "log Zhat vs exact log Z")
    else:
        lines += ["No partition file (OUT/anchors.h5).", ""]

    # Sensitivity study.
    lines += ["## Sensitivity of log Zhat (bias and variance)", ""]
    ref = files["study"].get("reference") or files["anchors"]
    if ref and (files["study"].get("reference") or part is not None):
        if "reference" not in files["study"]:
            lines += ["No `study/ref.h5`: the study uses the samples of `anchors.h5`.", ""]
        argv = ["--ref", ref, "-o", report_dir]
        for role, opt in [("strong", "--strong"), ("mixture", "--mixture")]:
            if role in files["study"]:
                argv += [opt, files["study"][role]]
        attempt(sensitivity.main, argv)
        csv = os.path.join(report_dir, "sensitivity.csv")
        if os.path.exists(csv):
            import pandas as pd

            lines += [" ".join(sensitivity.summarize(pd.read_csv(csv))), "",
                      f"All numbers: [sensitivity.csv]({ASSETS}sensitivity.csv).", ""]
            for name, caption in [("sensitivity_n.png", "bias and variance vs N"),
                                  ("sensitivity_beta.png", "bias and variance vs beta"),
                                  ("sensitivity_proposal.png", "bias and variance by proposal")]:
                image(lines, report_dir, name, caption)
    else:
        lines += ["No partition file for the study (OUT/study/ref.h5 or OUT/anchors.h5).", ""]

    if problems:
        lines += ["## Problems", "", "These inputs could not be used:", ""]
        lines += [f"* {p}" for p in problems] + [""]
    return "\n".join(lines).rstrip() + "\n"


def parser():
    p = argparse.ArgumentParser(
        description="Run the analysis tools on a pipeline output directory and write "
                    "OUT/report/results.md (setup, table, plots, verdicts on the claims).")
    p.add_argument("out", metavar="OUT", help="pipeline output directory")
    p.add_argument("--docs", metavar="PATH",
                   help="also write the report to PATH (e.g. docs/results.md), with its PNGs "
                        "and CSVs copied to the folder PATH without .md (docs/results/)")
    p.add_argument("--wall-time", type=float, metavar="SECONDS",
                   help="total wall time of the pipeline, stated in the setup")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if not os.path.isdir(args.out):
        raise disa_h5.InputError(f"{args.out}: no such directory (expected a pipeline output)")
    files = discover(args.out)
    files["out"] = args.out
    if not (files["anchors"] or files["study"] or files["train"] or files["eval"]):
        raise disa_h5.InputError(f"{args.out}: none of anchors.h5, study/*.h5, "
                                 "train/*/train.h5, eval/*.h5 exists")
    report_dir = disa_h5.ensure_dir(os.path.join(args.out, "report"))
    for name in OUTPUTS:  # never report a stale output of an earlier run
        if os.path.exists(os.path.join(report_dir, name)):
            os.remove(os.path.join(report_dir, name))
    problems = []
    text = build_report(files, report_dir, args.wall_time, problems)
    path = os.path.join(report_dir, "results.md")
    with open(path, "w") as fh:
        fh.write(text.replace(ASSETS, ""))
    print(f"wrote {path}")
    if args.docs:
        docs_dir = os.path.dirname(os.path.abspath(args.docs))
        asset_name = os.path.splitext(os.path.basename(args.docs))[0]
        assets = disa_h5.ensure_dir(os.path.join(docs_dir, asset_name))
        for name in sorted(set(re.findall(re.escape(ASSETS) + r"([^)\s]+)", text))):
            shutil.copy2(os.path.join(report_dir, name), os.path.join(assets, name))
        with open(args.docs, "w") as fh:
            fh.write(text.replace(ASSETS, f"{asset_name}/"))
        print(f"wrote {args.docs} (images in {assets}/)")
    if problems:
        print(f"error: {len(problems)} input file(s) could not be used; see {path}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    disa_h5.run_main(main)
