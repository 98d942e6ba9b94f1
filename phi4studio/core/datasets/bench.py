"""Dataset benchmark: import N OpenAI-format examples, open, page, filter, search, validate.

    python benchmarks/bench_datasets.py [--n 100000] [--keep DIR]

Prints one line per step with its time (and the process's peak memory after the import). The
examples come from the synthesizer over the sample catalog (a few thousand distinct ones, then
varied copies), written as OpenAI fine-tuning JSONL, so the import is the real import path.
Targets (issue 3, 2-core machine): import < 60 s with peak RSS < 1 GB, first page < 1 s,
filter and search < 200 ms, validation < 60 s. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DISTINCT = 2000


def peak_rss_mb() -> float:
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 1024 if sys.platform != "darwin" else peak / (1024 * 1024)
    except ImportError:  # Windows
        import psutil

        return float(psutil.Process().memory_info().peak_wset) / (1024 * 1024)


def write_openai_jsonl(path: Path, n: int, seed: int = 1) -> None:
    """n OpenAI-format records: DISTINCT synthesized examples, then copies with varied text."""
    from phi4studio.core.datasets.exporters import to_openai
    from phi4studio.core.datasets.samples import sample_tools
    from phi4studio.core.datasets.synthesis import synthesize

    base = [to_openai(e) for e in synthesize(sample_tools(), min(n, DISTINCT), seed=seed)]
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            rec = base[i % len(base)]
            if i >= len(base):
                msgs = [dict(m) for m in rec["messages"]]
                for m in msgs:
                    if m["role"] == "user":
                        m["content"] = f"{m['content']} (request {i})"
                        break
                rec = {**rec, "messages": msgs}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def run(n: int = 100_000, workdir: Path | None = None,
        out: Callable[[str], None] = print) -> dict[str, float]:
    from phi4studio.core.datasets.importers import import_file
    from phi4studio.core.datasets.query import ExampleFilter
    from phi4studio.core.datasets.store import DatasetStore
    from phi4studio.core.datasets.validation import validate_store

    own = workdir is None
    root = Path(tempfile.mkdtemp(prefix="bench-datasets-")) if own else Path(workdir or ".")
    root.mkdir(parents=True, exist_ok=True)
    figures: dict[str, float] = {}

    @contextmanager
    def step(name: str, note: Callable[[], str] = lambda: "") -> Iterator[None]:
        t0 = time.perf_counter()
        yield
        dt = time.perf_counter() - t0
        figures[name] = dt
        extra = note()
        out(f"{name:<34} {dt * 1000:>10.1f} ms{'  ' + extra if extra else ''}")

    try:
        src = root / "openai.jsonl"
        with step("generate source JSONL", lambda: f"{src.stat().st_size / 2**20:.0f} MB"):
            write_openai_jsonl(src, n)
        rss_before = peak_rss_mb()
        db = root / "bench.sqlite"
        store = DatasetStore.create(db, "bench", overwrite=True)
        report: Any = None
        with step("import (one transaction)", lambda: f"{report.imported} examples"):
            report = import_file(store, src, "openai", record_undo=False)
        figures["peak_rss_mb"] = peak_rss_mb()
        out(f"{'peak RSS after import':<34} {figures['peak_rss_mb']:>10.0f} MB"
            f"  (before import {rss_before:.0f} MB)")
        store.close()

        rows: Any = None
        with step("open"):
            store = DatasetStore.open(db)
        with step("first page (100 rows)"):
            rows = store.page(limit=100)
        with step("count all"):
            total = store.count()
        out(f"{'':<34} {total} examples")
        flt_tool = ExampleFilter(called_tool="send_email")
        with step("filter by tool: count", lambda: f"{n_tool} rows"):
            n_tool = store.count(flt_tool)
        with step("filter by tool: first page"):
            rows = store.page(flt_tool, limit=100)
        flt_sc = ExampleFilter(scenario="parallel", split=None)
        with step("filter by scenario: count + page"):
            store.count(flt_sc)
            store.page(flt_sc, limit=100)
        flt_text = ExampleFilter(text="lisbon")
        with step("full-text search: count", lambda: f"{n_text} rows"):
            n_text = store.count(flt_text)
        with step("full-text search: first page"):
            store.page(flt_text, limit=100)
        both = ExampleFilter(text="quarterly report", called_tool="send_email")
        with step("search + tool filter: count + page"):
            store.count(both)
            store.page(both, limit=100)
        with step("deep page (offset 90%)"):
            rows = store.page(offset=int(total * 0.9), limit=100)
        after = rows[-1].pos if rows else 0
        with step("keyset page after it"):
            store.page_after(after_pos=after, limit=100)
        middle = store.page(offset=total // 2, limit=1)[0].id
        with step("get one example (parsed)"):
            store.get(middle)
        with step("validate all", lambda: summary.summary()):
            summary = validate_store(store)
        with step("filter by validity after validation"):
            store.count(ExampleFilter(validity="error"))
            store.page(ExampleFilter(validity="warning"), limit=100)
        store.close()
        return figures
    finally:
        if own:
            shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--n", type=int, default=100_000, help="examples to import (100000)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="work in this folder and keep the files (default: a temp folder)")
    args = ap.parse_args(argv)
    out = print
    out(f"Phi-4 Studio dataset benchmark: {args.n} examples, {os.cpu_count()} CPU(s), "
        f"Python {sys.version.split()[0]}")
    run(args.n, args.keep, out)
    return 0
