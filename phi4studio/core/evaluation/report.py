"""Reports: JSON (everything a script needs) and self-contained HTML (one file, no network).

    write_reports(run)            -> report.json + report.html in the run folder
    comparison_html(cmp, a, b)    -> the A/B report as HTML text

The HTML has the headline metrics, per-category / per-scenario / per-tool tables, an inline SVG
chart, and the failures with expected vs predicted calls as a diff, the raw output and the
prompt. Nothing is loaded from elsewhere: it can be mailed or archived as it is.
"""

from __future__ import annotations

import difflib
import html
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from phi4studio.core.evaluation.checker import first_answer
from phi4studio.core.evaluation.metrics import METRIC_NAMES, TITLES, fmt_ratio
from phi4studio.core.evaluation.results import RunDir
from phi4studio.core.fileio import atomic_write_json, atomic_write_text

FORMAT = "phi4studio-eval-report"
MAX_FAILURES = 300
CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#1b1d21}
h1{font-size:22px}h2{font-size:17px;margin-top:28px}table{border-collapse:collapse;margin:8px 0}
td,th{border:1px solid #d5d8de;padding:3px 8px;text-align:right}th{background:#f1f3f6}
td:first-child,th:first-child{text-align:left}.ok{color:#137333}.bad{color:#b3261e}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #d5d8de;border-radius:6px;
padding:8px 12px;min-width:130px}.card b{font-size:20px;display:block}
pre{background:#f6f7f9;padding:8px;overflow:auto;max-height:340px;white-space:pre-wrap}
.add{background:#e6f4ea}.del{background:#fce8e6}details{margin:4px 0 12px}
.verdict{font-size:20px;font-weight:600;padding:8px 12px;border-radius:6px;display:inline-block}
.ship{background:#e6f4ea}.iterate{background:#fef7e0}.roll{background:#fce8e6}
"""


def first_failure(result: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for turn in result.get("turns") or []:
        if isinstance(turn, Mapping) and not turn.get("correct"):
            return turn
    return None


def expected_calls(turn: Mapping[str, Any]) -> Any:
    """What the failure browser shows as expected: BFCL possible answers as their first
    acceptable call; multi-turn and ToolTalk turns as their reference calls."""
    exp = turn.get("expected")
    if isinstance(exp, list) and all(isinstance(e, Mapping) and len(e) == 1
                                     and isinstance(next(iter(e.values())), Mapping)
                                     for e in exp):
        return [first_answer(e) for e in exp]
    return exp


def predicted_calls(turn: Mapping[str, Any]) -> Any:
    if "calls" in turn:
        return turn["calls"]
    steps = turn.get("steps") or []
    return [c for s in steps for c in s.get("calls") or []]


def failures(results: Sequence[Mapping[str, Any]],
             limit: int = MAX_FAILURES) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in results:
        if r.get("ok"):
            continue
        turn = first_failure(r) or {}
        raw = turn.get("raw")
        if raw is None and turn.get("steps"):
            raw = "\n---\n".join(str(s.get("raw", "")) for s in turn["steps"])
        out.append({"id": r.get("id"), "suite": r.get("suite"), "category": r.get("category"),
                    "error": r.get("error") or turn.get("error") or r.get("failure") or "",
                    "error_type": turn.get("error_type") or ("crash" if r.get("error") else ""),
                    "turn": turn.get("index"), "expected": expected_calls(turn),
                    "predicted": predicted_calls(turn), "raw": raw or "",
                    "prompt": turn.get("prompt") or ""})
        if len(out) >= limit:
            break
    return out


def build_report(run: RunDir) -> dict[str, Any]:
    results = run.results()
    from phi4studio.core.evaluation.metrics import summarize

    summary = run.summary() or summarize(results, total_cases=run.n_cases())
    return {"format": FORMAT, "version": 1, "run": run.id, "created": time.time(),
            "config": run.config(), "summary": summary, "failures": failures(results)}


def write_reports(run: RunDir) -> dict[str, Any]:
    report = build_report(run)
    atomic_write_json(run.path / "report.json", report)
    atomic_write_text(run.path / "report.html", report_html(report))
    return report


# --- HTML ----------------------------------------------------------------------------------


def _e(v: Any) -> str:
    return html.escape(str(v))


def _js(v: Any) -> str:
    return json.dumps(v, indent=1, ensure_ascii=False, default=str)


def diff_html(expected: Any, predicted: Any) -> str:
    a = _js(expected).splitlines()
    b = _js(predicted).splitlines()
    rows = []
    for line in difflib.ndiff(a, b):
        tag, text = line[:1], line[2:]
        if tag == "?":
            continue
        cls = {"-": "del", "+": "add"}.get(tag, "")
        rows.append(f'<span class="{cls}">{_e(tag)} {_e(text)}</span>' if cls
                    else f"  {_e(text)}")
    return "<pre>" + "\n".join(rows) + "</pre>"


def bar_chart_svg(values: Mapping[str, float | None], width: int = 640) -> str:
    """Horizontal bars, one per label (0..100%)."""
    items = list(values.items())
    row, label_w = 22, 190
    h = row * len(items) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
             'font-family="sans-serif" font-size="12">']
    span = width - label_w - 60
    for i, (label, v) in enumerate(items):
        y = 5 + i * row
        w = int(span * (v or 0.0))
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{_e(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{span}" height="14" '
                     'fill="#eef0f3"/>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w}" height="14" fill="#1f6feb"/>')
        text = "–" if v is None else f"{100 * v:.1f}%"
        parts.append(f'<text x="{label_w + span + 6}" y="{y + 14}">{text}</text>')
    parts.append("</svg>")
    return "".join(parts)


def metrics_table(groups: Mapping[str, Mapping[str, Any]], first: str) -> str:
    cols = [m for m in METRIC_NAMES if any((g.get(m) or {}).get("den") for g in groups.values())]
    head = "".join(f"<th>{_e(TITLES[m])}</th>" for m in cols)
    rows = []
    for name, g in groups.items():
        cells = "".join(
            f"<td title='{(g.get(m) or {}).get('num')}/{(g.get(m) or {}).get('den')}'>"
            f"{fmt_ratio(g.get(m))}</td>" for m in cols)
        rows.append(f"<tr><td>{_e(name)}</td><td>{g.get('cases')}</td>{cells}</tr>")
    return f"<table><tr><th>{_e(first)}</th><th>Cases</th>{head}</tr>{''.join(rows)}</table>"


def report_html(report: Mapping[str, Any]) -> str:
    cfg = report.get("config") or {}
    s = report.get("summary") or {}
    overall = s.get("overall") or {}
    cards = "".join(
        f"<div class='card'>{_e(TITLES[m])}<b>{fmt_ratio(overall.get(m))}</b>"
        f"<small>{(overall.get(m) or {}).get('num')}/{(overall.get(m) or {}).get('den')}</small>"
        "</div>" for m in METRIC_NAMES if (overall.get(m) or {}).get("den"))
    cats = {k: (v.get("accuracy") or {}).get("value")
            for k, v in (s.get("by_category") or {}).items()}
    tools = s.get("by_tool") or {}
    tool_rows = "".join(
        f"<tr><td>{_e(k)}</td><td>{v['expected']}</td><td>{v['correct']}</td>"
        f"<td>{v['called']}</td><td>{fmt_ratio(v['accuracy'])}</td></tr>"
        for k, v in list(tools.items())[:200])
    fails = []
    for f in report.get("failures") or []:
        fails.append(
            f"<details><summary><b>{_e(f['id'])}</b> · {_e(f['error_type'])} · "
            f"{_e(str(f['error'])[:200])}</summary>"
            f"<p>Expected (−) vs predicted (+)</p>{diff_html(f['expected'], f['predicted'])}"
            f"<details><summary>Raw output</summary><pre>{_e(f['raw'])}</pre></details>"
            f"<details><summary>Prompt</summary><pre>{_e(f['prompt'])}</pre></details>"
            "</details>")
    tt = s.get("tooltalk")
    tt_html = ""
    if tt:
        tt_html = ("<h2>ToolTalk</h2><table>" + "".join(
            f"<tr><td>{_e(k)}</td><td>{v:.3f}</td></tr>" if isinstance(v, float)
            else f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in tt.items())
            + "</table><p>Free-text arguments compared exactly (ToolTalk uses embedding "
              "similarity): a lower bound.</p>")
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(cfg.get("created_at") or 0)))
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<title>Evaluation {_e(report.get('run'))}</title><style>{CSS}</style></head><body>
<h1>{_e(cfg.get('name') or report.get('run'))}</h1>
<p>Model <code>{_e(cfg.get('model'))}</code>{' adapter ' + _e(cfg['adapter']) if cfg.get('adapter')
 else ''} · suites {_e(', '.join(cfg.get('suites') or []))} · guided decoding
{_e(cfg.get('guided'))} · {s.get('done')}/{s.get('total')} cases · started {_e(when)}</p>
<div class="cards">{cards}</div>
<h2>Accuracy per category</h2>{bar_chart_svg(cats)}
<h2>Per category</h2>{metrics_table(s.get('by_category') or {}, 'Category')}
<h2>Per scenario</h2>{metrics_table(s.get('by_scenario') or {}, 'Scenario')}
<h2>Per tool</h2><table><tr><th>Tool</th><th>Expected calls</th><th>Right</th><th>Called</th>
<th>Accuracy</th></tr>{tool_rows}</table>{tt_html}
<h2>Failures ({len(report.get('failures') or [])} shown)</h2>{''.join(fails)}
<p><small>Phi-4 Studio evaluation report · metrics defined in docs/evaluation.md</small></p>
</body></html>
"""


def comparison_html(cmp: Mapping[str, Any], a_name: str, b_name: str) -> str:
    v = cmp.get("verdict") or {}
    decision = str(v.get("decision", ""))
    cls = {"ship": "ship", "iterate": "iterate"}.get(decision, "roll")

    def row(name: str, m: Mapping[str, Any]) -> str:
        ci = m.get("ci")
        ci_s = f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else "–"
        d = m.get("delta")
        p = m.get("p_value")
        return (f"<tr><td>{_e(name)}</td><td>{m.get('n')}</td>"
                f"<td>{fmt_ratio({'value': m.get('a')})}</td>"
                f"<td>{fmt_ratio({'value': m.get('b')})}</td>"
                f"<td>{'–' if d is None else f'{100 * d:+.1f}'}</td><td>{ci_s}</td>"
                f"<td>{'–' if p is None else f'{p:.3g}'}</td></tr>")

    head = ("<tr><th></th><th>Pairs</th><th>A</th><th>B</th><th>Δ (points)</th>"
            "<th>95% CI</th><th>McNemar p</th></tr>")
    metrics_rows = "".join(row(m["title"], m) for m in (cmp.get("metrics") or {}).values()
                           if m.get("a") is not None or m.get("b") is not None)
    cat_rows = "".join(row(k, m) for k, m in (cmp.get("categories") or {}).items())
    reasons = "".join(f"<li>{_e(r)}</li>" for r in v.get("reasons") or [])
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>A/B</title>
<style>{CSS}</style></head><body><h1>A/B: {_e(a_name)} vs {_e(b_name)}</h1>
<div class="verdict {cls}">{_e(decision)}</div><ul>{reasons}</ul>
<p>{cmp.get('pairs')} paired cases. Criteria: <code>{_e(_js(cmp.get('criteria')))}</code></p>
<h2>Metrics</h2><table>{head}{metrics_rows}</table>
<h2>Per category</h2><table>{head}{cat_rows}</table></body></html>
"""
