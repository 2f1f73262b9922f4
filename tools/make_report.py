#!/usr/bin/env python3
"""The run report: runs every analysis tool on a pipeline output directory and writes
OUT/report/results.md with the setup, the results table, the paired comparisons, the
plots and a verdict on each of the paper's claims computed from the numbers, and the
verdicts also as OUT/report/claims.json.

    tools/make_report.py OUT [--docs docs/results.md] [--wall-time SECONDS]

Layout read (whatever exists): OUT/anchors.h5, OUT/study/{ref,strong,mixture}.h5,
OUT/train/<alg>/seed-<s>/train.h5, OUT/eval/<alg>/seed-<s>.h5 (disa, flowrl, grpo, gspo,
sft; one file per training seed) and OUT/eval/reference.h5; the single-seed layout of
earlier runs, OUT/train/<alg>/train.h5 and OUT/eval/<alg>.h5, is read as one run
without a seed. Outputs in OUT/report/: training_curves.png, anchor_*.png,
sensitivity*.{png,csv}, results.csv, results_table.md, prompt_metrics.csv,
comparisons.csv, claims.json, results.md. With --docs PATH the report is also written
to PATH with its PNGs, CSVs and JSON copied to the folder named after PATH (docs/results/).
Exit code 2 when OUT is missing or an input file is unreadable or of the wrong format
(the report is still written from the rest, listing the problem).
"""

import argparse
import glob
import json
import math
import os
import re
import shutil
import sys
from dataclasses import dataclass

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import disa_h5  # noqa: E402
import paired_stats  # noqa: E402
import plot_anchors  # noqa: E402
import plot_training  # noqa: E402
import results_table  # noqa: E402
import sensitivity  # noqa: E402

ALGORITHMS = ["disa", "flowrl", "grpo", "gspo", "sft"]
EVAL_ORDER = ["reference"] + ALGORITHMS
DISPLAY = {"disa": "DISA", "flowrl": "FlowRL", "grpo": "GRPO", "gspo": "GSPO",
           "sft": "LoRA-SFT", "reference": "reference"}
HOLDS, FAILS, NO_EFFECT, UNTESTED = ("holds", "does not hold",
                                     "no effect detected at this scale", "not tested")


def ordered(paths_by_name, order):
    known = [n for n in order if n in paths_by_name]
    return known + sorted(n for n in paths_by_name if n not in order)


def _by_seed(paths):
    return sorted(paths, key=paired_stats.seed_label)


def train_seed(path):
    """N for OUT/train/<alg>/seed-N/train.h5, else None."""
    m = re.fullmatch(r"seed-(\d+)", os.path.basename(os.path.dirname(path)))
    return int(m.group(1)) if m else None


def discover(out):
    """The files of the OUT layout that exist: train and eval map a name to its files, one
    per training seed (seed-<s>), or the one file of the single-seed layout."""
    study = {role: os.path.join(out, "study", f"{name}.h5")
             for role, name in zip(sensitivity.ROLES, ["ref", "strong", "mixture"])}
    trains, evals, ignored = {}, {}, []
    for d in glob.glob(os.path.join(out, "train", "*", "")):
        name = os.path.basename(os.path.dirname(d))
        seeded = [p for p in glob.glob(os.path.join(d, "seed-*", "train.h5"))
                  if train_seed(p) is not None]
        single = os.path.join(d, "train.h5")
        if seeded:
            trains[name] = sorted(seeded, key=train_seed)
            ignored += [single] if os.path.exists(single) else []
        elif os.path.exists(single):
            trains[name] = [single]
    for p in glob.glob(os.path.join(out, "eval", "*.h5")):
        evals[os.path.splitext(os.path.basename(p))[0]] = [p]
    for d in glob.glob(os.path.join(out, "eval", "*", "")):
        name = os.path.basename(os.path.dirname(d))
        seeded = [p for p in glob.glob(os.path.join(d, "seed-*.h5"))
                  if paired_stats.seed_label(p) is not None]
        if seeded:
            ignored += evals.get(name, [])
            evals[name] = _by_seed(seeded)
    anchors = os.path.join(out, "anchors.h5")
    unfinished = sorted(glob.glob(os.path.join(out, "*.h5.incomplete"))
                        + glob.glob(os.path.join(out, "*", "*.h5.incomplete"))
                        + glob.glob(os.path.join(out, "eval", "*", "*.h5.incomplete"))
                        + glob.glob(os.path.join(out, "train", "*", "*.h5.incomplete"))
                        + glob.glob(os.path.join(out, "train", "*", "seed-*", "*.h5.incomplete")))
    return {
        "unfinished": [os.path.relpath(p, out) for p in unfinished],
        "ignored": [os.path.relpath(p, out) for p in sorted(ignored)],
        "anchors": anchors if os.path.exists(anchors) else None,
        "study": {r: p for r, p in study.items() if os.path.exists(p)},
        "train": {n: trains[n] for n in ordered(trains, ALGORITHMS)},
        "eval": {n: evals[n] for n in ordered(evals, EVAL_ORDER)},
    }


# ----------------------------------------------------------------------------- claims


# Metrics of the claims: column keys of results_table.COLUMNS (one label per metric).
HIGHER_BETTER = {"mean_at_k": True, "pass_at_k": True, "kl": False,
                 disa_h5.KL_LOWER_BOUND: False, "distinct_correct": True, "coverage": True}
# The comparisons of the "Paired comparisons" table, besides those of the claims.
HEADLINE = ["mean_at_k", "pass_at_k", "kl", disa_h5.KL_LOWER_BOUND]


@dataclass
class Outcome:
    """DISA against one baseline on one metric, with the verdict of that comparison."""
    baseline: str
    key: str  # results_table column key
    metric: str  # the per-prompt metric compared
    label: str
    comparison: object  # paired_stats.Comparison, or None when not comparable
    result: str  # "better", "worse", "no effect", or None (not comparable)
    text: str

    @property
    def verdict(self):
        if self.result == "better":
            return HOLDS
        if self.result == "worse":
            return FAILS
        if self.result == "no effect":
            return no_effect_text([self])
        return UNTESTED


def fmt_interval(lo, hi):
    f = disa_h5.fmt_num
    return f"[{f(lo, 3)}, {f(hi, 3)}]"


def no_effect_text(outcomes):
    """'no effect detected at this scale (difference d, 95% interval [a, b])', one
    parenthesis per comparison (named when there are several)."""
    parts = []
    for o in outcomes:
        c = o.comparison
        lo, hi = c.interval()
        name = (f"{o.label} vs {DISPLAY.get(o.baseline, o.baseline)}: "
                if len(outcomes) > 1 else "")
        parts.append(f"{name}difference {disa_h5.fmt_num(c.difference, 3)}, "
                     f"{round(100 * c.confidence)}% interval {fmt_interval(lo, hi)}")
    return f"{NO_EFFECT} ({'; '.join(parts)})"


def compare(policies, a, b, key, problems=None):
    """Outcome of policy A against policy B on the column KEY: 'better' / 'worse' when the
    95% interval of the paired difference lies wholly on A's better / worse side, else
    'no effect'; None (not comparable) when a file lacks the metric, the prompts differ,
    or the difference is infinite on both sides."""
    f = disa_h5.fmt_num
    pa, pb = policies[a], policies[b]
    metric = results_table.metric_of(key, pa)
    label = results_table.header(key, pa.k if pa.k == pb.k else "k")
    head = f"{label}: {DISPLAY.get(a, a)} vs {DISPLAY.get(b, b)}"
    if key == "pass_at_k" and pa.k != pb.k:
        return Outcome(b, key, metric, label, None, None,
                       f"{head} (not comparable: k = {pa.k} vs {pb.k})")
    try:
        c = paired_stats.compare(pa, pb, metric)
    except disa_h5.InputError as e:
        if problems is not None and str(e) not in problems:
            problems.append(str(e))
            print(f"error: {e}", file=sys.stderr)
        return Outcome(b, key, metric, label, None, None, f"{head} (not comparable: {e})")
    if c is None:
        return Outcome(b, key, metric, label, None, None,
                       f"{head} (not comparable: {metric} missing)")
    quoted = (f"{label}: {DISPLAY.get(a, a)} {f(c.mean_a, 3)} vs {DISPLAY.get(b, b)} "
              f"{f(c.mean_b, 3)}")
    sign = 1 if HIGHER_BETTER[key] else -1
    scale = (f"{c.prompts} prompts × {len(c.seeds)} seed{'s' if len(c.seeds) > 1 else ''}"
             if c.seeds
             else f"{c.prompts} prompts, one run each")
    if c.dropped_seeds:
        scale += f"; seeds {', '.join(map(str, c.dropped_seeds))} not in both, not used"
    if not math.isfinite(c.difference) or not math.isfinite(c.se):
        if math.isinf(c.mean_a) != math.isinf(c.mean_b):  # one infinite KL: the finite is better
            result = "better" if sign * (c.mean_a - c.mean_b) > 0 else "worse"
            return Outcome(b, key, metric, label, c, result,
                           f"{quoted} (an infinite value; {scale}): {result}")
        return Outcome(b, key, metric, label, c, None,
                       f"{quoted} (not comparable: difference {f(c.difference)}; {scale})")
    lo, hi = c.interval()
    if (lo > 0) if sign > 0 else (hi < 0):
        result = "better"
    elif (hi < 0) if sign > 0 else (lo > 0):
        result = "worse"
    else:
        result = "no effect"
    seed_note = "" if len(c.seeds) > 1 else "; one seed: the between-seed spread is unknown"
    text = (f"{quoted}: difference {f(c.difference, 3)}, {round(100 * c.confidence)}% "
            f"interval {fmt_interval(lo, hi)} (paired se {f(c.se, 2)}, {f(c.paired.df, 3)} df; "
            f"unpaired se {f(c.unpaired_se, 2)}; {scale}{seed_note}): "
            f"{'no effect detected' if result == 'no effect' else result}")
    return Outcome(b, key, metric, label, c, result, text)


def judge_claim(policies, baselines, keys, problems=None):
    """(verdict, outcomes, notes) of 'DISA beats the BASELINES on the metrics KEYS':
    holds when against every baseline present some metric is better and none worse; does
    not hold when some metric is worse; else no effect detected (with the intervals of
    the comparisons that detected none)."""
    if "disa" not in policies:
        return UNTESTED, [], ["no DISA evaluation (OUT/eval/disa/)"]
    present = [b for b in baselines if b in policies]
    missing = [DISPLAY.get(b, b) for b in baselines if b not in policies]
    outcomes, notes = [], []
    for b in present:
        outcomes += [compare(policies, "disa", b, key, problems) for key in keys]
    if missing:
        notes.append(f"no evaluation of {', '.join(missing)}: not compared")
    judged = [o for o in outcomes if o.result]
    if not judged:
        return UNTESTED, outcomes, notes
    if any(o.result == "worse" for o in judged):
        return FAILS, outcomes, notes
    by_baseline = {b: [o.result for o in judged if o.baseline == b] for b in present}
    if all("better" in r for r in by_baseline.values()):
        return HOLDS, outcomes, notes
    undetected = [o for o in judged if o.result == "no effect"
                  and "better" not in by_baseline[o.baseline]]
    if not undetected:  # a baseline with no comparable metric
        notes.append("against " + ", ".join(DISPLAY.get(b, b) for b, r in by_baseline.items()
                                            if not r) + " nothing could be compared")
        return UNTESTED, outcomes, notes
    return no_effect_text(undetected), outcomes, notes


def claims(policies, problems=None):
    """[(claim, keys, verdict, [Outcome], notes)] for the paper's claims (a)-(d)."""
    k = policies["disa"].k if "disa" in policies else "k"
    label = lambda keys: ", ".join(results_table.header(key, k) for key in keys)
    others = [b for b in ALGORITHMS[1:] if b in policies]
    spec = [
        ("(a) DISA matches or beats FlowRL", ["flowrl"],
         ["mean_at_k", "pass_at_k", "kl", disa_h5.KL_LOWER_BOUND]),
        ("(b) DISA beats GRPO and GSPO", ["grpo", "gspo"], ["mean_at_k", "pass_at_k"]),
        ("(c) DISA beats LoRA-SFT on the same trajectories", ["sft"], ["mean_at_k", "pass_at_k"]),
        ("(d) DISA keeps more diverse solutions than "
         + (", ".join(DISPLAY[b] for b in others) if others else "the baselines"),
         others or ["flowrl", "grpo", "gspo", "sft"], ["distinct_correct", "coverage", "kl"]),
    ]
    out = []
    for claim, baselines, keys in spec:
        verdict, outcomes, notes = judge_claim(policies, baselines, keys, problems)
        out.append((f"{claim} ({label(keys)})", keys, verdict, outcomes, notes))
    return out


def json_number(x):
    x = float(x)
    return x if math.isfinite(x) else None


def claims_records(claim_list):
    """The rows of claims.json: one per (claim, metric, baseline); a claim with nothing
    compared has one row with metric and baseline null."""
    rows = []
    for claim, _, verdict, outcomes, notes in claim_list:
        if not outcomes:
            rows.append({"claim": claim, "claim_verdict": verdict, "metric": None,
                         "baseline": None, "difference": None, "interval": None,
                         "seeds": [], "prompts": 0, "verdict": UNTESTED, "note": "; ".join(notes)})
        for o in outcomes:
            c = o.comparison
            row = {"claim": claim, "claim_verdict": verdict, "metric": o.metric,
                   "metric_label": o.label, "higher_is_better": HIGHER_BETTER[o.key],
                   "baseline": o.baseline}
            if c is None:
                row.update({"difference": None, "interval": None, "seeds": [], "prompts": 0,
                            "verdict": UNTESTED, "note": o.text})
            else:
                lo, hi = c.interval()
                row.update({
                    "disa": json_number(c.mean_a), "baseline_value": json_number(c.mean_b),
                    "difference": json_number(c.difference),
                    "interval": [json_number(lo), json_number(hi)],
                    "confidence": c.confidence, "standard_error": json_number(c.se),
                    "df": json_number(c.paired.df),
                    "unpaired_standard_error": json_number(c.unpaired_se),
                    "seeds": c.seeds, "prompts": c.prompts, "verdict": o.verdict})
            rows.append(row)
    return rows


def comparison_rows(policies, claim_list, problems=None):
    """The paired comparisons of DISA with every other policy on HEADLINE, then the other
    comparisons of the claims: [Outcome] without duplicates."""
    seen, out = set(), []
    if "disa" in policies:
        for b in [n for n in policies if n != "disa"]:
            for key in HEADLINE:
                out.append(compare(policies, "disa", b, key, problems))
                seen.add((b, key))
    for _, _, _, outcomes, _ in claim_list:
        for o in outcomes:
            if (o.baseline, o.key) not in seen:
                seen.add((o.baseline, o.key))
                out.append(o)
    return out


def comparisons_table(outcomes, report_dir):
    """Markdown table of the comparisons, and comparisons.csv in REPORT_DIR."""
    import pandas as pd

    f = disa_h5.fmt_num
    rows, records = [], []
    for o in outcomes:
        c = o.comparison
        if c is None:
            continue
        lo, hi = c.interval()
        ratio = c.unpaired_se / c.se if c.se > 0 else math.nan
        rows.append([DISPLAY.get(o.baseline, o.baseline), o.label, f(c.mean_a, 4), f(c.mean_b, 4),
                     f(c.difference, 3), fmt_interval(lo, hi), f(c.se, 2), f(c.unpaired_se, 2),
                     f(ratio, 2), f(c.paired.df, 3), c.prompts,
                     ", ".join(map(str, c.seeds)) or "-"])
        records.append({"baseline": o.baseline, "metric": o.metric, "disa": c.mean_a,
                        "baseline_value": c.mean_b, "difference": c.difference,
                        "low": lo, "high": hi, "se": c.se, "df": c.paired.df,
                        "unpaired_se": c.unpaired_se, "prompt_var": c.paired.prompt_var,
                        "seed_var": c.paired.seed_var,
                        "interaction_var": c.paired.interaction_var, "prompts": c.prompts,
                        "seeds": " ".join(map(str, c.seeds))})
    if not rows:
        return ""
    pd.DataFrame(records).to_csv(os.path.join(report_dir, "comparisons.csv"), index=False)
    head = ["DISA vs", "metric", "DISA", "baseline", "difference", "95% interval",
            "paired se", "unpaired se", "unpaired / paired", "df", "prompts", "seeds"]
    return disa_h5.markdown_table(head, rows)


PAIRING_NOTE = (
    "DISA minus each other policy, from the per-prompt differences on the shared "
    "evaluation prompts (matched by benchmark and prompt id), averaged over the training "
    "seeds both have. The paired standard error comes from a crossed prompts × seeds "
    "random-effects decomposition of those differences (prompt, seed and prompt × seed "
    "variance, method of moments; tools/paired_stats.py), the interval from Student's t "
    "with Satterthwaite's degrees of freedom; the unpaired standard error "
    "sqrt(se_DISA² + se_baseline²) treats the two policies as if evaluated on independent "
    "prompts, and is shown only to say what pairing buys. The parts of each paired "
    "variance (prompt, seed, prompt × seed): [comparisons.csv]({assets}comparisons.csv).")

CLAIM_RULES = (
    "Each comparison is DISA minus the baseline on one metric, with the paired 95% "
    "interval above. It holds (DISA better) when the whole interval lies on DISA's better "
    "side of 0 (higher, or lower for the KL figures), does not hold (DISA worse) when it "
    "lies wholly on the worse side, and otherwise no effect is detected at this scale. A "
    "claim holds when, against every baseline present, some metric holds and none fails; "
    "it does not hold when any comparison fails; otherwise no effect is detected at this "
    "scale, and the differences and intervals of the comparisons that detected nothing "
    "are quoted. \"Matches or beats\" is judged by the same rule: with no equivalence "
    "margin stated, a match is not something a finite run can show, and the interval "
    "bounds the difference the run rules out. Intervals are per comparison (no correction "
    "for the several comparisons of a claim). A comparison with an infinite value on one "
    "side (an infinite KL) counts the finite side as better; a baseline without an "
    "evaluation is not compared. The verdicts are also in "
    "[claims.json]({assets}claims.json).")


# ----------------------------------------------------------------------------- report text


def hms(seconds):
    s = int(round(seconds))
    return f"{s} s ({s // 3600}:{s // 60 % 60:02d}:{s % 60:02d})"


def brace_paths(paths):
    """'a/seed-{1,2,3}/b' for paths that differ only in a middle part; the path alone for one."""
    if len(set(paths)) <= 1:
        return paths[0] if paths else "-"
    prefix = os.path.commonprefix(paths)
    while prefix and prefix[-1].isdigit():
        prefix = prefix[:-1]
    suffix = os.path.commonprefix([p[len(prefix):][::-1] for p in paths])[::-1]
    while suffix and suffix[0].isdigit():
        suffix = suffix[1:]
    middles = [p[len(prefix):len(p) - len(suffix)] for p in paths]
    return prefix + "{" + ",".join(middles) + "}" + suffix


def seeds_text(seeds):
    return ", ".join(str(s) for s in seeds if s is not None) or "-"


def setup_section(files, part, study_parts, runs, policies, wall_time):
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
        lines += ["", "Training runs (one per training seed, `--train.seed`):", ""]
        header = ["algorithm", "seeds", "beta", "residual", "steps", "prompts", "ranks", "LoRA",
                  "policy init", "train time per seed"]
        rows = []
        for name, seeded in runs.items():
            a = seeded[0][1].attrs
            times = [r.attrs.get("train_seconds") for _, r in seeded]
            rows.append([name, seeds_text([s for s, _ in seeded]), f(a.get("beta")),
                         a.get("residual", "-"), a.get("steps", "-"), a.get("prompts", "-"),
                         a.get("world_size", "-"), "yes" if a.get("lora") else "no",
                         f"`{brace_paths([str(r.attrs.get('policy_init', '-')) for _, r in seeded])}`",
                         ", ".join(f"{round(t)} s" if t is not None else "-" for t in times)])
        lines.append(disa_h5.markdown_table(header, rows))
    if policies:
        lines += ["Evaluations (one per policy and training seed, on the same prompts):", ""]
        header = ["name", "seeds", "model", "k", "benchmarks", "prompts", "ranks"]
        rows = []
        for name, pol in policies.items():
            first = pol.runs[0][1]
            rows.append([name, seeds_text(pol.seeds),
                         f"`{brace_paths([str(r.attrs.get('model', '-')) for _, r in pol.runs])}`",
                         pol.k, ", ".join(first.benchmarks) or "-", len(first.keys),
                         first.attrs.get("world_size", "-")])
        lines.append(disa_h5.markdown_table(header, rows))
    if wall_time is not None:
        lines += [f"Total wall time of the pipeline: {hms(wall_time)}.", ""]
    if files["unfinished"]:
        lines += ["Unfinished files (a job still running or killed; not used): "
                  + ", ".join(f"`{p}`" for p in files["unfinished"]) + ".", ""]
    if files.get("ignored"):
        lines += ["Single-seed files beside the per-seed ones (an earlier layout; not used): "
                  + ", ".join(f"`{p}`" for p in files["ignored"]) + ".", ""]
    return lines


FINAL_METRICS = ["reward_mean", "residual_mean", "kl_ref", "entropy", "exact_kl",
                 "response_length_mean"]


def final_values_table(runs):
    """Markdown table of the last finite value of each training metric per run and seed."""
    header = ["algorithm", "seed", "last step"] + FINAL_METRICS
    rows = []
    for name, seeded in runs.items():
        for seed, r in seeded:
            m = r.metrics
            cells = [name, "-" if seed is None else seed,
                     disa_h5.fmt_num(m["step"].max()) if len(m) else "-"]
            for c in FINAL_METRICS:
                v = m[c].dropna() if c in m else []
                cells.append(disa_h5.fmt_num(v.iloc[-1]) if len(v) else "-")
            rows.append(cells)
    return disa_h5.markdown_table(header, rows)


OUTPUTS = ["training_curves.png", "anchor_ess_hist.png", "anchor_logz_vs_exact.png",
           "sensitivity.csv", "sensitivity_n.png", "sensitivity_beta.png",
           "sensitivity_proposal.png", "results.csv", "results_table.md", "prompt_metrics.csv",
           "comparisons.csv", "claims.json", "results.md"]
ASSETS = "@@ASSETS@@/"  # replaced by the folder of the PNGs/CSVs relative to the report


def image(lines, report_dir, name, caption):
    if os.path.exists(os.path.join(report_dir, name)):
        lines += [f"![{caption}]({ASSETS}{name})", ""]


def target_beta(part, runs):
    """(beta of p*, where from): the partition file's, else DISA's training beta."""
    if part is not None:
        return part.beta, "anchors.h5"
    for seed, r in runs.get("disa", []):
        if r.attrs.get("beta") is not None:
            return float(r.attrs["beta"]), os.path.relpath(r.path)
    return None, None


def build_report(files, report_dir, wall_time, problems):
    """Runs the tools into REPORT_DIR and returns the markdown of results.md, its links
    to PNGs, CSVs and JSON prefixed with ASSETS; unreadable inputs are added to PROBLEMS."""
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
    runs = {}
    for name, paths in files["train"].items():
        seeded = [(train_seed(p), r) for p, r in ((p, attempt(disa_h5.read_train, p))
                                                  for p in paths) if r is not None]
        if seeded:
            runs[name] = seeded
    beta, beta_source = target_beta(part, runs)
    policies = {}
    for name, paths in files["eval"].items():
        loaded = [(p, e) for p, e in ((p, attempt(disa_h5.read_eval_prompts, p))
                                      for p in paths) if e is not None]
        if beta is not None:
            for _, e in loaded:
                disa_h5.add_target_metrics(e, beta)
        policy = attempt(paired_stats.make_policy, name, loaded) if loaded else None
        if policy is not None:
            policies[name] = policy

    lines = ["# DISA: results of this run", "",
             f"Generated by `tools/make_report.py` from the HDF5 files in `{files['out']}`.",
             ""]
    lines += setup_section(files, part, study_parts, runs, policies, wall_time)

    # Results table, paired comparisons and claims.
    lines += ["## Results", ""]
    if policies:
        trains = {n: [r for _, r in runs[n]] for n in runs if n in policies}
        table = attempt(results_table.write_outputs, list(policies.values()), trains, report_dir)
        if table:
            lines += [table.rstrip()]
            lines += ["" if beta is None else
                      f"p* is the target at beta = {disa_h5.fmt_num(beta)} (from {beta_source}).",
                      "", f"All numbers: [results.csv]({ASSETS}results.csv); per prompt and "
                      f"seed, the masses of C, the KL on C and the lower bound: "
                      f"[prompt_metrics.csv]({ASSETS}prompt_metrics.csv).", ""]
    else:
        lines += ["No evaluation files (OUT/eval/): no results table.", ""]

    claim_list = claims(policies, problems) if policies else []
    lines += ["## Paired comparisons", ""]
    pairs = comparisons_table(comparison_rows(policies, claim_list), report_dir) if policies else ""
    if pairs:
        lines += [pairs, PAIRING_NOTE.format(assets=ASSETS), ""]
    else:
        lines += ["None: no DISA evaluation with another policy to compare.", ""]

    lines += ["## The paper's claims in this run", ""]
    if not policies:
        lines += ["Not tested: no evaluation results.", ""]
    else:
        for claim, _, verdict, outcomes, notes in claim_list:
            lines.append(f"* **{claim}: {verdict}.**")
            lines += [f"  * {o.text}" for o in outcomes] + [f"  * {n}" for n in notes]
        with open(os.path.join(report_dir, "claims.json"), "w") as fh:
            json.dump(claims_records(claim_list), fh, indent=1, ensure_ascii=False)
            fh.write("\n")
        lines += ["", CLAIM_RULES.format(assets=ASSETS), ""]

    # Training.
    lines += ["## Training", ""]
    if runs:
        flat = [(name, seed, r) for name, seeded in runs.items() for seed, r in seeded]
        attempt(plot_training.plot_training, [r for _, _, r in flat],
                [name for name, _, _ in flat], report_dir)
        image(lines, report_dir, "training_curves.png",
              "training curves" + (" (one line per seed)" if len(flat) > len(runs) else ""))
        lines += ["Last logged value of each metric:", "", final_values_table(runs)]
        last = []
        for seed, r in runs.get("disa", []):
            if "residual_mean" in r.metrics and r.attrs.get("residual") == "logmeanexp":
                res = r.metrics["residual_mean"].dropna()
                if len(res):
                    last.append((seed, res.iloc[-1], int(r.metrics.loc[res.index[-1], "step"])))
        if last:
            steps = sorted({t for _, _, t in last})
            values = ", ".join(("" if s is None else f"seed {s}: ") + disa_h5.fmt_num(v, 3)
                               + ("" if len(steps) == 1 else f" (step {t})")
                               for s, v, t in last)
            lines += ["With the sequence-level residual the mean residual at convergence "
                      "estimates the anchor error without ground truth (docs/method.md §"
                      f"3); DISA's last logged mean residual is {values}"
                      + (f" (step {steps[0]})" if len(steps) == 1 else "") + ".", ""]
    else:
        lines += ["No training runs (OUT/train/<alg>/seed-<s>/train.h5).", ""]

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
                                 "train/<alg>/seed-<s>/train.h5, eval/<alg>/seed-<s>.h5, "
                                 "eval/*.h5 exists")
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
