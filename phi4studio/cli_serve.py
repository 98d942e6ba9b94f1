"""`phi4studio serve` and `phi4studio bench serve`.

    phi4studio serve --model DIR [--adapter NAME] [--port N] [--host H] [--guided-tools]
                     [--max-queue N] [--max-tokens N] [--any-model] [--no-log]
    phi4studio bench serve --model DIR [--requests 5] [--max-tokens 128] [--clients 4]

`serve` runs the server in the foreground (Ctrl+C stops it); requests are printed one a line and
written to the workspace catalog's request log. Another --host than a loopback address needs an
API key: set PHI4STUDIO_SERVE_API_KEY, or one is generated and printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any


def add_parser(sub: Any, bench_sub: Any) -> None:
    from phi4studio.workers.serve import add_arguments

    sp = sub.add_parser("serve", help="serve a model with OpenAI- and Anthropic-compatible APIs")
    add_arguments(sp)
    sp.add_argument("--no-log", action="store_true",
                    help="keep the request log out of the workspace catalog")
    bs = bench_sub.add_parser("serve", help="HTTP API against the worker: tokens/s, TTFT, p95")
    bs.add_argument("--model", required=True, type=Path, help="onnxruntime-genai model folder")
    bs.add_argument("--requests", type=int, default=5, help="measured requests per path")
    bs.add_argument("--max-tokens", type=int, default=128)
    bs.add_argument("--clients", type=int, default=4, help="concurrent clients for p95")
    bs.add_argument("--per-client", type=int, default=3, help="requests per concurrent client")
    bs.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    if args.command == "bench":
        from phi4studio.core.serve.bench import format_figures, run_bench

        figures = asyncio.run(run_bench(
            args.model, requests=args.requests, max_tokens=args.max_tokens,
            clients=args.clients, per_client=args.per_client,
            say=(lambda s: None) if args.json else print))
        print(json.dumps(figures, indent=2) if args.json else format_figures(figures))
        return 0
    return serve(args)


def _catalog(args: argparse.Namespace) -> Path | None:
    if args.no_log:
        return None
    from phi4studio.core.paths import app_dirs
    from phi4studio.core.settings import SettingsStore

    dirs = app_dirs()
    settings = SettingsStore(dirs.settings_file).load().settings
    root = Path(args.workspace or settings.workspace or dirs.default_workspace).expanduser()
    path = root / "catalog.sqlite"
    return path if path.is_file() else None


def serve(args: argparse.Namespace) -> int:
    from phi4studio.core.serve.config import ServeConfigError
    from phi4studio.workers.serve import build_config

    try:
        config = build_config(args, _catalog(args))
    except ServeConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(config))


def _line(rec: Any) -> str:
    when = time.strftime("%H:%M:%S", time.localtime(rec.created_at))
    tokens = f"{rec.prompt_tokens or 0}+{rec.completion_tokens or 0} tok"
    calls = f" calls={','.join(rec.tool_calls)}" if rec.tool_calls else ""
    err = f" {rec.error}" if rec.error else ""
    return (f"{when} {rec.status} {rec.api:9} {rec.model} {tokens} "
            f"{rec.latency_s or 0:.2f}s {rec.finish_reason or '-'}{calls}{err} "
            f"[{rec.client}]")


async def _serve(config: Any) -> int:
    from phi4studio.core.serve.server import ServeRuntime, ServeStartError, stop_on_signals

    generated = not config.api_key and not config.loopback
    runtime = ServeRuntime(config, on_record=lambda r: print(_line(r), flush=True))
    try:
        info = await runtime.start()
    except ServeStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    stop_on_signals(runtime)
    print(f"Serving {config.model_dir} as {', '.join(info['models'])}")
    print(f"  OpenAI:    base_url={info['url']}    (POST /chat/completions, GET /models)")
    print(f"  Anthropic: base_url={info['url'][:-3]}    (POST /v1/messages)")
    if config.requires_key:
        shown = config.api_key if generated else "(from PHI4STUDIO_SERVE_API_KEY)"
        print(f"  API key:   {shown}    (Authorization: Bearer KEY, or x-api-key: KEY)")
    else:
        print("  loopback only, no API key needed")
    if config.catalog:
        print(f"  request log: {config.catalog} (serve_requests)")
    print("Ctrl+C stops the server.", flush=True)
    try:
        await runtime.wait()
    finally:
        await runtime.stop()
    print(f"Stopped after {runtime.reqlog.total} requests.")
    return 0
