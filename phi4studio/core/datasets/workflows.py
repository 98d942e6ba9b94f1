"""The Datasets tab's long work as jobs, the import wizard's navigation, and argument checks.

    preview_job(path, fmt)                         first examples + problems (import wizard)
    import_job(library, path, fmt, target=..)      into a dataset, or into a new one
    run_import(...)                                the same work, synchronous (the CLI)
    ImportWizardNav                                page -> next map with a back stack
    check_arguments(text, schema)                  a tool call's arguments against inputSchema,
                                                   as the editor checks them while one types

Jobs write through their own store connection and report through `ctx.progress`/`ctx.log`;
the library marks the dataset busy until they end and syncs its catalog row afterwards.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.importers.common import ImportReport
from phi4studio.core.datasets.importers.pipeline import (
    ImportOptions,
    ImportPreview,
    import_file,
    preview_import,
)
from phi4studio.core.datasets.library import (
    DatasetJob,
    DatasetLibrary,
    new_dataset_id,
    remove_store_files,
    store_file,
)
from phi4studio.core.datasets.query import ExampleFilter
from phi4studio.core.datasets.store import DatasetStore
from phi4studio.core.datasets.tokens import TokenCounter, TokenOptions
from phi4studio.core.jobs import Job, JobState, ThreadContext

ProgressFn = Callable[[float, str], None]
CancelledFn = Callable[[], bool]


# --- import --------------------------------------------------------------------------------


def run_import(
    target: Path,
    source: Path,
    fmt: str | None = None,
    *,
    options: ImportOptions | None = None,
    allow_partial: bool = False,
    create_name: str | None = None,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> ImportReport:
    """Import `source` into the store file `target` (created first when `create_name` is set).

    A new store whose import writes nothing is removed again. Nothing is written when records
    are bad unless `allow_partial`.
    """
    if create_name is not None:
        store = DatasetStore.create(target, create_name)
    else:
        store = DatasetStore.open(target)
    ok = False
    try:
        report = import_file(store, source, fmt, options=options, allow_partial=allow_partial,
                             record_undo=False, progress=progress, cancelled=cancelled)
        ok = report.committed
        return report
    finally:
        store.close()
        if create_name is not None and not ok:
            remove_store_files(target)


def preview_job(path: Path, fmt: str | None = None, limit: int = 20,
                options: ImportOptions | None = None) -> DatasetJob[ImportPreview]:
    def work(ctx: ThreadContext) -> ImportPreview:
        ctx.progress(None, f"reading {path.name}")
        return preview_import(path, fmt, limit=limit, options=options)

    return DatasetJob(f"Preview {path.name}", work, None, group="dataset-preview")


def import_job(
    library: DatasetLibrary,
    source: Path,
    fmt: str | None = None,
    *,
    dataset_id: str | None = None,
    new_name: str | None = None,
    options: ImportOptions | None = None,
    allow_partial: bool = False,
    on_done: Callable[[Job], None] | None = None,
) -> Job:
    """Submit an import into `dataset_id`, or into a new dataset named `new_name`.

    The job's result is the ImportReport; for a new dataset `job.made_dataset` names it once it
    is registered (only when something was written).
    """
    source = Path(source)
    if dataset_id is None:
        name = library.unique_name((new_name or source.stem).strip() or source.stem)
        ds_id = new_dataset_id()
        target = store_file(library.workspace, ds_id)
    else:
        name, ds_id, target = None, dataset_id, library.path(dataset_id)

    def work(ctx: ThreadContext) -> ImportReport:
        report = run_import(
            target, source, fmt, options=options, allow_partial=allow_partial,
            create_name=name, progress=ctx.progress, cancelled=lambda: ctx.cancelled,
        )
        for issue in report.skipped[:200]:
            ctx.log(f"skipped {issue}")
        if len(report.skipped) > 200:
            ctx.log(f"... and {len(report.skipped) - 200} more skipped record(s)")
        ctx.log(report.message)
        return report

    def done(j: Job) -> None:
        report = j.result
        if name is not None and isinstance(report, ImportReport) and report.committed:
            library.register(ds_id, name)
            job.made_dataset = ds_id
        elif name is not None:
            remove_store_files(target)
        if isinstance(report, ImportReport):
            job.set_message(report.message)
        if on_done is not None:
            on_done(job)

    job = DatasetJob(f"Import {source.name}", work, dataset_id)
    return library.submit(job, done)


# --- validate, coverage, export, MCP tools ------------------------------------------------------


def _reading(path: Path) -> DatasetStore:
    return DatasetStore.open(path)


def _counter(tokens: TokenOptions | None, ctx: ThreadContext) -> TokenCounter | None:
    """The job's token counter: tokenizers is imported here, in the job's thread; a source
    that needs converting is converted in a subprocess (transformers stays out of the app)."""
    if tokens is None:
        return None
    ctx.progress(None, f"loading the tokenizer {Path(tokens.source).name}")
    counter = tokens.counter(convert="subprocess", cancelled=lambda: ctx.cancelled)
    ctx.log(f"token lengths: {counter.label}"
            + (f", limit {tokens.max_tokens}" if tokens.max_tokens else ""))
    return counter


def validate_job(library: DatasetLibrary, dataset_id: str,
                 on_done: Callable[[Job], None] | None = None, *,
                 tokens: TokenOptions | None = None) -> Job:
    """Validate every example and store the results (the editor stays usable meanwhile); with
    `tokens`, examples longer than its limit are flagged too_long."""
    from phi4studio.core.datasets.validation import ValidationSummary, validate_store

    path = library.path(dataset_id)
    name = library.get(dataset_id).name

    def work(ctx: ThreadContext) -> ValidationSummary:
        counter = _counter(tokens, ctx)
        with _reading(path) as store:
            summary = validate_store(store, progress=ctx.progress,
                                     cancelled=lambda: ctx.cancelled, count_tokens=counter,
                                     max_tokens=tokens.max_tokens if tokens else None)
        for ex_id, issue in summary.first_errors[:20]:
            ctx.log(f"{ex_id} {issue.path}: {issue.message}")
        ctx.log(summary.summary())
        return summary

    def done(job: Job) -> None:
        if isinstance(job.result, ValidationSummary):
            job.set_message(job.result.summary())
        if on_done is not None:
            on_done(job)

    job = DatasetJob(f"Validate {name}", work, dataset_id, exclusive=False,
                     group=f"validate-{dataset_id}")
    return library.submit(job, done)


def coverage_job(library: DatasetLibrary, dataset_id: str,
                 on_done: Callable[[Job], None] | None = None, *,
                 tokens: TokenOptions | None = None) -> Job:
    """The full coverage report; with `tokens`, lengths in that tokenizer's tokens."""
    from phi4studio.core.datasets.coverage import CoverageReport, compute_coverage

    path = library.path(dataset_id)

    def work(ctx: ThreadContext) -> CoverageReport:
        counter = _counter(tokens, ctx)
        with _reading(path) as store:
            return compute_coverage(store, progress=ctx.progress,
                                    cancelled=lambda: ctx.cancelled, count_tokens=counter,
                                    max_tokens=tokens.max_tokens if tokens else None)

    job = DatasetJob(f"Coverage of {library.get(dataset_id).name}", work, dataset_id,
                     exclusive=False, group=f"coverage-{dataset_id}")
    return library.submit(job, on_done)


def export_job(library: DatasetLibrary, dataset_id: str, out: Path, fmt: str, *,
               flt: ExampleFilter | None = None, family: str | None = None,
               on_done: Callable[[Job], None] | None = None) -> Job:
    """Export (the filtered) examples as JSONL in `fmt`; `rendered` needs a model `family`."""
    path = library.path(dataset_id)

    def work(ctx: ThreadContext) -> Any:
        with _reading(path) as store:
            return run_export(store, out, fmt, flt=flt, family=family, progress=ctx.progress,
                              cancelled=lambda: ctx.cancelled)

    job = DatasetJob(f"Export {library.get(dataset_id).name} ({fmt})", work, dataset_id,
                     exclusive=False)
    return library.submit(job, on_done)


def export_formats() -> dict[str, str]:
    """Export format name -> title (the core's JSONL formats, plus rendered text)."""
    from phi4studio.core.datasets.exporters import EXPORT_FORMATS

    out = {f.name: f.title for f in EXPORT_FORMATS.values()}
    out[RENDERED] = "Rendered prompt text for a model family (JSONL: text + trained spans)"
    return out


RENDERED = "rendered"
DEFAULT_FAMILY = "phi4-mini"


def rendered_families() -> dict[str, str]:
    """Model family -> title, for the families that render without a model's own template
    (the chat-format registry's standalone formats)."""
    from phi4studio.core.chatformats import available_formats, get_format

    return {n: get_format(n).title for n in available_formats(standalone=True)}


def chat_format(family: str | None) -> Any:
    """The registry's format for a family name (or alias); a DatasetError names the choices."""
    from phi4studio.core.chatformats import get_format

    name = family or DEFAULT_FAMILY
    try:
        fmt = get_format(name)
    except KeyError:
        fmt = None
    if fmt is None or fmt.needs_template:
        raise DatasetError(
            f"Cannot render for the model family {name!r}.",
            hint=f"Choose one of: {', '.join(rendered_families())}.")
    return fmt


def run_export(store: DatasetStore, out: Path, fmt: str, *, flt: ExampleFilter | None = None,
               family: str | None = None, progress: ProgressFn | None = None,
               cancelled: CancelledFn | None = None) -> Any:
    from phi4studio.core.datasets.exporters import export_jsonl

    if fmt != RENDERED:
        return export_jsonl(store, out, fmt, flt=flt, progress=progress, cancelled=cancelled)
    from phi4studio.core.datasets.exporters import ExportReport
    from phi4studio.core.fileio import atomic_open

    chat = chat_format(family)
    total, n = store.count(flt), 0
    with atomic_open(Path(out), "w") as fh:
        for d in store.iter_dicts(flt):
            if n % 200 == 0:
                if cancelled is not None and cancelled():
                    from phi4studio.core.jobs.model import JobCancelled

                    raise JobCancelled()
                if progress is not None and total:
                    progress(n / total, f"{n} of {total} example(s) rendered")
            fh.write(json.dumps({"id": d["id"], **chat.render(d).to_json()},
                                ensure_ascii=False) + "\n")
            n += 1
    return ExportReport(str(out), f"{RENDERED}:{chat.name}", n)


def mcp_tools_job(library: DatasetLibrary, command: str, args: list[str],
                  on_done: Callable[[Job], None] | None = None) -> Job:
    """Start an MCP server over stdio, list its tools, save them as a catalog in the workspace.

    The job's result is the saved catalog's path."""
    from phi4studio.core.datasets.catalog import save_tool_catalog
    from phi4studio.core.datasets.importers.mcp_tools import list_server_tools
    from phi4studio.core.jobs import CoroutineJob

    folder = library.workspace.datasets_dir / "catalogs"

    async def work(job: Job) -> Path:
        job.set_progress(None, f"starting {command}")
        found = await list_server_tools(command, args, timeout=60)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", found.server_name or Path(command).stem)
        out = folder / f"{name or 'server'}.json"
        save_tool_catalog(out, found.tools, server=found.server, name=found.server_name)
        job.add_log(f"{len(found.tools)} tool(s): " + ", ".join(t["name"] for t in found.tools))
        job.set_progress(1.0, f"{len(found.tools)} tool(s) saved to {out.name}")
        return out

    job: Job = CoroutineJob(f"List MCP tools: {command}", work, category="datasets")
    if library.queue is None:
        raise DatasetError("This library has no job queue.")
    library.queue.submit(job)
    if on_done is not None:
        _when_finished(library, job, on_done)
    return job


def _when_finished(library: DatasetLibrary, job: Job, fn: Callable[[Job], None]) -> None:
    assert library.queue is not None
    queue = library.queue

    def listener(what: str, j: Job | None) -> None:
        if j is job and what == "state" and job.state.finished:
            queue.remove_listener(listener)
            fn(job)

    queue.add_listener(listener)


# --- first run ----------------------------------------------------------------------------------

SAMPLE_NAME = "Sample: everyday tools"
SAMPLE_FILE = ("samples", "sample_dataset.jsonl")


def seed_sample(library: DatasetLibrary) -> str | None:
    """Import the shipped sample dataset into an empty workspace (synchronously: it is small).

    Returns the new dataset's id; None when the workspace has datasets or no sample ships."""
    from phi4studio.core.paths import resource

    path = resource(*SAMPLE_FILE)
    if not path.is_file() or library.datasets():
        return None
    ds_id = new_dataset_id()
    report = run_import(store_file(library.workspace, ds_id), path, None, allow_partial=True,
                        create_name=SAMPLE_NAME)
    if not report.committed:
        return None
    library.register(ds_id, SAMPLE_NAME)
    return ds_id


# --- the import wizard's navigation ---------------------------------------------------------

PAGE_SOURCE, PAGE_PREVIEW, PAGE_REPORT, PAGE_DONE = "source", "preview", "report", "done"


@dataclass
class ImportWizardNav:
    """What the import wizard shows and where Next goes; the Qt dialog only renders pages.

    source -> preview (the first examples, problems met) -> done when the import wrote; when it
    met bad records it wrote nothing and goes to the report (every bad line) whose accept runs
    the import again with the partial import accepted.
    """

    path: Path | None = None
    fmt: str | None = None  # None: detect
    answers: Path | None = None  # BFCL possible answers (None: possible_answer/ beside the file)
    tools_file: Path | None = None  # tool definitions for transcripts that carry none (Claude)
    dataset_id: str | None = None  # None: a new dataset
    new_name: str = ""
    preview: ImportPreview | None = None
    preview_error: str | None = None
    report: ImportReport | None = None
    page: str = PAGE_SOURCE
    history: list[str] = field(default_factory=list)

    def options(self) -> ImportOptions:
        return ImportOptions(answers=self.answers, tools_file=self.tools_file)

    def can_next(self) -> bool:
        if self.page == PAGE_SOURCE:
            return self.path is not None and (self.dataset_id is not None or bool(
                self.new_name.strip()))
        if self.page == PAGE_PREVIEW:
            return self.preview is not None and bool(self.preview.examples)
        if self.page == PAGE_REPORT:
            return self.report is not None and not self.report.committed and self.report.good > 0
        return False

    def next_label(self) -> str:
        return {
            PAGE_SOURCE: "Preview",
            PAGE_PREVIEW: "Import",
            PAGE_REPORT: f"Import the {self.report.good if self.report else 0} good example(s)",
        }.get(self.page, "Close")

    @property
    def allow_partial(self) -> bool:
        return self.page == PAGE_REPORT

    def go(self, page: str) -> None:
        self.history.append(self.page)
        self.page = page

    def back(self) -> bool:
        if not self.history or self.page == PAGE_DONE:
            return False
        self.page = self.history.pop()
        if self.page == PAGE_SOURCE:
            self.preview, self.preview_error = None, None
        if self.page in (PAGE_SOURCE, PAGE_PREVIEW):
            self.report = None
        return True

    def previewed(self, preview: ImportPreview | None, error: str | None = None) -> None:
        self.preview, self.preview_error = preview, error
        if self.page == PAGE_SOURCE:
            self.go(PAGE_PREVIEW)

    def imported(self, report: ImportReport) -> None:
        self.report = report
        self.go(PAGE_DONE if report.committed or (report.good == 0 and not report.skipped)
                else PAGE_REPORT)


# --- arguments as one types -------------------------------------------------------------------


@dataclass(frozen=True)
class ArgIssue:
    path: str  # JSON path inside the arguments object ($ is the object itself)
    message: str
    line: int | None = None  # for JSON syntax errors: where in the text


def check_arguments(text: str, schema: Mapping[str, Any] | None) -> list[ArgIssue]:
    """Problems of a call's arguments (JSON text) against the tool's inputSchema, by JSON path.

    Parse errors name their line; a schema that is itself invalid is one issue at `$`.
    """
    if not text.strip():
        return [ArgIssue("$", "arguments are empty: write {} for none")]
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return [ArgIssue("$", f"not valid JSON: {exc.msg} (line {exc.lineno}, column "
                              f"{exc.colno})", exc.lineno)]
    if not isinstance(value, dict):
        return [ArgIssue("$", f"arguments must be a JSON object, not {type(value).__name__}")]
    if not schema:
        return []
    return check_value(value, schema)


def check_value(value: Any, schema: Mapping[str, Any]) -> list[ArgIssue]:
    """`value` against `schema` by JSON path: validation's own check (`argument_faults`), so the
    editor, the playground and the validation panel name the same faults at the same keys."""
    from phi4studio.core.datasets.validation import argument_faults

    faults = argument_faults(schema, value)
    if isinstance(faults, str):
        return [ArgIssue("$", f"the tool's inputSchema is itself invalid: {faults}")]
    return [ArgIssue(f.path, f.message) for f in faults]


def summarize_job(job: Job) -> str:
    """One line for a finished job (what the tab's status line shows)."""
    if job.state is JobState.SUCCEEDED:
        return job.message or f"{job.name}: done"
    if job.state is JobState.CANCELLED:
        return f"{job.name}: cancelled"
    return f"{job.name}: {job.error or job.state.value}"


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, DatasetError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
