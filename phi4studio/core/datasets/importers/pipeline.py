"""Import a file into a dataset store: stream, parse, check shape, write in one transaction.

    preview_import(path)              first examples + problems, for the import wizard's preview
    scan_import(path)                 a full dry run: the report without writing anything
    import_file(store, path, ...)     write; with bad records nothing is written unless
                                      allow_partial=True (the user accepted a partial import)

Every record that cannot be imported is reported with its line and the reason; none is dropped
silently. Long calls take `progress(fraction, message)` and `cancelled()` so they can run as
executor jobs (cancel rolls the transaction back).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from phi4studio.core.datasets.errors import ImportFormatError
from phi4studio.core.datasets.importers.common import (
    ImportIssue,
    ImportReport,
    ParseContext,
    Parsed,
    RecordError,
)
from phi4studio.core.datasets.importers.formats import FORMATS, detect_format
from phi4studio.core.datasets.importers.reading import Progress, Record, iter_records
from phi4studio.core.datasets.schema import SPLITS, Example, describe_validation_error

if TYPE_CHECKING:
    from phi4studio.core.datasets.store import DatasetStore, OnConflict

ProgressFn = Callable[[float, str], None]
CancelledFn = Callable[[], bool]
_SPLIT_ALIASES = {"val": "validation", "valid": "validation", "dev": "validation", "eval": "test"}


@dataclass
class ImportOptions:
    """answers: BFCL possible-answer file (found beside the questions in possible_answer/ if not
    given). tools: tool definitions for transcripts that carry none (Claude). source: the label
    stamped on each example (default "<format>:<file name>"). split: put every example in it."""

    answers: Path | None = None
    tools: Sequence[Mapping[str, Any]] = ()
    tools_file: Path | None = None  # a tool catalog whose tools are added to `tools`
    infer_scenario: bool = True
    source: str | None = None
    split: str | None = None
    on_conflict: OnConflict = "rename"


@dataclass
class ImportPreview:
    format: str
    examples: list[Example] = field(default_factory=list)
    issues: list[ImportIssue] = field(default_factory=list)
    records_read: int = 0


def _load_answers(path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rec in iter_records(path):
        v = rec.value
        if isinstance(v, dict) and "id" in v and "ground_truth" in v:
            out[str(v["id"])] = v["ground_truth"]
    return out


def _context(path: Path, fmt: str, options: ImportOptions) -> ParseContext:
    ctx = ParseContext(source=options.source or f"{fmt}:{path.name}", line=0, stem=path.stem)
    if fmt == "bfcl":
        answers = options.answers
        if answers is None:
            guess = path.parent / "possible_answer" / path.name
            answers = guess if guess.is_file() else None
        elif not Path(answers).is_file():
            raise ImportFormatError(f"No BFCL possible-answer file at {answers}.")
        ctx.extra["answers"] = _load_answers(answers) if answers is not None else None
    tools = [dict(t) for t in options.tools]
    if options.tools_file is not None:
        from phi4studio.core.datasets.catalog import load_tool_catalog

        tools += [dict(t) for t in load_tool_catalog(Path(options.tools_file))]
    if tools:
        ctx.extra["tools"] = tools
    return ctx


def _line_parsed(records: Iterator[Record], fmt: str, ctx: ParseContext) -> Iterator[Parsed]:
    parse = FORMATS[fmt].parse
    assert parse is not None
    for rec in records:
        if isinstance(rec.value, Exception):
            yield Parsed(rec.line, error=str(rec.value), unit=rec.unit)
            continue
        ctx.line, ctx.warnings = rec.line, []
        value = rec.value
        split = value.pop("__split__", None) if isinstance(value, dict) else None
        try:
            d = parse(value, ctx)
        except RecordError as exc:
            yield Parsed(rec.line, error=str(exc), unit=rec.unit)
            continue
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
            yield Parsed(rec.line, error=f"cannot read this record ({exc})", unit=rec.unit)
            continue
        if split and "split" not in d:
            s = _SPLIT_ALIASES.get(str(split), str(split))
            d["split"] = s if s in SPLITS else None
        yield Parsed(rec.line, example=d, warnings=list(ctx.warnings), unit=rec.unit)


def iter_parsed(
    path: Path,
    fmt: str | None = None,
    *,
    options: ImportOptions | None = None,
    progress: Progress | None = None,
) -> tuple[str, Iterator[Parsed]]:
    """(format, stream of outcomes): examples come out shape-checked and canonical."""
    path = Path(path)
    options = options or ImportOptions()
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise ImportFormatError(
            f"Unknown import format {fmt!r}.", hint=f"Choose one of: {', '.join(FORMATS)}."
        )
    ctx = _context(path, fmt, options)
    records = iter_records(path, progress)
    f = FORMATS[fmt]
    raw = f.parse_file(records, ctx) if f.parse_file else _line_parsed(records, fmt, ctx)
    return fmt, _finish(raw, options)


def _finish(raw: Iterator[Parsed], options: ImportOptions) -> Iterator[Parsed]:
    from phi4studio.core.datasets.coverage import infer_scenario
    from phi4studio.core.datasets.schema import canonical_json
    from phi4studio.core.datasets.validation import check_tool_schema

    checked: dict[str, list[str]] = {}  # tools list (as JSON) -> problems with its schemas
    for p in raw:
        if p.example is None:
            yield p
            continue
        d = p.example
        if options.split is not None:
            d["split"] = options.split
        try:
            ex = Example.model_validate(d)
        except ValidationError as exc:
            yield Parsed(p.line, error=describe_validation_error(exc), unit=p.unit)
            continue
        if ex.scenario is None and options.infer_scenario:
            ex.scenario = infer_scenario(ex)
        p.example = ex.to_dict()
        key = canonical_json(p.example["tools"])
        if key not in checked:
            if len(checked) > 4096:
                checked.clear()
            checked[key] = [
                f"the inputSchema of tool {t['name']!r} is not valid JSON Schema ({why}); "
                "validation will report its calls"
                for t in p.example["tools"]
                if (why := check_tool_schema(t.get("inputSchema"))) is not None
            ]
        p.warnings += checked[key]
        yield p


def preview_import(
    path: Path, fmt: str | None = None, *, limit: int = 20, options: ImportOptions | None = None
) -> ImportPreview:
    """The first `limit` examples and the problems met on the way (reads no further)."""
    fmt, items = iter_parsed(path, fmt, options=options)
    out = ImportPreview(fmt)
    for p in items:
        out.records_read += 0 if p.ignored else 1
        if p.error is not None:
            out.issues.append(ImportIssue(p.line, p.error, unit=p.unit))
        elif p.example is not None:
            out.examples.append(Example.model_validate(p.example))
            out.issues += [ImportIssue(p.line, w, "warning", p.unit) for w in p.warnings]
            if len(out.examples) >= limit:
                break
    return out


def _run(
    path: Path,
    fmt: str | None,
    options: ImportOptions,
    progress: ProgressFn | None,
    cancelled: CancelledFn | None,
    sink: Callable[[dict[str, Any]], str] | None,
) -> ImportReport:
    prog = Progress()
    fmt, items = iter_parsed(path, fmt, options=options, progress=prog)
    report = ImportReport(path=str(path), format=fmt)
    for n, p in enumerate(items):
        if n % 256 == 0:
            if cancelled is not None and cancelled():
                from phi4studio.core.jobs.model import JobCancelled

                raise JobCancelled()
            if progress is not None:
                progress(prog.fraction, f"{report.good} example(s) read")
        if p.ignored:
            report.ignored += 1
            continue
        report.records += 1
        if p.error is not None:
            report.skipped.append(ImportIssue(p.line, p.error, unit=p.unit))
            continue
        assert p.example is not None
        report.warnings += [ImportIssue(p.line, w, "warning", p.unit) for w in p.warnings]
        report.good += 1
        if sink is not None:
            stored = sink(p.example)
            if stored != p.example["id"]:
                report.renamed[p.example["id"]] = stored
    if progress is not None:
        progress(1.0, f"{report.good} example(s) read")
    return report


def scan_import(
    path: Path,
    fmt: str | None = None,
    *,
    options: ImportOptions | None = None,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> ImportReport:
    """Read the whole file as an import would, write nothing: the report says what would happen."""
    report = _run(Path(path), fmt, options or ImportOptions(), progress, cancelled, None)
    report.message = report.summary()
    return report


class _Rollback(Exception):
    pass


def import_file(
    store: DatasetStore,
    path: Path,
    fmt: str | None = None,
    *,
    options: ImportOptions | None = None,
    allow_partial: bool = False,
    record_undo: bool = True,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> ImportReport:
    """Import into `store` in one transaction (one undo step).

    With bad records and allow_partial=False nothing is written and the report says why; the
    caller shows it and may run again with allow_partial=True.
    """
    path = Path(path)
    options = options or ImportOptions()
    report: ImportReport | None = None
    try:
        with store.writer(f"Import {path.name}", record_undo=record_undo) as w:

            def sink(d: dict[str, Any]) -> str:
                return w.add(d, on_conflict=options.on_conflict)

            report = _run(path, fmt, options, progress, cancelled, sink)
            if report.skipped and not allow_partial:
                raise _Rollback()
    except _Rollback:
        assert report is not None
        report.message = (
            f"{len(report.skipped)} record(s) cannot be imported, so nothing was written. "
            f"Accept a partial import to write the {report.good} good example(s)."
        )
        return report
    assert report is not None
    report.committed = True
    report.imported = report.good
    report.message = report.summary()
    return report
