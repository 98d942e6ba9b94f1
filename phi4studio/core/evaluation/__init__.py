"""Evaluation: BFCL-style AST checking, metrics, suites (dataset test splits, BFCL, ToolTalk),
the runner behind `phi4studio --worker eval`, A/B statistics, latency benchmarks and reports.

No Qt, and nothing heavy at module level. Documented in docs/evaluation.md.
"""
