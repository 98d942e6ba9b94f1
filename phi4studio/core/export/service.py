"""ExportService: the Export tab's and the CLI's one way to plan, start, list, open and delete
exports (no Qt). It reads the Studio's workspace, settings, environment probes and queue."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phi4studio.core.environment import training_python
from phi4studio.core.errors import StudioError
from phi4studio.core.export.checks import check_plan, folder_state
from phi4studio.core.export.commands import (
    MANIFEST_FILE,
    RECIPE_FILE,
    build_recipe,
    export_script_argv,
    probe_argv,
    work_dir_for,
)
from phi4studio.core.export.job import ExportJob
from phi4studio.core.export.plan import Capabilities, ExportPlan, SourceSpec
from phi4studio.core.export.source import SourceInfo, guess_kind, inspect_source
from phi4studio.core.export.verify import (
    builtin_examples,
    dataset_test_examples,
    prompt_examples,
    render_prompts,
)
from phi4studio.core.export.wizard import Draft, ExportRefused, ExportWizard, WizardEnv
from phi4studio.core.fileio import atomic_write_json, atomic_write_text
from phi4studio.core.handoff import OpenModelRequest
from phi4studio.core.jobs import JobState, SubprocessJob

if TYPE_CHECKING:
    from phi4studio.core.studio import Studio
    from phi4studio.core.workspace import Workspace


@dataclass(frozen=True)
class ExportRecord:
    """One row of the exports list."""

    id: str
    name: str
    path: Path
    precision: str
    target: str
    status: str
    created_at: float
    run_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict[str, Any], active: Collection[str] = ()) -> ExportRecord:
        status = str(row.get("status") or "")
        if status in ("queued", "running") and row["id"] not in active:
            status = "interrupted"
        return cls(str(row["id"]), str(row["name"]), Path(row["path"]), str(row["precision"]),
                   str(row["target"]), status, float(row["created_at"]), row.get("run_id"),
                   dict(row.get("meta") or {}))

    @property
    def strategy(self) -> str:
        return str(self.meta.get("strategy") or "merged")

    @property
    def recipe(self) -> str:
        return str(self.meta.get("recipe") or self.precision)

    @property
    def verification(self) -> dict[str, Any]:
        v = self.meta.get("verification")
        return v if isinstance(v, dict) else {}

    @property
    def size_bytes(self) -> int | None:
        size = self.meta.get("size_bytes") or self.meta.get("model_bytes")
        return int(size) if size else None

    @property
    def adapters(self) -> dict[str, Path]:
        found = self.meta.get("adapters") or {}
        return {n: Path(a["path"]) for n, a in found.items() if isinstance(a, dict)}

    @property
    def usable(self) -> bool:
        return self.status in ("ready", "flagged") and (self.path / "genai_config.json").exists()


@dataclass
class Prepared:
    export_id: str
    plan: ExportPlan
    source: SourceInfo
    recipe: dict[str, Any]
    recipe_file: Path


class ExportService:
    def __init__(self, studio: Studio) -> None:
        self.studio = studio
        self.export_runtime: dict[str, Any] | None = None  # the export script's --probe result
        self.client_factory: Callable[..., Any] | None = None  # tests: a custom client

    @property
    def workspace(self) -> Workspace:
        return self.studio.workspace

    # --- environment --------------------------------------------------------------------------
    def python(self) -> str | None:
        return training_python(self.studio.settings.training_python)

    def capabilities(self) -> Capabilities:
        runtime = self.studio.runtime_info or {}
        export_rt = self.export_runtime or {}
        gpu = bool((runtime.get("cuda") or {}).get("available") or export_rt.get("cuda"))
        inf = self.studio.inference_info or {}
        providers = frozenset(str(p) for p in (inf.get("providers") or ["cpu"]))
        try:
            free = shutil.disk_usage(self.workspace.exports_dir).free
        except OSError:
            free = None
        return Capabilities(gpu=gpu, awq=bool(export_rt.get("awq")), providers=providers,
                            runtime=self.python() is not None, free_bytes=free)

    def probe_job(self) -> SubprocessJob | None:
        """What the training runtime offers an export (builder, onnx-ir, Olive, CUDA, AWQ)."""
        python = self.python()
        if python is None:
            return None

        def done(ev: dict[str, Any]) -> None:
            if ev["type"] == "result" and isinstance(ev.get("data"), dict):
                self.export_runtime = ev["data"]

        return SubprocessJob("Check export runtime", probe_argv(python), on_event=done,
                             group="probe-export", category="system")

    # --- sources ------------------------------------------------------------------------------
    def runs(self) -> list[dict[str, Any]]:
        return list(reversed(self.workspace.catalog.records("runs")))

    def datasets(self) -> list[dict[str, Any]]:
        return self.workspace.catalog.records("datasets")

    def source_spec(self, text: str) -> SourceSpec:
        """A catalog run (id or name) or a path: a run folder, an HF folder or a .gguf file."""
        for run in self.workspace.catalog.records("runs"):
            if text in (run["id"], run["name"]):
                path = Path(run["path"])
                if not path.is_absolute():
                    path = self.workspace.root / path
                return SourceSpec(kind="run", path=str(path), run_id=str(run["id"]))
        path = Path(text).expanduser()
        if not path.exists():
            raise StudioError(f"No run called {text!r} in this workspace, and no such folder.",
                              hint="Give a run's id or name, a run folder, a Hugging Face model "
                                   "folder or a .gguf file.")
        kind = "hf_dir" if path.is_file() else guess_kind(path)
        run_id = self._run_id_for(path) if kind == "run" else None
        return SourceSpec(kind=kind, path=str(path.resolve()), run_id=run_id)

    def _run_id_for(self, path: Path) -> str | None:
        for run in self.workspace.catalog.records("runs"):
            p = Path(run["path"])
            p = p if p.is_absolute() else self.workspace.root / p
            if p.resolve() == path.resolve():
                return str(run["id"])
        return None

    def resolve(self, spec: SourceSpec) -> SourceInfo:
        label = None
        if spec.run_id:
            row = self.workspace.catalog.get("runs", spec.run_id)
            label = str(row["name"]) if row else None
        return inspect_source(spec, label)

    def wizard(self, source: SourceSpec | None = None) -> ExportWizard:
        env = WizardEnv(self.capabilities(), self.workspace.exports_dir, self.resolve)
        return ExportWizard(env, Draft(source=source))

    # --- running ------------------------------------------------------------------------------
    def prepare(self, plan: ExportPlan) -> Prepared:
        """Check the plan (ExportRefused with the reasons), write the recipe into the output
        folder and add the catalog row."""
        info = self.resolve(plan.source)
        findings = check_plan(plan, info, self.capabilities())
        if findings.blocking:
            raise ExportRefused(findings)
        python = self.python()
        assert python is not None  # refused above without a runtime
        out = Path(plan.output_dir).expanduser().resolve()
        prompts: list[dict[str, Any]] = []
        fmt_name = ""
        if plan.verify.enabled:
            examples = self._prompt_examples(plan)
            prompts, fmt_name = render_prompts(examples, info.template_dir)
        calibration = None
        if plan.uses_olive_quantizer:
            calibration = out / "calibration.jsonl"
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StudioError(f"Cannot create the output folder {out}: {exc.strerror or exc}",
                              hint="Choose a folder you can write to.") from exc
        if folder_state(out) == "not_empty":  # appeared since the check
            raise StudioError(f"The output folder {out} is not empty; nothing was overwritten.")
        if calibration is not None:
            self._write_calibration(plan, info, calibration)
        recipe = build_recipe(plan, info, prompts=prompts, calibration_file=calibration,
                              python=python)
        recipe["source_info"] = {
            "kind": info.kind, "path": str(info.path), "label": info.label,
            "run_id": info.run_id, "base": str(info.base_dir) if info.base_dir else None,
            "gguf_file": info.gguf_file,
            "adapter": str(info.adapter_dir) if info.adapter_dir else None,
            "n_params": info.n_params, "architecture": info.architecture,
        }
        recipe["prompt_format"] = fmt_name
        recipe_file = out / RECIPE_FILE
        atomic_write_json(recipe_file, recipe)
        run_id = plan.source.run_id
        if run_id and self.workspace.catalog.get("runs", run_id) is None:
            run_id = None
        export_id = self.workspace.catalog.add(
            "exports", name=plan.name, run_id=run_id, path=str(out), precision=plan.precision,
            target=plan.target, status="queued",
            meta={"plan": plan.model_dump(mode="json"), "strategy": plan.strategy,
                  "recipe": plan.recipe_label(), "source": recipe["source_info"]})
        return Prepared(export_id, plan, info, recipe, recipe_file)

    def _prompt_examples(self, plan: ExportPlan) -> list[dict[str, Any]]:
        n = plan.verify.prompts
        if plan.verify.dataset:
            examples = dataset_test_examples(lambda: self._open_dataset(plan.verify.dataset), n)
            if examples:
                return examples
        return builtin_examples(n)

    def _open_dataset(self, key: str | None) -> Any:
        from phi4studio.core.datasets.store import DatasetStore

        for row in self.workspace.catalog.records("datasets"):
            if key in (row["id"], row["name"]):
                path = Path(row["path"])
                return DatasetStore.open(path if path.is_absolute() else
                                         self.workspace.root / path)
        raise StudioError(f"No dataset {key!r} in this workspace.")

    def _write_calibration(self, plan: ExportPlan, info: SourceInfo, path: Path) -> None:
        """Calibration text for GPTQ/AWQ from the user's dataset (never a Hub download)."""
        store = self._open_dataset(plan.int4.calibration_dataset)
        try:
            examples = prompt_examples(store.iter_dicts(), plan.int4.calibration_samples)
        finally:
            store.close()
        texts, _ = render_prompts(examples, info.template_dir)
        if not texts:
            raise StudioError("The calibration dataset has no usable examples.")
        atomic_write_text(path, "".join(json.dumps({"text": t["text"]}) + "\n" for t in texts))

    def submit(self, plan: ExportPlan) -> ExportJob:
        prepared = self.prepare(plan)
        python = self.python()
        assert python is not None
        catalog = self.workspace.catalog
        export_id = prepared.export_id

        def record(status: str, meta: dict[str, Any]) -> None:
            catalog.update("exports", export_id, status=status, meta=meta)

        caps = self.capabilities()
        provider = plan.target if plan.target in caps.providers else "cpu"
        job = ExportJob(plan, export_id=export_id,
                        script_argv=export_script_argv(python, prepared.recipe_file),
                        recipe=prepared.recipe, record=record, verify_provider=provider,
                        cancel_grace_s=self.studio.settings.cancel_grace_s,
                        client_factory=self.client_factory)

        def started(what: str, j: Any) -> None:
            if j is job and what == "state":
                state = "running" if job.state is JobState.RUNNING else None
                if state is not None:
                    catalog.update("exports", export_id, status=state)
                if job.state.finished:
                    self.studio.queue.remove_listener(started)

        self.studio.queue.add_listener(started)
        self.studio.queue.submit(job)
        return job

    # --- the list -----------------------------------------------------------------------------
    def records(self) -> list[ExportRecord]:
        active = {j.export_id for j in self.studio.queue.active() if isinstance(j, ExportJob)}
        rows = self.workspace.catalog.records("exports")
        return [ExportRecord.from_row(r, active) for r in reversed(rows)]

    def get(self, export_id: str) -> ExportRecord | None:
        row = self.workspace.catalog.get("exports", export_id)
        return ExportRecord.from_row(row) if row else None

    def delete(self, record: ExportRecord, *, remove_files: bool = True) -> None:
        """Remove the export from the catalog and (only when the folder is an export the studio
        wrote: it holds export_plan.json) its folder."""
        active = {j.export_id for j in self.studio.queue.active() if isinstance(j, ExportJob)}
        if record.id in active:
            raise StudioError(f"The export {record.name} is still running.",
                              hint="Cancel it in the Jobs dock first.")
        if remove_files and record.path.is_dir():
            ours = (record.path / RECIPE_FILE).exists() or (record.path / MANIFEST_FILE).exists()
            if not ours:
                raise StudioError(f"{record.path} does not look like an export folder; it was "
                                  "left alone.", hint="Delete it by hand if you are sure.")
            shutil.rmtree(record.path)
            shutil.rmtree(work_dir_for(record.path), ignore_errors=True)
        self.workspace.catalog.delete("exports", record.id)

    def open_request(self, record: ExportRecord) -> OpenModelRequest:
        adapters = record.adapters
        return OpenModelRequest(
            model_dir=record.path, label=record.name, provider=record.target,
            adapters=adapters, active_adapter=next(iter(adapters), None),
            export_id=record.id)

    def open_in_playground(self, record: ExportRecord) -> int:
        """Publish an OpenModelRequest (see core/handoff.py); how many tabs took it."""
        if not record.usable:
            raise StudioError(f"The export {record.name} is not ready ({record.status}).")
        return self.studio.handoff.publish(self.open_request(record))
