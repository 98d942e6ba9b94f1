"""RunMonitor: the live state of one run, fed by the training subprocess's events.

It is the Train tab's view-model (charts read `series`, the status line reads `status`,
`message`, `step`/`total`, `eta_s`) and keeps the run's catalog row in step: status, and in
`metrics` the final losses, steps, duration, throughput, peak memory, adapter and checkpoint.
Events arrive on the loop thread, possibly hundreds a second: `handle` only appends and bumps
`version`; catalog writes happen on start, checkpoint, result and end only. Views coalesce their
repaints on `version` (a timer), never one repaint per event.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from phi4studio.core.training.runs import SERIES, RunPaths, load_metrics

if TYPE_CHECKING:
    from phi4studio.core.jobs import Job, JobState
    from phi4studio.core.workspace import Catalog

log = logging.getLogger(__name__)
Listener = Callable[["RunMonitor"], None]


class RunMonitor:
    def __init__(self, run_id: str, paths: RunPaths, name: str,
                 catalog: Callable[[], Catalog | None] | None = None) -> None:
        self.run_id = run_id
        self.paths = paths
        self.name = name
        self._catalog = catalog or (lambda: None)
        self.status = "preparing"
        self.message = "preparing the data"
        self.step = 0
        self.total = 0
        self.epoch = 0.0
        self.eta_s: float | None = None
        self.series: dict[str, list[tuple[int, float]]] = {k: [] for k in SERIES}
        self.start_info: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        self.error: str | None = None
        self.checkpoints: list[dict[str, Any]] = []
        self.artifacts: list[dict[str, Any]] = []
        self.events: list[str] = []  # the order of event types seen (tests, diagnostics)
        self.version = 0
        self.job: Job | None = None
        self.resumed_from_step: int | None = None
        self.first_step: int | None = None  # the first optimizer step this session reported
        self.blocked_by_validation = False  # failed before training: dataset validation errors
        self._listeners: list[Listener] = []
        self.taps: list[Callable[[dict[str, Any]], None]] = []  # raw events (CLI --json)
        self._t0 = time.time()
        self._metrics: dict[str, Any] = {}
        row = self._row()
        if row is not None:
            self._metrics = dict(row.get("metrics") or {})

    # --- listeners ----------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _changed(self, structural: bool = False) -> None:
        self.version += 1
        if structural:  # status/result changes are rare: tell listeners at once
            for fn in list(self._listeners):
                try:
                    fn(self)
                except Exception:
                    log.exception("run listener failed")

    # --- catalog ------------------------------------------------------------------------------
    def _row(self) -> dict[str, Any] | None:
        cat = self._catalog()
        return cat.get("runs", self.run_id) if cat is not None else None

    def _save(self, **fields: Any) -> None:
        cat = self._catalog()
        if cat is None:
            return
        try:
            cat.update("runs", self.run_id, metrics=self._metrics, **fields)
        except KeyError:
            pass  # the run is not in this workspace's catalog (a folder resumed from elsewhere)
        except Exception:
            log.exception("could not update run %s in the catalog", self.run_id)

    def set_status(self, status: str, message: str | None = None) -> None:
        self.status = status
        if message is not None:
            self.message = message
        self._save(status=status)
        self._changed(structural=True)

    def load_history(self) -> None:
        """Series already in metrics.jsonl (a resumed run shows its whole curve)."""
        self.series = load_metrics(self.paths.metrics)
        self._changed()

    # --- events -------------------------------------------------------------------------------
    def attach(self, job: Job) -> None:
        self.job = job
        self._t0 = time.time()
        self.set_status("queued", "waiting for the GPU slot")

    def handle(self, ev: dict[str, Any]) -> None:
        t = ev.get("type")
        self.events.append(str(t))
        for tap in self.taps:
            tap(ev)
        if t == "progress":
            self._progress(ev)
        elif t == "eval":
            step, value = ev.get("step"), ev.get("value")
            if isinstance(step, int) and isinstance(value, (int, float)):
                self._put("eval_loss", step, float(value))
            self._changed()
        elif t == "start":
            self._start(ev)
        elif t == "checkpoint":
            self.checkpoints.append(ev)
            self._metrics["checkpoint"] = ev.get("path")
            self._metrics["checkpoint_step"] = ev.get("step")
            self._save()
            self._changed()
        elif t == "artifact":
            self.artifacts.append(ev)
            if ev.get("kind") == "lora-adapter":
                self._metrics["adapter"] = ev.get("path")
            self._changed()
        elif t == "result":
            data = ev.get("data")
            self.result = data if isinstance(data, dict) else {}
            self.message = str(ev.get("message") or self.message)
            keep = ("final_loss", "final_eval_loss", "best_eval_loss", "steps", "total_steps",
                    "tokens_per_s", "peak_memory_gb", "time_to_first_step_s", "adapter",
                    "checkpoint", "stopped", "epoch", "frozen_prefix")
            self._metrics.update({k: self.result[k] for k in keep if k in self.result})
            self._save()
            self._changed(structural=True)
        elif t == "error":
            self.error = str(ev.get("message") or "error")
            self._changed(structural=True)

    def _put(self, key: str, step: int, value: float) -> None:
        s = self.series[key]
        while s and s[-1][0] >= step:  # a resumed run repeats steps after its checkpoint
            s.pop()
        s.append((step, value))

    def _progress(self, ev: dict[str, Any]) -> None:
        step = ev.get("step")
        if isinstance(step, int):
            if self.first_step is None:
                self.first_step = step
            self.step = step
            total = ev.get("total")
            self.total = int(total) if isinstance(total, (int, float)) else self.total
            self.epoch = float(ev.get("epoch") or self.epoch)
            eta = ev.get("eta_s")
            self.eta_s = float(eta) if isinstance(eta, (int, float)) else None
            for key in SERIES:
                v = ev.get(key)
                if key != "eval_loss" and isinstance(v, (int, float)):
                    self._put(key, step, float(v))
            loss = ev.get("loss")
            self.message = f"step {step}/{self.total}" + (
                f" · loss {loss:.4f}" if isinstance(loss, (int, float)) else "")
        elif ev.get("message"):
            self.message = str(ev["message"])
        self._changed()

    def _start(self, ev: dict[str, Any]) -> None:
        self.start_info = ev
        total = ev.get("total")
        self.total = int(total) if isinstance(total, (int, float)) else 0
        resumed = ev.get("resumed_from")
        if isinstance(resumed, dict) and isinstance(resumed.get("step"), int):
            self.resumed_from_step = int(resumed["step"])
            self.step = self.resumed_from_step
            for key in SERIES:  # points after the checkpoint are trained again
                self.series[key] = [p for p in self.series[key] if p[0] <= self.step]
        for key in ("trainable_params", "total_params", "resolved_modules", "device",
                    "precision", "n_train", "n_validation", "tokens", "frozen_prefix"):
            if key in ev:
                self._metrics[key] = ev[key]
        self._metrics["total_steps"] = self.total
        self.status = "running"
        self.message = str(ev.get("message") or "training")
        self._save(status="running")
        self._changed(structural=True)

    # --- end ----------------------------------------------------------------------------------
    def finished(self, state: JobState, error: str | None = None) -> None:
        """The training job ended: final status and duration (summed over resumed sessions)."""
        self._metrics["duration_s"] = round(float(self._metrics.get("duration_s") or 0.0)
                                            + (time.time() - self._t0), 1)
        stopped = (self.result or {}).get("stopped")
        if state.value == "succeeded":
            status = {"cancelled": "cancelled", "early-stopping": "early-stopped"}.get(
                str(stopped), "completed")
        elif state.value == "cancelled":
            status = "cancelled"
        else:
            status = "failed"
            self.error = self.error or error or "the training process failed"
            self._metrics["error"] = self.error.splitlines()[0]
        if status == "cancelled":
            ck = self.paths.last_checkpoint()
            msg = f"cancelled at step {self.step}" + ("; resumable" if ck else "")
        elif status == "failed":
            msg = f"failed: {self.error.splitlines()[0] if self.error else ''}"
        else:
            msg = self.message
        self.set_status(status, msg)

    def fail(self, message: str, *, validation: bool = False) -> None:
        """The run could not start (data preparation failed or was refused)."""
        self.blocked_by_validation = validation
        self.error = message
        self._metrics["error"] = message.splitlines()[0]
        self.set_status("failed", message.splitlines()[0])

    @property
    def active(self) -> bool:
        return self.status in ("preparing", "queued", "running")
