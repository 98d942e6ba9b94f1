"""Sets up, repairs and verifies the training runtime (a Python environment with torch & co).

    phi4studio --worker runtime create --target DIR [--python auto|PATH] [--channel auto|cpu|cu128]
                                       [--torch-index auto|none|URL] [--requirements FILE]
                                       [--constraints FILE] [--verify-script FILE|none]
                                       [--min-free-gb N]
    phi4studio --worker runtime repair --target DIR [same options]
    phi4studio --worker runtime verify --python PATH [--verify-script FILE|none]
    phi4studio --worker runtime pythons              # the interpreters found, as a result

Events: start, progress (`step`, `fraction` of the whole setup, `message`), log (pip's and the
check's lines come on stderr), result ({"ok": true, "python": ..., "runtime": {...}}), error
(`code`, `message`). stdin `{"cmd": "cancel"}` stops the running pip and exits 0. Exit codes: 0
done or cancelled, 1 failed, 4 disk full. See phi4studio/core/runtime/.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from phi4studio.core.jobs.protocol import CommandReader, Emitter
from phi4studio.core.paths import training_scripts_dir
from phi4studio.core.runtime.plan import GB, make_plan
from phi4studio.core.runtime.pythons import find_pythons
from phi4studio.core.runtime.setup import SetupError, SetupRequest, run_setup, run_verify

EXIT_FAILED = 1
EXIT_DISK_FULL = 4


class WorkerReporter:
    def __init__(self, emit: Emitter, commands: CommandReader | None) -> None:
        self.emit = emit
        self.commands = commands

    def progress(self, fraction: float, message: str, step: str) -> None:
        self.emit("progress", fraction=fraction, message=message, step=step)

    def log(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    def cancelled(self) -> bool:
        return self.commands is not None and self.commands.cancelled.is_set()


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="phi4studio --worker runtime")
    ap.add_argument("action", choices=["create", "repair", "verify", "pythons"])
    ap.add_argument("--target", type=Path)
    ap.add_argument("--python", default="auto")
    ap.add_argument("--channel", default="auto")
    ap.add_argument("--torch-index", default="auto")
    ap.add_argument("--requirements", type=Path)
    ap.add_argument("--constraints", type=Path)
    ap.add_argument("--verify-script", default="")
    ap.add_argument("--min-free-gb", type=float)
    return ap


def _verify_script(value: str) -> Path | None:
    if value == "none":
        return None
    return Path(value) if value else training_scripts_dir() / "verify_runtime.py"


def main(argv: list[str]) -> int:
    a = _parser().parse_args(argv)
    emit = Emitter()
    if a.action == "pythons":
        cands = find_pythons()
        emit("result", data={"pythons": [asdict(c) for c in cands]},
             message=f"{sum(c.usable for c in cands)} usable of {len(cands)} found")
        return 0
    commands = CommandReader().start()
    rep = WorkerReporter(emit, commands)
    script = _verify_script(a.verify_script)
    try:
        if a.action == "verify":
            if a.python == "auto":
                raise SetupError("no_python", "verify needs --python PATH")
            emit("start", message=f"checking the training runtime {a.python}")
            data = run_verify(a.python, script, rep)
        else:
            if a.target is None:
                raise SetupError("bad_request", f"{a.action} needs --target DIR")
            emit("start", message=f"{'setting up' if a.action == 'create' else 'repairing'} "
                 f"the training runtime in {a.target}")
            plan = make_plan(a.channel, a.torch_index, a.requirements, a.constraints)
            req = SetupRequest(
                action=a.action, target=a.target, plan=plan,
                python=None if a.python == "auto" else a.python, verify_script=script,
                min_free_bytes=None if a.min_free_gb is None else int(a.min_free_gb * GB),
            )
            data = run_setup(req, rep)
    except SetupError as exc:
        if exc.code == "cancelled":
            emit("log", message="cancelled; run the setup again to continue where it stopped")
            return 0
        emit("error", code=exc.code, message=exc.message)
        return EXIT_DISK_FULL if exc.code == "disk_full" else EXIT_FAILED
    except ValueError as exc:
        emit("error", code="bad_request", message=str(exc))
        return EXIT_FAILED
    runtime = data.get("runtime", {})
    pk = runtime.get("packages", {}) if isinstance(runtime, dict) else {}
    emit("result", data=data, message=f"training runtime ready: torch {pk.get('torch', '?')} "
         f"at {data['python']}")
    return 0
