"""Command line: `phi4studio` opens the app; subcommands work headless over the same core.

    phi4studio [--workspace DIR]          open the app
    phi4studio --version
    phi4studio doctor [--json]            what this machine offers; non-zero if something required
                                          is missing, with the fix in words
    phi4studio selftest [--screenshots DIR]
    phi4studio bench ui [--seconds 10] [--jobs 4] [--rate 200]
    phi4studio train --config run.yaml [--json]     fine-tune headless, printing progress
    phi4studio train resume RUN_DIR                 go on from the run's last checkpoint
    phi4studio bench train [--model M] [--steps N]  training tokens/s and memory vs plain TRL
    phi4studio bench dataset [--n 100000] [--keep DIR]
    phi4studio serve --model DIR [--adapter NAME] [--port N] [--host H] [--guided-tools]
                                          (cli_serve.py; also `bench serve --model DIR`)
    phi4studio dataset list|import|validate|stats|synth|split|export   (see cli_dataset.py)
    phi4studio export --source RUN_OR_DIR --precision P --ep E --out DIR   (see cli_export.py;
                                          also `bench export`)
    phi4studio bench chat --model DIR [--model DIR ...] [--tokens 256] [--repeats 3] [--no-ui]
    phi4studio runtime status|pythons|setup|repair|use|verify|remove        (cli_runtime.py)
    phi4studio chat --model DIR --prompt TEXT [--tools FILE | --mcp "CMD ARGS"] ...   (cli_chat.py)
    phi4studio eval --model DIR --suite S[,S] | eval compare A B   (cli_eval.py; `bench latency`)
    phi4studio quickstart --tools FILE_OR_MCP [--base MODEL] [--size N] [--json]
                                          tools -> trained, exported, evaluated model, A/B table
                                          (core/quickstart/headless.py; --resume, --list)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from phi4studio import APP_NAME, __version__


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="phi4studio", description=f"{APP_NAME} {__version__}")
    ap.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    ap.add_argument("--workspace", type=Path, help="open this workspace folder")
    sub = ap.add_subparsers(dest="command")

    doc = sub.add_parser("doctor", help="check Python, Qt, inference, training runtime, disk")
    doc.add_argument("--json", action="store_true", help="machine-readable output")

    st = sub.add_parser("selftest", help="open the window offscreen and exercise it for real")
    st.add_argument("--screenshots", type=Path, metavar="DIR",
                    help="save a PNG of the window on every tab")

    tr = sub.add_parser("train", help="fine-tune headless (or: train resume RUN_DIR)")
    tr.add_argument("action", nargs="?", choices=["resume"], help="resume a run")
    tr.add_argument("run", nargs="?", help="run folder or run id (with resume)")
    tr.add_argument("--config", type=Path, help="training config (YAML or JSON)")
    tr.add_argument("--json", action="store_true", help="print every event as a JSON line")
    tr.add_argument("--allow-invalid", action="store_true",
                    help="train even if the dataset has validation errors")

    bench = sub.add_parser("bench", help="print performance figures")
    bench_sub = bench.add_subparsers(dest="target", required=True)
    ui = bench_sub.add_parser("ui", help="UI stall under streaming jobs, and cold start")
    ui.add_argument("--seconds", type=float, default=10.0)
    ui.add_argument("--jobs", type=int, default=4)
    ui.add_argument("--rate", type=float, default=200.0, help="progress events per second per job")
    ui.add_argument("--json", action="store_true")
    bt = bench_sub.add_parser("train", help="training tokens/s and memory vs plain TRL")
    bt.add_argument("--model", help="base model (default: the offline SmolLM2 GGUF)")
    bt.add_argument("--steps", type=int, default=8)
    bt.add_argument("--batch", type=int, default=4)
    bt.add_argument("--examples", type=int, default=64)
    bt.add_argument("--threads", type=int, default=0, help="CPU threads (0: PyTorch default)")
    bt.add_argument("--out", type=Path, help="keep the bench folder here")
    bt.add_argument("--json", action="store_true")
    bds = bench_sub.add_parser("dataset", help="import, page, filter, search, validate N examples")
    bds.add_argument("--n", type=int, default=100_000, help="examples to import (100000)")
    bds.add_argument("--keep", type=Path, metavar="DIR", help="work in DIR and keep the files")
    bds.add_argument("--json", action="store_true")
    bch = bench_sub.add_parser("chat", help="worker vs bare decode speed, TTFT, UI stall")
    bch.add_argument("--model", type=Path, action="append", required=True,
                     help="an onnxruntime-genai model folder (repeat for several)")
    bch.add_argument("--tokens", type=int, default=256, help="new tokens per answer")
    bch.add_argument("--repeats", type=int, default=3, help="runs of each decode measurement")
    bch.add_argument("--turns", type=int, default=3, help="answers streamed for the UI stall")
    bch.add_argument("--prompt", help="the user message (default: a long story request)")
    bch.add_argument("--provider", default="cpu", choices=("auto", "cpu", "cuda", "dml"))
    bch.add_argument("--no-ui", action="store_true", help="skip the UI stall measurement")
    bch.add_argument("--json", action="store_true")

    from phi4studio.cli_dataset import add_parser as add_dataset_parser

    add_dataset_parser(sub)
    from phi4studio.cli_export import add_bench_parser as add_export_bench
    from phi4studio.cli_export import add_parser as add_export_parser

    add_export_parser(sub)
    add_export_bench(bench_sub)
    from phi4studio.cli_chat import add_parser as add_chat_parser

    add_chat_parser(sub)
    from phi4studio.cli_runtime import add_parser as add_runtime_parser

    add_runtime_parser(sub)
    from phi4studio.cli_eval import add_parser as add_eval_parser

    add_eval_parser(sub, bench_sub)
    from phi4studio.cli_serve import add_parser as add_serve_parser

    add_serve_parser(sub, bench_sub)
    from phi4studio.core.quickstart.headless import add_parser as add_quickstart_parser

    add_quickstart_parser(sub)
    sub.add_parser("startup-probe", help=argparse.SUPPRESS)
    return ap


def cmd_doctor(args: argparse.Namespace) -> int:
    from phi4studio.core.environment import Check, doctor, format_report, report_json
    from phi4studio.core.paths import app_dirs
    from phi4studio.core.settings import SettingsStore

    dirs = app_dirs()
    loaded = SettingsStore(dirs.settings_file).load()
    settings = loaded.settings
    workspace = args.workspace or Path(settings.workspace or dirs.default_workspace)
    extra: list[Check] = []
    try:
        from PySide6 import QtCore

        extra.append(Check("qt", True, f"PySide6 {QtCore.qVersion()}"))
    except ImportError as exc:
        extra.append(Check("qt", False, f"PySide6 is not importable: {exc}",
                           fix="pip install PySide6-Essentials"))
    checks = doctor(workspace, settings.training_python, extra)
    if args.json:
        print(report_json(checks))
    else:
        if loaded.message:
            print(f"note: {loaded.message}")
        print(format_report(checks))
    return 0 if all(c.ok or not c.required for c in checks) else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "export" or (args.command == "bench" and args.target == "export"):
        from phi4studio import cli_export

        return cli_export.run(args) if args.command == "export" else cli_export.run_bench(args)
    if args.command == "doctor":
        return cmd_doctor(args)
    if args.command == "selftest":
        from phi4studio.ui.selftest import run_selftest

        return run_selftest(args.screenshots)
    if args.command == "bench" and args.target == "dataset":
        from phi4studio.core.datasets import bench

        figures = bench.run(args.n, args.keep, print if not args.json else lambda _s: None)
        if args.json:
            print(json.dumps(figures, indent=2))
        return 0
    if args.command == "serve" or (args.command == "bench" and args.target == "serve"):
        from phi4studio.cli_serve import run as run_serve

        return run_serve(args)
    if args.command == "eval" or (args.command == "bench" and args.target == "latency"):
        from phi4studio import cli_eval

        return cli_eval.run(args) if args.command == "eval" else cli_eval.run_bench_latency(args)
    if args.command == "bench" and args.target == "chat":
        from phi4studio.ui.tabs.playground.bench import DEFAULT_PROMPT, run_bench_chat

        figures = run_bench_chat(args.model, max_new_tokens=args.tokens, repeats=args.repeats,
                                 turns=args.turns, prompt=args.prompt or DEFAULT_PROMPT,
                                 ui=not args.no_ui, provider=args.provider)
        if args.json:
            print(json.dumps(figures, indent=2))
        return 0
    if args.command == "quickstart":
        from phi4studio.core.quickstart.headless import quickstart_command

        return quickstart_command(args)
    if args.command == "train":
        from phi4studio.core.training.headless import train_command

        return train_command(args)
    if args.command == "bench" and args.target == "train":
        from phi4studio.core.training.bench import run_bench_train

        return run_bench_train(args)
    if args.command == "bench":
        from phi4studio.ui.bench import run_bench_ui

        figures = run_bench_ui(seconds=args.seconds, jobs=args.jobs, rate=args.rate)
        if args.json:
            print(json.dumps(figures, indent=2))
        return 0
    if args.command == "chat":
        from phi4studio.cli_chat import run as run_chat

        return run_chat(args)
    if args.command == "runtime":
        from phi4studio.cli_runtime import run as run_runtime

        return run_runtime(args)
    if args.command == "dataset":
        from phi4studio.cli_dataset import run as run_dataset

        return run_dataset(args)
    if args.command == "startup-probe":
        from phi4studio.ui.bench import startup_probe

        return startup_probe()
    from phi4studio.app import run_gui

    return run_gui(args.workspace)


if __name__ == "__main__":
    sys.exit(main())
