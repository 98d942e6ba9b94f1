"""The Evaluate tab's Qt-free side: runs in the catalog, jobs that run and resume them, A/B
comparisons, latency benchmarks, benchmark data. The view only binds widgets to this.

Listeners get `(kind, payload)`: "runs" (the list changed), "progress" (an `EvaluationJob`
reported: payload the job), "case" (a case finished: payload `(job, event)`).

Cross-tab: other tabs publish `EvaluateModelRequest` on the Studio's handoff ("evaluate this
export"); the tab subscribes and preselects the model.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phi4studio.core.errors import StudioError
from phi4studio.core.evaluation import benchdata, metrics
from phi4studio.core.evaluation.driver import (
    EvalConfig,
    create_run,
    new_run_id,
    record_summary,
    register_run,
)
from phi4studio.core.evaluation.results import RunDir
from phi4studio.core.jobs import CoroutineJob, ExecutorJob, Job, JobCancelled, SubprocessJob
from phi4studio.core.jobs.workers import worker_argv

if TYPE_CHECKING:
    from phi4studio.core.jobs import JobQueue, ThreadContext
    from phi4studio.core.workspace import Workspace

Listener = Callable[[str, Any], None]
BENCH_SUITE = "bench:latency"


@dataclass(frozen=True)
class EvaluateModelRequest:
    """"Evaluate this model" from another tab (published on `Studio.handoff`)."""

    model_dir: Path
    adapter: str | None = None
    label: str = ""


@dataclass
class RunInfo:
    id: str
    name: str
    model: str  # model folder (+ "#adapter"): what history groups by
    model_dir: str
    adapter: str | None
    suites: list[str]
    path: Path
    created_at: float
    status: str
    done: int
    total: int
    headline: dict[str, float | None] = field(default_factory=dict)
    guided: str = "off"

    @classmethod
    def from_row(cls, row: dict[str, Any], root: Path) -> RunInfo:
        meta = row.get("metrics") or {}
        path = Path(row["path"])
        return cls(id=row["id"], name=row["name"], model=row["model"],
                   model_dir=str(meta.get("model_dir") or row["model"].split("#")[0]),
                   adapter=meta.get("adapter"), suites=str(row["suite"]).split(","),
                   path=path if path.is_absolute() else root / path,
                   created_at=float(row["created_at"]), status=str(meta.get("status") or "?"),
                   done=int(meta.get("done") or 0), total=int(meta.get("total") or 0),
                   headline=dict(meta.get("headline") or {}),
                   guided=str(meta.get("guided") or "off"))

    @property
    def accuracy(self) -> float | None:
        return self.headline.get("accuracy")


def eval_worker_argv(run: Path, benchmarks: Path | None = None) -> list[str]:
    extra = ["--benchmarks", str(benchmarks)] if benchmarks is not None else []
    return worker_argv("eval", "--run", str(run), *extra)


class EvaluationJob(SubprocessJob):
    """One evaluation: prepares the run folder when new (on a worker thread), then runs
    `phi4studio --worker eval --run DIR` in the GPU slot; records the outcome in the catalog."""

    def __init__(self, service: EvaluationService, *, config: EvalConfig | None = None,
                 run: RunDir | None = None, **kw: Any) -> None:
        if config is not None:
            label = config.label
        elif run is not None:
            label = EvalConfig.from_dict(run.config()).label
        else:
            raise ValueError("give a config (a new run) or a run (to resume)")
        kw.setdefault("resources", {"gpu": 1})
        kw.setdefault("category", "evaluation")
        super().__init__(f"Evaluate {label}", [], on_event=self._event, **kw)
        self.service = service
        self.config = config
        self.run_dir = run
        self.done = 0
        self.total = 0
        self.passed = 0

    async def run(self) -> Any:
        ws = self.service.workspace
        if self.run_dir is None:
            assert self.config is not None
            self.set_message("preparing the cases")
            folder = ws.evals_dir / new_run_id()
            self.run_dir = await asyncio.to_thread(
                create_run, ws, self.config, folder=folder, register=False,
                benchmarks_root=self.service.benchmarks_root)
            register_run(ws, self.run_dir)
        run = self.run_dir
        self.total = run.n_cases()
        self.done = len(run.done_ids())
        self.argv = eval_worker_argv(run.path, self.service.benchmarks_root)
        self.service.set_status(run.id, "running")
        status = "failed"
        try:
            result = await super().run()
            status = "complete" if (self.result or {}).get("complete") else "stopped"
            return result
        except JobCancelled:
            status = "stopped"
            raise
        finally:
            await self.service.finish(run, status)

    def _event(self, ev: dict[str, Any]) -> None:
        if ev["type"] == "progress" and isinstance(ev.get("step"), int):
            self.done = int(ev["step"])
            self.total = int(ev.get("total") or self.total)
            self.service._emit("progress", self)
        elif ev["type"] == "metric" and ev.get("name") == "case":
            self.passed += int(bool(ev.get("ok")))
            self.service._emit("case", (self, ev))


class EvaluationService:
    def __init__(self, workspace: Callable[[], Workspace], queue: JobQueue, *,
                 benchmarks_root: Path | None = None,
                 cancel_grace_s: Callable[[], float] = lambda: 20.0) -> None:
        self._workspace = workspace
        self.queue = queue
        self.benchmarks_root = benchmarks_root
        self.cancel_grace_s = cancel_grace_s
        self._listeners: list[Listener] = []
        self._results_cache: dict[str, tuple[float, int, list[dict[str, Any]]]] = {}

    @property
    def workspace(self) -> Workspace:
        return self._workspace()

    # --- listeners ----------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _emit(self, kind: str, payload: Any = None) -> None:
        for fn in list(self._listeners):
            fn(kind, payload)

    # --- runs ---------------------------------------------------------------------------------
    def runs(self, model: str | None = None) -> list[RunInfo]:
        """Evaluation runs, newest first (latency benchmarks left out)."""
        root = self.workspace.root
        rows = [r for r in self.workspace.catalog.records("evaluations")
                if r["suite"] != BENCH_SUITE and (model is None or r["model"] == model)]
        return [RunInfo.from_row(r, root) for r in reversed(rows)]

    def get(self, run_id: str) -> RunInfo:
        row = self.workspace.catalog.get("evaluations", run_id)
        if row is None:
            raise StudioError(f"No evaluation {run_id} in this workspace.")
        return RunInfo.from_row(row, self.workspace.root)

    def run_dir(self, run_id: str) -> RunDir:
        return RunDir(self.get(run_id).path)

    def results(self, run_id: str) -> list[dict[str, Any]]:
        """The run's case results (re-read only when results.jsonl changed)."""
        run = self.run_dir(run_id)
        p = run.path / "results.jsonl"
        try:
            st = p.stat()
            key = (st.st_mtime, st.st_size)
        except OSError:
            return []
        cached = self._results_cache.get(run_id)
        if cached is not None and (cached[0], cached[1]) == key:
            return cached[2]
        results = run.results()
        self._results_cache[run_id] = (key[0], key[1], results)
        return results

    def summary(self, run_id: str) -> dict[str, Any]:
        run = self.run_dir(run_id)
        results = self.results(run_id)
        stored = run.summary()
        if stored is not None and stored.get("done") == len(results):
            return stored
        return metrics.summarize(results, total_cases=run.n_cases())

    def job_for(self, run_id: str) -> EvaluationJob | None:
        for job in self.queue.active():
            if isinstance(job, EvaluationJob) and job.run_dir is not None \
                    and job.run_dir.id == run_id:
                return job
        return None

    def active_jobs(self) -> list[EvaluationJob]:
        return [j for j in self.queue.active() if isinstance(j, EvaluationJob)]

    def start(self, config: EvalConfig) -> EvaluationJob:
        job = EvaluationJob(self, config=config, cancel_grace_s=self.cancel_grace_s())
        self.queue.submit(job)
        return job

    def resume(self, run_id: str) -> EvaluationJob:
        if self.job_for(run_id) is not None:
            raise StudioError("This evaluation is already running.")
        job = EvaluationJob(self, run=self.run_dir(run_id), cancel_grace_s=self.cancel_grace_s())
        self.queue.submit(job)
        return job

    def set_status(self, run_id: str, status: str) -> None:
        row = self.workspace.catalog.get("evaluations", run_id)
        if row is not None:
            meta = dict(row.get("metrics") or {})
            meta["status"] = status
            self.workspace.catalog.update("evaluations", run_id, metrics=meta)
        self._emit("runs")

    async def finish(self, run: RunDir, status: str) -> None:
        if (run.path / "results.jsonl").exists():
            from phi4studio.core.evaluation.report import write_reports

            try:
                await asyncio.to_thread(write_reports, run)
            except (OSError, ValueError) as exc:  # the run stays usable without its report
                status = f"{status} (report: {exc})"
        record_summary(self.workspace, run, status)
        self._results_cache.pop(run.id, None)
        self._emit("runs")

    def delete(self, run_id: str) -> None:
        if self.job_for(run_id) is not None:
            raise StudioError("This evaluation is running.", hint="Cancel it first.")
        info = self.get(run_id)
        if info.path.is_dir() and (info.path / "config.json").exists():
            shutil.rmtree(info.path)
        self.workspace.catalog.delete("evaluations", run_id)
        self._emit("runs")

    # --- A/B, reports ------------------------------------------------------------------------
    def compare_job(self, a_id: str, b_id: str, criteria: Any = None) -> ExecutorJob[Any]:
        """Pairs, McNemar, bootstrap CIs and the verdict, on a worker thread."""
        from phi4studio.core.evaluation.stats import compare

        a, b = self.results(a_id), self.results(b_id)

        def work(ctx: ThreadContext) -> dict[str, Any]:
            return compare(a, b, criteria)

        return ExecutorJob(f"Compare {self.get(a_id).name} with {self.get(b_id).name}", work,
                           category="evaluation")

    def export_html(self, run_id: str, dest: Path) -> Path:
        from phi4studio.core.evaluation.report import build_report, report_html
        from phi4studio.core.fileio import atomic_write_text

        atomic_write_text(dest, report_html(build_report(self.run_dir(run_id))))
        return dest

    def export_json(self, run_id: str, dest: Path) -> Path:
        from phi4studio.core.evaluation.report import build_report
        from phi4studio.core.fileio import atomic_write_json

        atomic_write_json(dest, build_report(self.run_dir(run_id)))
        return dest

    # --- choices -----------------------------------------------------------------------------
    def model_choices(self) -> list[tuple[str, str]]:
        """(label, folder) of exported models and models evaluated before."""
        out: dict[str, str] = {}
        root = self.workspace.root
        for row in reversed(self.workspace.catalog.records("exports")):
            p = Path(row["path"])
            p = p if p.is_absolute() else root / p
            if (p / "genai_config.json").exists():
                out.setdefault(str(p), f"{row['name']} (export)")
        for info in self.runs():
            if Path(info.model_dir, "genai_config.json").exists():
                out.setdefault(info.model_dir, Path(info.model_dir).name)
        return [(label, path) for path, label in out.items()]

    def dataset_choices(self) -> list[tuple[str, str]]:
        return [(str(r["id"]), str(r["name"])) for r in self.workspace.catalog.records("datasets")]

    @staticmethod
    def adapters_of(model_dir: str | Path) -> list[str]:
        folder = Path(model_dir) / "adapters"
        return sorted(p.stem for p in folder.glob("*.onnx_adapter")) if folder.is_dir() else []

    def benchmark_status(self) -> dict[str, dict[str, object]]:
        out: dict[str, dict[str, object]] = {}
        for key, pkg in benchdata.PACKAGES.items():
            found = benchdata.locate(key, self.benchmarks_root)
            out[key] = {"dist": pkg.dist, "version": pkg.version, "license": pkg.license,
                        "size_mb": pkg.size_mb, "path": str(found) if found else None}
        return out

    def fetch_job(self, key: str, wheel: Path | None = None) -> ExecutorJob[Any]:
        """Download (or unpack a given wheel of) a benchmark package, with progress."""
        pkg = benchdata.package(key)
        root = self.benchmarks_root

        def work(ctx: ThreadContext) -> str:
            if wheel is not None:
                return str(benchdata.install_wheel(key, wheel, root,
                                                   cancelled=lambda: ctx.cancelled))

            def progress(done: int, total: int) -> None:
                ctx.progress(done / total if total else None,
                             f"{done / 2**20:.1f} of {total / 2**20:.1f} MB")

            return str(benchdata.fetch(key, root, progress=progress,
                                       cancelled=lambda: ctx.cancelled))

        job: ExecutorJob[Any] = ExecutorJob(f"Get {pkg.dist} {pkg.version} ({pkg.license})",
                                            work, category="evaluation",
                                            group=f"fetch-{key}", resources={})
        return job

    # --- latency ------------------------------------------------------------------------------
    def bench_job(self, model_dir: str, adapter: str | None = None, **kw: Any) -> Job:
        from phi4studio.core.evaluation import latency

        async def work(job: Job) -> dict[str, Any]:
            def progress(frac: float, what: str) -> None:
                job.set_progress(frac, what)

            figures = await latency.bench_latency(model_dir, adapter=adapter,
                                                  on_progress=progress, **kw)
            latency.record(self.workspace, figures)
            self._emit("runs")
            return figures

        return CoroutineJob(f"Latency benchmark {Path(model_dir).name}", work,
                            resources={"gpu": 1}, category="evaluation")

    def latency_history(self, model: str | None = None) -> list[dict[str, Any]]:
        from phi4studio.core.evaluation import latency

        return latency.history(self.workspace, model)

    def history(self, model: str) -> list[RunInfo]:
        """A model's evaluations, oldest first (for its history chart)."""
        return sorted(self.runs(model), key=lambda r: r.created_at)


def load_view(run_path: Path) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """A run's summary, failures and config, read fresh (thread-safe: for a worker thread)."""
    from phi4studio.core.evaluation.report import failures

    run = RunDir(run_path)
    results = run.results()
    summary = metrics.summarize(results, total_cases=run.n_cases())
    try:
        config = run.config()
    except (OSError, ValueError):
        config = {}
    return summary, failures(results), config
