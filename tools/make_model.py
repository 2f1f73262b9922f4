#!/usr/bin/env python3
"""A randomly initialised model of a size `disa model init` has no preset for.

    tools/make_model.py --base DIR --config SIZE.json [--seed S] --out DIR

BASE is a model directory written by `disa model init` (its config.json, tokenizer and
generation config are kept); SIZE.json overrides config.json keys (hidden_size,
intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads, ...;
keys starting with "_" are comments). The weights are drawn by HF transformers'
initialiser (normal(0, initializer_range), seeded) and written as model.safetensors:
the same HF layout `disa model info`, `disa warm-start` and the other stages read.
Used by jobs/pipeline.sh when its configuration directory has a model.json
(configs/study/model.json).
"""

import argparse
import json
import os
import shutil
import sys


def main(argv=None):
    p = argparse.ArgumentParser(description="Write a random HF model directory of a given "
                                            "size, with the tokenizer of a disa model init one.")
    p.add_argument("--base", required=True, help="model directory from `disa model init`")
    p.add_argument("--config", required=True, help="JSON file of config.json overrides")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation")
    p.add_argument("--out", required=True, help="output directory (created)")
    args = p.parse_args(argv)
    with open(os.path.join(args.base, "config.json")) as fh:
        config = json.load(fh)
    with open(args.config) as fh:
        overrides = {k: v for k, v in json.load(fh).items() if not k.startswith("_")}
    unknown = sorted(set(overrides) - set(config))
    if unknown:
        print(f"error: {args.config}: keys not in {args.base}/config.json: {', '.join(unknown)}",
              file=sys.stderr)
        return 2
    config.update(overrides)
    if config.get("model_type") != "qwen2":
        print(f"error: {args.base}: model_type {config.get('model_type')!r}, expected qwen2",
              file=sys.stderr)
        return 2
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(args.seed)
    model = Qwen2ForCausalLM(Qwen2Config(**{k: v for k, v in config.items()
                                            if k != "architectures"}))
    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    for name in os.listdir(args.base):
        if name.startswith(("tokenizer", "generation_config")):
            shutil.copy2(os.path.join(args.base, name), os.path.join(args.out, name))
    n = sum(t.numel() for t in model.parameters())
    print(f"wrote {args.out}: qwen2, {config['num_hidden_layers']} layers, hidden "
          f"{config['hidden_size']}, {n} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
