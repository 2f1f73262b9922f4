#!/usr/bin/env python3
"""tools/matched_sharpness.py on synthetic eval.h5 files with hand-computed answers.

    tests/tools/test_matched_sharpness.py TOOLS_DIR

A reference with per-prompt masses pi_ref(C) of 0.1 .. 0.6; FlowRL (3 seeds) whose pi(C)
is exactly the mean p*(C) at beta = 2 (so the matched beta* is 2), with a known KL on C;
DISA at betas 1, 2, 4 (one file each) reaching p*_beta(C) exactly with KL on C 0.01 (its
lower bound is then 0.01 p*(C)). Checked: the matched beta and the bracketing of the
chosen betas, every CSV column against a hand computation, the paired difference, the
outputs, and the refusal of an evaluation on other prompts.
"""

import io
import math
import os
import subprocess
import sys
import tempfile
from contextlib import redirect_stdout

import h5py
import numpy as np

sys.path.insert(0, sys.argv[1])
import disa_h5  # noqa: E402
import matched_sharpness as ms  # noqa: E402

N = 20
REF = np.linspace(0.1, 0.6, N)


def pstar(beta, ref=REF):
    return np.exp(beta) * ref / (1 + np.expm1(beta) * ref)


def write_eval(path, policy_mass, kl, ids=None):
    ids = ids or [f"p{i}" for i in range(N)]
    with h5py.File(path, "w") as f:
        for k, v in {"format": "disa-eval", "status": "complete"}.items():
            f.attrs[k] = np.bytes_(v)
        f.attrs["format_version"] = np.int64(1)
        f.attrs["samples_per_prompt"] = np.int64(8)
        f["benchmarks/name"] = np.array([b"graph_paths"])
        f["prompts/id"] = np.array([i.encode() for i in ids])
        f["prompts/text"] = np.array([f"graph {i}".encode() for i in range(N)])
        f["prompts/benchmark"] = np.zeros(N, dtype=np.int64)
        f["prompts/metrics/reference_mass"] = REF
        f["prompts/metrics/policy_mass"] = np.asarray(policy_mass, dtype=float)
        f["prompts/metrics/kl"] = np.asarray(kl, dtype=float)
        f["prompts/metrics/mean_at_k"] = np.asarray(policy_mass, dtype=float)


def main():
    work = tempfile.mkdtemp()
    ref = os.path.join(work, "reference.h5")
    write_eval(ref, REF, np.zeros(N))
    m2 = float(np.mean(pstar(2.0)))
    flow, flow_kl = [], {}
    for s in (1, 2, 3):
        p = os.path.join(work, f"seed-{s}.h5")
        flow_kl[s] = 0.2 + 0.05 * s + 0.01 * np.arange(N)
        write_eval(p, np.full(N, m2), flow_kl[s])
        flow.append(p)
    disa = {}
    for b in (1.0, 2.0, 4.0):
        os.makedirs(os.path.join(work, f"beta-{b:g}"))
        disa[b] = os.path.join(work, f"beta-{b:g}", "eval.h5")
        write_eval(disa[b], pstar(b), np.full(N, 0.01))

    # The matched beta and the chosen grid.
    star = ms.matched_beta(REF, m2)
    assert abs(star - 2.0) < 1e-6, star
    star, betas = ms.choose_betas(REF, m2, 4)
    assert len(betas) == 4 and betas == sorted(betas), betas
    masses = [ms.mean_target_mass(REF, b) for b in betas]
    assert masses[0] < m2 < masses[-1], (masses, m2)
    assert abs(betas[0] - 1.0) < 0.01 and abs(betas[-1] - 4.0) < 0.01, betas
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert ms.main(["--reference", ref, "--choose-betas", "3"]
                       + sum((["--flowrl", p] for p in flow), [])) == 0
    assert buf.getvalue().split() == ["1", "2", "4"], buf.getvalue()

    # The analysis against a hand computation.
    out = os.path.join(work, "out")
    argv = ["--reference", ref, "-o", out] + sum((["--flowrl", p] for p in flow), [])
    argv += sum((["--disa", f"{b:g}={p}"] for b, p in disa.items()), [])
    with redirect_stdout(io.StringIO()):
        assert ms.main(argv) == 0
    import pandas as pd

    df = pd.read_csv(os.path.join(out, "matched_sharpness.csv")).set_index("beta")
    assert list(df.index) == [1.0, 2.0, 4.0]
    for b in (1.0, 2.0, 4.0):
        ps = pstar(b)
        r = df.loc[b]
        assert abs(r["target_mass"] - ps.mean()) < 1e-12
        assert abs(r["disa_mass"] - ps.mean()) < 1e-12
        assert abs(r["disa_kl"] - 0.01) < 1e-12
        assert abs(r["disa_bound"] - 0.01 * ps.mean()) < 1e-12  # kl2(p*, p*) = 0
        kl2 = ps * np.log(ps / m2) + (1 - ps) * np.log((1 - ps) / (1 - m2))
        fb = {s: kl2 + ps * flow_kl[s] for s in flow_kl}
        want_fb = np.mean([fb[s].mean() for s in fb])
        assert abs(r["flowrl_bound"] - want_fb) < 1e-12, (r["flowrl_bound"], want_fb)
        assert abs(r["bound_difference"] - (0.01 * ps.mean() - want_fb)) < 1e-12
        assert r["bound_low"] <= r["bound_difference"] <= r["bound_high"]
        want_kl = 0.01 - np.mean([flow_kl[s].mean() for s in flow_kl])
        assert abs(r["kl_difference"] - want_kl) < 1e-12
        assert r["kl_high"] < 0  # DISA's KL on C is lower for every prompt and seed
        assert r["prompts"] == N and r["disa_seeds"] == "-"
    md = open(os.path.join(out, "matched_sharpness.md")).read()
    assert "bracketed." in md and "matched β* = 2" in md, md
    assert "DISA lower (better)" in md
    assert os.path.getsize(os.path.join(out, "matched_sharpness.png")) > 1000

    # Not bracketed: only beta 4.
    with redirect_stdout(io.StringIO()):
        ms.main(["--reference", ref, "-o", out, "--disa", f"4={disa[4.0]}"]
                + sum((["--flowrl", p] for p in flow), []))
    assert "**not bracketed**" in open(os.path.join(out, "matched_sharpness.md")).read()

    # Other prompts: refused by name (exit 2 on the command line).
    bad = os.path.join(work, "bad.h5")
    write_eval(bad, pstar(1.0), np.zeros(N), ids=[f"q{i}" for i in range(N)])
    proc = subprocess.run([sys.executable, os.path.join(sys.argv[1], "matched_sharpness.py"),
                           "--reference", ref, "--flowrl", flow[0], "--disa", f"1={bad}",
                           "-o", out], capture_output=True, text=True)
    assert proc.returncode == 2 and bad in proc.stderr, (proc.returncode, proc.stderr)
    print("test_matched_sharpness: all checks passed")


if __name__ == "__main__":
    main()
