#!/usr/bin/env python3
"""Shared readers for disa's HDF5 outputs, used by the post-hoc analysis tools.

The tools in tools/ (plot_training.py, plot_anchors.py, sensitivity.py,
results_table.py, make_report.py) draw their plots and tables from the files alone:

* partition file (format ``disa-partition``, docs/formats.md): ``read_partition``
* train.h5 (format ``disa-train``): ``read_train``
* regressor file (format ``disa-regressor``, ``disa anchor fit``): ``read_regressor``
* eval.h5 (format ``disa-eval``, docs/eval.md "eval.h5"): ``read_eval`` (the summary),
  ``read_eval_prompts`` (the per-prompt figures, with ``add_target_metrics`` for the mass
  of p* on the correct set and the chain-rule lower bound of KL(p* || pi))

Every reader checks the ``format``, ``format_version`` and ``status`` root attributes
and raises ``InputError`` with a message naming the file; ``run_main`` turns that into
"error: ..." on stderr and exit code 2. Strings (fixed-length bytes in the files) are
decoded to ``str``. Run with the project's Python (.venv/bin/python, made by
tools/install-deps.sh with pinned h5py/numpy/pandas/matplotlib); matplotlib is imported lazily, with the Agg backend, by ``pyplot()``.
"""

import math
import os
import sys
from dataclasses import dataclass, field

import numpy as np

FORMAT_PARTITION = "disa-partition"
FORMAT_TRAIN = "disa-train"
FORMAT_EVAL = "disa-eval"
FORMAT_REGRESSOR = "disa-regressor"
FORMAT_VERSION = 1

# Partition-file diagnostics flags (docs/formats.md, /diagnostics/flags).
FLAG_NAMES = {
    1: "all samples wrong",
    2: "k_hat above threshold",
    4: "truncated proposal",
    8: "no exact log Z",
    16: "k_hat not assessable",
}


class InputError(Exception):
    """A missing, unreadable or wrong-format input file (exit code 2)."""


# ----------------------------------------------------------------------------- basics


def decode(value):
    """Bytes (and numpy bytes/string scalars or arrays) to str; other values unchanged."""
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", errors="replace").rstrip("\0")
    if isinstance(value, np.ndarray) and value.dtype.kind in ("S", "O", "U"):
        return np.array([decode(v) for v in value.tolist()], dtype=object)
    if isinstance(value, np.generic):
        return value.item()
    return value


def attrs_dict(obj):
    """All attributes of an h5py object as a dict of plain Python values / arrays."""
    return {k: decode(v) for k, v in obj.attrs.items()}


def open_h5(path, expected_format, allow_incomplete=False):
    """Opens PATH read-only and checks its format, version and (unless allowed) status.

    Raises InputError naming the file when it is missing, not HDF5, of another format or
    version, or not marked complete."""
    import h5py

    if not os.path.exists(path):
        raise InputError(f"{path}: no such file (expected a {expected_format} file)")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory (expected a {expected_format} file)")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise InputError(f"{path}: not a readable HDF5 file ({e}); expected {expected_format}")
    try:
        fmt = decode(f.attrs.get("format", "")) if "format" in f.attrs else None
        if fmt != expected_format:
            got = f"format '{fmt}'" if fmt is not None else "no 'format' attribute"
            raise InputError(f"{path}: {got}, expected format '{expected_format}'")
        version = decode(f.attrs.get("format_version", -1))
        if version != FORMAT_VERSION:
            raise InputError(f"{path}: {expected_format} format_version {version}, "
                             f"this tool reads version {FORMAT_VERSION}")
        status = decode(f.attrs.get("status", ""))
        if status != "complete" and not allow_incomplete:
            raise InputError(f"{path}: status '{status}' (the file is not complete; "
                             "the job that writes it may still be running or was killed)")
    except InputError:
        f.close()
        raise
    return f


def require(f, path, dataset):
    """The dataset DATASET of the open file F (read from PATH), or InputError."""
    if dataset not in f:
        raise InputError(f"{path}: missing dataset /{dataset.lstrip('/')}")
    return f[dataset]


def run_main(main):
    """Runs MAIN() and maps InputError to 'error: ...' on stderr and exit code 2."""
    try:
        code = main()
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    sys.exit(code or 0)


def parse_named(arg):
    """'NAME=PATH' -> (NAME, PATH); 'PATH' -> (None, PATH)."""
    if "=" in arg and not os.path.exists(arg):
        name, path = arg.split("=", 1)
        if name and path:
            return name, path
    return None, arg


def parse_floats(text, what):
    """'0.5,1,2' -> [0.5, 1.0, 2.0]; InputError naming WHAT on a bad entry."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"{what}: expected a comma-separated list of numbers, got '{text}'")


def parse_ints(text, what):
    values = parse_floats(text, what)
    if any(v != int(v) or v < 1 for v in values):
        raise InputError(f"{what}: expected positive integers, got '{text}'")
    return [int(v) for v in values]


def logsumexp(x, axis=None):
    """Numerically stable log(sum(exp(x))) along AXIS (-inf for all -inf)."""
    x = np.asarray(x, dtype=float)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return np.squeeze(out, axis=axis) if axis is not None else out.item()


def pyplot():
    """matplotlib.pyplot with the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def ensure_dir(path):
    os.makedirs(path, exist_ok=True)
    return path


# ----------------------------------------------------------------------------- train.h5


@dataclass
class TrainRun:
    path: str
    attrs: dict
    metrics: "object"  # pandas DataFrame, one row per logged step, column "step" first

    @property
    def algorithm(self):
        return str(self.attrs.get("algorithm", "") or "")


def read_train(path, allow_incomplete=False):
    """train.h5 -> TrainRun (metrics as a DataFrame: step plus every /metrics column)."""
    import pandas as pd

    with open_h5(path, FORMAT_TRAIN, allow_incomplete) as f:
        group = require(f, path, "metrics")
        require(f, path, "metrics/step")
        columns = {"step": group["step"][:].reshape(-1).astype(np.int64)}
        for name in sorted(group):
            if name != "step":
                columns[name] = group[name][:].reshape(-1).astype(float)
        return TrainRun(path, attrs_dict(f), pd.DataFrame(columns))


def train_labels(runs, names=None):
    """One label per run: the given name, else the algorithm attribute, else the parent
    directory; runs of the same algorithm are told apart by their parent directory."""
    names = names or [None] * len(runs)
    parents = [os.path.basename(os.path.dirname(os.path.abspath(r.path))) for r in runs]
    base = [name or run.algorithm or parent for run, name, parent in zip(runs, names, parents)]
    labels = []
    for label, name, parent in zip(base, names, parents):
        if not name and base.count(label) > 1 and parent != label:
            label = f"{label} ({parent})"
        labels.append(label)
    for i, label in enumerate(labels):
        if labels.count(label) > 1:
            labels[i] = f"{label} #{labels[:i + 1].count(label)}"
    return labels


# ----------------------------------------------------------------------------- eval.h5


@dataclass
class EvalRun:
    path: str
    attrs: dict
    mean: "object"  # DataFrame rows (benchmarks, then "macro") x metrics
    se: "object"
    count: "object"
    benchmarks: list = field(default_factory=list)  # benchmark names

    @property
    def k(self):
        return int(self.attrs.get("samples_per_prompt", 0) or 0)

    def macro(self, metric):
        """(mean, se) of METRIC in the macro row; (nan, nan) when absent."""
        if metric not in self.mean.columns:
            return math.nan, math.nan
        return float(self.mean.at["macro", metric]), float(self.se.at["macro", metric])


def read_eval(path):
    """eval.h5 -> EvalRun with the /summary mean, se and count as DataFrames."""
    import pandas as pd

    with open_h5(path, FORMAT_EVAL) as f:
        require(f, path, "summary")
        rows = [str(r) for r in decode(require(f, path, "summary/row")[:])]
        if "metrics" not in f["summary"].attrs:
            raise InputError(f"{path}: /summary has no 'metrics' attribute")
        metrics = [m for m in decode(f["summary"].attrs["metrics"]).split(",") if m]
        parts = {"mean": {}, "se": {}, "count": {}}
        for m in metrics:
            for part in parts:
                parts[part][m] = require(f, path, f"summary/{m}/{part}")[:].astype(float)
        frames = {p: pd.DataFrame(parts[p], index=rows) for p in parts}
        benchmarks = [r for r in rows if r != "macro"]
        if "macro" not in rows:
            if len(rows) != 1:
                raise InputError(f"{path}: /summary/row has no 'macro' row")
            for p in frames:  # a single benchmark: it is its own macro average
                frames[p].index = ["macro"]
        return EvalRun(path, attrs_dict(f), frames["mean"], frames["se"], frames["count"],
                       benchmarks)


@dataclass
class EvalPrompts:
    """The per-prompt side of an eval.h5: one row per prompt, in file order."""
    path: str
    attrs: dict
    keys: list  # (benchmark name, prompt id) per prompt: what identifies a prompt
    texts: list  # the rendered prompt text per prompt
    metrics: "object"  # DataFrame: one column per /prompts/metrics/<name> (NaN: undefined)
    benchmarks: list = field(default_factory=list)

    @property
    def k(self):
        return int(self.attrs.get("samples_per_prompt", 0) or 0)


def read_eval_prompts(path):
    """eval.h5 -> EvalPrompts: the per-prompt figures of /prompts/metrics with each prompt's
    key (benchmark name, /prompts/id) and text. InputError for a duplicate key."""
    import pandas as pd

    with open_h5(path, FORMAT_EVAL) as f:
        ids = [str(i) for i in decode(require(f, path, "prompts/id")[:])]
        texts = [str(t) for t in decode(require(f, path, "prompts/text")[:])]
        bench_index = require(f, path, "prompts/benchmark")[:].astype(np.int64)
        names = [str(n) for n in decode(require(f, path, "benchmarks/name")[:])]
        if len(bench_index) != len(ids) or len(texts) != len(ids):
            raise InputError(f"{path}: /prompts/id, /prompts/text and /prompts/benchmark "
                             "differ in length")
        if len(ids) and (bench_index.min() < 0 or bench_index.max() >= len(names)):
            raise InputError(f"{path}: /prompts/benchmark out of range of /benchmarks/name")
        group = require(f, path, "prompts/metrics")
        metrics = {}
        for name in sorted(group):
            values = group[name][:].astype(float)
            if len(values) != len(ids):
                raise InputError(f"{path}: /prompts/metrics/{name} has {len(values)} values "
                                 f"for {len(ids)} prompts")
            metrics[name] = values
        keys = [(names[b], i) for b, i in zip(bench_index, ids)]
        seen = set()
        for key in keys:
            if key in seen:
                raise InputError(f"{path}: prompt id '{key[1]}' appears twice in benchmark "
                                 f"'{key[0]}'")
            seen.add(key)
        return EvalPrompts(path, attrs_dict(f), keys, texts, pd.DataFrame(metrics), names)


# ----------------------------------------------------------------------------- p* on C
#
# The exact metrics of eval.h5 compare the policy with p* restricted to the correct set C
# (`kl`, `tv`); the reference scores 0 there by construction. With binary rewards the
# mass of p* on C follows from the reference's (`reference_mass`), and the chain rule
# over the partition {C, not C} gives the part of the full KL(p* || pi) that a listable
# task allows: KL(p* || pi) = kl2(p*(C), pi(C)) + p*(C) KL(p*|C || pi|C)
# + (1 - p*(C)) KL(p*|not C || pi|not C), the last term >= 0 and unknown.

TARGET_MASS = "target_mass"  # p*(C) per prompt
KL_MASS = "kl_mass"  # binary KL between p*(C) and pi(C) per prompt
KL_LOWER_BOUND = "kl_lower_bound"  # kl2(p*(C), pi(C)) + p*(C) * kl per prompt


def target_mass(reference_mass, beta):
    """p*(C) = e^beta P_ref(C) / (1 + (e^beta - 1) P_ref(C)) for binary rewards (r = 1 on
    C, 0 elsewhere): p* = pi_ref e^(beta r) / Z with Z = 1 + (e^beta - 1) P_ref(C)."""
    p = np.asarray(reference_mass, dtype=float)
    with np.errstate(invalid="ignore", over="ignore"):
        # divide numerator and denominator by e^beta: stable for large beta
        return p / (p + (1.0 - p) * np.exp(-float(beta)))


def binary_kl(p, q):
    """KL(Bernoulli(p) || Bernoulli(q)) in nats, elementwise; 0 log 0 = 0; inf where q puts
    0 on an outcome of positive p-probability; NaN where an input is NaN."""
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)

    def term(a, b):  # a log(a / b) with 0 log(0 / b) = 0
        with np.errstate(divide="ignore", invalid="ignore"):
            t = a * (np.log(a) - np.log(b))
        return np.where(a == 0, 0.0, t)

    out = term(p, q) + term(1.0 - p, 1.0 - q)
    return np.where(np.isnan(p) | np.isnan(q), np.nan, out)


def kl_lower_bound(reference_mass, policy_mass, kl_on_c, beta):
    """(p*(C), kl2(p*(C), pi(C)), lower bound) per prompt: the lower bound
    kl2(p*(C), pi(C)) + p*(C) KL(p*|C || pi|C) <= KL(p* || pi) (chain rule; the omitted term
    is the KL on the incorrect responses, weighted by 1 - p*(C))."""
    pstar = target_mass(reference_mass, beta)
    mass = binary_kl(pstar, policy_mass)
    kl = np.asarray(kl_on_c, dtype=float)
    with np.errstate(invalid="ignore"):
        bound = mass + np.where(pstar == 0, 0.0, pstar * kl)
    return pstar, mass, np.where(np.isnan(kl) & (pstar != 0), np.nan, bound)


def add_target_metrics(prompts, beta):
    """Adds the columns TARGET_MASS, KL_MASS, KL_LOWER_BOUND to prompts.metrics (an
    EvalPrompts) from reference_mass, policy_mass and kl at the target's BETA; NaN when one
    of those is missing from the file."""
    m = prompts.metrics
    if all(c in m for c in ("reference_mass", "policy_mass", "kl")):
        pstar, mass, bound = kl_lower_bound(m["reference_mass"], m["policy_mass"], m["kl"], beta)
    else:
        pstar = mass = bound = np.full(len(m), np.nan)
    m[TARGET_MASS], m[KL_MASS], m[KL_LOWER_BOUND] = pstar, mass, bound
    return prompts


# ----------------------------------------------------------------------------- partition


PROMPT_DATASETS = ["anchors/log_z_hat", "anchors/log_z_exact"]
OPTIONAL_PROMPT_DATASETS = ["anchors/log_z_length_normalized"]
TRAJECTORY_COLUMNS = ["prompt_index", "sample_index", "reward", "log_q", "log_pi_ref",
                      "log_weight", "length", "component"]


@dataclass
class Partition:
    path: str
    attrs: dict
    prompts: "object"  # DataFrame, one row per prompt (anchors, diagnostics, id)
    trajectories: "object" = None  # DataFrame in canonical (prompt, sample) order
    label: str = field(default="")

    @property
    def beta(self):
        return float(self.attrs["beta"])

    @property
    def samples_per_prompt(self):
        return int(self.attrs.get("samples_per_prompt", 0) or 0)


def read_partition(path, trajectories=False):
    """Partition file -> Partition (per-prompt DataFrame; trajectories when asked)."""
    import pandas as pd

    with open_h5(path, FORMAT_PARTITION) as f:
        a = attrs_dict(f)
        if "beta" not in a:
            raise InputError(f"{path}: missing root attribute 'beta'")
        cols = {}
        for d in PROMPT_DATASETS:
            cols[d.split("/")[-1]] = require(f, path, d)[:].astype(float)
        for d in OPTIONAL_PROMPT_DATASETS:
            if d in f:
                cols[d.split("/")[-1]] = f[d][:].astype(float)
        require(f, path, "diagnostics")
        for name in sorted(f["diagnostics"]):
            cols[name] = f["diagnostics"][name][:]
        prompts = pd.DataFrame(cols)
        if "prompts/id" in f:
            ids = decode(f["prompts/id"][:])
            if len(ids) == len(prompts):
                prompts.insert(0, "id", list(ids))
        part = Partition(path, a, prompts)
        if trajectories:
            t = {}
            for c in TRAJECTORY_COLUMNS:
                d = f"trajectories/{c}"
                if c in ("length", "component") and d not in f:
                    continue
                t[c] = require(f, path, d)[:]
            traj = pd.DataFrame(t).sort_values(["prompt_index", "sample_index"], kind="stable")
            part.trajectories = traj.reset_index(drop=True)
        part.label = str(a.get("proposal_kind") or a.get("proposal") or os.path.basename(path))
        return part


def trajectory_grid(part, column):
    """The trajectory COLUMN as a [P, N] array in canonical order (prompt-major).

    InputError when the trajectories are not a complete prompt x sample grid."""
    t = part.trajectories
    prompts = len(part.prompts)
    if prompts == 0 or len(t) % prompts:
        raise InputError(f"{part.path}: {len(t)} trajectories do not split into "
                         f"{prompts} prompts of equal size")
    n = len(t) // prompts
    pi = t["prompt_index"].to_numpy().reshape(prompts, n)
    si = t["sample_index"].to_numpy().reshape(prompts, n)
    if not (np.all(pi == np.arange(prompts)[:, None]) and np.all(si == np.arange(n)[None, :])):
        raise InputError(f"{part.path}: trajectories are not a complete {prompts} x {n} "
                         "grid of (prompt_index, sample_index)")
    return t[column].to_numpy(dtype=float).reshape(prompts, n)


def flag_counts(flags):
    """{flag description: number of prompts with that bit set} for the set bits."""
    flags = np.asarray(flags, dtype=np.int64)
    return {name: int(np.sum((flags & bit) != 0)) for bit, name in FLAG_NAMES.items()
            if np.any((flags & bit) != 0)}


# ----------------------------------------------------------------------------- regressor


REGRESSOR_PROMPT_DATASETS = ["log_z_hat", "standard_error", "log_z_exact", "prediction",
                             "cv_prediction", "shrinkage", "fold"]


@dataclass
class Regressor:
    path: str
    attrs: dict
    prompts: "object"  # DataFrame, one row per fitted prompt: id and REGRESSOR_PROMPT_DATASETS

    @property
    def tau2(self):
        return float(self.attrs["tau2"])


def read_regressor(path):
    """Regressor file of `disa anchor fit` (docs/formats.md) -> Regressor."""
    import pandas as pd

    with open_h5(path, FORMAT_REGRESSOR) as f:
        a = attrs_dict(f)
        if "tau2" not in a:
            raise InputError(f"{path}: missing root attribute 'tau2'")
        cols = {"id": list(decode(require(f, path, "prompts/id")[:]))}
        for d in REGRESSOR_PROMPT_DATASETS:
            values = require(f, path, f"prompts/{d}")[:]
            if len(values) != len(cols["id"]):
                raise InputError(f"{path}: /prompts/{d} has {len(values)} rows, "
                                 f"/prompts/id {len(cols['id'])}")
            cols[d] = values.astype(np.int64 if d == "fold" else float)
        return Regressor(path, a, pd.DataFrame(cols))


# ----------------------------------------------------------------------------- formatting


def fmt_num(value, digits=4):
    """Compact number for tables: 4 significant digits, 'nan'/'inf' spelled out."""
    if value is None:
        return "-"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(v):
        return "-"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}g}"


def fmt_pm(mean, se, digits=4):
    """'mean ± se' ('mean' alone when the se is unknown, '-' when the mean is)."""
    if mean is None or math.isnan(float(mean)):
        return "-"
    if se is None or not np.isfinite(float(se)) or not np.isfinite(float(mean)):
        return fmt_num(mean, digits)
    return f"{fmt_num(mean, digits)} ± {fmt_num(se, digits)}"


def markdown_table(header, rows):
    """A GitHub-markdown table from a header list and rows of already formatted cells."""
    esc = lambda s: str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(esc(h) for h in header) + " |",
             "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
