"""`phi4studio quickstart`: the Quick start flow headless, then its final A/B table.

    phi4studio quickstart --tools FILE_OR_MCP [--base MODEL] [--size N] [--seed S]
                          [--no-bfcl | --bfcl-scale F] [--set KEY=VALUE ...] [--json]
    phi4studio quickstart --resume [FLOW_ID]        the newest unfinished flow by default
    phi4studio quickstart --list [--json]

`--tools`: `sample` (the shipped catalog), a catalog file, or an MCP server's command line
(`"mcp:npx -y @modelcontextprotocol/server-everything"`). `--base`: a model folder, a .gguf
file or a Hugging Face id; by default Phi-4-mini-instruct with a CUDA GPU and the Hub, else the
offline SmolLM2-135M-Instruct. Progress goes to stderr (a line a second at most), the table to
stdout; `--json` prints the report (steps, recipe, links, table) as one JSON object instead.
Ctrl+C cancels (training keeps a checkpoint: `--resume` goes on). Exit codes: 0 the flow
completed (whatever the verdict), 1 a step failed, 2 bad input, 3 cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from phi4studio.core.errors import StudioError
from phi4studio.core.quickstart.state import DONE, FlowState


def add_parser(sub: Any) -> None:
    qs = sub.add_parser("quickstart", help="tools -> a fine-tuned, evaluated tool-calling model")
    qs.add_argument("--tools", default="sample",
                    help="`sample`, a tool catalog JSON file, or an MCP server command line")
    qs.add_argument("--base", default="", help="base model (default: Phi-4-mini-instruct with a "
                    "CUDA GPU and the Hub, else the offline SmolLM2-135M-Instruct GGUF)")
    qs.add_argument("--size", type=int, help="examples to synthesize (default: the recipe's)")
    qs.add_argument("--seed", type=int, default=0)
    qs.add_argument("--no-bfcl", action="store_true", help="only the held-out split")
    qs.add_argument("--bfcl-scale", type=float, default=1.0,
                    help="fraction of each BFCL category's first N items (quicker checks)")
    qs.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="change one lever of the recipe, e.g. training.lora_r=32 or "
                         "data.shape.near_miss=0.3 (repeatable; see docs/quickstart.md)")
    qs.add_argument("--resume", nargs="?", const="", metavar="FLOW_ID",
                    help="go on with a stopped flow (default: the newest unfinished one)")
    qs.add_argument("--list", action="store_true", help="the workspace's quick starts")
    qs.add_argument("--json", action="store_true", help="print the report as JSON")


class Printer:
    """Step changes at once, progress at most once a second (stderr)."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self._last = 0.0
        self._status: dict[str, str] = {}
        self._said = ""

    def __call__(self, event: str, state: FlowState) -> None:
        now = time.monotonic()
        for s in state.steps:
            if self._status.get(s.name) != s.status:
                self._status[s.name] = s.status
                if s.status != "pending":
                    took = f" ({s.duration_s:.0f} s)" if s.finished_at and s.duration_s else ""
                    self.err.write(f"[{s.status}] {s.title}: {s.message}{took}\n")
                    self._last = now
        cur = state.current
        if event == "progress" and cur is not None and now - self._last >= 1.0 and \
                cur.message != self._said:
            self._last, self._said = now, cur.message
            self.err.write(f"  {cur.title}: {cur.message}\n")
        self.err.flush()


def _list(qs: Any, out: TextIO, as_json: bool) -> int:
    flows = qs.flows()
    if as_json:
        out.write(json.dumps([{"id": f.id, "label": f.label, "status": f.status,
                               "step": f.current.name if f.current else None,
                               "verdict": f.artefacts.get("verdict")} for f in flows],
                             indent=2) + "\n")
        return 0
    for f in flows:
        where = f.current.name if f.current else "complete"
        out.write(f"{f.id}  {f.status:<11} {where:<10} {f.artefacts.get('verdict') or '':<9} "
                  f"{f.label}\n")
    if not flows:
        out.write("no quick starts in this workspace\n")
    return 0


async def _run(args: Any, out: TextIO, err: TextIO) -> int:
    from phi4studio.core.quickstart.flow import QuickStart
    from phi4studio.core.quickstart.recipe import QuickStartOptions, ToolSource, parse_override
    from phi4studio.core.quickstart.report import format_table, report_data
    from phi4studio.core.studio import Studio

    studio = Studio.open(workspace=getattr(args, "workspace", None))
    try:
        qs = QuickStart(studio)
        if args.list:
            return _list(qs, out, args.json)
        probe = studio.probe_runtime_job()
        if probe is not None:
            studio.queue.submit(probe)
            await studio.queue.wait(probe)
        if args.resume is not None:
            state = qs.load(args.resume) if args.resume else qs.store.unfinished()
            if state is None:
                raise StudioError("No unfinished quick start in this workspace.")
        else:
            opts = QuickStartOptions(tools=ToolSource.parse(args.tools), base=args.base,
                                     size=args.size, seed=args.seed, bfcl=not args.no_bfcl,
                                     bfcl_scale=args.bfcl_scale,
                                     overrides=dict(parse_override(t) for t in args.set))
            state = qs.new(opts)
        err.write(f"quick start {state.id}: {state.label} "
                  f"({qs.store.folder(state.id)})\n")
        qs.add_listener(Printer(err))
        qs.start(state.id)
        stop_signals = _cancel_on_signals(lambda: qs.cancel(state.id), err)
        try:
            final = await qs.wait(state.id)
        except asyncio.CancelledError:  # pragma: no cover - Ctrl+C
            qs.cancel(state.id)
            final = await qs.wait(state.id)
        finally:
            stop_signals()
        if args.json:
            out.write(json.dumps(report_data(final), indent=2, default=str) + "\n")
        elif final.artefacts.get("comparisons"):
            out.write(format_table(final) + "\n")
        if final.status == DONE:
            err.write(f"done in {final.duration_s / 60:.1f} min; links: dataset "
                      f"{final.artefacts.get('dataset_id')}, run {final.artefacts.get('run_id')},"
                      f" export {final.artefacts.get('export_id')}\n")
            return 0
        err.write(f"{final.status}: {final.error or ''} (resume: phi4studio quickstart "
                  f"--resume {final.id})\n")
        return 3 if final.status == "cancelled" else 1
    finally:
        await studio.queue.shutdown(timeout=studio.settings.cancel_grace_s + 10)
        studio.close()


def _cancel_on_signals(cancel: Callable[[], object], err: TextIO) -> Callable[[], None]:
    """Ctrl+C and SIGTERM cancel the flow as the Cancel button does (the step's job stops
    cleanly: training saves a checkpoint, and its process tree ends with it), so the command
    exits 3 and `--resume` goes on. Returns what removes the handlers."""
    import signal

    loop = asyncio.get_running_loop()
    added = []

    def on_signal() -> None:
        err.write("cancelling: the current step stops (resume with --resume)\n")
        cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, on_signal)
            added.append(sig)

    def remove() -> None:
        for sig in added:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)

    return remove


def quickstart_command(args: Any, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        return asyncio.run(_run(args, out, err))
    except StudioError as exc:
        print(f"error: {exc}", file=err)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        return 3
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=err)
        return 2
