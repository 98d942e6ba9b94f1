"""The import formats, in the order auto-detection tries them, and format detection."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phi4studio.core.datasets.errors import ImportFormatError
from phi4studio.core.datasets.importers import bfcl, claude, glaive, openai, sharegpt, xlam
from phi4studio.core.datasets.importers.common import ParseContext, Parsed
from phi4studio.core.datasets.importers.reading import Record, iter_records

DETECT_RECORDS = 50  # records read (at most) to recognise a file's format


@dataclass(frozen=True)
class Format:
    name: str
    title: str
    expected: str  # what one record looks like, for error messages
    detect: Callable[[Any], bool]
    parse: Callable[[Any, ParseContext], dict[str, Any]] | None = None
    parse_file: Callable[[Iterable[Record], ParseContext], Iterator[Parsed]] | None = None


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("canonical", "Phi-4 Studio canonical JSONL", openai.CANONICAL_EXPECTED,
               openai.detect_canonical, openai.parse_canonical),
        Format("openai", "OpenAI chat (messages + tools)", openai.EXPECTED, openai.detect,
               openai.parse),
        Format("conversations", "Chat messages nested under \"conversations\"",
               openai.NESTED_EXPECTED, openai.detect_nested, openai.parse_nested),
        Format("sharegpt", "ShareGPT / Hermes function calling", sharegpt.EXPECTED,
               sharegpt.detect, sharegpt.parse),
        Format("glaive", "Glaive function calling v2", glaive.EXPECTED, glaive.detect,
               glaive.parse),
        Format("xlam", "xLAM / APIGen function calling", xlam.EXPECTED, xlam.detect, xlam.parse),
        Format("bfcl", "BFCL question file (+ possible answers)", bfcl.EXPECTED, bfcl.detect,
               bfcl.parse),
        Format("claude", "Claude Agent SDK / Claude Code session transcript", claude.EXPECTED,
               claude.detect, parse_file=claude.parse_file),
    )
}


def expected_formats() -> str:
    return "; ".join(f"{f.title}: {f.expected}" for f in FORMATS.values())


def detect_record(rec: Any) -> str | None:
    for f in FORMATS.values():
        if f.detect(rec):
            return f.name
    return None


def detect_format(path: Path, *, max_records: int = DETECT_RECORDS) -> str:
    """The format of a file from its first records; a clear error naming the line if unknown."""
    path = Path(path)
    first_error: tuple[int, str, str] | None = None
    for i, rec in enumerate(iter_records(path)):
        if i >= max_records:
            break
        if isinstance(rec.value, Exception):
            first_error = first_error or (rec.line, rec.unit, str(rec.value))
            continue
        name = detect_record(rec.value)
        if name is not None:
            return name
        if bfcl.detect_answers(rec.value):
            raise ImportFormatError(
                f"{path.name} is a BFCL possible-answer file ({rec.unit} {rec.line} has "
                '"ground_truth" but no "question").',
                hint="Import the matching BFCL question file and give this file as its answers.",
                line=rec.line,
            )
        raise ImportFormatError(
            f"{path.name}, {rec.unit} {rec.line}: not a recognised dataset format "
            f"({_describe(rec.value)}).",
            hint=f"Expected one of: {expected_formats()}. Or choose the format explicitly.",
            line=rec.line,
        )
    if first_error is not None:
        line, unit, reason = first_error
        raise ImportFormatError(
            f"{path.name}: no readable record in the first {max_records}; {unit} {line}: {reason}.",
            line=line,
        )
    raise ImportFormatError(f"{path.name} holds no records (it is empty).")


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(list(value)[:8])
        return f"an object with keys {keys}" if keys else "an empty object"
    return f"a JSON {type(value).__name__}"
