"""`phi4studio runtime ...`: the training runtime from a shell (the same steps as the app's).

    phi4studio runtime status [--json]
    phi4studio runtime pythons                      the interpreters it could be built from
    phi4studio runtime setup [--python PATH] [--channel auto|cpu|cu126|cu128|cu130]
                             [--torch-index auto|none|URL] [--target DIR]
    phi4studio runtime repair                       reinstall the pins and verify again
    phi4studio runtime use PATH                     verify an existing environment, then use it
    phi4studio runtime verify                       check the configured runtime again
    phi4studio runtime remove                       delete the managed runtime (only that)

setup/repair/use record the interpreter in the settings when they succeed (exit 0); a failure
prints what to do and exits 1 (4: disk full). Run setup again to retry: it continues.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    rt = sub.add_parser("runtime", help="set up, repair, verify or remove the training runtime")
    rsub = rt.add_subparsers(dest="runtime_cmd", required=True)
    st = rsub.add_parser("status", help="which runtime the app uses")
    st.add_argument("--json", action="store_true")
    rsub.add_parser("pythons", help="Python interpreters the runtime can be built from")
    for name in ("setup", "repair"):
        p = rsub.add_parser(name, help=f"{name} the managed training runtime")
        p.add_argument("--python", help="the interpreter to build it from (default: best found)")
        p.add_argument("--channel", default="auto", help="torch build: auto, cpu, cu126, ...")
        p.add_argument("--torch-index", default="auto", help="auto, none or an index URL")
        p.add_argument("--target", type=Path, help="folder (default: the data folder's)")
    use = rsub.add_parser("use", help="verify an existing environment and use it")
    use.add_argument("path", type=Path, help="its python, or its folder")
    rsub.add_parser("verify", help="check the configured runtime again")
    rsub.add_parser("remove", help="delete the managed runtime")


class ConsoleReporter:
    def __init__(self, quiet_log: bool = True) -> None:
        self.quiet_log = quiet_log
        self.last = ""
        self.t0 = time.monotonic()

    def progress(self, fraction: float, message: str, step: str) -> None:
        line = f"[{fraction * 100:5.1f}%] {step}: {message}"
        if line != self.last:
            self.last = line
            print(f"{time.monotonic() - self.t0:7.1f}s {line}", flush=True)

    def log(self, message: str) -> None:
        if not self.quiet_log:
            print(f"        {message}", file=sys.stderr, flush=True)

    def cancelled(self) -> bool:
        return False


def run(args: argparse.Namespace) -> int:
    from phi4studio.core.paths import app_dirs, training_scripts_dir
    from phi4studio.core.runtime import RUNTIME_DIRNAME, RuntimeManager, SetupError, find_pythons
    from phi4studio.core.runtime.plan import make_plan
    from phi4studio.core.runtime.pythons import resolve_interpreter
    from phi4studio.core.runtime.setup import (
        SetupRequest,
        read_manifest,
        remove_runtime,
        run_setup,
        run_verify,
    )
    from phi4studio.core.settings import SettingsStore

    dirs = app_dirs()
    store = SettingsStore(dirs.settings_file)
    settings = store.load().settings

    def set_python(value: str | None) -> None:
        settings.training_python = value
        store.save(settings)

    target = getattr(args, "target", None) or dirs.data / RUNTIME_DIRNAME
    manager = RuntimeManager(target, lambda: settings.training_python, set_python)
    cmd = args.runtime_cmd
    script = training_scripts_dir() / "verify_runtime.py"
    if cmd == "status":
        st = manager.status()
        if args.json:
            print(json.dumps({"kind": st.kind, "python": st.python, "exists": st.exists,
                              "state": st.state, "location": str(st.location),
                              "manifest": st.manifest}, indent=2, default=str))
        else:
            print(st.describe())
        return 0
    if cmd == "pythons":
        for c in find_pythons():
            print(f"{'ok ' if c.usable else '-- '} {c.label} [{c.source}]"
                  + ("" if c.usable else f": {c.reason}"))
        return 0
    rep = ConsoleReporter()
    try:
        if cmd in ("setup", "repair"):
            action = "repair" if cmd == "repair" or read_manifest(target) else "create"
            plan = make_plan(args.channel, args.torch_index)
            for note in plan.notes:
                print(f"note: {note}")
            t0 = time.monotonic()
            data = run_setup(SetupRequest(action=action, target=target, plan=plan,
                                          python=args.python, verify_script=script), rep)
            set_python(data["python"])
            pk = data["runtime"].get("packages", {})
            print(f"training runtime ready in {time.monotonic() - t0:.0f} s: torch "
                  f"{pk.get('torch')} at {data['python']} (steps: {data['steps_s']})")
            return 0
        if cmd in ("use", "verify"):
            chosen = (resolve_interpreter(args.path.expanduser()) if cmd == "use"
                      else Path(manager.status().python or ""))
            if chosen is None or not str(chosen):
                print("error: no interpreter there (or no runtime configured)")
                return 1
            data = run_verify(str(chosen), script, rep)
            set_python(str(chosen))
            print(f"ok: {chosen} can train (torch {data['runtime']['packages'].get('torch')})")
            return 0
        if cmd == "remove":
            remove_runtime(target)
            if manager.is_managed(settings.training_python):
                set_python(None)
            print(f"removed {target}")
            return 0
    except SetupError as exc:
        print(f"error ({exc.code}): {exc.message}", file=sys.stderr)
        return 4 if exc.code == "disk_full" else 1
    return 2
