"""`phi4studio dataset ...`: the Datasets tab's work from the command line, over the same core.

    phi4studio dataset list [--json]
    phi4studio dataset import FILE [--format F] [--name NAME | --into DATASET] [--partial]
                              [--answers BFCL_ANSWERS] [--tools CATALOG]
    phi4studio dataset validate DATASET|FILE [--json]     exit 1 while errors remain
    phi4studio dataset stats DATASET|FILE [--json]
        both: [--tokenizer PATH [--family F] [--max-tokens N]]   token lengths, over-long flagged
    phi4studio dataset synth (--tools CATALOG | --mcp "CMD ARGS") -n N [--seed S] [--mix ...]
                             [--name NAME | --into DATASET]
    phi4studio dataset split DATASET [--ratios 0.8,0.1,0.1] [--seed S] [--holdout-tools a,b]
                             [--train-only-sources s,t]
    phi4studio dataset export DATASET|FILE --format F --out PATH [--split S] [--family F]
    phi4studio dataset version DATASET [list | create NAME | diff A [B] | restore V | delete V]

DATASET is a dataset of the workspace (name or id, see `list`) or a dataset file (.sqlite); a
FILE in any import format is read into a temporary dataset first (nothing is added to the
workspace). Exit codes: 0 ok, 1 validation errors remain, 2 bad input (message on stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from phi4studio.core.errors import StudioError


def add_parser(sub: Any) -> None:
    ds = sub.add_parser("dataset", help="import, validate, summarise, synthesize, split, export")
    dsub = ds.add_subparsers(dest="dataset_command", required=True)

    p = dsub.add_parser("list", help="the workspace's datasets")
    p.add_argument("--json", action="store_true")

    p = dsub.add_parser("import", help="import a file into a (new) dataset")
    p.add_argument("file", type=Path)
    p.add_argument("--format", help="the file's format (default: detected)")
    p.add_argument("--name", help="name of the new dataset (default: the file's name)")
    p.add_argument("--into", metavar="DATASET", help="add to this dataset instead")
    p.add_argument("--partial", action="store_true",
                   help="import the good records even when some are bad")
    p.add_argument("--split", choices=("train", "validation", "test"))
    p.add_argument("--answers", type=Path, metavar="FILE",
                   help="BFCL: the possible-answer file (default: possible_answer/<same name>)")
    p.add_argument("--tools", type=Path, metavar="CATALOG",
                   help="tool definitions (a catalog) for transcripts that carry none (Claude)")
    p.add_argument("--json", action="store_true")

    p = dsub.add_parser("validate", help="check every example; exit 1 while errors remain")
    p.add_argument("dataset")
    p.add_argument("--format", help="format of FILE (default: detected)")
    p.add_argument("--max-issues", type=int, default=50)
    _token_args(p)
    p.add_argument("--json", action="store_true")

    p = dsub.add_parser("stats", help="scenario mix vs target, calls per tool, lengths, gaps")
    p.add_argument("dataset")
    p.add_argument("--format", help="format of FILE (default: detected)")
    _token_args(p)
    p.add_argument("--json", action="store_true")

    p = dsub.add_parser("convert-tokenizer", help=argparse.SUPPRESS)  # the app's subprocess
    p.add_argument("source", type=Path)
    p.add_argument("out", type=Path)

    p = dsub.add_parser("synth", help="generate examples from a tool catalog")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--tools", type=Path, help="a tool catalog (JSON)")
    src.add_argument("--mcp", help="an MCP server command line (stdio), e.g. \"npx server\"")
    p.add_argument("-n", type=int, default=100, help="how many examples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--mix", help="scenario shares, e.g. single=0.3,multiple=0.2,...")
    p.add_argument("--name", help="name of the new dataset")
    p.add_argument("--into", metavar="DATASET", help="add to this dataset instead")
    p.add_argument("--json", action="store_true")

    p = dsub.add_parser("split", help="train/validation/test split, stratified")
    p.add_argument("dataset")
    p.add_argument("--ratios", default="0.8,0.1,0.1", help="train,validation,test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--holdout-tools", default="", help="tools kept out of train (comma list)")
    p.add_argument("--train-only-sources", default="",
                   help="sources whose examples only train, e.g. auxiliary data (comma list)")
    p.add_argument("--json", action="store_true")

    p = dsub.add_parser("version", help="named versions: list, create, diff, restore, delete")
    p.add_argument("dataset")
    p.add_argument("action", nargs="?", default="list",
                   choices=("list", "create", "diff", "restore", "delete"))
    p.add_argument("names", nargs="*", metavar="VERSION",
                   help="create: the new name; diff: A [B] (B: now); restore/delete: one "
                        "version (id or name)")
    p.add_argument("--note", default="", help="a note for create")
    p.add_argument("--json", action="store_true")

    p = dsub.add_parser("export", help="write JSONL in a training format")
    p.add_argument("dataset")
    p.add_argument("--format", dest="to", required=True,
                   help="canonical, openai, sharegpt, trl or rendered")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--split", choices=("train", "validation", "test"))
    p.add_argument("--family", metavar="FAMILY",
                   help="model family for --format rendered: phi4-mini (default), phi4, hermes, "
                        "chatml-notools or studio (aliases such as qwen, smollm2 work)")
    p.add_argument("--input-format", help="format of FILE (default: detected)")


def _token_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tokenizer", metavar="PATH",
                   help="count tokens with this tokenizer: a model folder, a tokenizer.json or a "
                        ".gguf file")
    p.add_argument("--family", metavar="FAMILY",
                   help="chat format the examples are rendered with before counting (default: "
                        "the tokenizer's own template)")
    p.add_argument("--max-tokens", type=int, metavar="N",
                   help="flag examples longer than N tokens (needs --tokenizer)")


def _counter(args: argparse.Namespace) -> Any:
    from phi4studio.core.datasets.errors import DatasetError
    from phi4studio.core.datasets.tokens import TokenOptions

    if args.tokenizer is None:
        if args.max_tokens is not None or args.family is not None:
            raise DatasetError("--max-tokens and --family need --tokenizer.")
        return None
    if args.max_tokens is not None and args.max_tokens < 1:
        raise DatasetError("--max-tokens must be a positive number.")
    counter = TokenOptions(args.tokenizer, args.family, args.max_tokens).counter()
    print(f"token lengths: {counter.label}", file=sys.stderr)
    return counter


def run(args: argparse.Namespace) -> int:
    try:
        return int(COMMANDS[args.dataset_command](args))
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the flush at exit
        return 0
    except KeyboardInterrupt:  # pragma: no cover
        print("interrupted", file=sys.stderr)
        return 130


# --- plumbing ----------------------------------------------------------------------------------


def _library(args: argparse.Namespace) -> Any:
    from phi4studio.core.datasets.library import DatasetLibrary
    from phi4studio.core.paths import app_dirs
    from phi4studio.core.settings import SettingsStore
    from phi4studio.core.workspace import open_workspace

    dirs = app_dirs()
    root = args.workspace
    if root is None:
        settings = SettingsStore(dirs.settings_file).load().settings
        root = Path(settings.workspace or dirs.default_workspace)
    ws = open_workspace(Path(root))
    return DatasetLibrary(lambda: ws, None)


class _Progress:
    """Progress on stderr when it is a terminal (one rewritten line), silent otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()

    def __call__(self, fraction: float | None, message: str | None = None) -> None:
        if self.tty:
            pct = f"{fraction:4.0%} " if fraction is not None else ""
            print(f"\r{pct}{message or ''}"[:100].ljust(100), end="", file=sys.stderr)

    def done(self) -> None:
        if self.tty:
            print(file=sys.stderr)


@contextlib.contextmanager
def _open_store(args: argparse.Namespace, key: str, fmt: str | None = None) -> Iterator[Any]:
    """A dataset of the workspace, a .sqlite dataset file, or any importable file (read into a
    temporary dataset)."""
    from phi4studio.core.datasets.store import DatasetStore

    path = Path(key).expanduser()
    if path.suffix == ".sqlite" and path.is_file():
        with DatasetStore.open(path) as store:
            yield store
        return
    if path.exists() and (path.is_dir() or path.suffix != ".sqlite"):
        from phi4studio.core.datasets.workflows import run_import

        with tempfile.TemporaryDirectory(prefix="phi4studio-") as tmp:
            target = Path(tmp) / "dataset.sqlite"
            progress = _Progress()
            report = run_import(target, path, fmt, allow_partial=True,
                                create_name=path.stem, progress=progress)
            progress.done()
            args.unreadable = len(report.skipped)
            for issue in report.skipped[:20]:
                print(f"{path.name}: skipped {issue}", file=sys.stderr)
            if not report.committed:
                print(f"error: {report.message or 'no example could be read'}", file=sys.stderr)
                raise SystemExit(2)
            with DatasetStore.open(target) as store:
                yield store
        return
    lib = _library(args)
    info = lib.find(key)
    with DatasetStore.open(info.path) as store:
        yield store
    lib.sync(info.id, emit=False)


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


# --- commands ----------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    lib = _library(args)
    items = lib.datasets()
    if args.json:
        _print_json([{"id": d.id, "name": d.name, "path": str(d.path),
                      "examples": d.n_examples, "validity": d.validity.__dict__,
                      "state": d.validity.state} for d in items])
        return 0
    if not items:
        print(f"No datasets in {lib.workspace.root}.")
        return 0
    width = max(len(d.name) for d in items)
    for d in items:
        print(f"{d.id}  {d.name:<{width}}  {d.n_examples:>8,} examples  {d.validity.label()}")
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from phi4studio.core.datasets.importers.pipeline import ImportOptions
    from phi4studio.core.datasets.library import new_dataset_id, store_file
    from phi4studio.core.datasets.workflows import run_import

    lib = _library(args)
    opts = ImportOptions(split=args.split, answers=args.answers, tools_file=args.tools)
    progress = _Progress()
    if args.into:
        info = lib.find(args.into)
        report = run_import(info.path, args.file, args.format, options=opts,
                            allow_partial=args.partial, progress=progress)
        ds_id, name = info.id, info.name
    else:
        ds_id = new_dataset_id()
        name = lib.unique_name(args.name or args.file.stem)
        report = run_import(store_file(lib.workspace, ds_id), args.file, args.format,
                            options=opts, allow_partial=args.partial, create_name=name,
                            progress=progress)
        if report.committed:
            lib.register(ds_id, name)
    progress.done()
    if report.committed:
        lib.sync(ds_id, emit=False)
    if args.json:
        _print_json({"dataset": ds_id if report.committed else None, "name": name,
                     "format": report.format, "records": report.records,
                     "imported": report.imported, "committed": report.committed,
                     "skipped": [str(i) for i in report.skipped],
                     "warnings": [str(i) for i in report.warnings]})
    else:
        for issue in report.skipped[:50]:
            print(f"{args.file.name}: {issue}", file=sys.stderr)
        if len(report.skipped) > 50:
            print(f"... and {len(report.skipped) - 50} more", file=sys.stderr)
        print(f"{report.message} (format: {report.format})")
        if report.committed:
            print(f"dataset: {name} ({ds_id})")
    return 0 if report.committed else 2


def cmd_validate(args: argparse.Namespace) -> int:
    from phi4studio.core.datasets.validation import validate_store

    counter = _counter(args)
    progress = _Progress()
    with _open_store(args, args.dataset, args.format) as store:
        summary = validate_store(store, keep_errors=args.max_issues, progress=progress,
                                 count_tokens=counter, max_tokens=args.max_tokens)
    progress.done()
    if args.json:
        _print_json({"examples": summary.n_examples, "ok": summary.n_ok,
                     "too_long": summary.by_code.get("too_long", 0),
                     "unreadable": int(getattr(args, "unreadable", 0)),
                     "warning": summary.n_warning, "error": summary.n_error,
                     "by_code": dict(summary.by_code),
                     "errors": [{"example": e, **i.to_dict()} for e, i in summary.first_errors]})
    else:
        for ex_id, issue in summary.first_errors:
            print(f"{ex_id}  {issue.path}: {issue.message}")
        if summary.by_code:
            print("issues by code: " + ", ".join(f"{k} {v}" for k, v in
                                                  summary.by_code.most_common()))
        if args.max_tokens is not None:
            print(f"{summary.by_code.get('too_long', 0)} example(s) longer than "
                  f"{args.max_tokens} tokens")
        print(summary.summary())
    unreadable = int(getattr(args, "unreadable", 0))
    if unreadable:
        print(f"{unreadable} record(s) of the file cannot be read (listed above)",
              file=sys.stderr)
    return 1 if summary.exit_code or unreadable else 0


def cmd_stats(args: argparse.Namespace) -> int:
    from phi4studio.core.datasets.coverage import compute_coverage

    counter = _counter(args)
    with _open_store(args, args.dataset, args.format) as store:
        report = compute_coverage(store, count_tokens=counter, max_tokens=args.max_tokens)
    if args.json:
        _print_json(report.to_dict())
        return 0
    print(f"{report.n_examples} examples ({report.inferred} with an inferred scenario)")
    print("\nscenario              share  target  count")
    for s in report.scenario_mix():
        target = f"{s.target:6.0%}" if s.target is not None else "     -"
        bar = "#" * round(s.share * 40)
        print(f"{s.scenario:<21} {s.share:6.1%} {target} {s.count:6}  {bar}")
    print("\ntool                         offered  called-in  calls")
    for t in sorted(report.tools_offered | report.tools_called):
        print(f"{t:<28} {report.tools_offered[t]:8} {report.tools_called[t]:10} "
              f"{report.calls_per_tool[t]:6}")
    print("\nsplits: " + ", ".join(f"{k} {v}" for k, v in sorted(report.splits.items())))
    est = " (estimated: characters / 4)" if report.length_is_estimate else ""
    print(f"length histogram{est}: " + ", ".join(
        f"{lo}-{hi or ''}: {n}" for lo, hi, n in report.length_histogram() if n))
    if args.max_tokens is not None:
        print(f"{report.over_length} example(s) longer than {args.max_tokens} tokens")
    if report.gaps:
        print("\ngaps:")
        for g in report.gaps:
            print(f"  - {g.message}")
    return 0


def cmd_convert_tokenizer(args: argparse.Namespace) -> int:
    from phi4studio.core.datasets.tokens import convert_tokenizer

    print(convert_tokenizer(args.source, args.out))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from phi4studio.core.datasets.query import ExampleFilter
    from phi4studio.core.datasets.workflows import run_export

    flt = ExampleFilter(split=args.split) if args.split else None
    progress = _Progress()
    with _open_store(args, args.dataset, args.input_format) as store:
        report = run_export(store, args.out, args.to, flt=flt, family=args.family,
                            progress=progress)
    progress.done()
    print(f"{report.written} example(s) written to {report.path} ({report.format})")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    import asyncio

    from phi4studio.core.datasets.catalog import load_tool_catalog
    from phi4studio.core.datasets.library import new_dataset_id, store_file
    from phi4studio.core.datasets.workflows_synth import parse_mix, run_synthesis

    if args.mcp:
        from phi4studio.core.datasets.importers.mcp_tools import list_server_tools

        argv = shlex.split(args.mcp)
        found = asyncio.run(list_server_tools(argv[0], argv[1:], timeout=60))
        tools = found.tools
        print(f"{found.server_name or argv[0]}: {len(tools)} tool(s)", file=sys.stderr)
    else:
        tools = load_tool_catalog(args.tools)
    mix = parse_mix(args.mix) if args.mix else None
    lib = _library(args)
    progress = _Progress()
    if args.into:
        info = lib.find(args.into)
        report = run_synthesis(info.path, tools, args.n, seed=args.seed, mix=mix,
                               progress=progress)
        ds_id, name = info.id, info.name
    else:
        ds_id, name = new_dataset_id(), lib.unique_name(args.name or "Synthetic")
        report = run_synthesis(store_file(lib.workspace, ds_id), tools, args.n, seed=args.seed,
                               mix=mix, create_name=name, progress=progress)
        lib.register(ds_id, name)
    progress.done()
    lib.sync(ds_id, emit=False)
    if args.json:
        _print_json({"dataset": ds_id, "name": name, "added": report.added, "seed": args.seed})
    else:
        print(f"{report.message} into {name} ({ds_id})")
    return 0


def cmd_split(args: argparse.Namespace) -> int:
    from phi4studio.core.datasets.split import find_leaks
    from phi4studio.core.datasets.workflows_synth import describe_plan, run_split

    try:
        parts = [float(x) for x in args.ratios.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3:
        print("error: --ratios takes three numbers: train,validation,test", file=sys.stderr)
        return 2
    ratios = dict(zip(("train", "validation", "test"), parts, strict=True))
    holdout = [t.strip() for t in args.holdout_tools.split(",") if t.strip()]
    train_only = [t.strip() for t in args.train_only_sources.split(",") if t.strip()]
    progress = _Progress()
    with _open_store(args, args.dataset) as store:
        plan = run_split(store, ratios=ratios, seed=args.seed, holdout_tools=holdout,
                         train_only_sources=train_only, progress=progress)
        leaks = find_leaks(store)
    progress.done()
    if args.json:
        _print_json({"counts": dict(plan.counts), "groups": plan.n_groups,
                     "held_out": plan.held_out, "train_only": plan.train_only,
                     "leaks": len(leaks)})
    else:
        print(describe_plan(plan))
        print("no conversation is in two splits" if not leaks
              else f"{len(leaks)} group(s) of equal conversations span splits")
    return 0


def _version(store: Any, key: str) -> Any:
    from phi4studio.core.datasets.errors import DatasetError

    items = store.versions.list()
    for match in (lambda v: str(v.id) == key, lambda v: v.name == key,
                  lambda v: v.name.casefold() == key.casefold()):
        found = [v for v in items if match(v)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise DatasetError(f"{len(found)} versions are named {key!r}; use the version's id.")
    raise DatasetError(f"No version {key!r} in {store.name}.",
                       hint="`phi4studio dataset version DATASET` lists them.")


def cmd_version(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from phi4studio.core.datasets.errors import DatasetError
    from phi4studio.core.datasets.versions import CURRENT
    from phi4studio.core.datasets.workflows_versions import describe, restore_with_backup

    need = {"list": (0, 0), "create": (1, 1), "diff": (1, 2), "restore": (1, 1),
            "delete": (1, 1)}[args.action]
    if not need[0] <= len(args.names) <= need[1]:
        raise DatasetError(f"`version {args.action}` takes {need[0]}"
                           f"{'' if need[0] == need[1] else f' or {need[1]}'} version name(s).")
    if Path(args.dataset).expanduser().is_file() and not args.dataset.endswith(".sqlite"):
        raise DatasetError("Versions belong to a dataset: import the file first.")
    with _open_store(args, args.dataset) as store:
        vs = store.versions
        if args.action == "list":
            items, since = vs.list(), vs.changes_since_latest()
            if args.json:
                _print_json({"versions": [asdict(v) for v in items],
                             "since_latest": asdict(since)})
                return 0
            for v in items:
                print(f"{v.id:>4}  {describe(v)}" + (f"  ({v.note})" if v.note else ""))
            print(f"since the latest version: {since.summary()}" if items
                  else "no version saved yet")
        elif args.action == "create":
            v = vs.create(args.names[0], args.note)
            _print_json(asdict(v)) if args.json else print(f"saved version {v.id}: {describe(v)}")
        elif args.action == "diff":
            a = _version(store, args.names[0])
            b = _version(store, args.names[1]) if len(args.names) > 1 else None
            d = vs.diff(a.id, b.id if b else CURRENT)
            if args.json:
                _print_json({"from": a.name, "to": b.name if b else None, **asdict(d)})
            else:
                print(f"{a.name} -> {b.name if b else 'now'}: {d.summary()}")
        elif args.action == "restore":
            report = restore_with_backup(store, _version(store, args.names[0]).id)
            if args.json:
                _print_json({"restored": report.version.name, **asdict(report.changes),
                             "kept": report.kept.name if report.kept else None})
            else:
                print(report.message)
        else:
            v = _version(store, args.names[0])
            vs.delete(v.id)
            print(f"deleted version {v.id} ({v.name})")
    return 0


COMMANDS = {
    "list": cmd_list, "import": cmd_import, "validate": cmd_validate, "stats": cmd_stats,
    "export": cmd_export, "synth": cmd_synth, "split": cmd_split, "version": cmd_version,
    "convert-tokenizer": cmd_convert_tokenizer,
}
