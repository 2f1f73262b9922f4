#!/usr/bin/env python3
"""The results table (algorithm x headline metric, mean ± se) from eval.h5 files.

    tools/results_table.py --eval reference=OUT/eval/reference.h5 --eval disa=OUT/eval/disa.h5 \
        ... [--train disa=OUT/train/disa/train.h5 ...] -o OUT/report

One row per --eval NAME=EVAL_H5, from the file's `macro` row of /summary: Mean@k,
Pass@1, Pass@k (k = the file's samples_per_prompt), distinct correct solutions, strategy
diversity (the judge's strategy count where finite, else distinct correct), exact KL
and TV between the policy and p* on the correct set, coverage and policy mass. --train
NAME=TRAIN_H5 adds the training steps, time and final exact KL of the run called NAME.
Writes DIR/results.csv (every mean, se and count at full precision) and
DIR/results_table.md (markdown, mean ± se).
"""

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import disa_h5  # noqa: E402

# (key, header, eval metric or None when it depends on the file)
COLUMNS = [
    ("mean_at_k", "Mean@{k}", "mean_at_k"),
    ("pass_at_1", "Pass@1", "pass_at_1"),
    ("pass_at_k", "Pass@{k}", None),
    ("distinct_correct", "distinct correct", "distinct_correct"),
    ("strategies", "strategies", None),
    ("kl", "KL(p* ‖ π) on C", "kl"),
    ("tv", "TV on C", "tv"),
    ("coverage", "coverage", "coverage"),
    ("policy_mass", "policy mass", "policy_mass"),
]


def metric_of(key, run):
    """The eval.h5 metric behind column KEY for RUN (Pass@k and strategy diversity vary)."""
    if key == "pass_at_k":
        return f"pass_at_{run.k}"
    if key == "strategies":
        mean, _ = run.macro("judge_strategies")
        return "judge_strategies" if math.isfinite(mean) else "distinct_correct"
    return dict((c[0], c[2]) for c in COLUMNS)[key]


def results_frame(evals, trains=None):
    """DataFrame, one row per (name, EvalRun): <key>_mean, <key>_se, <key>_count, k,
    strategy_source, and the training columns of the run in TRAINS (name -> TrainRun)."""
    import pandas as pd

    trains = trains or {}
    rows = []
    for name, run in evals:
        row = {"algorithm": name, "k": run.k, "model": run.attrs.get("model", ""),
               "benchmarks": ",".join(run.benchmarks),
               "coverage_threshold": float(run.attrs.get("coverage_threshold", math.nan)),
               "file": run.path}
        for key, _, _ in COLUMNS:
            metric = metric_of(key, run)
            row[f"{key}_mean"], row[f"{key}_se"] = run.macro(metric)
            row[f"{key}_count"] = (float(run.count.at["macro", metric])
                                   if metric in run.count.columns else math.nan)
        row["strategy_source"] = metric_of("strategies", run)
        train = trains.get(name)
        if train is not None:
            row["train_algorithm"] = train.algorithm
            row["train_steps"] = int(train.attrs.get("steps", len(train.metrics)))
            row["train_seconds"] = float(train.attrs.get("train_seconds", math.nan))
            row["final_exact_kl"] = float(train.attrs.get("final_exact_kl", math.nan))
        rows.append(row)
    return pd.DataFrame(rows).set_index("algorithm")


def markdown(df):
    """The table as markdown (mean ± se), with a note on the columns."""
    ks = sorted(set(int(k) for k in df["k"]))
    k = str(ks[0]) if len(ks) == 1 else "k"
    header = ["algorithm"] + [h.format(k=k) for _, h, _ in COLUMNS]
    has_train = "train_steps" in df.columns
    has_exact = has_train and df["final_exact_kl"].notna().any()
    if has_train:
        header += ["train steps", "train time (s)"]
        header += ["final exact KL (train)"] if has_exact else []
    rows = []
    for name, r in df.iterrows():
        cells = [name]
        for key, _, _ in COLUMNS:
            cell = disa_h5.fmt_pm(r[f"{key}_mean"], r[f"{key}_se"])
            if key == "strategies" and r["strategy_source"] != "judge_strategies" and cell != "-":
                cell += " †"
            cells.append(cell)
        if has_train:
            cells += [disa_h5.fmt_num(r.get("train_steps")),
                      disa_h5.fmt_num(r.get("train_seconds"))]
            if has_exact:
                cells.append(disa_h5.fmt_num(r.get("final_exact_kl")))
        rows.append(cells)
    text = disa_h5.markdown_table(header, rows)
    text += ("\nMacro averages over the benchmarks, mean ± standard error over prompts"
             + (f"; k = {k} samples per prompt" if len(ks) == 1 else
                "; k differs between runs (column k of results.csv)")
             + ". KL and TV compare the policy with p* restricted to the correct set C; "
             "coverage is the share of correct responses given at least tau times the "
             "uniform share of the policy's correct mass"
             + "".join(f" (tau = {disa_h5.fmt_num(t)})"
                       for t in set(df["coverage_threshold"].dropna()) if len(
                           set(df["coverage_threshold"].dropna())) == 1)
             + ". '-': not measured.")
    if (df["strategy_source"] != "judge_strategies").any():
        text += " †: no judge count, distinct correct solutions shown instead."
    return text + "\n"


def parser():
    p = argparse.ArgumentParser(
        description="Results table (Mean@k, Pass@1, Pass@k, distinct correct, strategies, "
                    "exact KL/TV to p*, coverage, policy mass) from eval.h5 files.")
    p.add_argument("--eval", action="append", required=True, metavar="NAME=EVAL_H5",
                   help="an eval.h5 file and its row name (repeatable, rows in this order)")
    p.add_argument("--train", action="append", default=[], metavar="NAME=TRAIN_H5",
                   help="train.h5 of the row NAME: adds steps, time, final exact KL")
    p.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="output directory (results.csv, results_table.md)")
    return p


def named_files(entries, option):
    out = []
    for entry in entries:
        name, path = disa_h5.parse_named(entry)
        if name is None:
            if not os.path.exists(path):
                raise disa_h5.InputError(f"{option} {entry}: no such file (expected NAME=PATH)")
            name = os.path.splitext(os.path.basename(path))[0]
        out.append((name, path))
    names = [n for n, _ in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise disa_h5.InputError(f"{option}: name(s) given twice: {', '.join(dup)}")
    return out


def main(argv=None):
    args = parser().parse_args(argv)
    evals = [(n, disa_h5.read_eval(p)) for n, p in named_files(args.eval, "--eval")]
    trains = {n: disa_h5.read_train(p) for n, p in named_files(args.train, "--train")}
    unknown = sorted(set(trains) - {n for n, _ in evals})
    if unknown:
        raise disa_h5.InputError(f"--train {', '.join(unknown)}: no --eval row of that name")
    df = results_frame(evals, trains)
    out = disa_h5.ensure_dir(args.out)
    csv = os.path.join(out, "results.csv")
    df.to_csv(csv)
    md = os.path.join(out, "results_table.md")
    with open(md, "w") as f:
        f.write(markdown(df))
    print(markdown(df))
    print(f"wrote {csv}\nwrote {md}")
    return 0


if __name__ == "__main__":
    disa_h5.run_main(main)
