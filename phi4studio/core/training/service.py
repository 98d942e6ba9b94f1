"""TrainingService: what the Train tab and `phi4studio train` call. Qt-free, on the loop thread.

    plan(cfg)                  model layers, resolved target modules, trainable parameters and
                               the memory estimate (instant: model files only, no torch)
    preflight_job(cfg)         validation + token lengths as a job (a PreflightReport)
    launch(cfg)                a new run: data prepared by a CPU job, then training/sft.py as a
                               subprocess job in the "gpu" slot; returns its RunMonitor at once
    resume(run_id | run_dir)   the same run from its last checkpoint (same step, optimizer state)
    cancel(run_id)             the job's cancel (the script saves a checkpoint and exits)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phi4studio.core.environment import training_python
from phi4studio.core.errors import StudioError
from phi4studio.core.jobs import ExecutorJob, JobState, SubprocessJob, ThreadContext
from phi4studio.core.training.config import TrainingConfig
from phi4studio.core.training.data import chat_format_for, resolve_dataset
from phi4studio.core.training.launch import sft_argv
from phi4studio.core.training.memory import (
    DeviceInfo,
    MemoryEstimate,
    detect_device,
    estimate_memory,
)
from phi4studio.core.training.models import ModelInfo, inspect_model
from phi4studio.core.training.modules import ResolvedTargets, TargetModuleError, resolve_targets
from phi4studio.core.training.monitor import RunMonitor
from phi4studio.core.training.prepare import PreflightReport, longest_sequence, scan
from phi4studio.core.training.runs import (
    RunPaths,
    RunRecord,
    default_run_name,
    list_runs,
    mark_interrupted,
    new_run_id,
    record_from_row,
    write_command,
    write_run_files,
)

if TYPE_CHECKING:
    from phi4studio.core.studio import Studio

log = logging.getLogger(__name__)
CATEGORY = "training"


@dataclass(frozen=True)
class ExportRunRequest:
    """"Export this run": published on the Studio's handoff for the Export tab to pick up."""

    run_id: str
    run_dir: Path
    adapter: Path
    base_model: str
    label: str


@dataclass
class TrainingPlan:
    info: ModelInfo
    targets: ResolvedTargets
    estimate: MemoryEstimate | None
    trainable_params: int = 0
    problems: list[str] = field(default_factory=list)  # refusals: launching would fail

    def describe_targets(self) -> str:
        return self.targets.summary() if self.targets.names else "unknown until downloaded"


class TrainingService:
    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self.monitors: dict[str, RunMonitor] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listeners: list[Callable[[str], None]] = []
        self._infos: dict[str, tuple[float, ModelInfo]] = {}
        try:
            mark_interrupted(studio.workspace.catalog)
        except Exception:
            log.exception("could not mark interrupted runs")

    # --- environment --------------------------------------------------------------------------
    @property
    def catalog(self) -> Any:
        return self.studio.workspace.catalog

    def python(self) -> str:
        py = training_python(self.studio.settings.training_python)
        if py is None:
            raise StudioError("No training runtime is set up.",
                              hint="Set Preferences > Training runtime to a Python with torch, "
                              "transformers, peft and trl.")
        return py

    def device(self) -> DeviceInfo:
        return detect_device(self.studio.runtime_info)

    def add_listener(self, fn: Callable[[str], None]) -> None:
        """fn(run_id) when a run is added or changes status (history tables refresh)."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[str], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _notify(self, monitor: RunMonitor) -> None:
        for fn in list(self._listeners):
            try:
                fn(monitor.run_id)
            except Exception:
                log.exception("training listener failed")

    # --- planning -----------------------------------------------------------------------------
    def inspect(self, ref: str) -> ModelInfo:
        """Model layers and sizes (cached per path and modification time)."""
        p = Path(ref).expanduser()
        stamp = p.stat().st_mtime if p.exists() else 0.0
        hit = self._infos.get(ref)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        try:
            info = inspect_model(ref)
        except (FileNotFoundError, ValueError) as exc:
            raise StudioError(str(exc)) from exc
        self._infos[ref] = (stamp, info)
        return info

    def plan(self, cfg: TrainingConfig, report: PreflightReport | None = None) -> TrainingPlan:
        """Resolved modules, trainable parameters and memory, before anything runs."""
        info = self.inspect(cfg.base_model)
        problems: list[str] = []
        try:
            targets = resolve_targets(cfg.target_modules, info.linear)
        except TargetModuleError as exc:
            targets, problems = ResolvedTargets([], [], [], []), [str(exc)]
        device = self.device()
        if cfg.method == "qlora" and self.studio.runtime_info is not None and \
                device.kind != "cuda":
            problems.append("QLoRA needs an NVIDIA GPU with CUDA (bitsandbytes 4-bit); the "
                            "training runtime has none. Choose LoRA.")
        if cfg.num_gpus > 1 and device.kind == "cuda" and device.count < cfg.num_gpus:
            problems.append(f"{cfg.num_gpus} GPUs configured; the runtime sees {device.count}.")
        frac = report.tokens.trained_fraction if report is not None else None
        est = estimate_memory(info, cfg, targets, device, seq_len=longest_sequence(report, cfg),
                              trained_fraction=frac) if info.linear else None
        trainable = targets.trainable_params(cfg.lora_r, dora=cfg.use_dora)
        return TrainingPlan(info, targets, est, trainable, problems)

    def preflight_job(self, cfg: TrainingConfig) -> ExecutorJob[PreflightReport]:
        info = self.inspect(cfg.base_model)
        ref = resolve_dataset(self.studio.workspace, cfg.dataset)
        fmt = chat_format_for(cfg, info)

        def work(ctx: ThreadContext) -> PreflightReport:
            return scan(cfg, ref, fmt, info, progress=ctx.progress,
                        cancelled=lambda: ctx.cancelled)

        return ExecutorJob(f"Check data: {ref.name}", work, category=CATEGORY,
                           group="training-preflight")

    # --- runs ---------------------------------------------------------------------------------
    def runs(self) -> list[RunRecord]:
        return list_runs(self.catalog, self.studio.workspace.root)

    def run_record(self, run_id: str) -> RunRecord | None:
        """One run by id (None when the catalog has none)."""
        row = self.catalog.get("runs", run_id)
        return record_from_row(self.studio.workspace.root, row) if row is not None else None

    def launch(self, cfg: TrainingConfig, *, allow_invalid: bool = False) -> RunMonitor:
        """Start a new run; its data is prepared first (validation errors stop it unless
        allow_invalid). Raises StudioError for what is wrong before anything starts."""
        python = self.python()
        plan = self.plan(cfg)
        if plan.problems:
            raise StudioError(plan.problems[0])
        ws = self.studio.workspace
        ref = resolve_dataset(ws, cfg.dataset)
        info = plan.info
        fmt = chat_format_for(cfg, info)
        run_id = new_run_id()
        paths = RunPaths(ws.runs_dir / run_id)
        name = default_run_name(cfg, info, ref)
        self.catalog.add("runs", id=run_id, name=name, dataset_id=ref.id, base_model=info.ref,
                         status="preparing", path=str(paths.root.relative_to(ws.root)),
                         config=cfg.model_dump(mode="json"), metrics={})
        monitor = self._monitor(run_id, paths, name)

        def work(ctx: ThreadContext) -> PreflightReport:
            return scan(cfg, ref, fmt, info, data_dir=paths.data_dir, progress=ctx.progress,
                        cancelled=lambda: ctx.cancelled)

        prep = ExecutorJob(f"Prepare data: {name}", work, category=CATEGORY)
        self.studio.queue.submit(prep)
        monitor.job = prep

        async def after_prep() -> None:
            state = await self.studio.queue.wait(prep)
            if state is JobState.CANCELLED:
                monitor.set_status("cancelled", "cancelled while preparing the data")
                return
            if state is not JobState.SUCCEEDED:
                monitor.fail(prep.error or "preparing the data failed")
                return
            report: PreflightReport = prep.result
            if report.n_train == 0:
                monitor.fail("; ".join(report.notes) or "no training examples")
                return
            if report.n_errors and not allow_invalid:
                monitor.fail(f"{report.n_errors} examples have validation errors (e.g. "
                             f"{report.errors[0] if report.errors else '?'}). Fix them in the "
                             "Datasets tab, or launch again and confirm.", validation=True)
                return
            write_run_files(paths, cfg, info, ref, report, run_id=run_id, name=name)
            self._train(monitor, sft_argv(python, paths.config, cfg), cfg)

        self._spawn(after_prep())
        return monitor

    def resume(self, run: str | Path) -> RunMonitor:
        """Continue a cancelled, failed or interrupted run from its last checkpoint."""
        paths, record = self._find_run(run)
        if paths.last_checkpoint() is None:
            raise StudioError(f"The run in {paths.root} has no checkpoint to resume from.")
        if record is not None and record.id in self.monitors and \
                self.monitors[record.id].active:
            raise StudioError("This run is still running.")
        cfg = TrainingConfig.model_validate(
            _read_json(paths.studio).get("training_config") or (record.config if record else {}))
        run_id = record.id if record else paths.root.name
        monitor = self._monitor(run_id, paths, record.name if record else paths.root.name)
        monitor.load_history()
        self._train(monitor, sft_argv(self.python(), paths.config, cfg, resume=True), cfg)
        return monitor

    def request_export(self, run_id: str) -> int:
        """Hand a finished run to the Export tab (core/handoff.py); how many tabs took it."""
        rec = self.run_record(run_id)
        if rec is None or not (rec.paths.adapter / "adapter_config.json").exists():
            raise StudioError("This run has no final adapter to export yet.")
        studio_run = _read_json(rec.paths.studio)
        base = studio_run.get("base_model") or {}
        req = ExportRunRequest(run_id=rec.id, run_dir=rec.path, adapter=rec.paths.adapter,
                               base_model=str(base.get("ref") or rec.base_model),
                               label=rec.name)
        return self.studio.handoff.publish(req)

    def cancel(self, run_id: str) -> bool:
        m = self.monitors.get(run_id)
        if m is None or m.job is None or not m.active:
            return False
        return self.studio.queue.cancel(m.job)

    async def wait(self, monitor: RunMonitor) -> str:
        """Until the run's jobs are over; its final status."""
        while monitor.active:
            job = monitor.job
            if job is not None:
                await self.studio.queue.wait(job)
            await asyncio.sleep(0.05)
        return monitor.status

    # --- plumbing -----------------------------------------------------------------------------
    def _monitor(self, run_id: str, paths: RunPaths, name: str) -> RunMonitor:
        monitor = RunMonitor(run_id, paths, name, lambda: self.studio.workspace.catalog)
        monitor.add_listener(self._notify)
        self.monitors[run_id] = monitor
        self._notify(monitor)
        return monitor

    def _train(self, monitor: RunMonitor, argv: list[str], cfg: TrainingConfig) -> None:
        write_command(monitor.paths, argv)
        job = SubprocessJob(f"Train: {monitor.name}", argv, cwd=monitor.paths.root,
                            on_event=monitor.handle, resources={"gpu": 1}, category=CATEGORY,
                            cancel_grace_s=self.studio.settings.cancel_grace_s)
        monitor.attach(job)
        self.studio.queue.submit(job)

        async def after() -> None:
            await self.studio.queue.wait(job)
            monitor.finished(job.state, job.error)

        self._spawn(after())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _find_run(self, run: str | Path) -> tuple[RunPaths, RunRecord | None]:
        records = self.runs()
        for r in records:
            if r.id == str(run):
                return r.paths, r
        path = Path(run).expanduser().resolve()
        if not (path / "config.json").is_file():
            raise StudioError(f"{run} is neither a run id nor a run folder (no config.json).")
        for r in records:
            if r.path.resolve() == path:
                return r.paths, r
        return RunPaths(path), None

    async def shutdown(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)


def _read_json(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
