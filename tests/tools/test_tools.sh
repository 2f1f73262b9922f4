#!/usr/bin/env bash
# Test of the Python analysis tools (tools/*.py, docs/tools.md) on small synthetic files
# made by tests/tools/make_small_files.py: every tool's --help, a real run of each with
# its PNG/CSV/MD outputs, known numbers in the outputs, and exit code 2 with the file name
# for missing or wrong-format inputs. Needs the project's Python (DISA_PYTHON, default
# SOURCE_DIR/.venv/bin/python: tools/install-deps.sh). Usage: bash tests/tools/test_tools.sh [SOURCE_DIR]
set -euo pipefail
src="$(cd "${1:-$(dirname "${BASH_SOURCE[0]}")/../..}" && pwd)"
py="${DISA_PYTHON:-$src/.venv/bin/python}"
tools="$src/tools"
work="$(mktemp -d "${TMPDIR:-/tmp}/disa-tools-test.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export MPLCONFIGDIR="$work/mpl"
failures=0

fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

check_png() {  # a non-empty PNG file
  if [ -s "$1" ] && [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ]; then
    pass "PNG $(basename "$1")"
  else
    fail "not a non-empty PNG: $1"
  fi
}
check_text() {  # a non-empty text file containing a string
  if [ -s "$1" ] && grep -qF -- "$2" "$1"; then pass "$(basename "$1") has '$2'"
  else fail "$1: missing or without '$2'"; fi
}
run() {  # run LOG COMMAND...: must succeed
  local log=$1
  shift
  if "$@" >"$work/$log.out" 2>"$work/$log.err"; then pass "$log"
  else fail "$log (exit $?): $(tail -5 "$work/$log.err")"; fi
}
expect_bad_input() {  # expect_bad_input NAME FILE COMMAND...: exit 2, FILE in the message
  local name=$1 file=$2 rc=0
  shift 2
  "$@" >"$work/bad.out" 2>"$work/bad.err" || rc=$?
  if [ "$rc" -eq 2 ] && grep -qF -- "$file" "$work/bad.err"; then pass "$name: exit 2 naming $file"
  else fail "$name: exit $rc, stderr: $(head -3 "$work/bad.err")"; fi
}

"$py" -c "import h5py, numpy, pandas, matplotlib" || { echo "FAIL: $py lacks h5py/numpy/pandas/matplotlib (tools/install-deps.sh)"; exit 1; }

# Synthetic files in the pipeline layout.
out="$work/out"
run make_small_files "$py" "$src/tests/tools/make_small_files.py" "$out"

# The statistics and the KL lower bound on synthetic data with known answers.
run test_paired_stats "$py" "$src/tests/tools/test_paired_stats.py" "$tools"
# The regressor study's MSEs, standard errors and paired differences, hand-computed.
run test_regressor_study "$py" "$src/tests/tools/test_regressor_study.py" "$tools"
# DISA at several betas vs FlowRL at matched target sharpness, hand-computed.
run test_matched_sharpness "$py" "$src/tests/tools/test_matched_sharpness.py" "$tools"

# --help of every tool.
for tool in plot_training plot_anchors sensitivity results_table paired_stats make_report regressor_study matched_sharpness study_report make_model; do
  if "$py" "$tools/$tool.py" --help >"$work/help.out" 2>&1 && grep -q "usage:" "$work/help.out"; then
    pass "$tool --help"
  else
    fail "$tool --help: $(head -3 "$work/help.out")"
  fi
done

# plot_training.py
run plot_training "$py" "$tools/plot_training.py" "$out/train/disa/seed-1/train.h5" "$out/train/grpo/seed-1/train.h5" \
  -o "$work/r" --smooth 3
check_png "$work/r/training_curves.png"

# plot_anchors.py (the synthetic anchors: 5 of 6 prompts have an exact log Z)
run plot_anchors "$py" "$tools/plot_anchors.py" "$out/anchors.h5" -o "$work/r"
check_png "$work/r/anchor_ess_hist.png"
check_png "$work/r/anchor_logz_vs_exact.png"
check_text "$work/plot_anchors.out" "Against the exact log Z (5 prompts)"
check_text "$work/plot_anchors.out" "1 no exact log Z"

# sensitivity.py
run sensitivity "$py" "$tools/sensitivity.py" --ref "$out/study/ref.h5" --strong "$out/study/strong.h5" \
  --mixture "$out/study/mixture.h5" --betas 0.5,1,2,4 --ns 1,2,4,8,16,32,64 -o "$work/r"
for f in sensitivity_n sensitivity_beta sensitivity_proposal; do check_png "$work/r/$f.png"; done
check_text "$work/r/sensitivity.csv" "role,proposal,proposal_kind"
check_text "$work/sensitivity.out" "empirical/predicted"
# Known numbers. q = pi_ref, so each sample's log weight is beta * r: at N = 1 the bias is
# the mean over prompts of beta * pass_rate - log Z; at N = 64 (every sample in one group)
# it is the mean of the file's own log_z_hat - log_z_exact.
if "$py" - "$out/study/ref.h5" "$work/r/sensitivity.csv" <<'EOF'
import sys
import h5py, numpy as np, pandas as pd
f = h5py.File(sys.argv[1], "r")
beta = f.attrs["beta"]
exact = f["anchors/log_z_exact"][:]
ok = np.isfinite(exact)
want_1 = np.mean(beta * f["diagnostics/pass_rate"][:][ok] - exact[ok])
want_64 = np.mean(f["anchors/log_z_hat"][:][ok] - exact[ok])
df = pd.read_csv(sys.argv[2])
ref = df[(df.role == "reference") & (df.beta == beta)].set_index("n")
assert ref.at[1, "groups"] == 64 and ref.at[64, "groups"] == 1, ref[["groups"]]
assert abs(ref.at[1, "bias"] - want_1) < 1e-9, (ref.at[1, "bias"], want_1)
assert abs(ref.at[64, "bias"] - want_64) < 1e-9, (ref.at[64, "bias"], want_64)
assert ref.at[1, "prompts"] == ok.sum() and (ref["v_source"] == "exact").all()
# V exact for q = pi_ref: (e^beta - 1)^2 p (1 - p) / Z^2 with p from the exact log Z.
p = np.expm1(exact[ok]) / np.expm1(beta)
v = np.expm1(beta) ** 2 * p * (1 - p) / np.exp(2 * exact[ok])
assert abs(ref.at[4, "pred_variance"] - v.mean() / 4) < 1e-9
assert sorted(set(df.role)) == ["mixture", "reference", "strong"]
assert sorted(set(df.beta)) == [0.5, 1, 2, 4]
EOF
then pass "sensitivity: bias at N=1 and N=64, exact V"; else fail "sensitivity numbers"; fi

# results_table.py: the seeds of one policy are its repeated --eval name.
seeds=(1 2 3)
evals=(--eval "reference=$out/eval/reference.h5")
for alg in disa grpo; do
  for s in "${seeds[@]}"; do evals+=(--eval "$alg=$out/eval/$alg/seed-$s.h5"); done
done
run results_table "$py" "$tools/results_table.py" "${evals[@]}" \
  --train "disa=$out/train/disa/seed-1/train.h5" --train "disa=$out/train/disa/seed-2/train.h5" \
  --beta 2 -o "$work/r"
check_text "$work/r/results.csv" "mean_at_k_mean"
check_text "$work/r/results_table.md" "| algorithm | seeds | Mean@8 | Pass@1 | Pass@8 |"
check_text "$work/r/prompt_metrics.csv" "algorithm,seed,benchmark,prompt,reference_mass,target_mass,policy_mass,kl,kl_mass,kl_lower_bound"
if "$py" - "$out" "$work/r" "$tools" <<'EOF'
import sys
import h5py, numpy as np, pandas as pd
out, r = sys.argv[1], sys.argv[2]
sys.path.insert(0, sys.argv[3])
import disa_h5
df = pd.read_csv(f"{r}/results.csv", index_col="algorithm")
# One file (the reference): the eval summary's macro mean and se, 2 benchmarks.
f = h5py.File(f"{out}/eval/reference.h5", "r")
assert f["summary/row"][-1] == b"macro"
mean, se = f["summary/mean_at_k/mean"][-1], f["summary/mean_at_k/se"][-1]
assert abs(df.at["reference", "mean_at_k_mean"] - mean) < 1e-12, (df.at["reference", "mean_at_k_mean"], mean)
assert abs(df.at["reference", "mean_at_k_se"] - se) < 1e-12, (df.at["reference", "mean_at_k_se"], se)
# Three seeds: the mean of the seeds' macro means.
macros = [h5py.File(f"{out}/eval/disa/seed-{s}.h5", "r")["summary/mean_at_k/mean"][-1] for s in (1, 2, 3)]
assert abs(df.at["disa", "mean_at_k_mean"] - np.mean(macros)) < 1e-12
assert df.at["disa", "seeds"] == "1 2 3" and df.at["disa", "mean_at_k_prompts"] == 12
assert df.at["reference", "strategy_source"] == "distinct_correct"  # no judge in the reference
assert df.at["disa", "strategy_source"] == "judge_strategies"
assert df.at["disa", "train_steps"] == 10 and df.at["disa", "train_seconds"] == 4.5  # seeds: 4 s, 5 s
# p*(C) at beta = 2 from the reference mass (0.35 in every synthetic prompt).
want = np.exp(2) * 0.35 / (1 + np.expm1(2) * 0.35)
assert abs(df.at["disa", "target_mass_mean"] - want) < 1e-12
# The lower bound per prompt, recomputed from the file.
p = pd.read_csv(f"{r}/prompt_metrics.csv")
row = p[(p.algorithm == "disa") & (p.seed == 2)].iloc[3]
g = h5py.File(f"{out}/eval/disa/seed-2.h5", "r")["prompts/metrics"]
q, k = g["policy_mass"][3], g["kl"][3]
bound = want * np.log(want / q) + (1 - want) * np.log((1 - want) / (1 - q)) + want * k
assert abs(row["kl_lower_bound"] - bound) <= 1e-7 * bound, (row["kl_lower_bound"], bound)  # 8 digits
cell = disa_h5.fmt_pm(df.at["reference", "mean_at_k_mean"], df.at["reference", "mean_at_k_se"])
md = open(f"{r}/results_table.md").read()
line = [l for l in md.splitlines() if l.startswith("| reference |")][0]
assert line.split(" | ")[2] == cell, (line, cell)
EOF
then pass "results table: means and se from the files, seeds, p*(C), the lower bound"; else fail "results table numbers"; fi

# paired_stats.py on the command line.
run paired_stats "$py" "$tools/paired_stats.py" --a "disa=$out/eval/disa/seed-1.h5" \
  --a "disa=$out/eval/disa/seed-2.h5" --b "grpo=$out/eval/grpo/seed-1.h5" \
  --b "grpo=$out/eval/grpo/seed-2.h5" --metric mean_at_k --metric kl_lower_bound --beta 2
check_text "$work/paired_stats.out" "mean_at_k: disa"
check_text "$work/paired_stats.out" "seeds [1, 2]"

# make_report.py on the whole layout, with the docs copy.
mkdir -p "$work/docs"
run make_report "$py" "$tools/make_report.py" "$out" --docs "$work/docs/results.md" --wall-time 3725
check_text "$out/report/results.md" "Total wall time of the pipeline: 3725 s"
check_text "$out/report/results.md" "![training curves (one line per seed)](training_curves.png)"
check_text "$out/report/results.md" "(b) DISA beats GRPO and GSPO (Mean@8, Pass@8): does not hold."
check_text "$out/report/results.md" "(d) DISA keeps more diverse solutions than GRPO (distinct correct, coverage, KL(p* ‖ π) on C): holds."
check_text "$out/report/results.md" "(a) DISA matches or beats FlowRL (Mean@8, Pass@8, KL(p* ‖ π) on C, KL(p* ‖ π) lower bound): not tested."
check_text "$out/report/results.md" "| disa | 1, 2, 3 | \`models/disa-synthetic\` |"
check_text "$work/docs/results.md" "![training curves (one line per seed)](results/training_curves.png)"
check_text "$work/docs/results.md" "[claims.json](results/claims.json)"
check_text "$work/docs/results/claims.json" '"claim_verdict": "holds"'
for f in training_curves anchor_ess_hist anchor_logz_vs_exact sensitivity_n sensitivity_beta sensitivity_proposal; do
  check_png "$out/report/$f.png"
  check_png "$work/docs/results/$f.png"
done
check_text "$out/report/sensitivity.csv" "reference"
check_text "$out/report/results.csv" "disa"
# claims.json: the schema, the rule, and one row recomputed from the files.
if "$py" - "$out" "$tools" <<'EOF'
import json, math, sys
out = sys.argv[1]
sys.path.insert(0, sys.argv[2])
import paired_stats
rows = json.load(open(f"{out}/report/claims.json"))
assert isinstance(rows, list) and rows
NO_EFFECT = "no effect detected at this scale (difference "
for r in rows:
    for key in ("claim", "claim_verdict", "metric", "baseline", "difference", "interval",
                "seeds", "prompts", "verdict"):
        assert key in r, (key, r)
    if r["interval"] is None:
        assert r["verdict"] == "not tested", r
        continue
    lo, hi = r["interval"]
    assert lo <= r["difference"] <= hi, r
    assert r["seeds"] == [1, 2, 3] and r["prompts"] == 12, r
    better = (lo > 0) if r["higher_is_better"] else (hi < 0)
    worse = (hi < 0) if r["higher_is_better"] else (lo > 0)
    want = "holds" if better else "does not hold" if worse else None
    if want:
        assert r["verdict"] == want, r
    else:
        assert r["verdict"].startswith(NO_EFFECT) and "95% interval [" in r["verdict"], r
    assert r["standard_error"] > 0 and r["unpaired_standard_error"] > 0, r
claims = {r["claim"][:3]: r["claim_verdict"] for r in rows}
assert claims == {"(a)": "not tested", "(b)": "does not hold", "(c)": "not tested",
                  "(d)": "holds"}, claims
row = [r for r in rows if r["claim"].startswith("(b)") and r["metric"] == "mean_at_k"][0]
pol = {n: paired_stats.load_policy(n, [f"{out}/eval/{n}/seed-{s}.h5" for s in (1, 2, 3)])
       for n in ("disa", "grpo")}
c = paired_stats.compare(pol["disa"], pol["grpo"], "mean_at_k")
assert abs(row["difference"] - c.difference) < 1e-12 and abs(row["standard_error"] - c.se) < 1e-12
assert row["baseline"] == "grpo" and row["verdict"] == "does not hold", row
EOF
then pass "claims.json: schema, verdicts follow the intervals, a row recomputed"; else fail "claims.json"; fi
check_text "$out/report/comparisons.csv" "baseline,metric,disa,baseline_value,difference,low,high,se,df,unpaired_se"

# The single-seed layout of earlier runs (eval/<alg>.h5, train/<alg>/train.h5) still works.
mkdir -p "$work/single/eval" "$work/single/train/disa"
cp "$out/eval/reference.h5" "$work/single/eval/reference.h5"
cp "$out/eval/disa/seed-1.h5" "$work/single/eval/disa.h5"
cp "$out/eval/grpo/seed-1.h5" "$work/single/eval/grpo.h5"
cp "$out/train/disa/seed-1/train.h5" "$work/single/train/disa/train.h5"
run make_report_single_seed "$py" "$tools/make_report.py" "$work/single"
check_text "$work/single/report/results.md" "12 prompts, one run each"
check_text "$work/single/report/results.md" "one seed: the between-seed spread is unknown"
check_text "$work/single/report/results.md" "(b) DISA beats GRPO and GSPO (Mean@8, Pass@8): "

# Bad inputs: exit 2 and the file named.
echo "not hdf5" >"$work/text.h5"
expect_bad_input "plot_anchors on a train.h5" "$out/train/disa/train.h5" \
  "$py" "$tools/plot_anchors.py" "$out/train/disa/train.h5" -o "$work/bad"
expect_bad_input "plot_training on a partition file" "$out/anchors.h5" \
  "$py" "$tools/plot_training.py" "$out/anchors.h5" -o "$work/bad"
expect_bad_input "sensitivity on an eval.h5" "$out/eval/disa.h5" \
  "$py" "$tools/sensitivity.py" --ref "$out/eval/disa.h5" -o "$work/bad"
expect_bad_input "results_table on a non-HDF5 file" "$work/text.h5" \
  "$py" "$tools/results_table.py" --eval "disa=$work/text.h5" -o "$work/bad"
expect_bad_input "results_table on a missing file" "$work/missing.h5" \
  "$py" "$tools/results_table.py" --eval "disa=$work/missing.h5" -o "$work/bad"
expect_bad_input "make_report on a missing directory" "$work/nowhere" \
  "$py" "$tools/make_report.py" "$work/nowhere"
expect_bad_input "regressor_study on a missing directory" "$work/nowhere" \
  "$py" "$tools/regressor_study.py" "$work/nowhere" -o "$work/bad"
mkdir -p "$work/empty-study"
expect_bad_input "regressor_study without regressor files" "$work/empty-study" \
  "$py" "$tools/regressor_study.py" "$work/empty-study" -o "$work/bad"
# An incomplete file is refused too.
cp "$out/eval/grpo/seed-1.h5" "$work/incomplete.h5"
"$py" -c "import h5py, sys; f = h5py.File(sys.argv[1], 'a'); f.attrs['status'] = b'incomplete'" "$work/incomplete.h5"
expect_bad_input "results_table on an incomplete file" "$work/incomplete.h5" \
  "$py" "$tools/results_table.py" --eval "grpo=$work/incomplete.h5" -o "$work/bad"
# make_report with a wrong-format file in a layout of evaluations only: the report is
# still written from the rest, lists the file, and the exit code is 2.
mkdir -p "$work/out2/eval"
cp "$out/eval/disa/seed-1.h5" "$work/out2/eval/disa.h5"
cp "$out/train/grpo/seed-1/train.h5" "$work/out2/eval/grpo.h5"
expect_bad_input "make_report with a train.h5 as eval/grpo.h5" "$work/out2/eval/grpo.h5" \
  "$py" "$tools/make_report.py" "$work/out2"
check_text "$work/out2/report/results.md" "format 'disa-train', expected format 'disa-eval'"

# Evaluations on different prompts are refused by name (a prompt id changed in one seed
# of grpo): results_table refuses the policy, make_report lists it and exits 2.
cp -r "$out/eval" "$work/mismatch"
"$py" -c "import h5py, sys; f = h5py.File(sys.argv[1], 'a'); ids = f['prompts/id'][:]; ids[4] = b'p99'; f['prompts/id'][...] = ids" "$work/mismatch/grpo/seed-2.h5"
expect_bad_input "results_table on seeds with different prompts" "$work/mismatch/grpo/seed-2.h5" \
  "$py" "$tools/results_table.py" --eval "grpo=$work/mismatch/grpo/seed-1.h5" \
  --eval "grpo=$work/mismatch/grpo/seed-2.h5" -o "$work/bad"
check_text "$work/bad.err" "the evaluation prompts differ"
check_text "$work/bad.err" "paths/p4"
mkdir -p "$work/out3/eval"
cp "$out/eval/disa/seed-1.h5" "$work/out3/eval/disa.h5"
cp "$work/mismatch/grpo/seed-2.h5" "$work/out3/eval/grpo.h5"
expect_bad_input "make_report with policies on different prompts" "$work/out3/eval/grpo.h5" \
  "$py" "$tools/make_report.py" "$work/out3"
check_text "$work/out3/report/results.md" "(not comparable: disa vs grpo: the evaluation prompts differ"

if [ "$failures" -gt 0 ]; then
  echo "test_tools: $failures failure(s)"
  exit 1
fi
echo "test_tools: all checks passed"
