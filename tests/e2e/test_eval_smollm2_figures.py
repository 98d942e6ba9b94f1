"""Reference figures: SmolLM2-135M-Instruct (int8 ONNX, untuned) on BFCL, free and guided.

First 100 of simple_python and multiple, 50 of parallel, 100 of irrelevance; greedy decoding,
at most 128 new tokens; the prompt is the model folder's chat template listing the tools as
JSON (tests/fixtures/tiny_models.py CHAT_TEMPLATE). Free decoding, the grammar (text or calls)
and calls only. 20 to 60 minutes on a 2-core CPU (depending on its load), so it runs only when
asked:

    PHI4STUDIO_EVAL_FIGURES=1 python3 dev.py test tests/e2e/test_eval_smollm2_figures.py -s

PHI4STUDIO_EVAL_FIGURES_DIR keeps the workspace (for `phi4studio --workspace DIR`).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from fixtures.bench_data import benchmarks_root

from phi4studio.core.evaluation.driver import EvalConfig, create_run, evaluate, record_summary
from phi4studio.core.evaluation.metrics import fmt_ratio
from phi4studio.core.evaluation.report import write_reports
from phi4studio.core.workspace import open_workspace

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.environ.get("PHI4STUDIO_EVAL_FIGURES"),
                       reason="reference figures (20-60 min): set PHI4STUDIO_EVAL_FIGURES=1"),
]
SUITES = [("bfcl:simple_python", 100), ("bfcl:multiple", 100), ("bfcl:parallel", 50),
          ("bfcl:irrelevance", 100)]


@pytest.mark.timeout(7200)
def test_smollm2_bfcl_reference_figures(smollm2_onnx_dir: Path, pytestconfig: pytest.Config,
                                        tmp_path: Path, figures: Any) -> None:
    root = benchmarks_root(pytestconfig)
    ws_dir = Path(os.environ.get("PHI4STUDIO_EVAL_FIGURES_DIR") or tmp_path / "ws")
    ws = open_workspace(ws_dir)
    table: dict[str, dict[str, str]] = {}
    try:
        for guided in ("off", "grammar", "calls"):
            row: dict[str, str] = {}
            for suite, limit in SUITES:
                if guided == "calls" and suite == "bfcl:irrelevance":
                    row[suite] = "(= off)"  # "calls" guides only turns that expect a call
                    continue
                cfg = EvalConfig(model=str(smollm2_onnx_dir), suites=[suite], limit=limit,
                                 guided=guided, max_new_tokens=128,
                                 name=f"SmolLM2-135M base · {suite} · guided {guided}")
                run = create_run(ws, cfg, benchmarks_root=root)
                summary = asyncio.run(evaluate(run.path, benchmarks_root=root))
                write_reports(run)
                record_summary(ws, run, "complete" if summary["complete"] else "stopped")
                o = summary["overall"]
                row[suite] = fmt_ratio(o["accuracy"], 0)
                figures(f"SmolLM2 {guided}: {suite} accuracy", row[suite])
                figures(f"SmolLM2 {guided}: {suite} schema validity",
                        fmt_ratio(o["schema_validity"], 0))
                figures(f"SmolLM2 {guided}: {suite} s/case", summary.get("seconds_per_case"))
            table[guided] = row
    finally:
        ws.close()
    print("\n| decoding | " + " | ".join(s for s, _ in SUITES) + " |")
    for guided, row in table.items():
        print(f"| {guided} | " + " | ".join(row[s] for s, _ in SUITES) + " |")
