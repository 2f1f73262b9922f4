#!/usr/bin/env python3
"""Unit test of tools/regressor_study.py on synthetic regressor files and train.h5 files
with hand-computed answers: the MSE of each estimator against the exact log Z (raw,
in-sample regressor, shrinkage, out-of-fold regressor) and their standard errors, the
paired differences, the prompts without an exact log Z (excluded and counted), the s = 0
count, and the seed-paired KL differences of the training runs.

    tests/tools/test_regressor_study.py [TOOLS_DIR]

Every test_* function runs; the exit code is the number of failures (0: all passed).
"""

import math
import os
import sys
import tempfile
import traceback

import numpy as np

TOOLS = (sys.argv[1] if len(sys.argv) > 1
         else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools"))
sys.path.insert(0, TOOLS)
import regressor_study as rs  # noqa: E402

# Four prompts; the last has no exact log Z. Every column differs, so swapping any two
# estimators changes the answers below.
EXACT = [0.0, 1.0, 2.0, math.nan]
COLUMNS = {
    "log_z_hat": [1.0, 1.0, 0.0, 5.0],       # errors 1, 0, -2     -> squares 1, 0, 4
    "prediction": [0.5, 1.5, 2.0, 0.0],      # errors .5, .5, 0    -> .25, .25, 0
    "shrinkage": [0.5, 1.0, 1.0, 5.0],       # errors .5, 0, -1    -> .25, 0, 1
    "cv_prediction": [0.0, 0.0, 2.0, 0.0],   # errors 0, -1, 0     -> 0, 1, 0
    "standard_error": [0.5, 0.0, 1.0, 1.0],  # s = 0 on the second prompt
}
TAU2 = 1.0


def close(a, b, tol=1e-12):
    assert abs(a - b) <= tol * max(1.0, abs(b)), (a, b)


def write_regressor(path, task="graph_paths", exact=EXACT, columns=COLUMNS, tau2=TAU2):
    import h5py

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs.update({"format": "disa-regressor", "format_version": 1, "status": "complete",
                        "task": task, "beta": 3.0, "tau2": tau2, "lambda": 10.0, "folds": 5})
        n = len(exact)
        f["prompts/id"] = np.array([f"p{i}".encode() for i in range(n)])
        f["prompts/log_z_exact"] = np.asarray(exact, dtype=float)
        for k, v in columns.items():
            f[f"prompts/{k}"] = np.asarray(v, dtype=float)
        f["prompts/fold"] = np.arange(n, dtype=np.int64) % 5


def write_partition(path, n, pass_rate, kind="reference"):
    """A partition file with just what regressor_study.py reads beside a regressor file."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs.update({"format": "disa-partition", "format_version": 1, "status": "complete",
                        "beta": 3.0, "samples_per_prompt": n, "proposal_kind": kind})
        f["prompts/id"] = np.array([f"p{i}".encode() for i in range(len(pass_rate))])
        f["diagnostics/pass_rate"] = np.asarray(pass_rate, dtype=float)


def write_train(path, anchor, seed, kl, mass):
    import h5py

    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        f.attrs.update({"format": "disa-train", "format_version": 1, "status": "complete",
                        "algorithm": "disa", "anchor_kind": "estimate" if anchor == "raw" else anchor,
                        "seed": seed, "steps": 10, "final_exact_kl": kl, "final_exact_tv": kl / 2,
                        "final_exact_policy_mass": mass})
        f["metrics/step"] = np.array([0, 5], dtype=np.int64)
        f["metrics/exact_kl"] = np.array([0.0, kl])
        f["metrics/exact_policy_mass"] = np.array([0.4, mass])


def frame():
    import pandas as pd

    d = {"id": ["p0", "p1", "p2", "p3"], "log_z_exact": EXACT, "fold": [0, 1, 2, 3]}
    d.update(COLUMNS)
    return pd.DataFrame(d)


def test_anchor_errors_by_hand():
    r = rs.anchor_errors(frame(), TAU2)
    assert r["prompts_total"] == 4 and r["prompts"] == 3 and r["excluded_no_exact"] == 1
    assert r["excluded_nonfinite"] == 0
    close(r["mse_raw"], 5 / 3)
    close(r["mse_regressor"], 1 / 6)
    close(r["mse_shrinkage"], 5 / 12)
    close(r["mse_heldout"], 1 / 3)
    # se = sd(ddof 1) / sqrt(3): raw squares 1, 0, 4 have variance 13/3.
    close(r["se_raw"], math.sqrt(13 / 3 / 3))
    # shrinkage squares .25, 0, 1: mean 5/12, variance ((1/6)^2 + (5/12)^2 + (7/12)^2) / 2
    close(r["se_shrinkage"], math.sqrt(((1 / 6) ** 2 + (5 / 12) ** 2 + (7 / 12) ** 2) / 2 / 3))
    # paired shrinkage - raw: -.75, 0, -3
    close(r["diff_shrinkage_raw"], -1.25)
    close(r["se_diff_shrinkage_raw"], math.sqrt((0.5 ** 2 + 1.25 ** 2 + 1.75 ** 2) / 2 / 3))
    close(r["diff_heldout_raw"], (-1 + 1 - 4) / 3)
    assert r["s_zero"] == 1 and r["prompts_s_positive"] == 2
    close(r["s_zero_fraction"], 1 / 3)
    # s > 0: prompts 0 and 2 -> raw (1 + 4) / 2, shrinkage (.25 + 1) / 2
    close(r["mse_raw_s_positive"], 2.5)
    close(r["mse_shrinkage_s_positive"], 0.625)
    # c from the out-of-fold g: s^2 = .25, 0, 1 -> (1*1 + .25*0)/1.25 = .8; 1 (s = 0); (0 + 2)/2 = 1
    close(r["mse_shrinkage_oof"], (0.8 ** 2 + 0.0 + 1.0) / 3)


def test_study_directory_and_training():
    with tempfile.TemporaryDirectory() as d:
        write_regressor(os.path.join(d, "graph_paths", "n-4", "regressor.h5"))
        # N = 2: every prompt exact, errors of raw 2 (one prompt): MSE 4.
        write_regressor(os.path.join(d, "graph_paths", "n-2", "regressor.h5"), exact=[0.0],
                        columns={"log_z_hat": [2.0], "prediction": [1.0], "shrinkage": [2.0],
                                 "cv_prediction": [3.0], "standard_error": [0.0]})
        write_regressor(os.path.join(d, "countdown", "n-4", "regressor.h5"), task="countdown")
        # Beside graph_paths N = 4: q = pi_ref; the s = 0 prompt p1 had 0 of 4 correct.
        write_partition(os.path.join(d, "graph_paths", "n-4", "anchors.h5"), 4, [0.5, 0.0, 0.25, 1.0])
        for seed, (kl_raw, kl_shr) in enumerate([(0.3, 0.2), (0.5, 0.2)], start=1):
            write_train(os.path.join(d, "train", "raw", f"seed-{seed}", "train.h5"), "raw", seed, kl_raw, 0.6)
            write_train(os.path.join(d, "train", "shrinkage", f"seed-{seed}", "train.h5"), "shrinkage",
                        seed, kl_shr, 0.7)
        out = os.path.join(d, "report")
        assert rs.main([d, "--train-n", "4", "--wall-time", "12", "-o", out]) == 0
        import pandas as pd

        df = pd.read_csv(os.path.join(out, "regressor_study.csv"))
        assert list(zip(df.task, df.n)) == [("graph_paths", 2), ("graph_paths", 4), ("countdown", 4)]
        g4 = df[(df.task == "graph_paths") & (df.n == 4)].iloc[0]
        close(g4.mse_raw, 5 / 3)
        close(g4.mse_shrinkage, 5 / 12)
        close(g4.mse_regressor, 1 / 6)
        close(g4.mse_heldout, 1 / 3)
        assert g4.excluded_no_exact == 1 and g4.s_zero == 1
        # The s = 0 floor: p = (0 + 1/2) / 5, V = (e^3 - 1)^2 p (1 - p) / (1 + (e^3 - 1) p)^2,
        # s^2 = V / 4; c = (tau^2 raw + s^2 g) / (s^2 + tau^2) with the in-sample g:
        # p0 (1 * 1 + .25 * .5) / 1.25 = .9 (exact 0), p1 from the floor (exact 1),
        # p2 (1 * 0 + 1 * 2) / 2 = 1 (exact 2).
        e = math.exp(3) - 1
        s2 = e * e * 0.1 * 0.9 / (1 + e * 0.1) ** 2 / 4
        c1 = (1.0 * 1.0 + s2 * 1.5) / (s2 + 1.0)
        close(g4.mse_shrinkage_floor, (0.81 + (c1 - 1) ** 2 + 1.0) / 3)
        close(g4.diff_shrinkage_floor_raw, (0.81 + (c1 - 1) ** 2 + 1.0) / 3 - 5 / 3)
        close(g4.var_exact, 2 / 3)
        cd4 = df[df.task == "countdown"].iloc[0]
        assert math.isnan(cd4.mse_shrinkage_floor)  # no partition file beside it
        g2 = df[(df.task == "graph_paths") & (df.n == 2)].iloc[0]
        close(g2.mse_raw, 4.0)
        close(g2.mse_heldout, 9.0)
        assert math.isnan(g2.se_raw)  # one prompt: no standard error
        t = pd.read_csv(os.path.join(out, "regressor_study_train.csv"))
        assert list(t.anchor) == ["raw", "raw", "shrinkage", "shrinkage"], list(t.anchor)
        s = {r["anchor"]: r for r in rs.train_summary(t)}
        close(s["raw"]["final_exact_kl"], 0.4)
        close(s["shrinkage"]["final_exact_kl"], 0.2)
        close(s["shrinkage"]["final_exact_kl_minus_raw"], -0.2)  # -0.1, -0.3
        close(s["shrinkage"]["final_exact_kl_minus_raw_se"], math.sqrt(0.02 / 2))
        close(s["shrinkage"]["final_exact_policy_mass_minus_raw"], 0.1)
        md = open(os.path.join(out, "regressor_study.md")).read()
        assert "| graph_paths | 4 | 3 (+1 no exact) | 1 (33%) | 1.67 ± 1.2 | 0.167 ± 0.0833 | 0.417 ± 0.3 | -1.25 ± 0.901 | 0.333 ± 0.333 |" in md, md
        assert "Wall time of the job up to the report: 12 s." in md
        with open(os.path.join(out, "regressor_study.png"), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_mismatched_task_is_refused():
    with tempfile.TemporaryDirectory() as d:
        write_regressor(os.path.join(d, "countdown", "n-4", "regressor.h5"), task="graph_paths")
        try:
            rs.anchor_table(d)
        except rs.disa_h5.InputError as e:
            assert "countdown" in str(e) and "regressor.h5" in str(e)
        else:
            raise AssertionError("a file under the wrong task was accepted")


def main():
    os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp())
    failures = 0
    for name, fn in sorted(globals().items()):
        if name.startswith("test_") and callable(fn):
            try:
                fn()
                print(f"ok: {name}")
            except Exception:
                failures += 1
                print(f"FAIL: {name}")
                traceback.print_exc()
    return failures


if __name__ == "__main__":
    sys.exit(main())
