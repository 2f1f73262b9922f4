#!/usr/bin/env python3
"""Independent reference for disa's decoder (test_model_reference).

For every config.json fixture in tests/data/model/, runs the C++ helper
model_reference_dump (random model -> HF directory -> logits of a left-padded batch),
then re-implements the Hugging Face Qwen2 / Qwen3 / Llama forward pass from the saved
directory alone (safetensors parsed with numpy, float64 torch ops, each sequence run
unpadded on its own) and compares the logits of every real token.
Tolerance: max |C++ fp32 - reference fp64| <= fp32_logit_bound (below), ~2e-5 - 3e-5 for
the fixtures.
Usage: reference_forward.py HELPER_BINARY FIXTURE_DIR WORK_DIR
"""
import json
import math
import os
import struct
import subprocess
import sys

import numpy as np
import torch


def fp32_logit_bound(cfg, max_abs_logit):
    """Error model of an fp32 forward pass against float64: each fp32 reduction of K terms
    errs by ~sqrt(K) u of its scale (u = 2^-24, independent rounding errors); a logit is the
    end of ~4 such reductions in series per layer plus the head, whose errors are taken to
    add up: |dz| <= 4 (L + 1) sqrt(K) u max|z|, K the longest reduction (hidden or MLP
    width). The float64 reference's own error (~1e-15) is negligible. (test_model_forward
    bounds two fp32 paths by the same expression.) A wrong rope, norm, bias or head moves
    logits by orders of magnitude more."""
    k = max(cfg["hidden_size"], cfg["intermediate_size"])
    return 4 * (cfg["num_hidden_layers"] + 1) * math.sqrt(k) * 2.0 ** -24 * max_abs_logit


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw = data[base + b:base + e]
        dt = info["dtype"]
        shape = info["shape"]
        if dt == "F32":
            arr = np.frombuffer(raw, dtype="<f4").astype(np.float64)
        elif dt == "F16":
            arr = np.frombuffer(raw, dtype="<f2").astype(np.float64)
        elif dt == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32).astype(np.float64)
        elif dt == "I64":
            arr = np.frombuffer(raw, dtype="<i8")
        else:
            raise ValueError(f"{path}: dtype {dt} not handled by the reference")
        out[name] = torch.from_numpy(np.array(arr).reshape(shape))
    return out


def load_model_dir(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    weights = {}
    single = os.path.join(d, "model.safetensors")
    if os.path.exists(single):
        weights = read_safetensors(single)
    else:
        with open(os.path.join(d, "model.safetensors.index.json")) as f:
            idx = json.load(f)
        for shard in sorted(set(idx["weight_map"].values())):
            weights.update(read_safetensors(os.path.join(d, shard)))
    return cfg, weights


def inv_freq(cfg, head_dim):
    theta = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    rs = cfg.get("rope_scaling")
    if rs:
        kind = rs.get("rope_type", rs.get("type"))
        if kind == "linear":
            inv = inv / rs["factor"]
        elif kind == "llama3":
            factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
            old = rs["original_max_position_embeddings"]
            low_wl, high_wl = old / low, old / high
            wavelen = 2 * math.pi / inv
            scaled = torch.where(wavelen > low_wl, inv / factor, inv)
            smooth = (old / wavelen - low) / (high - low)
            smoothed = (1 - smooth) * scaled / factor + smooth * scaled
            medium = (wavelen >= high_wl) & (wavelen <= low_wl)
            inv = torch.where(medium, smoothed, scaled)
        elif kind != "default":
            raise ValueError(kind)
    return inv


def rms_norm(x, w, eps):
    return w * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], -1)


def linear(x, W, name):
    y = x @ W[name + ".weight"].T
    if name + ".bias" in W:
        y = y + W[name + ".bias"]
    return y


def reference_logits(cfg, W, ids):
    """Logits [T, V] of one unpadded sequence."""
    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim", H // nh)
    eps = cfg["rms_norm_eps"]
    T = len(ids)
    pos = torch.arange(T, dtype=torch.float64)
    freqs = pos[:, None] * inv_freq(cfg, hd)[None, :]
    emb = torch.cat([freqs, freqs], -1)
    cos, sin = emb.cos(), emb.sin()
    x = W["model.embed_tokens.weight"][torch.tensor(ids)]
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms_norm(x, W[p + "input_layernorm.weight"], eps)
        q = linear(h, W, p + "self_attn.q_proj").view(T, nh, hd)
        k = linear(h, W, p + "self_attn.k_proj").view(T, nkv, hd)
        v = linear(h, W, p + "self_attn.v_proj").view(T, nkv, hd)
        if cfg["model_type"] == "qwen3":
            q = rms_norm(q, W[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, W[p + "self_attn.k_norm.weight"], eps)
        q = q * cos[:, None, :] + rotate_half(q) * sin[:, None, :]
        k = k * cos[:, None, :] + rotate_half(k) * sin[:, None, :]
        rep = nh // nkv
        outs = []
        for head in range(nh):
            kh, vh = k[:, head // rep], v[:, head // rep]
            s = (q[:, head] @ kh.T) / math.sqrt(hd)
            s = s.masked_fill(~causal, float("-inf"))
            outs.append(torch.softmax(s, -1) @ vh)
        attn = torch.cat(outs, -1)
        x = x + linear(attn, W, p + "self_attn.o_proj")
        h = rms_norm(x, W[p + "post_attention_layernorm.weight"], eps)
        g = linear(h, W, p + "mlp.gate_proj")
        u = linear(h, W, p + "mlp.up_proj")
        x = x + linear(torch.nn.functional.silu(g) * u, W, p + "mlp.down_proj")
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    if cfg.get("tie_word_embeddings"):
        assert "lm_head.weight" not in W, "tied model must not store lm_head.weight"
    return x @ head.T


def main():
    helper, fixture_dir, work = sys.argv[1:4]
    fixtures = sorted(f for f in os.listdir(fixture_dir) if f.endswith(".json"))
    assert fixtures, "no config fixtures"
    failed = 0
    for fx in fixtures:
        out = os.path.join(work, fx[:-5])
        os.makedirs(out, exist_ok=True)
        subprocess.run([helper, os.path.join(fixture_dir, fx), out], check=True)
        cfg, W = load_model_dir(os.path.join(out, "model"))
        got = read_safetensors(os.path.join(out, "logits.safetensors"))
        logits, ids, mask = got["logits"], got["input_ids"], got["mask"]
        worst = 0.0
        max_abs_logit = 0.0
        for b in range(ids.shape[0]):
            real = mask[b].bool()
            seq = ids[b][real].tolist()
            ref = reference_logits(cfg, W, seq)
            diff = (logits[b][real] - ref).abs().max().item()
            worst = max(worst, diff)
            max_abs_logit = max(max_abs_logit, ref.abs().max().item())
        tol = fp32_logit_bound(cfg, max_abs_logit)
        status = "ok" if worst <= tol else "FAIL"
        print(f"{fx}: max |logit diff| = {worst:.3g} (tolerance {tol:.3g}, "
              f"max |logit| {max_abs_logit:.3g}) {status}")
        failed += worst > tol
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
