#!/usr/bin/env python3
"""Training curves of one or more `disa train` runs, drawn from their train.h5 files.

    tools/plot_training.py OUT/train/*/train.h5 -o OUT/report [--smooth 5]

One line per run (label: NAME from NAME=PATH, else the file's `algorithm` attribute,
else its directory), one panel per metric that at least one run logged: reward_mean,
loss, residual_mean (disa/flowrl), kl_ref, entropy, exact_kl, response_length_mean,
grad_norm. Writes DIR/training_curves.png.
"""

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import disa_h5  # noqa: E402

PANELS = [
    ("reward_mean", "reward (mean)"),
    ("loss", "loss"),
    ("residual_mean", "mean residual (disa/flowrl)"),
    ("kl_ref", "KL(pi_theta || pi_ref) estimate"),
    ("entropy", "entropy"),
    ("exact_kl", "exact KL to p*"),
    ("response_length_mean", "response length (mean)"),
    ("grad_norm", "gradient norm"),
]


def smooth(values, window):
    """Trailing moving average over WINDOW logged rows, ignoring NaNs."""
    import pandas as pd

    if window <= 1:
        return np.asarray(values, dtype=float)
    return pd.Series(values).rolling(window, min_periods=1).mean().to_numpy()


def plot_training(runs, labels, out_dir, window=1, filename="training_curves.png"):
    """Draws the panels of PANELS that some run has; returns the PNG path. Runs with the
    same label (the seeds of one algorithm) are drawn in one colour, named once."""
    plt = disa_h5.pyplot()
    panels = [(c, t) for c, t in PANELS
              if any(c in r.metrics and np.isfinite(r.metrics[c]).any() for r in runs)]
    if not panels:
        raise disa_h5.InputError("no run has any of the plotted metrics ("
                                 + ", ".join(c for c, _ in PANELS) + ")")
    cols = 2 if len(panels) > 1 else 1
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 3.2 * rows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    order = list(dict.fromkeys(labels))  # runs with the same label (seeds) share a colour
    for ax, (column, title) in zip(axes.flat, panels):
        for i, (run, label) in enumerate(zip(runs, labels)):
            if column not in run.metrics:
                continue
            df = run.metrics[["step", column]].dropna()
            if df.empty:
                continue
            color = colors[order.index(label) % len(colors)]
            x, y = df["step"].to_numpy(), df[column].to_numpy()
            if window > 1:
                ax.plot(x, y, color=color, alpha=0.25, linewidth=0.8)
            ax.plot(x, smooth(y, window), color=color, label=label, linewidth=1.5,
                    marker="o" if len(x) < 3 else None, markersize=3)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels):]:
        ax.set_visible(False)
    handles, names = [], []
    for ax in axes.flat:
        for h, n in zip(*ax.get_legend_handles_labels()):
            if n not in names:
                handles.append(h)
                names.append(n)
    suffix = f" (moving average over {window} logged steps)" if window > 1 else ""
    fig.suptitle("training curves" + suffix, fontsize=11)
    ncol = min(len(names), 5)
    legend_rows = math.ceil(len(names) / ncol)
    top = 1 - (0.35 + 0.22 * legend_rows) / fig.get_figheight()
    fig.legend(handles, names, loc="upper center", ncol=ncol, frameon=False,
               bbox_to_anchor=(0.5, 1 - 0.3 / fig.get_figheight()))
    fig.tight_layout(rect=(0, 0, 1, top))
    path = os.path.join(disa_h5.ensure_dir(out_dir), filename)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def parser():
    p = argparse.ArgumentParser(
        description="Plot training curves (reward, loss, residual, KL, entropy, exact KL, "
                    "length, gradient norm) from train.h5 files of `disa train`.")
    p.add_argument("train", nargs="+", metavar="[NAME=]TRAIN_H5",
                   help="train.h5 files; label NAME, else the algorithm attribute")
    p.add_argument("-o", "--out", required=True, metavar="DIR",
                   help="output directory (writes DIR/training_curves.png)")
    p.add_argument("--smooth", type=int, default=1, metavar="W",
                   help="trailing moving average over W logged steps (default 1: none; "
                        "the raw curve is drawn faintly behind)")
    p.add_argument("--allow-incomplete", action="store_true",
                   help="also read files not marked complete (a run still in progress)")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if args.smooth < 1:
        raise disa_h5.InputError(f"--smooth: expected a window >= 1, got {args.smooth}")
    if args.allow_incomplete:  # the trainer may hold the file open for writing
        os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")
    named = [disa_h5.parse_named(a) for a in args.train]
    runs = [disa_h5.read_train(path, args.allow_incomplete) for _, path in named]
    labels = disa_h5.train_labels(runs, [n for n, _ in named])
    path = plot_training(runs, labels, args.out, args.smooth)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    disa_h5.run_main(main)
