"""The evaluation worker: runs (or resumes) one evaluation run folder.

    phi4studio --worker eval --run WORKSPACE/evals/<id> [--benchmarks DIR]

It starts the model's inference worker (through `InferenceClient`), evaluates every case of the
run that has no result yet, appends each result to `results.jsonl` as it ends, and reports
protocol events: `start`; `progress` (step = cases done, total, eta_s) at most ~10 per second;
`metric` per case (`name: "case"`, id, ok, category); `result` (data: run, complete, cancelled,
done, total, headline metrics). `{"cmd": "cancel"}` (or stdin closing) stops the generation in
flight; the unfinished case is dropped and the worker exits 0, so the run resumes there.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from phi4studio.core.jobs.protocol import CommandReader, Emitter


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="phi4studio --worker eval")
    ap.add_argument("--run", required=True, help="the run folder (config.json, cases.jsonl)")
    ap.add_argument("--benchmarks", default=None,
                    help="folder of unpacked benchmark wheels (default: the data folder's)")
    args = ap.parse_args(argv)
    emit = Emitter()
    commands = CommandReader().start()

    def on_event(ev: dict[str, Any]) -> None:
        fields = {k: v for k, v in ev.items() if k not in ("type", "v")}
        emit(str(ev["type"]), **fields)

    from phi4studio.core.errors import StudioError
    from phi4studio.core.evaluation.driver import evaluate

    try:
        asyncio.run(evaluate(Path(args.run), on_event=on_event,
                             cancelled=commands.cancelled.is_set,
                             benchmarks_root=Path(args.benchmarks) if args.benchmarks else None))
    except StudioError as exc:
        emit("error", message=str(exc))
        return 1
    except Exception as exc:
        emit("error", message=f"{type(exc).__name__}: {exc}")
        raise
    if commands.cancelled.is_set():
        emit("log", message="cancelled: the next start resumes at the first unfinished case")
    emit("done")
    return 0
