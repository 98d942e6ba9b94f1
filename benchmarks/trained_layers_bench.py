#!/usr/bin/env python3
"""Time a training pass with LoRA on fewer or more of the upper layers (docs/quickstart.md,
session 17).

    .venv/bin/python benchmarks/trained_layers_bench.py RUN_DIR [--first 15 20] [--examples 12]
                                                        [--rounds 2]

RUN_DIR is a training run folder (its `config.json` names the base model, the rank and the
trained modules, `data/train.jsonl` holds the rendered examples), e.g. a quick start's run on
SmolLM2-135M. For each `--first N`, the run's modules of layers N and above get LoRA (the layers
below are frozen). Each round times, per setting, a pass that computes every layer (the first
epoch) and a pass that reuses the frozen layers' output (training/frozen_prefix.py: the second
epoch). Each step is a forward and backward with the loss on the trained positions only, as the
trainer does. One process, the settings alternating, so a noisy machine weighs on each alike.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any


def layer_of(name: str) -> int:
    m = re.search(r"\.(\d+)\.", name)
    return int(m.group(1)) if m else -1


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--first", type=int, nargs="+", default=[15, 20],
                    help="the first trained layer of each setting")
    ap.add_argument("--examples", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    import torch
    from _training_run import TrainingRun
    from frozen_prefix import FrozenPrefixCache

    run = TrainingRun(args.run, args.examples)
    modules = [m for m in run.cfg.get("target_modules") or [] if layer_of(m) >= 0]
    if not modules:
        print("the run's config names no per-layer modules (target_modules)")
        return 1

    def build(first: int) -> Any:
        return run.model([m for m in modules if layer_of(m) >= first])

    def one_pass(model: Any) -> float:
        return run.one_pass(model)[0]

    models = {first: build(first) for first in args.first}
    n_layers = int(getattr(models[args.first[0]].config, "num_hidden_layers", 0))
    print(f"{len(run.rows)} examples, {run.n_tokens} tokens, rank "
          f"{run.cfg['lora_r']}, {n_layers} layers; torch threads {torch.get_num_threads()}")
    for model in models.values():
        one_pass(model)  # warm-up
    times: dict[int, dict[str, list[float]]] = {f: {"every": [], "reused": []} for f in models}
    for _ in range(args.rounds):
        for first, model in models.items():
            times[first]["every"].append(one_pass(model))
            cache, why = FrozenPrefixCache.attach(model, gradient_checkpointing=False)
            if cache is None:
                print(f"layers {first}+: the frozen layers' output cannot be reused: {why}")
                return 1
            one_pass(model)  # fills the cache
            times[first]["reused"].append(one_pass(model))
            cache.detach()
    ref = args.first[0]
    ref_total = min(times[ref]["every"]) + min(times[ref]["reused"])
    for first, t in times.items():
        every, reused = min(t["every"]), min(t["reused"])
        print(f"LoRA on layers {first}-{n_layers - 1} ({n_layers - first} layers): every layer "
              f"computed {every:.2f} s, frozen layers reused {reused:.2f} s (best of "
              f"{args.rounds}); both epochs {(every + reused) / ref_total:.2f} of layers {ref}+")
    return 0


if __name__ == "__main__":
    sys.exit(main())
