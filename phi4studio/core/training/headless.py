"""`phi4studio train`: the same runs as the Train tab, headless, with progress on stdout.

    phi4studio train --config run.yaml [--json] [--allow-invalid]
    phi4studio train resume RUN_DIR_OR_ID [--json]

The config file holds TrainingConfig fields (YAML or JSON), plus an optional `preset` applied
first; relative paths are relative to the file. Plain output is one line per second at most;
`--json` forwards every protocol event as a JSON line. Ctrl+C cancels (the script saves a
checkpoint, so `train resume` continues). Exit code: 0 completed, 1 failed, 2 refused,
130 cancelled.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from phi4studio.core.errors import StudioError
from phi4studio.core.training.config import TrainingConfig
from phi4studio.core.training.monitor import RunMonitor
from phi4studio.core.training.presets import preset_values


def load_config_file(path: Path) -> TrainingConfig:
    """A TrainingConfig from YAML/JSON; `preset` first, paths relative to the file."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        raw = yaml.safe_load(text)
    else:
        raw = json.loads(text)
    if not isinstance(raw, dict):
        raise StudioError(f"{path}: expected a mapping of training settings")
    preset = raw.pop("preset", None)
    values = {**(preset_values(str(preset)) if preset else {}), **raw}
    for key in ("base_model", "dataset"):
        v = values.get(key)
        if isinstance(v, str) and v and not Path(v).is_absolute() and (path.parent / v).exists():
            values[key] = str((path.parent / v).resolve())
    return TrainingConfig.model_validate(values)


def _fmt_s(s: float | None) -> str:
    if s is None:
        return "?"
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


class Printer:
    def __init__(self, monitor: RunMonitor, out: TextIO, as_json: bool) -> None:
        self.m, self.out, self.as_json = monitor, out, as_json
        self._last = 0.0
        self._status = ""
        if as_json:
            monitor.taps.append(self.event)

    def event(self, ev: dict[str, Any]) -> None:
        self.out.write(json.dumps(ev, ensure_ascii=False) + "\n")
        self.out.flush()

    def tick(self, force: bool = False) -> None:
        if self.as_json:
            return
        m = self.m
        now = time.monotonic()
        if m.status != self._status:
            self._status = m.status
            self.out.write(f"[{m.status}] {m.message}\n")
            self._last = now
        elif force or now - self._last >= 1.0:
            self._last = now
            last = {k: (v[-1][1] if v else None) for k, v in m.series.items()}
            parts = [f"step {m.step}/{m.total}" if m.total else m.message]
            for key, label, spec in (("loss", "loss", ".4f"), ("eval_loss", "val", ".4f"),
                                     ("lr", "lr", ".2e"), ("tokens_per_s", "tok/s", ".0f"),
                                     ("memory_gb", "mem GB", ".2f")):
                if last.get(key) is not None:
                    parts.append(f"{label} {format(last[key], spec)}")
            if m.total and m.eta_s is not None:
                parts.append(f"eta {_fmt_s(m.eta_s)}")
            self.out.write("  ".join(parts) + "\n")
        self.out.flush()


async def _run(args: Any, out: TextIO) -> int:
    from phi4studio.core.studio import Studio
    from phi4studio.core.training.service import TrainingService

    cfg: TrainingConfig | None = None
    if args.action == "resume":
        if not args.run:
            raise StudioError("`train resume` needs a run folder or run id.")
    elif args.config is None:
        raise StudioError("`train` needs --config FILE (or `train resume RUN_DIR`).")
    else:
        cfg = load_config_file(args.config)  # refused before anything starts
    studio = Studio.open(workspace=getattr(args, "workspace", None))
    try:
        svc = TrainingService(studio)
        if cfg is None:
            monitor = svc.resume(args.run)
        else:
            probe = studio.probe_runtime_job()  # CUDA or not: the plan and refusals need it
            if probe is not None:
                studio.queue.submit(probe)
                await studio.queue.wait(probe)
            plan = svc.plan(cfg)
            if not args.json:
                out.write(f"model: {plan.info.display_name} ({plan.info.n_params:,} parameters)\n"
                          f"targets: {plan.describe_targets()}; {plan.trainable_params:,} "
                          "trainable parameters\n")
                if plan.estimate is not None:
                    out.write(f"memory: {plan.estimate.summary()}\n")
                    for tip in plan.estimate.advice:
                        out.write(f"  - {tip}\n")
            monitor = svc.launch(cfg, allow_invalid=args.allow_invalid)
        printer = Printer(monitor, out, args.json)
        if not args.json:
            out.write(f"run {monitor.run_id}: {monitor.paths.root}\n")
        cancelled = False
        while monitor.active:
            try:
                await asyncio.sleep(0.2)
            except asyncio.CancelledError:  # pragma: no cover - Ctrl+C path
                cancelled = True
                break
            printer.tick()
        if cancelled:  # pragma: no cover
            svc.cancel(monitor.run_id)
            await svc.wait(monitor)
        printer.tick(force=True)
        if not args.json:
            met = studio.workspace.catalog.get("runs", monitor.run_id) or {}
            m = met.get("metrics") or {}
            out.write(f"{monitor.status}: final loss {m.get('final_loss')}, validation "
                      f"{m.get('final_eval_loss')}, adapter {m.get('adapter')}\n")
            if monitor.error:
                out.write(f"error: {monitor.error}\n")
        return {"completed": 0, "early-stopped": 0, "cancelled": 130}.get(monitor.status, 1)
    finally:
        await studio.queue.shutdown(timeout=studio.settings.cancel_grace_s + 10)
        studio.close()


def train_command(args: Any, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        return asyncio.run(_run(args, out))
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        return 130
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
