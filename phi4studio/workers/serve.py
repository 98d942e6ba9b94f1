"""The serve worker: a local OpenAI- and Anthropic-compatible HTTP server for one model folder.

    phi4studio --worker serve --model DIR [--name ID] [--adapter NAME=FILE ...]
                [--active-adapter NAME] [--host 127.0.0.1] [--port 8000] [--guided-tools]
                [--max-queue 8] [--max-tokens 1024] [--any-model] [--provider auto]
                [--catalog WORKSPACE/catalog.sqlite]

The API key comes from the environment (PHI4STUDIO_SERVE_API_KEY), never the command line. A
non-loopback --host without a key gets a generated one, reported in `start` (`api_key`).

Events (JSON lines on stdout): `start` once listening ({url, host, port, models, ...}),
`request` per API request (the request log record), `log`, `error` (start failures, code
`serve_failed`), `done`. Commands on stdin: `{"cmd": "shutdown"}` or `{"cmd": "cancel"}` (or
closing stdin) stop the server: generations end, the listening socket closes, the inference
worker exits.

This process runs uvicorn and the asyncio InferenceClient; the model itself runs in the
inference worker it starts (`phi4studio --worker inference`), so neither the app's UI thread nor
the HTTP loop ever waits on onnxruntime-genai.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
from pathlib import Path
from typing import Any

from phi4studio.core.jobs.protocol import CommandReader, Emitter


def add_arguments(ap: argparse.ArgumentParser, *, model_required: bool = True) -> None:
    from phi4studio.core.serve.config import DEFAULT_HOST, DEFAULT_MAX_QUEUE, DEFAULT_MAX_TOKENS

    ap.add_argument("--model", required=model_required, type=Path,
                    help="onnxruntime-genai model folder (an export)")
    ap.add_argument("--name", default="", help="model id clients send (default: folder name)")
    ap.add_argument("--adapter", action="append", default=[], metavar="NAME[=FILE]",
                    help="ONNX LoRA adapter to serve (repeatable); a bare NAME is looked up in "
                         "DIR/adapters/ and becomes the default")
    ap.add_argument("--active-adapter", default=None, help="adapter the plain model id uses")
    ap.add_argument("--host", default=DEFAULT_HOST,
                    help="address to listen on (default loopback; another one needs an API key)")
    ap.add_argument("--port", type=int, default=8000, help="port (0: any free port)")
    ap.add_argument("--guided-tools", action="store_true",
                    help="guided decoding for tool_choice auto too (required/named always are)")
    ap.add_argument("--max-queue", type=int, default=DEFAULT_MAX_QUEUE,
                    help="requests that may wait behind the one being served")
    ap.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS,
                    help="completion tokens when a request does not say")
    ap.add_argument("--any-model", action="store_true",
                    help="serve unknown model names with this model instead of a 404")
    ap.add_argument("--provider", default="auto", choices=("auto", "cpu", "cuda", "dml"))


def build_config(args: argparse.Namespace, catalog: Path | None) -> Any:
    """A ServeConfig from parsed arguments (ServeConfigError names what is wrong)."""
    from phi4studio.core.serve.config import (
        API_KEY_ENV,
        ServeConfig,
        ServeConfigError,
        adapters_in,
    )

    model_dir = Path(args.model).expanduser().resolve()
    if not (model_dir / "genai_config.json").is_file():
        raise ServeConfigError(f"{model_dir} is not an onnxruntime-genai model folder "
                               "(no genai_config.json)")
    found = adapters_in(model_dir)
    adapters: dict[str, Path] = {}
    active = args.active_adapter
    for spec in args.adapter:
        name, sep, path = spec.partition("=")
        if sep:
            adapters[name] = Path(path).expanduser()
        elif name in found:
            adapters[name] = found[name]
            active = active or name
        else:
            known = ", ".join(sorted(found)) or "none"
            raise ServeConfigError(f"no adapter {name!r} in {model_dir / 'adapters'} "
                                   f"(found: {known})")
    for name, path in found.items():
        adapters.setdefault(name, path)
    for name, path in adapters.items():
        if not path.is_file():
            raise ServeConfigError(f"adapter {name!r}: no file {path}")
    return ServeConfig(
        model_dir, name=args.name, adapters=adapters, adapter=active, host=args.host,
        port=args.port, api_key=os.environ.get(API_KEY_ENV) or None,
        guided_tools=args.guided_tools, max_queue=args.max_queue,
        default_max_tokens=args.max_tokens, any_model=args.any_model, provider=args.provider,
        catalog=catalog,
    )


def main(argv: list[str]) -> int:
    emit = Emitter()
    ap = argparse.ArgumentParser(prog="phi4studio --worker serve")
    add_arguments(ap)
    ap.add_argument("--catalog", type=Path, default=None,
                    help="workspace catalog.sqlite that receives the request log")
    args = ap.parse_args(argv)
    from phi4studio.core.serve.config import ServeConfigError

    try:
        config = build_config(args, args.catalog)
    except ServeConfigError as exc:
        emit("error", code="serve_failed", message=str(exc))
        return 2
    generated = not config.api_key and not config.loopback
    return asyncio.run(_serve(config, emit, generated))


async def _serve(config: Any, emit: Emitter, key_generated: bool) -> int:
    from phi4studio.core.serve.server import ServeRuntime, ServeStartError

    loop = asyncio.get_running_loop()
    runtime = ServeRuntime(config, on_record=lambda r: emit("request", **r.to_json()))
    try:
        info = await runtime.start()
    except ServeStartError as exc:
        emit("error", code="serve_failed", message=str(exc))
        return 1
    if key_generated:
        info["api_key"] = config.api_key
    emit("start", message=f"serving {config.name} at {info['url']}", pid=os.getpid(), **info)
    def on_command(cmd: dict[str, Any]) -> None:
        if cmd.get("cmd") == "shutdown":
            loop.call_soon_threadsafe(runtime.request_stop)

    reader = CommandReader(on_command=on_command).start()

    def watch() -> None:  # cancel, or stdin closed: the app went away
        reader.cancelled.wait()
        loop.call_soon_threadsafe(runtime.request_stop)

    threading.Thread(target=watch, name="serve-cancel", daemon=True).start()
    await runtime.wait()
    await runtime.stop()
    emit("done", message=f"served {runtime.reqlog.total} requests")
    return 0
