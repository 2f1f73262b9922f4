#!/usr/bin/env python3
"""HF interop, checked by HF: disa's model directories against Hugging Face transformers
and PEFT, and HF-written model directories against disa.

Usage: test_hf_interop.py DISA SCRATCH_DIR

Every check compares per-token log-probabilities of random (prompt, response) id pairs,
from `disa model score` (float64 log-softmax of disa's fp32 logits) and from HF
(log_softmax of AutoModelForCausalLM's fp32 logits, gathered at the response tokens),
and prints the largest |difference| against the fp32 error bound (fp32_logprob_bound):

  a. `disa model init` directories (qwen2, qwen3, llama tiny; qwen2 small) loaded by
     transformers, with --vocab full and --vocab tokenizer;
  b. trained disa outputs: a `disa warm-start` model, the policy/ of `disa train` (DISA, full
     weights), and a LoRA-SFT run of `disa train`, whose PEFT adapter loaded by
     peft.PeftModel on the base must equal disa's merged policy/;
  c. directories written by transformers' save_pretrained (Qwen2/Qwen3/Llama configs with
     biases, GQA, head_dim, llama3/linear rope scaling, random non-trivial weights): fp32,
     bf16 (disa loading in float32 against HF loading in float32; and both computing in
     bf16, bounded by the bf16 error model 8 (L + 1) 2^-8 max|z|) and sharded.

Any mismatch (or any failure of a tool) exits non-zero with a message; nothing is
skipped.
"""
import copy
import json
import math
import os
import shutil
import subprocess
import sys
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
import peft  # noqa: E402

torch.set_num_threads(1)
transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
warnings.filterwarnings("ignore", category=FutureWarning)


def fp32_logprob_bound(config, max_abs_logit):
    """Per-token tolerance of two fp32 implementations of the same model (fp32 weights on
    both sides). They sum the same products in other orders (other kernels, shapes, padding,
    attention code). An fp32 reduction of K terms summed in another order moves by ~sqrt(K) u
    of its scale (u = 2^-24, independent rounding errors); a logit is the end of ~4 such
    reductions in series per layer plus the head, whose perturbations are taken to add up:
    |dz| <= 4 (L + 1) sqrt(K) u max|z|, K the longest reduction (hidden or MLP width); a
    log-prob z_y - logsumexp(z) moves by at most 2 max|dz|. (The same model bounds disa's own
    fp32 paths in tests/model.) A real mismatch (a wrong rope, norm, bias, head or vocabulary
    restriction) moves log-probs by orders of magnitude more."""
    k = max(config.hidden_size, config.intermediate_size)
    return 2 * 4 * (config.num_hidden_layers + 1) * math.sqrt(k) * 2.0 ** -24 * max_abs_logit


DISA = None
SCRATCH = None
RESULTS = []  # (check, max |diff|, tolerance)
FAILURES = []


def fail(message):
    print("FAIL: " + message, flush=True)
    FAILURES.append(message)


def run(args, stdin=None, expect_ok=True):
    p = subprocess.run(args, input=stdin, capture_output=True, text=True)
    if expect_ok and p.returncode != 0:
        raise SystemExit("command failed (exit %d): %s\nstdout:\n%s\nstderr:\n%s"
                         % (p.returncode, " ".join(args), p.stdout[-4000:], p.stderr[-4000:]))
    return p


def disa(*args, **kw):
    return run([DISA] + list(args), **kw)


def tokenizer_vocab(model_dir):
    tok = json.load(open(os.path.join(model_dir, "tokenizer.json")))
    ids = list(tok["model"]["vocab"].values()) + [t["id"] for t in tok.get("added_tokens", [])]
    return max(ids) + 1


def random_items(seed, id_limit, count=10, max_prompt=24, max_response=24):
    rng = np.random.default_rng(seed)
    items = []
    for i in range(count):
        p = 1 if i == 0 else int(rng.integers(1, max_prompt + 1))   # a one-token prompt
        r = 0 if i == 1 else int(rng.integers(1, max_response + 1))  # an empty response
        items.append((rng.integers(0, id_limit, p).tolist(), rng.integers(0, id_limit, r).tolist()))
    return items


def disa_score(model_dir, items, vocab="full", dtype="float32"):
    stdin = "".join(json.dumps({"prompt": p, "response": r}) + "\n" for p, r in items)
    out = disa("model", "score", "--model", model_dir, "--vocab", vocab, "--dtype", dtype,
               "--threads", "1", "--log.level", "warn", stdin=stdin).stdout
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    if len(lines) != len(items):
        raise SystemExit("disa model score %s: %d output lines for %d inputs"
                         % (model_dir, len(lines), len(items)))
    for k, (line, (_, r)) in enumerate(zip(lines, items)):
        if len(line["logprobs"]) != len(r):
            raise SystemExit("disa model score %s: line %d has %d log-probs for %d response tokens"
                             % (model_dir, k + 1, len(line["logprobs"]), len(r)))
        # The sum is a double sum of the same <= 24 values in another order: within
        # 24 * 2^-53 = 2.7e-15 relative. 1e-9 relative is above that and below an fp32 sum
        # (~1e-6 relative) or a missing token.
        if abs(sum(line["logprobs"]) - line["sum"]) > 1e-9 * max(1.0, abs(line["sum"])):
            raise SystemExit("disa model score %s: line %d: sum %r != the sum of its log-probs"
                             % (model_dir, k + 1, line["sum"]))
    return [line["logprobs"] for line in lines]


@torch.no_grad()
def hf_score(model, items, vocab_limit=None):
    """Per-token log-probs of the responses, and max |logit| over the scored rows (the scale
    of fp32_logprob_bound)."""
    out = []
    max_abs_logit = 0.0
    for p, r in items:
        if not r:
            out.append([])
            continue
        ids = torch.tensor([p + r], dtype=torch.long)
        logits = model(input_ids=ids).logits[0].double()
        rows = logits[len(p) - 1:len(p) + len(r) - 1]
        if vocab_limit is not None:
            rows = rows[:, :vocab_limit]
        max_abs_logit = max(max_abs_logit, rows.abs().max().item())
        lp = torch.log_softmax(rows, dim=-1).gather(1, torch.tensor(r).unsqueeze(1)).squeeze(1)
        out.append(lp.tolist())
    return out, max_abs_logit


def load_hf(model_dir, dtype=torch.float32):
    m = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    m.eval()
    return m


def max_diff(a, b):
    return max((float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(a, b) if x),
               default=0.0)


def compare(name, a, b, tol):
    diff = 0.0
    for x, y in zip(a, b):
        if len(x) != len(y):
            fail("%s: %d vs %d log-probs" % (name, len(x), len(y)))
            return
        if x:
            d = float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
            if not np.isfinite(d):
                fail("%s: non-finite log-probs" % name)
                return
            diff = max(diff, d)
    RESULTS.append((name, diff, tol))
    status = "ok" if diff <= tol else "MISMATCH"
    print("  %-62s max |diff| %.3e  (tol %.2g) %s" % (name, diff, tol, status), flush=True)
    if diff > tol:
        fail("%s: max |log-prob difference| %.3e > %.2g" % (name, diff, tol))


def check_dir(name, model_dir, items, hf_model=None, vocabs=("full", "tokenizer")):
    """disa model score against HF on model_dir, per vocab mode; returns the largest
    tolerance used."""
    model = hf_model if hf_model is not None else load_hf(model_dir)
    vocab_size = model.config.vocab_size
    tok_vocab = tokenizer_vocab(model_dir)
    largest = 0.0
    for vocab in vocabs:
        limit = tok_vocab if (vocab == "tokenizer" and tok_vocab < vocab_size) else None
        hf, max_abs_logit = hf_score(model, items, limit)
        tol = fp32_logprob_bound(model.config, max_abs_logit)
        compare("%s --vocab %s" % (name, vocab), disa_score(model_dir, items, vocab), hf, tol)
        largest = max(largest, tol)
    return largest


# ---------------------------------------------------------------------------- a.
def check_init_models():
    print("a. disa model init -> transformers", flush=True)
    for k, (arch, size) in enumerate([("qwen2", "tiny"), ("qwen3", "tiny"), ("llama", "tiny"),
                                      ("qwen2", "small")]):
        d = os.path.join(SCRATCH, "init_%s_%s" % (arch, size))
        disa("model", "init", "--arch", arch, "--size", size, "--seed", "7", "--out", d,
             "--log.level", "warn")
        items = random_items(k, tokenizer_vocab(d))
        check_dir("init %s %s" % (arch, size), d, items)


# ---------------------------------------------------------------------------- b.
# The anchor fixture's task and warm start (tests/anchor/make_fixture_models.sh): the
# warm-started reference solves a good share of the prompts, so the partition file holds
# correct trajectories for LoRA-SFT.
TASK = ["--task.name", "graph_paths", "--task.count", "200", "--task.graph-nodes", "4",
        "--task.graph-edge-probability", "0.6"]


def check_moved(name, a, base, tol):
    """A trained model must differ from where it started, else its check proves little:
    by at least 10x the interop check's tolerance tol (and 1e-3)."""
    moved = max_diff(a, base)
    print("  (%s: training moved the log-probs by up to %.3e)" % (name, moved), flush=True)
    if moved < max(1e-3, 10 * tol):
        fail("%s equals its starting model (max change %.3e): the check is void" % (name, moved))


def check_trained_models():
    print("b. disa warm-start / train outputs -> transformers, PEFT", flush=True)
    init = os.path.join(SCRATCH, "b_init")
    ref = os.path.join(SCRATCH, "b_warm_start")
    disa("model", "init", "--arch", "qwen2", "--size", "tiny", "--seed", "3", "--out", init,
         "--log.level", "warn")
    disa("warm-start", "--warm-start.model", init, "--warm-start.out", ref, *TASK,
         "--warm-start.steps", "150", "--warm-start.batch-size", "32", "--warm-start.lr", "1e-2",
         "--warm-start.eval-samples", "0", "--warm-start.threads", "1", "--log.level", "warn")
    items = random_items(11, tokenizer_vocab(ref))
    tol = check_dir("warm-start output", ref, items)
    check_moved("warm-start output", disa_score(ref, items), disa_score(init, items), tol)
    ref_disa = disa_score(ref, items)

    anchors = os.path.join(SCRATCH, "b_anchors.h5")
    disa("anchor", "--anchor.reference", ref, "--anchor.out", anchors, *TASK,
         "--anchor.beta", "3", "--anchor.samples", "4", "--anchor.max-new-tokens", "16",
         "--anchor.bootstrap", "0", "--anchor.threads", "1", "--log.level", "warn")

    # DISA itself, full weights: the trained policy/ in the HF layout. (The anchor shift
    # guarantees a nonzero residual, hence a weight update, whatever the rollouts' rewards.)
    full = os.path.join(SCRATCH, "b_train_disa")
    disa("train", "--train.algorithm", "disa", "--train.lora", "off", "--train.model", ref,
         "--train.anchors", anchors, "--disa.beta", "3", "--train.anchor-shift", "0.5",
         "--train.out", full, *TASK, "--train.steps", "2", "--train.prompts-per-step", "8",
         "--train.group-size", "4", "--train.max-new-tokens", "16", "--train.lr", "1e-2",
         "--train.threads", "1", "--log.level", "warn")
    policy_full = os.path.join(full, "policy")
    tol = check_dir("train disa policy/", policy_full, items)
    check_moved("train disa policy/", disa_score(policy_full, items), ref_disa, tol)

    # LoRA-SFT: the PEFT adapter on the base must equal disa's merged policy/.
    lora = os.path.join(SCRATCH, "b_train_lora_sft")
    disa("train", "--train.algorithm", "sft", "--train.lora", "on", "--train.model", ref,
         "--train.anchors", anchors, "--disa.beta", "3", "--train.out", lora, *TASK,
         "--train.steps", "3", "--train.prompts-per-step", "8", "--train.lr", "2e-2",
         "--sft.batch-size", "16", "--train.threads", "1", "--log.level", "warn")
    adapter, policy = os.path.join(lora, "adapter"), os.path.join(lora, "policy")
    from safetensors.numpy import load_file
    tensors = load_file(os.path.join(adapter, "adapter_model.safetensors"))
    max_b = max(float(np.abs(v).max()) for k, v in tensors.items() if "lora_B" in k)
    print("  LoRA adapter: %d tensors, max |lora_B| %.3e" % (len(tensors), max_b), flush=True)
    if not max_b > 0:
        fail("LoRA-SFT adapter has all-zero lora_B: the run trained nothing, the check is void")
    tol = check_dir("LoRA-SFT merged policy/", policy, items)
    base = load_hf(ref)
    peft_model = peft.PeftModel.from_pretrained(base, adapter)
    peft_model.eval()
    merged_disa = disa_score(policy, items)
    # The adapter's unmerged path (x W + s (x A) B) against merged weights: the same fp32
    # model, the low-rank products one more reordered reduction.
    hf, max_abs_logit = hf_score(peft_model, items)
    peft_tol = fp32_logprob_bound(base.config, max_abs_logit)
    compare("LoRA-SFT PEFT adapter on base vs disa policy/", merged_disa, hf, peft_tol)
    # The adapter must actually matter: the base alone is far from the merged policy.
    check_moved("LoRA-SFT policy/", merged_disa, ref_disa, max(tol, peft_tol))


# ---------------------------------------------------------------------------- c.
def hf_configs():
    common = dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                  num_attention_heads=4, rms_norm_eps=1e-6, bos_token_id=256,
                  eos_token_id=256, max_position_embeddings=256)
    return [
        ("qwen2", transformers.Qwen2Config(vocab_size=320, num_key_value_heads=2,
                                           tie_word_embeddings=True, rope_theta=1e6, **common)),
        ("qwen3", transformers.Qwen3Config(vocab_size=259, num_key_value_heads=1, head_dim=24,
                                           attention_bias=True, tie_word_embeddings=False,
                                           **common)),
        ("llama", transformers.LlamaConfig(
            vocab_size=288, num_key_value_heads=2, attention_bias=True, mlp_bias=True,
            tie_word_embeddings=False, rope_theta=5e5,
            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 16},
            **common)),
        ("llama-linear-tied", transformers.LlamaConfig(
            vocab_size=259, num_key_value_heads=4, head_dim=8, tie_word_embeddings=True,
            rope_scaling={"rope_type": "linear", "factor": 2.0}, **common)),
    ]


def randomise(model, seed):
    """Weights far from HF's init (which has zero biases, unit norms and near-uniform
    outputs): every projection ~ N(0, 1/fan_in), embeddings ~ N(0, 0.5^2), biases and
    norm weights perturbed."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name or name == "lm_head.weight":
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / np.sqrt(p.shape[1]))


def check_hf_written_models():
    print("c. transformers save_pretrained -> disa", flush=True)
    tok_src = os.path.join(SCRATCH, "init_qwen2_tiny")
    for k, (name, cfg) in enumerate(hf_configs()):
        torch.manual_seed(100 + k)
        model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
        randomise(model, 200 + k)
        model.eval()
        layouts = [("fp32", {}), ("bf16", {}), ("sharded", {"max_shard_size": 100_000})]
        if name == "llama-linear-tied":
            layouts = layouts[:1]
        for layout, kw in layouts:
            d = os.path.join(SCRATCH, "hf_%s_%s" % (name, layout))
            if layout == "bf16":
                copy.deepcopy(model).to(torch.bfloat16).save_pretrained(d, **kw)
            else:
                model.save_pretrained(d, **kw)
            for f in ("tokenizer.json", "tokenizer_config.json"):
                shutil.copy(os.path.join(tok_src, f), d)
            files = sorted(os.listdir(d))
            if layout == "sharded":
                shards = [f for f in files if f.endswith(".safetensors")]
                if "model.safetensors.index.json" not in files or len(shards) < 2:
                    fail("hf %s sharded: expected >= 2 shards and an index, got %s" % (name, files))
            if layout == "fp32" and k == 0:
                print("  config.json written by transformers %s: %s" % (
                    transformers.__version__, sorted(json.load(open(os.path.join(d, "config.json"))))),
                    flush=True)
            items = random_items(300 + k, min(cfg.vocab_size, 259))
            # HF from the same files, in float32 (for bf16: the bf16 values widened).
            hf = load_hf(d, torch.float32)
            check_dir("hf %s %s" % (name, layout), d, items, hf_model=hf)
            if layout == "bf16":
                # Both computing in bf16 (--dtype bfloat16): the two implementations round
                # differently. Bound: the bf16 error model of tests/model (test_model_generate,
                # Bf16 test): every bf16 rounding is relative u = 2^-8, an activation passes
                # ~4 roundings per layer, so a logit carries |dz| <~ 4 (L + 1) u |z| and a
                # log-prob moves by <= 8 (L + 1) u max|z| (max|z| of the fp32 logits), 1.5-1.9
                # here. A real error (e.g. a wrong rope) moves log-probs by ~5. (The former
                # bound, twice the larger bf16-vs-fp32 effect of either implementation, could
                # not fail: by the triangle inequality |disa16 - hf16| <= disa's effect + the
                # fp32 difference + HF's effect, and a broken bf16 path in disa would have
                # raised its own effect, hence the bound. That effect is printed for scale.)
                hf16 = hf_score(load_hf(d, torch.bfloat16), items)[0]
                disa16 = disa_score(d, items, "full", "bfloat16")
                hf32, max_abs_logit = hf_score(hf, items)
                rounding = max(max_diff(hf16, hf32),
                               max_diff(disa16, disa_score(d, items, "full", "float32")))
                print("  (bf16 vs fp32 compute within either implementation: up to %.3e)"
                      % rounding, flush=True)
                bf16_bound = 8 * (cfg.num_hidden_layers + 1) * 2.0 ** -8 * max_abs_logit
                compare("hf %s bf16, computed in bf16 (bf16 error model)" % name,
                        disa16, hf16, bf16_bound)


# ---------------------------------------------------------------------------- errors.
def check_bad_input():
    print("bad input to disa model score", flush=True)
    d = os.path.join(SCRATCH, "init_qwen2_tiny")
    cases = [
        ('{"prompt": [1], "response": [2]}\nnot json\n', "stdin line 2", "full"),
        ('{"prompt": [1], "response": [2]}\n{"prompt": [1, 320], "response": [2]}\n',
         "stdin line 2", "full"),
        ('{"prompt": [], "response": [2]}\n', "stdin line 1", "full"),
        ('{"prompt": [1], "response": [2]}\n{"prompt": [1], "response": []}\n'
         '{"prompt": [1], "response": [300]}\n', "stdin line 3", "tokenizer"),
        ('{"prompt": [1], "response": [2.5]}\n', "stdin line 1", "full"),
    ]
    for stdin, needle, vocab in cases:
        p = disa("model", "score", "--model", d, "--vocab", vocab, stdin=stdin, expect_ok=False)
        if p.returncode == 0 or needle not in p.stderr:
            fail("bad input %r: exit %d, stderr %r (expected an error naming %r)"
                 % (stdin, p.returncode, p.stderr.strip(), needle))
        else:
            print("  rejected: %s" % p.stderr.strip().splitlines()[-1], flush=True)


def main():
    global DISA, SCRATCH
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    DISA, SCRATCH = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    if not os.access(DISA, os.X_OK):
        raise SystemExit("FAIL: %s is not an executable disa binary" % DISA)
    shutil.rmtree(SCRATCH, ignore_errors=True)
    os.makedirs(SCRATCH)
    print("transformers %s, peft %s, torch %s" % (transformers.__version__, peft.__version__,
                                                 torch.__version__), flush=True)
    t0 = time.time()
    check_init_models()
    check_bad_input()
    check_trained_models()
    check_hf_written_models()
    print("largest |difference| per check:")
    for name, diff, tol in RESULTS:
        print("  %-62s %.3e (tol %.2g)" % (name, diff, tol))
    print("%d checks in %.1f s" % (len(RESULTS), time.time() - t0))
    if FAILURES:
        print("FAILED (%d):" % len(FAILURES))
        for f in FAILURES:
            print("  " + f)
        sys.exit(1)
    print("all HF interop checks passed")


if __name__ == "__main__":
    main()
