"""An evaluation run's folder: `<workspace>/evals/<id>/`.

    config.json      what was asked (model, adapter, suites, limit, decoding), written once
    cases.jsonl      the frozen case list (cases.py)
    results.jsonl    one line per finished case, appended and flushed as each one ends
    summary.json     metrics (metrics.py), rewritten when the run stops
    report.html      the self-contained report (report.py)

Resume: `done_ids()` reads results.jsonl; the runner skips those cases. A crash can leave a
partial last line: `open_for_append()` cuts the file back to its last complete line first, so
the file never holds a broken line in the middle, and a case is never written twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from phi4studio.core.fileio import atomic_write_json

CONFIG = "config.json"
CASES = "cases.jsonl"
RESULTS = "results.jsonl"
SUMMARY = "summary.json"
REPORT = "report.html"


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    # --- config and cases ----------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / CONFIG).read_text(encoding="utf-8"))
        return data

    def write_config(self, config: dict[str, Any]) -> None:
        atomic_write_json(self.path / CONFIG, config)

    def write_cases(self, cases: Iterable[dict[str, Any]]) -> int:
        tmp = self.path / (CASES + ".tmp")
        n = 0
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            for case in cases:
                fh.write(json.dumps(case, ensure_ascii=False) + "\n")
                n += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path / CASES)
        return n

    def cases(self) -> Iterator[dict[str, Any]]:
        yield from _read_lines(self.path / CASES)

    def n_cases(self) -> int:
        p = self.path / CASES
        if not p.exists():
            return 0
        with open(p, "rb") as fh:
            return sum(1 for line in fh if line.strip())

    # --- results --------------------------------------------------------------------------
    def results(self) -> list[dict[str, Any]]:
        """Finished cases in the order they ended; a repeated id keeps its first result."""
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        for rec in _read_lines(self.path / RESULTS):
            cid = rec.get("id")
            if isinstance(cid, str) and cid not in seen:
                seen.add(cid)
                out.append(rec)
        return out

    def done_ids(self) -> set[str]:
        return {str(r["id"]) for r in self.results()}

    def open_for_append(self) -> IO[str]:
        """results.jsonl for appending, cut back to its last complete line."""
        path = self.path / RESULTS
        if path.exists():
            with open(path, "rb+") as fh:
                data = fh.read()
                end = data.rfind(b"\n") + 1
                if end != len(data):
                    fh.truncate(end)
        return open(path, "a", encoding="utf-8", newline="\n")

    @staticmethod
    def append(fh: IO[str], record: dict[str, Any]) -> None:
        fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        fh.flush()
        os.fsync(fh.fileno())

    # --- summary ----------------------------------------------------------------------------
    def summary(self) -> dict[str, Any] | None:
        p = self.path / SUMMARY
        if not p.exists():
            return None
        try:
            data: dict[str, Any] = json.loads(p.read_text(encoding="utf-8"))
        except ValueError:
            return None
        return data

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic_write_json(self.path / SUMMARY, summary)


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    if not path.exists():
        return
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.endswith("\n"):
                return  # a partial last line (a crash mid-write): not a result
            s = line.strip()
            if not s:
                continue
            try:
                rec = json.loads(s)
            except ValueError:
                continue
            if isinstance(rec, dict):
                yield rec
