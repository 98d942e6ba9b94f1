"""Evaluate tab."""

from __future__ import annotations

from phi4studio.ui.tabs.placeholder import PlaceholderView


class EvaluateView(PlaceholderView):
    title = "Evaluate"
    summary = (
        "Tool correctness, parameter accuracy, selection, multi-turn success, JSON validity and "
        "irrelevance; BFCL-style AST checking; A/B significance; latency benchmarks; reports."
    )
