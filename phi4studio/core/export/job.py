"""ExportJob: one export as a job in the GPU slot, in two processes.

1. `training/export_model.py` under the training runtime (torch is needed for merging and for the
   PyTorch reference, and the model builder imports torch): prepare, merge, quantize, build,
   adapters, reference. Its progress fills the first 85% of the bar.
2. Verification through the app's own inference worker (`phi4studio --worker inference`), which
   loads the export exactly as the playground will, with this app's onnxruntime-genai flavour
   (so a CUDA or DirectML build is checked on its device where the app has it).

The app process never imports torch. Cancel goes to whichever process runs: the script gets
`{"cmd": "cancel"}` (then terminate, then kill, like every subprocess job), verification closes
its worker. Whatever happens, the export's catalog row is updated and `export.json` (the manifest:
plan, recipe, sizes, timings, verification) is written beside the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from phi4studio.core.errors import JobError
from phi4studio.core.export.commands import MANIFEST_FILE
from phi4studio.core.export.plan import ExportPlan
from phi4studio.core.export.verify import Verification, load_reference, verdict, verify_export
from phi4studio.core.fileio import atomic_write_json
from phi4studio.core.jobs.model import Job, JobCancelled
from phi4studio.core.jobs.subprocess_job import SubprocessJob

SCRIPT_SHARE = 0.85


class _ScriptJob(SubprocessJob):
    """The export script, run inside the ExportJob: its log and progress go to the parent."""

    def __init__(self, parent: ExportJob, argv: Sequence[str], share: float, **kw: Any) -> None:
        super().__init__("export script", argv, **kw)
        self.parent = parent
        self.share = share

    def add_log(self, text: str) -> None:
        super().add_log(text)
        self.parent.add_log(text)

    def add_log_lines(self, lines: list[str]) -> None:
        super().add_log_lines(lines)
        self.parent.add_log_lines(lines)

    def set_progress(self, fraction: float | None, message: str | None = None,
                     eta_s: float | None = None) -> None:
        super().set_progress(fraction, message, eta_s)
        self.parent.set_progress(None if fraction is None else fraction * self.share, message)

    def set_message(self, message: str) -> None:
        super().set_message(message)
        self.parent.set_message(message)


class ExportJob(Job):
    kind = "subprocess"

    def __init__(
        self,
        plan: ExportPlan,
        *,
        export_id: str,
        script_argv: Sequence[str],
        recipe: dict[str, Any],
        record: Callable[[str, dict[str, Any]], None],
        verify_provider: str = "cpu",
        env: dict[str, str] | None = None,
        cancel_grace_s: float = 20.0,
        client_factory: Callable[..., Any] | None = None,
    ) -> None:
        super().__init__(f"Export {plan.name}", resources={"gpu": 1}, category="export")
        self.plan = plan
        self.export_id = export_id
        self.script_argv = list(script_argv)
        self.recipe = recipe
        self.record = record  # (status, meta) -> catalog row update
        self.verify_provider = verify_provider
        self.env = env
        self.cancel_grace_s = cancel_grace_s
        self.client_factory = client_factory
        self.stage = "queued"
        self.script_result: dict[str, Any] | None = None
        self.verification: Verification | None = None
        self._child: _ScriptJob | None = None
        self._verifying = False

    @property
    def output_dir(self) -> Path:
        return Path(self.recipe["output_dir"])

    async def run(self) -> Any:
        status, error = "failed", None
        t0 = time.perf_counter()
        try:
            result = await self._run()
            status = "ready" if result.get("verification", {}).get("status") != "flagged" \
                else "flagged"
            return result
        except (JobCancelled, asyncio.CancelledError):
            status = "cancelled"
            raise
        except Exception as exc:
            error = str(exc)
            raise
        finally:
            self._finish(status, error, time.perf_counter() - t0)

    async def _run(self) -> dict[str, Any]:
        share = SCRIPT_SHARE if self.plan.verify.enabled else 1.0
        child = _ScriptJob(self, self.script_argv, share, env=self.env,
                           cwd=self.output_dir, cancel_grace_s=self.cancel_grace_s,
                           on_event=self._on_event)
        self._child = child
        self.stage = "script"
        try:
            await child.run()
        except JobError as exc:
            if self.cancel_requested:
                raise JobCancelled() from None
            hint = (child.start_info or {}).get("hint") or self._last_hint
            raise JobError(f"Export {self.plan.name} failed: "
                           f"{child.last_error or exc.message}", hint=hint) from None
        finally:
            self._child = None
        if self.cancel_requested or (isinstance(child.result, dict) and child.result.get(
                "cancelled")):
            raise JobCancelled()
        self.script_result = dict(child.result or {})
        out: dict[str, Any] = {"output_dir": str(self.output_dir), **self.script_result}
        if self.plan.verify.enabled and self.script_result.get("reference"):
            self.stage = "verify"
            self._verifying = True
            self.set_progress(SCRIPT_SHARE, "verifying with onnxruntime-genai")
            try:
                v = await self._verify(Path(self.script_result["reference"]))
            finally:
                self._verifying = False
            out["verification"] = v.to_dict()
            if v.status == "failed":
                raise JobError(f"Export {self.plan.name} was built, but {v.message}",
                               hint=f"See {self.output_dir / 'logs'} (builder.log, verify.log).")
            self.set_message(v.advice or v.headline())
        return out

    _last_hint: str | None = None

    def _on_event(self, ev: dict[str, Any]) -> None:
        if ev.get("type") == "progress" and ev.get("stage"):
            self.stage = str(ev["stage"])
        elif ev.get("type") == "error" and ev.get("hint"):
            self._last_hint = str(ev["hint"])

    async def _verify(self, reference_file: Path) -> Verification:
        log_path = self.output_dir / "logs" / "verify.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        adapters = {name: Path(info["path"])
                    for name, info in (self.script_result or {}).get("adapters", {}).items()}
        with open(log_path, "a", encoding="utf-8") as fh:
            def log(line: str) -> None:
                fh.write(line + "\n")
                fh.flush()
                self.add_log(f"verify: {line}")

            def progress(frac: float, message: str) -> None:
                self.set_progress(SCRIPT_SHARE + (1 - SCRIPT_SHARE) * frac, message)

            v = await verify_export(self.output_dir, load_reference(reference_file),
                                    provider=self.verify_provider, adapters=adapters,
                                    threshold=self.plan.verify.threshold, log=log,
                                    progress=progress, client_factory=self.client_factory)
            v.prompt_format = str(self.recipe.get("prompt_format") or "")
            v.size_bytes = int((self.script_result or {}).get("model_bytes") or 0) + sum(
                int(a.get("bytes", 0)) for a in (self.script_result or {}).get("adapters",
                                                                               {}).values())
            verdict(v, self.plan.precision, self.plan.int4.algo)
            log(v.headline())
            if v.advice:
                log(v.advice)
        self.verification = v
        return v

    async def on_cancel(self, task: asyncio.Task[Any]) -> None:
        child = self._child
        if child is not None and child.pid is not None:
            self.set_message("cancelling...")
            child.cancel_requested = True  # its run() then ends with JobCancelled
            await child.on_cancel(task)
            return
        task.cancel()  # queued, or verifying: the worker is closed as the task unwinds

    def _finish(self, status: str, error: str | None, seconds: float) -> None:
        v = self.verification
        meta: dict[str, Any] = {
            "plan": self.plan.model_dump(mode="json"),
            "strategy": self.plan.strategy,
            "recipe": self.plan.recipe_label(),
            "source": self.recipe.get("source_info", {}),
            "builder_args": self.recipe.get("build", {}).get("args"),
            "stages": self.recipe.get("stages"),
            "seconds": round(seconds, 2),
            "error": error,
            "failed_stage": self.stage if status == "failed" else None,
        }
        if self.script_result:
            meta.update({
                "model_bytes": self.script_result.get("model_bytes"),
                "adapters": self.script_result.get("adapters"),
                "timings": self.script_result.get("timings"),
                "versions": self.script_result.get("versions"),
                "reference_figures": self.script_result.get("reference_figures"),
            })
        if v is not None:
            verification = v.to_dict()
            verification.pop("details", None)
            meta["verification"] = verification
            meta["size_bytes"] = v.size_bytes
        with contextlib.suppress(Exception):
            self.record(status, meta)
        manifest = {"export_id": self.export_id, "status": status, **meta}
        if v is not None:
            manifest["verification"] = v.to_dict()
        with contextlib.suppress(Exception):
            if self.output_dir.is_dir():
                atomic_write_json(self.output_dir / MANIFEST_FILE, manifest)
