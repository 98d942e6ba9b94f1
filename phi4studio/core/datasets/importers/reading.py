"""Streams records out of a file, one at a time, with their line numbers; never loads it whole.

JSONL (UTF-8 with or without BOM, UTF-16 with BOM or detected), a JSON array file, parquet, and a
Hugging Face dataset saved with `save_to_disk` (a folder of .arrow files). A record that cannot be
read (bad bytes, bad JSON, a line over the size limit, a truncated last line) comes out as a
RecordError at its line, and reading goes on with the next one.
"""

from __future__ import annotations

import codecs
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from phi4studio.core.datasets.errors import ImportFormatError
from phi4studio.core.datasets.importers.common import RecordError

MAX_LINE_BYTES = 256 * 1024 * 1024
MAX_JSON_ARRAY_BYTES = 1024 * 1024 * 1024
_CHUNK = 1 << 20


@dataclass
class Record:
    line: int
    value: Any  # the parsed JSON value, or a RecordError
    unit: str = "line"


@dataclass
class Progress:
    """How far through the source a reader is (bytes for files, rows for arrow/parquet)."""

    done: int = 0
    total: int = 0

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


def sniff_encoding(head: bytes) -> tuple[str, int]:
    """(codec, bytes of BOM to skip) for the first bytes of a text file."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8", 3
    if head.startswith(codecs.BOM_UTF32_LE) or head.startswith(codecs.BOM_UTF32_BE):
        return "utf-32", 0
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16", 0
    if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0] != 0:
        return "utf-16-le", 0
    if len(head) >= 4 and head[0] == 0 and head[2] == 0 and head[1] != 0:
        return "utf-16-be", 0
    return "utf-8", 0


def iter_records(path: Path, progress: Progress | None = None) -> Iterator[Record]:
    """Records of any supported container, parsed from JSON where the container is text."""
    path = Path(path)
    progress = progress if progress is not None else Progress()
    if path.is_dir():
        yield from _iter_arrow_dir(path, progress)
        return
    if not path.is_file():
        raise ImportFormatError(f"No file at {path}.")
    if path.suffix.lower() == ".parquet":
        yield from _iter_parquet(path, progress)
        return
    progress.total = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(4096)
        codec, skip = sniff_encoding(head)
        fh.seek(skip)
        first = head[skip:].decode("utf-8", "replace").lstrip() if codec == "utf-8" else ""
        lines = path.suffix.lower() in (".jsonl", ".ndjson")  # one record per line, always
        if codec == "utf-8" and first.startswith("[") and not lines:
            yield from _iter_json_array(fh, path, progress)
            return
        if codec == "utf-8":
            yield from _iter_utf8_lines(fh, progress)
        else:
            fh.seek(0)
            yield from _iter_text_lines(fh, codec, path, progress)


def _parse_line(n: int, text: str, last: bool) -> Record | None:
    s = text.strip()
    if not s:
        return None
    try:
        return Record(n, json.loads(s))
    except json.JSONDecodeError as exc:
        hint = " (the file seems truncated)" if last else ""
        return Record(n, RecordError(f"not valid JSON: {exc.msg} at column {exc.colno}{hint}"))
    except RecursionError:
        return Record(n, RecordError("JSON nested too deeply"))


def _iter_utf8_lines(fh: IO[bytes], progress: Progress) -> Iterator[Record]:
    n = 0
    while True:
        raw = fh.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        n += 1
        progress.done += len(raw)
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while True:  # skip the rest of the over-long line
                more = fh.readline(_CHUNK)
                progress.done += len(more)
                if not more or more.endswith(b"\n"):
                    break
            mb = MAX_LINE_BYTES // (1024 * 1024)
            yield Record(n, RecordError(f"line is longer than {mb} MB; skipped"))
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield Record(n, RecordError(f"not UTF-8 text (bad byte at column {exc.start + 1})"))
            continue
        rec = _parse_line(n, text, last=not raw.endswith(b"\n"))
        if rec is not None:
            yield rec


def _iter_text_lines(fh: IO[bytes], codec: str, path: Path, progress: Progress) -> Iterator[Record]:
    text = io.TextIOWrapper(fh, encoding=codec, errors="strict", newline=None)
    n = 0
    try:
        for line in text:
            n += 1
            progress.done = fh.tell() if not fh.closed else progress.done
            rec = _parse_line(n, line, last=not line.endswith("\n"))
            if rec is not None:
                yield rec
    except UnicodeDecodeError as exc:
        reason = f"not {codec.upper()} text ({exc.reason}); reading stopped"
        yield Record(n + 1, RecordError(reason))


def _iter_json_array(fh: IO[bytes], path: Path, progress: Progress) -> Iterator[Record]:
    if progress.total > MAX_JSON_ARRAY_BYTES:
        raise ImportFormatError(
            f"{path.name} is a single JSON array of {progress.total // 2**20} MB.",
            hint="Convert it to JSON Lines (one record per line) to import it in a stream.",
        )
    try:
        data = json.loads(fh.read().decode("utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ImportFormatError(f"{path.name} is not valid JSON: {exc}", line=1) from exc
    progress.done = progress.total
    if not isinstance(data, list):
        raise ImportFormatError(f"{path.name} holds JSON but not a list of records.", line=1)
    for i, item in enumerate(data, 1):
        yield Record(i, item, unit="record")


def _iter_parquet(path: Path, progress: Progress) -> Iterator[Record]:
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - pyarrow ships with `datasets`
        raise ImportFormatError("Reading parquet needs pyarrow, which is not installed.") from exc
    pf = pq.ParquetFile(path)
    progress.total = pf.metadata.num_rows
    n = 0
    for batch in pf.iter_batches(batch_size=1000):
        for row in batch.to_pylist():
            n += 1
            progress.done = n
            yield Record(n, row, unit="row")


def _iter_arrow_dir(path: Path, progress: Progress) -> Iterator[Record]:
    """A `datasets` save_to_disk folder (one split, or a DatasetDict of splits)."""
    files = sorted(path.rglob("*.arrow"))
    if not files:
        raise ImportFormatError(
            f"{path} is a folder without .arrow files.",
            hint="Choose a JSONL/JSON/parquet file, or a folder made by datasets' save_to_disk.",
        )
    import pyarrow as pa

    def open_reader(f: Path) -> Any:
        try:
            return pa.ipc.open_stream(f)
        except pa.ArrowInvalid:
            return pa.ipc.open_file(f)

    n = 0
    progress.total = 0
    for f in files:
        reader = open_reader(f)
        batches = (
            reader if hasattr(reader, "read_next_batch")
            else (reader.get_batch(i) for i in range(reader.num_record_batches))
        )
        split = f.parent.name if f.parent != path else None
        for batch in batches:
            progress.total += batch.num_rows
            for row in batch.to_pylist():
                n += 1
                progress.done = n
                if split and "split" not in row:
                    row = {**row, "__split__": split}
                yield Record(n, row, unit="row")
