#!/usr/bin/env python3
"""Table of DISA's KL(p* || pi) lower bound from bench/kl_bound.sh outputs (docs/kl-bound.md).

Usage: bench/kl_bound_table.py REFERENCE_DIR "LABEL|GLOB" ...

Each GLOB names one or more bench/kl_bound.sh output directories (the seeds of one setting);
every figure is the mean over prompts, averaged over those seeds. beta is the training run's
(train.h5), 3 for REFERENCE_DIR; at another beta the reference's bound at that beta is shown
beside the label. "pi(C) < pi_ref(C)": share of held-out prompts whose correct mass fell
below the reference's, and (in brackets) their contribution to the held-out mean bound.
"""
import glob
import os
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import disa_h5 as d  # noqa: E402


def figures(path, beta):
    m = d.read_eval_prompts(path).metrics
    _, _, bound = d.kl_lower_bound(m["reference_mass"], m["policy_mass"], m["kl"], beta)
    pol, ref = np.asarray(m["policy_mass"]), np.asarray(m["reference_mass"])
    drop = pol < ref
    return np.array([bound.mean(), pol.mean(), np.mean(m["kl"]), drop.mean(),
                     np.where(drop, bound, 0).mean(), np.mean(m["mean_at_k"])])


def main():
    ref_dir, specs = sys.argv[1], sys.argv[2:]
    print("| setting | seeds | bound, train prompts | bound, held-out | π(C) train / held-out "
          "| KL on C train / held-out | held-out π(C) < π_ref(C) (share of the bound) "
          "| Mean@8 held-out | train s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for spec in specs:
        label, pattern = spec.split("|", 1)
        dirs = sorted(glob.glob(pattern))
        if not dirs:
            sys.exit(f"kl_bound_table: nothing matches {pattern}")
        trains = [os.path.join(x, "train", "train.h5") for x in dirs]
        trains = [t for t in trains if os.path.exists(t)]
        beta = float(h5py.File(trains[0], "r").attrs["beta"]) if trains else 3.0
        tr = np.mean([figures(os.path.join(x, "eval-train.h5"), beta) for x in dirs], axis=0)
        te = np.mean([figures(os.path.join(x, "eval-test.h5"), beta) for x in dirs], axis=0)
        secs = " ".join(f"{float(h5py.File(t, 'r').attrs['train_seconds']):.0f}" for t in trains) or "-"
        if beta != 3.0:
            rt = figures(os.path.join(ref_dir, "eval-train.h5"), beta)[0]
            rh = figures(os.path.join(ref_dir, "eval-test.h5"), beta)[0]
            label += f" (reference at β = {beta:g}: {rt:.3f} / {rh:.3f})"
        print(f"| {label} | {len(dirs)} | {tr[0]:.3f} | {te[0]:.3f} | {tr[1]:.3f} / {te[1]:.3f} "
              f"| {tr[2]:.3f} / {te[2]:.3f} | {te[3]:.2f} ({te[4]:.3f}) | {te[5]:.3f} | {secs} |")


if __name__ == "__main__":
    main()
