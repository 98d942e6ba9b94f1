"""The inference worker: loads an onnxruntime-genai model folder once and serves generations.

    phi4studio --worker inference --model DIR [--provider auto|cpu|cuda|dml]
                [--adapter NAME=FILE.onnx_adapter ...] [--flush-ms 30] [--flush-tokens 16]
                [--skip-special-tokens] [--threads N]

A long-lived process (onnxruntime-genai holds the GIL, so it never runs as a thread of the app).
It emits `start` with the model's details once loaded, then reads JSON-line commands on stdin:

    {"cmd": "generate", "id": "r1", "messages": [{"role": "user", "content": "Hi"}],
     "max_new_tokens": 64, "greedy": true}
    {"cmd": "stop", "id": "r1"}          {"cmd": "stop"}
    {"cmd": "load_adapter", "id": "a1", "name": "ft", "path": "ft.onnx_adapter"}
    {"cmd": "set_adapter", "id": "a2", "name": "ft"}          {"cmd": "info", "id": "i1"}
    {"cmd": "shutdown"}

and answers with `token` events (batched text pieces and ids) and one `result` (or `error`) per
request id. The full protocol, with examples, is in docs/inference.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from phi4studio.core.jobs.protocol import Emitter


def _parse(argv: list[str]) -> argparse.Namespace:
    from phi4studio.workers.inference.engine import PROVIDER_CHOICES

    ap = argparse.ArgumentParser(prog="phi4studio --worker inference")
    ap.add_argument("--model", required=True, help="onnxruntime-genai model folder")
    ap.add_argument("--provider", default="auto", choices=PROVIDER_CHOICES)
    ap.add_argument("--adapter", action="append", default=[], metavar="NAME=FILE",
                    help="ONNX LoRA adapter to load at start (repeatable)")
    ap.add_argument("--active-adapter", default=None, help="adapter active by default")
    ap.add_argument("--flush-ms", type=float, default=30.0,
                    help="token events: at most one per this many milliseconds")
    ap.add_argument("--flush-tokens", type=int, default=16,
                    help="token events: at most this many tokens each")
    ap.add_argument("--skip-special-tokens", action="store_true",
                    help="leave special tokens out of the text (default: keep them)")
    ap.add_argument("--threads", type=int, default=0,
                    help="onnxruntime intra-op threads on the CPU (0: the cores other "
                         "processes leave free when the model loads)")
    return ap.parse_args(argv)


def main(argv: list[str]) -> int:
    t0 = time.perf_counter()
    emit = Emitter()
    args = _parse(argv)
    from phi4studio.workers.inference.engine import Engine, LoadError
    from phi4studio.workers.inference.server import run_server

    engine = Engine(Path(args.model), skip_special_tokens=args.skip_special_tokens,
                    threads=max(0, args.threads))

    def warn(reason: str) -> None:
        emit("log", level="warning", code="provider_fallback", message=reason)

    try:
        engine.load(args.provider, notify=warn)
        for spec in args.adapter:
            name, sep, path = spec.partition("=")
            if not sep:
                raise LoadError(f"--adapter wants NAME=FILE, got {spec!r}")
            engine.load_adapter(name, path)
        if args.active_adapter:
            engine.set_active_adapter(args.active_adapter)
    except Exception as exc:  # noqa: BLE001 - every load failure is reported as an error event
        emit("error", code="load_failed", message=f"cannot load {args.model}: {exc}")
        return 1
    info = engine.info()
    emit("start", message=f"model loaded on {engine.provider} in {engine.load_s:.2f} s",
         pid=os.getpid(), startup_s=round(time.perf_counter() - t0, 4), **info)
    sys.stdout.flush()
    return run_server(engine, emit, flush_interval_s=args.flush_ms / 1000.0,
                      flush_tokens=args.flush_tokens)
