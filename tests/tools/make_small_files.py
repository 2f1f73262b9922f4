#!/usr/bin/env python3
"""Small synthetic disa output files for the tests of the analysis tools (tools/*.py).

    tests/tools/make_small_files.py DIR

Writes the pipeline layout with h5py, following docs/formats.md and docs/eval.md:
  DIR/anchors.h5                 partition file, q = pi_ref, 6 prompts x 32 samples
  DIR/study/ref.h5               q = pi_ref, 6 prompts x 64 samples
  DIR/study/strong.h5            q = a stronger proposal (pi_ref tilted towards correct)
  DIR/study/mixture.h5           defensive mixture 0.5 strong + 0.5 pi_ref
  DIR/train/{disa,grpo}/seed-{1,2,3}/train.h5  10 logged steps each, per training seed
  DIR/eval/reference.h5, DIR/eval/{disa,grpo}/seed-{1,2,3}.h5
                                 2 benchmarks x 6 prompts, k = 8, with /summary; every
                                 prompt has a difficulty shared by all policies and every
                                 training seed shifts its policy's accuracy (so that
                                 pairing and the seed term both matter)
Every prompt has a toy response space: 10 responses with known pi_ref probabilities, of
which the first few are correct (reward 1), so the exact log Z = log(1 + (e^beta - 1)
P_ref(correct)) is consistent with the sampled trajectories; the last prompt has no
exact value (NaN, flag 8). Trajectory rows are stored in a shuffled batch order, as a
multi-rank run writes them. All randomness comes from fixed seeds.
"""

import os
import sys

import h5py
import numpy as np

BETA = 2.0
P_CORRECT = [0.08, 0.2, 0.35, 0.5, 0.65, 0.8]  # P_ref(correct) per prompt
RESPONSES = 10
BATCH = 48
STRONG_TILT = 1.5  # log q_strong = log pi_ref + 1.5 r - const
ALPHA = 0.5
K_EVAL = 8


def string_attrs(obj, values):
    for key, value in values.items():
        obj.attrs[key] = np.bytes_(value) if isinstance(value, str) else value


def strings(values):
    return np.array([v.encode() for v in values], dtype=f"S{max(len(v) for v in values) + 1}")


def common_attrs(fmt):
    return {"format": fmt, "format_version": np.int64(1), "status": "complete",
            "code_version": "disa 0.1.0 (synthetic)", "created": "2026-01-01T00:00:00Z",
            "config": "# synthetic test file\n", "reference_model": "models/ref-synthetic",
            "reference_fingerprint": "0123456789abcdef",
            "tokenizer_fingerprint": "fedcba9876543210",
            "task": "graph_paths", "dataset_source": "graph_paths seed=1 split=train count=6",
            "dataset_fingerprint": "00aa11bb22cc33dd", "seed": np.int64(1234),
            "world_size": np.int64(2)}


def toy_world(rng):
    """Per prompt: log pi_ref of each response, its reward, its length."""
    worlds = []
    for i, p in enumerate(P_CORRECT):
        correct = 2 + i % 3
        pc = rng.dirichlet(np.ones(correct)) * p
        pw = rng.dirichlet(np.ones(RESPONSES - correct)) * (1 - p)
        probs = np.concatenate([pc, pw])
        reward = np.concatenate([np.ones(correct), np.zeros(RESPONSES - correct)])
        worlds.append((np.log(probs), reward, rng.integers(3, 13, RESPONSES)))
    return worlds


def proposal_log_q(log_ref, reward, kind):
    """log q over the toy responses (and log q_strong) for a proposal kind."""
    strong = log_ref + STRONG_TILT * reward
    strong -= np.logaddexp.reduce(strong)
    if kind == "reference":
        return log_ref, np.full_like(log_ref, np.nan)
    if kind == "model":
        return strong, strong
    mix = np.logaddexp(np.log(ALPHA) + strong, np.log(1 - ALPHA) + log_ref)
    return mix, strong


def length_normalized_anchor(l_ratio, reward, length, beta):
    """Root c of (1/N) sum (pi_ref/q) exp(|y| (beta r - c)) = 1 by bisection."""
    f = lambda c: np.logaddexp.reduce(l_ratio + length * (beta * reward - c)) - np.log(len(reward))
    lo, hi = -50.0, 50.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
    return 0.5 * (lo + hi)


def write_partition(path, kind, samples, seed):
    rng = np.random.default_rng(seed)
    worlds = toy_world(np.random.default_rng(7))  # the same prompts in every file
    prompts = len(worlds)
    cols = {c: [] for c in ["prompt_index", "sample_index", "reward", "log_q", "log_pi_ref",
                            "log_q_strong", "log_weight", "length", "component"]}
    diag = {c: [] for c in ["n", "n_correct", "pass_rate", "ess", "ess_fraction",
                            "max_normalized_weight", "relative_variance", "delta_se",
                            "bootstrap_sd", "k_hat", "flags"]}
    log_z_hat, log_z_exact, log_z_ln = [], [], []
    for i, (log_ref, reward, length) in enumerate(worlds):
        log_q, log_strong = proposal_log_q(log_ref, reward, kind)
        if kind == "mixture":
            component = np.where(rng.random(samples) < ALPHA, 2, 1)
            y = np.array([rng.choice(RESPONSES, p=np.exp(log_strong if c == 2 else log_ref))
                          for c in component])
        else:
            component = np.zeros(samples, dtype=int)
            y = rng.choice(RESPONSES, size=samples, p=np.exp(log_q))
        lq = log_ref[y] if kind == "reference" else log_q[y]  # q = pi_ref: identical columns
        l = BETA * reward[y] + log_ref[y] - lq
        w = np.exp(l - l.max())
        ess = w.sum() ** 2 / (w * w).sum()
        v = samples / ess - 1
        boot = [np.logaddexp.reduce(l[rng.integers(0, samples, samples)]) - np.log(samples)
                for _ in range(200)]
        exact = np.log1p(np.expm1(BETA) * P_CORRECT[i]) if i < prompts - 1 else np.nan
        n_correct = int(reward[y].sum())
        log_z_hat.append(np.logaddexp.reduce(l) - np.log(samples))
        log_z_exact.append(exact)
        log_z_ln.append(length_normalized_anchor(log_ref[y] - lq, reward[y], length[y], BETA))
        for name, value in [("n", samples), ("n_correct", n_correct),
                            ("pass_rate", n_correct / samples), ("ess", ess),
                            ("ess_fraction", ess / samples),
                            ("max_normalized_weight", w.max() / w.sum()),
                            ("relative_variance", v), ("delta_se", np.sqrt(v / samples)),
                            ("bootstrap_sd", np.std(boot, ddof=1)), ("k_hat", np.nan),
                            ("flags", (1 if n_correct == 0 else 0)
                             | (8 if np.isnan(exact) else 0))]:
            diag[name].append(value)
        for name, value in [("prompt_index", np.full(samples, i)),
                            ("sample_index", np.arange(samples)), ("reward", reward[y]),
                            ("log_q", lq), ("log_pi_ref", log_ref[y]),
                            ("log_q_strong", log_strong[y]), ("log_weight", l),
                            ("length", length[y]), ("component", component)]:
            cols[name].append(value)
    cols = {k: np.concatenate(v) for k, v in cols.items()}
    # Rows in the order batches finished: batches of BATCH units, shuffled.
    units = prompts * samples
    batch_ids = rng.permutation((units + BATCH - 1) // BATCH)
    order, batches, row = [], [], 0
    for b in batch_ids:
        members = np.arange(b * BATCH, min((b + 1) * BATCH, units))
        batches.append((b, row, len(members)))
        order.append(members)
        row += len(members)
    order = np.concatenate(order)
    dtypes = {"prompt_index": np.int64, "sample_index": np.int64, "length": np.int32,
              "component": np.int8}
    with h5py.File(path, "w") as f:
        proposal = {"reference": "reference(T=1, top_k=0, top_p=1)",
                    "model": "model(models/strong-synthetic, T=1, top_k=0, top_p=1)",
                    "mixture": f"mixture(alpha={ALPHA}, q_strong=model(models/strong-synthetic))"}
        string_attrs(f, {**common_attrs("disa-partition"), "beta": BETA,
                         "samples_per_prompt": np.int64(samples),
                         "anchors": "logmeanexp,length-normalized", "proposal": proposal[kind],
                         "proposal_kind": kind, "proposal_truncated": np.int64(0),
                         "mixture_alpha": ALPHA if kind == "mixture" else 0.0,
                         "temperature": 1.0, "top_k": np.int64(0), "top_p": 1.0,
                         "max_new_tokens": np.int64(16), "batch_size": np.int64(BATCH),
                         "proposal_model": "models/ref-synthetic" if kind == "reference"
                         else "models/strong-synthetic",
                         "proposal_fingerprint": "0123456789abcdef", "resume_key": kind})
        ids = [f"graph_paths-{i:04d}" for i in range(prompts)]
        f["prompts/id"] = strings(ids)
        f["prompts/text"] = strings([f"Find a path for graph {i}:" for i in range(prompts)])
        f["anchors/log_z_hat"] = np.array(log_z_hat)
        f["anchors/log_z_exact"] = np.array(log_z_exact)
        f["anchors/log_z_length_normalized"] = np.array(log_z_ln)
        for name, values in diag.items():
            f[f"diagnostics/{name}"] = np.array(values, dtype=np.int64 if name in (
                "n", "n_correct", "flags") else float)
        f["diagnostics/bootstrap_sd"].attrs["resamples"] = np.int64(200)
        for name, values in cols.items():
            f[f"trajectories/{name}"] = values[order].astype(dtypes.get(name, float))
        f["trajectories/reason"] = np.where(cols["reward"][order] > 0, 0, 2).astype(np.int8)
        f["trajectories/finish_reason"] = np.zeros(units, dtype=np.int8)
        tokens = [rng.integers(0, 64, n).astype(np.int32) for n in cols["length"][order]]
        f["trajectories/tokens/values"] = np.concatenate(tokens)
        f["trajectories/tokens/offsets"] = np.concatenate(
            [[0], np.cumsum([len(t) for t in tokens])])
        f["trajectories/batches"] = np.array(batches, dtype=np.int64)


def write_train(path, algorithm, seed, steps=10):
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    metrics = {
        "loss": 1.5 * np.exp(-t / 4) + 0.05 * rng.random(steps),
        "reward_mean": 0.3 + 0.4 * (1 - np.exp(-t / 5)) + 0.02 * rng.standard_normal(steps),
        "reward_std": 0.4 + 0.01 * rng.random(steps),
        "accuracy": 0.3 + 0.4 * (1 - np.exp(-t / 5)),
        "zero_variance_groups": rng.random(steps) * 0.2,
        "response_length_mean": 8 + rng.random(steps),
        "response_length_max": np.full(steps, 16.0),
        "truncation_rate": np.zeros(steps),
        "entropy": 1.2 - 0.05 * t,
        "kl_ref": 0.01 * t,
        "grad_norm": 2 * np.exp(-t / 6) + 0.1,
        "lr": np.full(steps, 1e-3),
        "tokens_per_second": 1000 + 10 * rng.random(steps),
        "time_generate": np.full(steps, 0.2), "time_score": np.full(steps, 0.05),
        "time_backward": np.full(steps, 0.1), "time_communicate": np.full(steps, 0.01),
        "time_step": np.full(steps, 0.4),
    }
    extra = {}
    if algorithm == "disa":
        metrics.update({
            "residual_mean": 0.5 * np.exp(-t / 3) + 0.01 * rng.standard_normal(steps),
            "residual_sq_mean": 0.5 * np.exp(-t / 3),
            "weight_mean": np.ones(steps), "weight_max": np.full(steps, 1.5),
            "weight_clamp_fraction": np.zeros(steps), "anchor_mean": np.full(steps, 0.9),
            "exact_kl": np.where(t % 5 == 0, 0.5 * np.exp(-t / 4), np.nan),
            "exact_tv": np.where(t % 5 == 0, 0.3 * np.exp(-t / 4), np.nan),
            "exact_policy_mass": np.where(t % 5 == 0, 0.3 + 0.05 * t, np.nan),
        })
        extra = {"final_exact_kl": 0.05, "final_exact_tv": 0.03, "final_exact_policy_mass": 0.8}
    else:
        metrics.update({"clip_fraction": 0.1 * rng.random(steps),
                        "clip_fraction_low": 0.05 * rng.random(steps),
                        "clip_fraction_high": 0.05 * rng.random(steps),
                        "kl_penalty": np.zeros(steps)})
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with h5py.File(path, "w") as f:
        string_attrs(f, {**common_attrs("disa-train"), "algorithm": algorithm, "beta": BETA,
                         "residual": "logmeanexp", "anchors": "anchors.h5",
                         "anchor_shift": 0.0, "anchor_kind": "estimate",
                         "missing_anchors": np.int64(0), "source": "online",
                         "lora": np.int64(0), "policy_init": "models/ref-synthetic",
                         "steps": np.int64(steps), "prompts": np.int64(6),
                         "final_policy": f"train/{algorithm}/policy",
                         "train_seconds": 4.0 + seed % 3, **extra})
        f["metrics/step"] = t.astype(np.int64)
        for name, values in metrics.items():
            f[f"metrics/{name}"] = np.asarray(values, dtype=float)
        f["checkpoints/step"] = np.array([steps - 1], dtype=np.int64)


def pass_at(n, c, j):
    if n - c < j:
        return 1.0
    return 1.0 - float(np.prod(1.0 - j / np.arange(n - c + 1, n + 1)))


# Per model: accuracy per prompt (mean), distinct correct per correct sample, judge, KL.
EVAL_MODELS = {
    "reference": dict(acc=0.35, spread=0.6, judge=False, kl=0.0, coverage=0.95),
    "disa": dict(acc=0.55, spread=0.7, judge=True, kl=0.08, coverage=0.9),
    "grpo": dict(acc=0.75, spread=0.15, judge=True, kl=0.9, coverage=0.35),
}


SEEDS = [1, 2, 3]


def write_eval(path, model, seed, benchmarks=("paths", "small"), per_bench=6, train_seed=None):
    rng = np.random.default_rng(seed)
    cfg = EVAL_MODELS[model]
    prompts = len(benchmarks) * per_bench
    difficulty = 0.15 * np.random.default_rng(99).standard_normal(prompts)  # shared
    shift = (0.0 if train_seed is None
             else 0.05 * np.random.default_rng([1000, train_seed]).standard_normal())
    k = K_EVAL
    m = {name: [] for name in ["n_correct", "mean_at_k", "mean_reward"]
         + [f"pass_at_{j}" for j in (1, 2, 4, 8)]
         + ["distinct_correct", "distinct_answers", "mean_length", "mean_correct_length",
            "truncated_fraction", "judge_strategies", "solutions", "policy_mass",
            "reference_mass", "kl", "tv", "coverage"]}
    correct_all = []
    for p in range(prompts):
        acc = np.clip(cfg["acc"] + difficulty[p] + shift + 0.05 * rng.standard_normal(),
                      0.02, 0.98)
        correct = rng.random(k) < acc
        c = int(correct.sum())
        correct_all.append(correct)
        distinct = 0 if c == 0 else 1 + int(np.round(cfg["spread"] * (c - 1)))
        m["n_correct"].append(c)
        m["mean_at_k"].append(c / k)
        m["mean_reward"].append(c / k)
        for j in (1, 2, 4, 8):
            m[f"pass_at_{j}"].append(pass_at(k, c, j))
        m["distinct_correct"].append(distinct)
        m["distinct_answers"].append(distinct + int(rng.integers(0, 3)))
        m["mean_length"].append(8 + rng.random())
        m["mean_correct_length"].append(np.nan if c == 0 else 8 + rng.random())
        m["truncated_fraction"].append(0.0)
        m["judge_strategies"].append(float(max(1, distinct - 1)) if cfg["judge"] and c else np.nan)
        m["solutions"].append(5.0)
        m["policy_mass"].append(float(np.clip(acc + 0.02 * rng.standard_normal(), 0, 1)))
        m["reference_mass"].append(0.35)
        kl = max(0.0, cfg["kl"] * (1 + 0.1 * rng.standard_normal()))
        m["kl"].append(kl)
        m["tv"].append(min(1.0, 0.6 * np.sqrt(kl)))
        m["coverage"].append(float(np.clip(cfg["coverage"] + 0.05 * rng.standard_normal(), 0, 1)))
    metrics = list(m)
    bench_of = np.repeat(np.arange(len(benchmarks)), per_bench)
    rows = list(benchmarks) + ["macro"]
    with h5py.File(path, "w") as f:
        string_attrs(f, {**common_attrs("disa-eval"), "samples_per_prompt": np.int64(k),
                         "pass_at_levels": np.array([1, 2, 4, 8], dtype=np.int64),
                         "temperature": 1.0, "top_p": 1.0, "top_k": np.int64(0),
                         "max_new_tokens": np.int64(16), "batch_prompts": np.int64(2),
                         "coverage_threshold": 0.1, "model": f"models/{model}-synthetic",
                         "model_fingerprint": "abcdefabcdefabcd",
                         "judge_model": "models/judge" if cfg["judge"] else "",
                         "dataset_fingerprints": "paths:1111,small:2222"})
        f["benchmarks/name"] = strings(list(benchmarks))
        f["benchmarks/task"] = strings(["graph_paths"] * len(benchmarks))
        f["benchmarks/first_prompt"] = np.arange(len(benchmarks), dtype=np.int64) * per_bench
        f["benchmarks/num_prompts"] = np.full(len(benchmarks), per_bench, dtype=np.int64)
        f["prompts/id"] = strings([f"p{i}" for i in range(prompts)])
        f["prompts/text"] = strings([f"Find a path for test graph {i}:" for i in range(prompts)])
        f["prompts/benchmark"] = bench_of.astype(np.int64)
        for name, values in m.items():
            f[f"prompts/metrics/{name}"] = np.asarray(values, dtype=float)
        f["samples/prompt_index"] = np.repeat(np.arange(prompts), k).astype(np.int64)
        f["samples/sample_index"] = np.tile(np.arange(k), prompts).astype(np.int64)
        f["samples/correct"] = np.concatenate(correct_all).astype(np.int8)
        f["samples/reward"] = np.concatenate(correct_all).astype(float)
        # Summary exactly as docs/eval.md "Aggregation": per benchmark mean, se, count;
        # macro = mean of the benchmark means, se = sqrt(sum se_b^2) / B.
        summary = f.create_group("summary")
        summary.attrs["metrics"] = np.bytes_(",".join(metrics))
        f["summary/row"] = strings(rows)
        f["summary/prompts"] = np.array([per_bench] * len(benchmarks) + [prompts], dtype=np.int64)
        for name in metrics:
            values = np.asarray(m[name], dtype=float)
            mean, se, count = [], [], []
            for b in range(len(benchmarks)):
                v = values[bench_of == b]
                v = v[np.isfinite(v)]
                mean.append(v.mean() if len(v) else np.nan)
                se.append(v.std(ddof=1) / np.sqrt(len(v)) if len(v) >= 2 else np.nan)
                count.append(len(v))
            defined = np.isfinite(mean)
            mean.append(np.mean(np.array(mean)[defined]) if defined.any() else np.nan)
            se.append(np.sqrt(np.sum(np.array(se)[defined] ** 2)) / defined.sum()
                      if defined.any() else np.nan)
            count.append(int(defined.sum()))
            f[f"summary/{name}/mean"] = np.array(mean)
            f[f"summary/{name}/se"] = np.array(se)
            f[f"summary/{name}/count"] = np.array(count, dtype=np.int64)
        f["summary/judge_status_counts"] = np.zeros((len(rows), 6), dtype=np.int64)


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0 if len(sys.argv) == 2 else 2
    out = sys.argv[1]
    for d in ["study", "eval"]:
        os.makedirs(os.path.join(out, d), exist_ok=True)
    write_partition(os.path.join(out, "anchors.h5"), "reference", 32, seed=11)
    write_partition(os.path.join(out, "study", "ref.h5"), "reference", 64, seed=12)
    write_partition(os.path.join(out, "study", "strong.h5"), "model", 64, seed=13)
    write_partition(os.path.join(out, "study", "mixture.h5"), "mixture", 64, seed=14)
    for i, alg in enumerate(["disa", "grpo"]):
        for s in SEEDS:
            write_train(os.path.join(out, "train", alg, f"seed-{s}", "train.h5"), alg,
                        seed=20 + 10 * i + s)
    write_eval(os.path.join(out, "eval", "reference.h5"), "reference", seed=30)
    for i, model in enumerate(["disa", "grpo"]):
        os.makedirs(os.path.join(out, "eval", model), exist_ok=True)
        for s in SEEDS:
            write_eval(os.path.join(out, "eval", model, f"seed-{s}.h5"), model,
                       seed=40 + 10 * i + s, train_seed=s)
    print(f"wrote synthetic disa files under {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
