"""The quick start's final A/B table: per suite, the base and the fine-tuned model's accuracy,
the difference with its confidence interval and p-value, schema validity, and the decision.

    table_rows(state)       rows for the UI and --json
    format_table(state)     the same as a Markdown table (the CLI prints it)
    write_report(state, d)  report.json + report.md in the flow folder
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from phi4studio.core.fileio import atomic_write_json, atomic_write_text
from phi4studio.core.quickstart.state import FlowState

COLUMNS = ("suite", "base", "fine-tuned", "delta", "95% CI", "p", "schema valid (ft)",
           "decision")


def _pct(v: Any, digits: int = 0) -> str:
    return "–" if v is None else f"{100 * float(v):.{digits}f}%"


def suite_label(suite: str, state: FlowState | None = None) -> str:
    if suite.startswith("dataset:"):
        name = (state.artefacts.get("dataset_name") if state else None) or suite[8:]
        return f"held-out split ({name})"
    return suite


def table_rows(state: FlowState) -> list[dict[str, Any]]:
    out = []
    for suite, c in (state.artefacts.get("comparisons") or {}).items():
        a, b = c.get("base") or {}, c.get("finetuned") or {}
        ci = c.get("ci")
        out.append({
            "suite": suite, "label": suite_label(suite, state), "cases": c.get("pairs"),
            "base": a.get("accuracy"), "finetuned": b.get("accuracy"), "delta": c.get("delta"),
            "ci": ci, "p_value": c.get("p_value"),
            "schema_validity": b.get("schema_validity"), "json_validity": b.get("json_validity"),
            "base_schema_validity": a.get("schema_validity"), "decision": c.get("decision"),
            "reasons": c.get("reasons") or [],
        })
    return out


def format_table(state: FlowState) -> str:
    rows = table_rows(state)
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        ci = r["ci"]
        ci_text = f"[{100 * ci[0]:+.0f}, {100 * ci[1]:+.0f}]" if ci else "–"
        delta = "–" if r["delta"] is None else f"{100 * r['delta']:+.0f} pts"
        p = "–" if r["p_value"] is None else f"{r['p_value']:.2g}"
        lines.append("| " + " | ".join([
            f"{r['label']} ({r['cases']})", _pct(r["base"]), _pct(r["finetuned"]), delta,
            ci_text, p, _pct(r["schema_validity"]), str(r["decision"] or "–")]) + " |")
    verdict = state.artefacts.get("verdict")
    if verdict:
        lines.append("")
        lines.append(f"Verdict (held-out split): **{verdict}**")
    for note in state.artefacts.get("evaluation_notes") or []:
        lines.append(f"Note: {note}")
    return "\n".join(lines)


def links(state: FlowState) -> dict[str, Any]:
    """Where each artefact lives in the other tabs."""
    a = state.artefacts
    return {"dataset": a.get("dataset_id"), "run": a.get("run_id"),
            "export": a.get("export_id"), "base_export": a.get("base_export_id"),
            "evaluations": a.get("evaluations") or {}}


def report_data(state: FlowState) -> dict[str, Any]:
    return {"format": "phi4studio-quickstart-report", "flow": state.id, "label": state.label,
            "created_at": state.created_at, "written_at": time.time(),
            "duration_s": round(state.duration_s, 1),
            "steps": {s.name: {"status": s.status, "duration_s": round(s.duration_s or 0, 1),
                               "message": s.message} for s in state.steps},
            "options": state.options, "recipe": state.recipe, "links": links(state),
            "verdict": state.artefacts.get("verdict"), "table": table_rows(state),
            "notes": state.artefacts.get("evaluation_notes") or [], "machine": machine(state)}


def machine(state: FlowState) -> dict[str, Any]:
    """Where the figures were measured: the flow's times (and on the CPU its training's
    precision) depend on the processor as much as on the recipe."""
    import os

    from phi4studio.core.cpu import cpu_name

    return {"cpu": cpu_name(), "cores": os.cpu_count(),
            "training": state.artefacts.get("training_runtime")}


def machine_line(data: dict[str, Any]) -> str:
    """"on AMD EPYC (2 cores); training on cpu in fp32, 150 steps" """
    text = f"on {data['cpu']} ({data['cores']} cores)"
    t = data.get("training") or {}
    if t.get("device"):
        text += f"; training on {t['device']}" + (f" in {t['precision']}" if t.get(
            "precision") else "") + (f", {t['total_steps']} steps" if t.get(
                "total_steps") else "")
    return text


def truncation_line(data: dict[str, Any]) -> str:
    """What the training left out of its examples ("" when nothing): an example longer than
    the maximum length is cut there and trains on what is left; one with no answer token left
    to train on is left out."""
    d = ((data.get("training") or {}).get("data")) or {}
    cut, dropped = int(d.get("truncated") or 0), int(d.get("dropped") or 0)
    if not cut and not dropped:
        return ""
    parts = []
    if cut:
        parts.append(f"{cut} of {d.get('examples')} examples were longer than the maximum "
                     f"length ({d.get('max_length')} tokens) and were cut there")
    if dropped:
        parts.append(f"{dropped} had no answer token left to train on and were left out")
    return ("Training: " + "; ".join(parts)
            + " (`--set training.max_length=N` keeps more, at more memory).")


def write_report(state: FlowState, folder: Path) -> Path:
    data = report_data(state)
    atomic_write_json(folder / "report.json", data)
    minutes = state.duration_s / 60
    text = (f"# Quick start {state.label}\n\n{format_table(state)}\n\n"
            f"Steps took {minutes:.1f} min in all, {machine_line(data['machine'])}.\n")
    cut = truncation_line(data["machine"])
    if cut:
        text += f"\n{cut}\n"
    atomic_write_text(folder / "report.md", text)
    return folder / "report.json"
