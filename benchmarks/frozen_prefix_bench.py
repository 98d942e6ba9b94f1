#!/usr/bin/env python3
"""Time a training step over a repeated example with and without the frozen layers' output
reused (training/frozen_prefix.py; docs/quickstart.md, session 16).

    .venv/bin/python benchmarks/frozen_prefix_bench.py RUN_DIR [--examples 12] [--rounds 2]

RUN_DIR is a training run folder (its `config.json` names the base model and the trained
layers, `data/train.jsonl` holds the rendered examples), e.g. a quick start's run on
SmolLM2-135M. One process, the same examples each time: a first pass fills the cache, then
rounds alternate passes that read it and passes with it detached (every layer computed).
Each step is a forward and backward with the loss on the trained positions only, as the
trainer does. Prints seconds per pass, the ratio, and the largest difference in loss.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--examples", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    import torch
    from _training_run import TrainingRun
    from frozen_prefix import FrozenPrefixCache

    run = TrainingRun(args.run, args.examples)
    model = run.model()

    def one_pass() -> tuple[float, list[float]]:
        return run.one_pass(model)

    cache, why = FrozenPrefixCache.attach(model, gradient_checkpointing=False)
    if cache is None:
        print(f"the cache does not attach to this run: {why}")
        return 1
    first = cache.first
    fill, ref = one_pass()
    print(f"{len(run.rows)} examples, {run.n_tokens} tokens, layers 0-{first - 1} frozen; "
          f"torch threads {torch.get_num_threads()}")
    print(f"fill (computed, kept): {fill:.2f} s")
    worst, counts = 0.0, {}
    for r in range(args.rounds):
        reused, losses = one_pass()
        counts = cache.stats()  # after a pass that read the cache
        worst = max(worst, *(abs(a - b) for a, b in zip(losses, ref, strict=True)))
        cache.detach()
        full, _ = one_pass()
        cache, _ = FrozenPrefixCache.attach(model, gradient_checkpointing=False)
        assert cache is not None
        one_pass()  # fill again for the next round
        print(f"round {r + 1}: every layer {full:.2f} s, reused {reused:.2f} s "
              f"({reused / full:.2f} of the time)")
    print(f"largest loss difference, reused against computed: {worst:.2e}")
    print(f"cache after a reading pass: {json.dumps(counts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
