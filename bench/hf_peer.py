#!/usr/bin/env python3
"""The HF transformers peer of `bench_model --model DIR`: the same measurements on the same
model directory with transformers on the CPU, printed as ONE JSON line with bench_model's
keys (bench/hf_compare.sh runs both sides and prints the ratios).

  prefill_tok_s   a forward over the B prompts of P tokens, logits of the last position
                  only (logits_to_keep=1, what generate's prefill computes)
  decode_tok_s    model.generate(do_sample=True, top_k=0, top_p=1, temperature=1,
                  use_cache=True, min_new_tokens=max_new_tokens=N, no EOS): full-vocabulary
                  sampling with the KV cache, every sequence exactly N tokens; B (N - 1)
                  tokens over the time of N new tokens minus the time of 1
  score_tok_s     teacher-forced log-probabilities of the N response tokens of B sequences
                  of P + N tokens: one forward (logits at the response positions only,
                  logits_to_keep=N + 1), log_softmax, gather; counted as B (P + N) tokens
  train_step_s    the "eager peer" of a training step: the same forward with gradients,
                  the DISA residual loss of docs/method.md §3 (s_i = 1, w_max 10, log pi_ref
                  = log pi_old = the scores above, anchor 0, target 0.5 on every other
                  sequence) in plain PyTorch, backward; the second of two steps
  peak_rss_*      getrusage's ru_maxrss after decoding and at the end (MiB)

Prompts and responses are bench_model's fixed ids: splitmix64(b << 32 | t) mod vocab_size.
"""
import argparse
import json
import resource
import sys
import time

MASK64 = (1 << 64) - 1


def mix64(z):
    z = (z + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def fixed_ids(b, start, stop, vocab):
    return [mix64((b << 32) | t) % vocab for t in range(start, stop)]


def peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="HF model directory (config.json + safetensors)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--new", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.batch < 1 or args.prompt < 1 or args.new < 2:
        sys.exit("hf_peer: --batch and --prompt must be >= 1 and --new >= 2")

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    B, P, N = args.batch, args.prompt, args.new
    model = transformers.AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    model.eval()
    V = model.config.vocab_size
    ids = torch.tensor([fixed_ids(b, 0, P + N, V) for b in range(B)], dtype=torch.long)
    prompts = ids[:, :P].contiguous()
    attn = torch.ones_like(prompts)
    full_attn = torch.ones_like(ids)

    with torch.no_grad():
        # Prefill.
        model(input_ids=prompts, attention_mask=attn, logits_to_keep=1)  # warm-up
        t0 = time.perf_counter()
        model(input_ids=prompts, attention_mask=attn, logits_to_keep=1).logits.float()
        prefill = B * P / (time.perf_counter() - t0)

        # Decode: no EOS (so no early stop), full-vocabulary sampling at temperature 1.
        model.generation_config.eos_token_id = None

        def gen(n):
            cfg = transformers.GenerationConfig(
                do_sample=True, temperature=1.0, top_k=0, top_p=1.0, use_cache=True, min_new_tokens=n,
                max_new_tokens=n, eos_token_id=None, pad_token_id=0, bos_token_id=None)
            torch.manual_seed(1)
            t = time.perf_counter()
            out = model.generate(input_ids=prompts, attention_mask=attn, generation_config=cfg)
            dt = time.perf_counter() - t
            if out.shape[1] != P + n:
                raise SystemExit(f"hf_peer: generate returned {out.shape[1] - P} new tokens, not {n}")
            return dt

        gen(1)  # warm-up
        first_s = gen(1)
        all_s = gen(N)
        decode = B * (N - 1) / max(all_s - first_s, 1e-9)
        rss_gen = peak_rss_mib()

        # Teacher-forced scoring of the N response tokens.
        targets = ids[:, P:]
        t0 = time.perf_counter()
        logits = model(input_ids=ids, attention_mask=full_attn, logits_to_keep=N + 1).logits[:, :-1]
        ref = torch.log_softmax(logits.float(), -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1).sum(1)
        score = B * (P + N) / (time.perf_counter() - t0)
        del logits

    # Training step (eager peer): forward with gradients, DISA residual loss, backward.
    model.train()
    anchor = torch.zeros(B)
    target = (torch.arange(B) % 2).float() * 0.5
    step_s = 0.0
    for _ in range(2):  # the first step is a warm-up
        model.zero_grad(set_to_none=False)
        t0 = time.perf_counter()
        logits = model(input_ids=ids, attention_mask=full_attn, logits_to_keep=N + 1).logits[:, :-1]
        seq_logp = torch.log_softmax(logits.float(), -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1).sum(1)
        with torch.no_grad():
            w = (seq_logp.detach() - ref).clamp(-20.0, 20.0).exp().clamp_max(10.0)
        delta = anchor + (seq_logp - ref) - target
        loss = (w * delta.pow(2)).sum() / B
        loss.backward()
        step_s = time.perf_counter() - t0
        del logits, seq_logp, loss

    print(json.dumps({
        "side": "hf", "model": args.model,
        "params": sum(p.numel() for p in model.parameters()), "vocab": V,
        "batch": B, "prompt": P, "new": N, "threads": torch.get_num_threads(),
        "prefill_tok_s": round(prefill, 1), "decode_tok_s": round(decode, 1), "score_tok_s": round(score, 1),
        "train_step_s": round(step_s, 3), "train_tok_s": round(B * (P + N) / step_s, 1),
        "peak_rss_gen_mib": round(rss_gen), "peak_rss_mib": round(peak_rss_mib()),
        "torch": torch.__version__, "transformers": transformers.__version__,
    }), flush=True)


if __name__ == "__main__":
    main()
