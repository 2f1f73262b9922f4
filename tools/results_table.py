#!/usr/bin/env python3
"""The results table (algorithm x headline metric, mean ± se) from eval.h5 files.

    tools/results_table.py --eval reference=OUT/eval/reference.h5 \
        --eval disa=OUT/eval/disa/seed-1.h5 --eval disa=OUT/eval/disa/seed-2.h5 ... \
        [--train disa=OUT/train/disa/seed-1/train.h5 ...] [--beta B] -o OUT/report

One row per NAME of --eval NAME=EVAL_H5; repeating a NAME gives the evaluations of its
training seeds (the seed of a file named seed-N.h5 is N). Each cell is the macro mean
over benchmarks of the per-prompt figures (/prompts/metrics), averaged over the seeds,
± its standard error under the crossed prompts x seeds model of tools/paired_stats.py
(with one seed: the prompt-to-prompt standard error of the eval summary). Columns:
Mean@k, Pass@1, Pass@k (k = the files' samples_per_prompt), distinct correct solutions,
strategy diversity (the judge's strategy count where the files have it, else distinct
correct), exact KL and TV between the policy and p* on the correct set C, coverage, the
mass on C of the policy and (with --beta, the target's inverse temperature) of p*, and
the chain-rule lower bound of the full KL(p* ‖ π) (disa_h5.kl_lower_bound). --train
NAME=TRAIN_H5 (repeatable per seed) adds the training steps, time and final exact KL
(means over the seeds). Writes DIR/results.csv (every mean, se, prompts used, seeds),
DIR/results_table.md (markdown, mean ± se) and DIR/prompt_metrics.csv (per algorithm,
seed and prompt, to 8 significant digits: the masses of C, the KL on C, its mass term
and the lower bound).
"""

import argparse
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import disa_h5  # noqa: E402
import paired_stats  # noqa: E402

# (key, header, eval metric or None when it depends on the policy)
COLUMNS = [
    ("mean_at_k", "Mean@{k}", "mean_at_k"),
    ("pass_at_1", "Pass@1", "pass_at_1"),
    ("pass_at_k", "Pass@{k}", None),
    ("distinct_correct", "distinct correct", "distinct_correct"),
    ("strategies", "strategies", None),
    ("kl", "KL(p* ‖ π) on C", "kl"),
    (disa_h5.KL_LOWER_BOUND, "KL(p* ‖ π) lower bound", disa_h5.KL_LOWER_BOUND),
    ("tv", "TV on C", "tv"),
    ("coverage", "coverage", "coverage"),
    ("policy_mass", "π(C)", "policy_mass"),
    (disa_h5.TARGET_MASS, "p*(C)", disa_h5.TARGET_MASS),
]
# The per-prompt columns of prompt_metrics.csv.
PROMPT_COLUMNS = ["reference_mass", disa_h5.TARGET_MASS, "policy_mass", "kl", disa_h5.KL_MASS,
                  disa_h5.KL_LOWER_BOUND, "mean_at_k"]


def header(key, k):
    """The column header of KEY (Mean@8, ...): the one label of a metric in tables and
    verdicts."""
    return dict((c[0], c[1]) for c in COLUMNS)[key].format(k=k)


def metric_of(key, policy):
    """The per-prompt metric behind column KEY for POLICY (Pass@k and strategies vary)."""
    if key == "pass_at_k":
        return f"pass_at_{policy.k}"
    if key == "strategies":
        judged = all("judge_strategies" in run.metrics
                     and run.metrics["judge_strategies"].notna().any() for _, run in policy.runs)
        return "judge_strategies" if judged else "distinct_correct"
    return dict((c[0], c[2]) for c in COLUMNS)[key]


def results_frame(policies, trains=None):
    """DataFrame, one row per paired_stats.Policy: <key>_mean, <key>_se, <key>_prompts,
    seeds, k, strategy_source, and the training columns (means over the seeds) of the
    TrainRuns in TRAINS (name -> [TrainRun])."""
    import numpy as np
    import pandas as pd

    trains = trains or {}
    rows = []
    for policy in policies:
        first = policy.runs[0][1]
        row = {"algorithm": policy.name, "k": policy.k,
               "seeds": " ".join(str(s) for s in policy.seeds if s is not None),
               "model": first.attrs.get("model", ""), "benchmarks": ",".join(first.benchmarks),
               "coverage_threshold": float(first.attrs.get("coverage_threshold", math.nan)),
               "file": " ".join(run.path for _, run in policy.runs)}
        for key, _, _ in COLUMNS:
            est = paired_stats.estimate(policy, metric_of(key, policy))
            row[f"{key}_mean"] = est.mean if est else math.nan
            row[f"{key}_se"] = est.se if est else math.nan
            row[f"{key}_prompts"] = est.prompts if est else 0
        row["strategy_source"] = metric_of("strategies", policy)
        runs = trains.get(policy.name)
        if runs:
            row["train_algorithm"] = runs[0].algorithm
            row["train_steps"] = float(np.mean([int(r.attrs.get("steps", len(r.metrics)))
                                                for r in runs]))
            row["train_seconds"] = float(np.mean([float(r.attrs.get("train_seconds", math.nan))
                                                  for r in runs]))
            row["final_exact_kl"] = float(np.mean([float(r.attrs.get("final_exact_kl", math.nan))
                                                   for r in runs]))
        rows.append(row)
    return pd.DataFrame(rows).set_index("algorithm")


def prompt_frame(policies):
    """DataFrame, one row per (algorithm, seed, prompt): PROMPT_COLUMNS where present."""
    import pandas as pd

    frames = []
    for policy in policies:
        for seed, run in policy.runs:
            df = pd.DataFrame({"algorithm": policy.name,
                               "seed": "" if seed is None else str(seed),
                               "benchmark": [b for b, _ in run.keys],
                               "prompt": [i for _, i in run.keys]})
            for c in PROMPT_COLUMNS:
                if c in run.metrics:
                    df[c] = run.metrics[c].to_numpy()
            frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def markdown(df):
    """The table as markdown (mean ± se), with a note on the columns."""
    ks = sorted(set(int(k) for k in df["k"]))
    k = str(ks[0]) if len(ks) == 1 else "k"
    seeded = df["seeds"].astype(str).str.len() > 0
    head = ["algorithm", "seeds"] + [header(key, k) for key, _, _ in COLUMNS]
    has_train = "train_steps" in df.columns
    has_exact = has_train and df["final_exact_kl"].notna().any()
    if has_train:
        head += ["train steps", "train time (s)"]
        head += ["final exact KL (train)"] if has_exact else []
    rows = []
    for name, r in df.iterrows():
        cells = [name, str(len(str(r["seeds"]).split())) if str(r["seeds"]) else "-"]
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
    text = disa_h5.markdown_table(head, rows)
    thresholds = set(df["coverage_threshold"].dropna())
    text += ("\nMacro averages over the benchmarks of the per-prompt figures, averaged over "
             "the training seeds, ± standard error"
             + (" over prompts and seeds (crossed prompts × seeds model, tools/paired_stats.py)"
                if seeded.any() and (df["seeds"].astype(str).str.split().str.len() > 1).any()
                else " over prompts")
             + (f"; k = {k} samples per prompt" if len(ks) == 1 else
                "; k differs between runs (column k of results.csv)")
             + ". KL and TV compare the policy with p* restricted to the correct set C "
             "(the reference scores 0 there by construction); the KL(p* ‖ π) lower bound is the part of "
             "the full KL that the listed solutions determine, kl2(p*(C), π(C)) + "
             "p*(C) KL on C (chain rule; the KL on the incorrect responses is not known), "
             "with π(C) the policy's and p*(C) the target's mass on C; coverage is the "
             "share of correct responses given at least tau times the uniform share of the "
             "policy's correct mass"
             + (f" (tau = {disa_h5.fmt_num(thresholds.pop())})" if len(thresholds) == 1 else "")
             + ". Training columns: means over the seeds. '-': not measured.")
    if (df["strategy_source"] != "judge_strategies").any():
        text += " †: no judge count, distinct correct solutions shown instead."
    return text + "\n"


def write_outputs(policies, trains, out):
    """results.csv, results_table.md, prompt_metrics.csv in OUT; returns the markdown."""
    df = results_frame(policies, trains)
    out = disa_h5.ensure_dir(out)
    df.to_csv(os.path.join(out, "results.csv"))
    prompt_frame(policies).to_csv(os.path.join(out, "prompt_metrics.csv"), index=False,
                                  float_format="%.8g")
    text = markdown(df)
    with open(os.path.join(out, "results_table.md"), "w") as f:
        f.write(text)
    return text


def parser():
    p = argparse.ArgumentParser(
        description="Results table (Mean@k, Pass@1, Pass@k, distinct correct, strategies, "
                    "exact KL/TV to p*, coverage, policy mass) from eval.h5 files.")
    p.add_argument("--eval", action="append", required=True, metavar="NAME=EVAL_H5",
                   help="an eval.h5 file and its row name (repeatable, rows in order of "
                        "first appearance; a name repeated: the seeds of one policy)")
    p.add_argument("--train", action="append", default=[], metavar="NAME=TRAIN_H5",
                   help="train.h5 of the row NAME (repeatable per seed): adds steps, time, "
                        "final exact KL")
    p.add_argument("--beta", type=float, metavar="B",
                   help="inverse temperature of the target p* (the partition file's beta): "
                        "adds p*(C) and the lower bound of KL(p* ‖ π)")
    p.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="output directory (results.csv, results_table.md)")
    return p


def named_files(entries, option):
    """[(name, [paths])] in order of first appearance; a NAME=PATH entry whose name was
    given before adds a seed to that name."""
    out = {}
    for entry in entries:
        name, path = disa_h5.parse_named(entry)
        if name is None:
            if not os.path.exists(path):
                raise disa_h5.InputError(f"{option} {entry}: no such file (expected NAME=PATH)")
            name = os.path.splitext(os.path.basename(path))[0]
        if path in out.get(name, []):
            raise disa_h5.InputError(f"{option} {entry}: the same file given twice")
        out.setdefault(name, []).append(path)
    return list(out.items())


def main(argv=None):
    args = parser().parse_args(argv)
    policies = [paired_stats.load_policy(n, paths, args.beta)
                for n, paths in named_files(args.eval, "--eval")]
    trains = {n: [disa_h5.read_train(p) for p in paths]
              for n, paths in named_files(args.train, "--train")}
    unknown = sorted(set(trains) - {p.name for p in policies})
    if unknown:
        raise disa_h5.InputError(f"--train {', '.join(unknown)}: no --eval row of that name")
    text = write_outputs(policies, trains, args.out)
    print(text)
    for name in ["results.csv", "results_table.md", "prompt_metrics.csv"]:
        print(f"wrote {os.path.join(args.out, name)}")
    return 0


if __name__ == "__main__":
    disa_h5.run_main(main)
