"""`phi4studio bench train`: the studio's training subprocess against a plain TRL script.

Same model, data, LoRA targets and settings, run back to back:
  plain TRL       training/bench_plain_sft.py: the `text` column tokenized by TRL, padded batches
  studio          training/sft.py: pre-tokenized, loss on assistant turns only, padded batches
  studio+packing  training/sft.py with packing (best-fit decreasing, padding-free batches)
The data is synthesized tool-calling conversations of mixed lengths (datasets/synthesis), rendered
through the model's chat format. Prints tokens/s (non-padding tokens over the optimizer steps),
peak memory, time from launch to the first optimizer step and the final loss. No assertions.
"""

from __future__ import annotations

import json
import random
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from phi4studio.core.environment import result_from_output, training_python
from phi4studio.core.paths import training_scripts_dir
from phi4studio.core.training.config import TrainingConfig, script_config
from phi4studio.core.training.data import chat_format_for, resolve_dataset
from phi4studio.core.training.models import inspect_model, smollm2_gguf
from phi4studio.core.training.modules import resolve_targets
from phi4studio.core.training.prepare import scan

BENCH_TOOLS: list[dict[str, Any]] = [
    {"name": "get_weather", "description": "Current weather for a city",
     "inputSchema": {"type": "object", "properties": {"city": {"type": "string"}},
                     "required": ["city"]}},
    {"name": "search_flights", "description": "Search flights between two airports on a date",
     "inputSchema": {"type": "object", "properties": {
         "origin": {"type": "string", "description": "IATA code"},
         "destination": {"type": "string", "description": "IATA code"},
         "date": {"type": "string", "format": "date"},
         "passengers": {"type": "integer", "minimum": 1}}, "required": ["origin", "destination"]}},
    {"name": "create_event", "description": "Create a calendar event",
     "inputSchema": {"type": "object", "properties": {
         "title": {"type": "string"}, "start": {"type": "string", "format": "date-time"},
         "duration_minutes": {"type": "integer"}, "attendees": {
             "type": "array", "items": {"type": "string", "format": "email"}}},
         "required": ["title", "start"]}},
    {"name": "convert_currency", "description": "Convert an amount between currencies",
     "inputSchema": {"type": "object", "properties": {
         "amount": {"type": "number"}, "from": {"type": "string"}, "to": {"type": "string"}},
         "required": ["amount", "from", "to"]}},
]


def bench_examples(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """Mixed lengths: each example offers 1 to 4 tools, over every synthesis scenario."""
    from phi4studio.core.datasets.synthesis import synthesize

    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    per = max(1, n // 4)
    for k in range(1, 5):
        tools = rng.sample(BENCH_TOOLS, k)
        for d in synthesize(tools, per, seed=seed + k):
            d["id"] = f"{d['id']}-{k}"
            d["split"] = "train"
            out.append(d)
    rng.shuffle(out)
    return out[:n]


def _run(argv: list[str], cwd: Path, log: Path) -> tuple[dict[str, Any] | None, float]:
    """Run a script to its end with stdin held open (closing it would mean 'cancel')."""
    t = time.time()
    with open(log, "w", encoding="utf-8") as err:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=err, text=True)
        assert proc.stdout is not None
        out = proc.stdout.read()
        proc.wait()
        if proc.stdin is not None:
            proc.stdin.close()
        err.write("\n--- stdout ---\n" + out)
    return result_from_output(out), time.time() - t


def run_bench_train(args: Any) -> int:
    python = training_python(None)
    if python is None:
        print("no training runtime")
        return 2
    model = args.model or str(smollm2_gguf() or "")
    if not model:
        print("no model: pass --model (the offline SmolLM2 GGUF is not installed)")
        return 2
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="phi4studio-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    data = root / "examples.jsonl"
    data.write_text("".join(json.dumps(d) + "\n" for d in bench_examples(args.examples)),
                    encoding="utf-8")
    cfg = TrainingConfig(base_model=model, dataset=str(data), validation_split=None,
                         max_steps=args.steps, per_device_train_batch_size=args.batch,
                         gradient_accumulation_steps=1, learning_rate=2e-4, max_length=1024,
                         logging_steps=1, save_steps=args.steps + 1000,
                         cpu_threads=args.threads, gradient_checkpointing=True)
    info = inspect_model(model)
    targets = resolve_targets(cfg.target_modules, info.linear)
    report = scan(cfg, resolve_dataset(None, str(data)), chat_format_for(cfg, info), info,
                  data_dir=root / "data")
    print(f"model {info.display_name}; {report.summary()}; targets {targets.summary()}")
    figures: dict[str, dict[str, Any]] = {}
    variants = [("plain TRL", "bench_plain_sft.py", False), ("studio", "sft.py", False),
                ("studio+packing", "sft.py", True)]
    for name, script, packing in variants:
        folder = root / name.replace(" ", "-").replace("+", "-")
        folder.mkdir(exist_ok=True)
        run_cfg = cfg.model_copy(update={"packing": packing})
        resolved = script_config(run_cfg, base_model=info.base_model, gguf_file=info.gguf_file,
                                 train_file=str(root / "data" / "train.jsonl"),
                                 validation_file=None, run_name=name)
        resolved["target_modules"] = targets.names
        (folder / "config.json").write_text(json.dumps(resolved, indent=1), encoding="utf-8")
        argv = [python, str(training_scripts_dir() / script), "--config",
                str(folder / "config.json")]
        result, wall = _run(argv, folder, folder / "output.log")
        if result is None:
            print(f"{name}: failed (see {folder / 'output.log'})")
            continue
        result["wall_s"] = round(wall, 1)
        figures[name] = result
        print(f"{name:<15} {result.get('tokens_per_s', 0):>8.1f} tokens/s  peak "
              f"{result.get('peak_memory_gb', 0):.2f} GB  first step "
              f"{result.get('time_to_first_step_s', 0):.1f} s  loss "
              f"{result.get('final_loss') or 0:.3f}  wall {wall:.0f} s", flush=True)
    base = figures.get("plain TRL", {}).get("tokens_per_s")
    for name in ("studio", "studio+packing"):
        if base and name in figures:
            print(f"{name} vs plain TRL: {figures[name]['tokens_per_s'] / base:.2f}x tokens/s")
    if args.json:
        print(json.dumps(figures, indent=2))
    print(f"bench folder: {root}")
    return 0
