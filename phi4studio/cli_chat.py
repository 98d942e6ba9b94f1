"""`phi4studio chat`: one question to a local model from the command line, with the answer and
the tool calls it made, parsed and checked against the tools' schemas (the Playground's core).

    phi4studio chat --model DIR [--adapter NAME] [--tools FILE | --mcp "CMD ARGS"]
                    [--guided | --free] [--require-call] [--no-tool-words] --prompt TEXT [--json]
                    [--execute [--yes]] [--system TEXT] [--format NAME] [--provider P]
                    [--max-new-tokens N] [--temperature T] [--top-p P] [--top-k K]
                    [--repetition-penalty R] [--seed S] [--greedy]

With --mcp the server is started and its tools listed (and offered to the model). Calls run only
with --execute: then each valid call runs on the server and the model continues with the
results (up to --max-rounds turns); a tool annotated destructive runs only with --yes as well,
and invalid calls never run. Exit codes: 0 answered, 1 the generation failed, 2 bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from phi4studio.core.errors import StudioError


def add_parser(sub: Any) -> None:
    p = sub.add_parser("chat", help="ask a local model; print the answer and its tool calls")
    p.add_argument("--model", type=Path, required=True, help="onnxruntime-genai model folder")
    p.add_argument("--adapter", help="an ONNX LoRA adapter of the folder (NAME), or NAME=FILE")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--tools", type=Path, help="a JSON file of tool definitions")
    src.add_argument("--mcp", metavar="CMD ARGS", help="an MCP server command line (stdio)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--guided", dest="guided", action="store_true", default=True,
                   help="constrain tool calls to the tools' schemas (default)")
    g.add_argument("--free", dest="guided", action="store_false", help="no guided decoding")
    p.add_argument("--require-call", action="store_true",
                   help="the model must call a tool (guided only)")
    p.add_argument("--no-tool-words", dest="tool_words", action="store_false",
                   help="guided: leave the choice of the tool's name to the model alone (by "
                        "default the request's words weigh it, as in the quick start's "
                        "evaluation)")
    p.add_argument("--prompt", required=True, help="the user's message")
    p.add_argument("--system", default="", help="a system prompt")
    p.add_argument("--format", dest="chat_format", help="chat format (default: from the model)")
    p.add_argument("--provider", choices=("auto", "cpu", "cuda", "dml"),
                   help="execution provider (default: the app's inference device setting)")
    p.add_argument("--max-new-tokens", type=int, default=256)
    p.add_argument("--temperature", type=float, default=0.7)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--top-k", type=int, default=50)
    p.add_argument("--repetition-penalty", type=float, default=1.0)
    p.add_argument("--seed", type=int)
    p.add_argument("--greedy", action="store_true")
    p.add_argument("--execute", action="store_true",
                   help="run the calls on the MCP server and let the model continue")
    p.add_argument("--yes", action="store_true",
                   help="with --execute: also run tools annotated destructive")
    p.add_argument("--max-rounds", type=int, default=4, help="model turns with --execute")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per tool call")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _provider(args: argparse.Namespace) -> str:
    if args.provider:
        return str(args.provider)
    from phi4studio.core.paths import app_dirs
    from phi4studio.core.settings import SettingsStore

    return str(SettingsStore(app_dirs().settings_file).load().settings.inference_device.value)


def _adapter(args: argparse.Namespace, found: dict[str, Path]) -> tuple[dict[str, Path], str]:
    if not args.adapter:
        return {}, ""
    name, _, file = str(args.adapter).partition("=")
    if file:
        return {name: Path(file)}, name
    if name not in found:
        have = ", ".join(sorted(found)) or "none"
        raise StudioError(f"No adapter named {name!r} in {args.model} (found: {have}).",
                          hint="Give NAME=FILE for an adapter file elsewhere.")
    return {name: found[name]}, name


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _run(args: argparse.Namespace) -> int:
    from phi4studio.core.datasets.catalog import load_tool_catalog
    from phi4studio.core.inference import InferenceClient
    from phi4studio.core.mcp import (
        ApprovalPolicy,
        McpHub,
        McpServerConfig,
        ToolCatalog,
        ToolSource,
        source_from_session,
    )
    from phi4studio.core.playground import (
        CatalogExecutor,
        ChatSession,
        GenerationSettings,
        ToolRunner,
        converse,
        format_for_model,
        model_from_folder,
    )

    model = model_from_folder(args.model)
    fmt = format_for_model(model.path, args.chat_format)
    adapters, active = _adapter(args, dict(model.adapters))
    catalog = ToolCatalog()
    hub = McpHub()
    out: dict[str, Any] = {"model": str(model.path), "format": fmt.name, "adapter": active or None}
    try:
        if args.tools:
            catalog.add(ToolSource("file", args.tools.name, load_tool_catalog(args.tools)))
        elif args.mcp:
            cfg = McpServerConfig.from_command_line("mcp", args.mcp, timeout_s=args.timeout)
            hub.add_transient(cfg)
            session = await hub.start("mcp")
            catalog.add(source_from_session(session))
            out["mcp_server"] = {"name": session.server_name, "version": session.server_version,
                                 "tools": session.tools}
            if not args.json:
                _print_server(session)
        settings = GenerationSettings(
            max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=args.top_p,
            top_k=args.top_k, repetition_penalty=args.repetition_penalty, seed=args.seed,
            greedy=args.greedy, guided=args.guided, tool_words=args.tool_words,
            tool_choice="required" if args.require_call else "auto")
        async with InferenceClient(model.path, provider=_provider(args),
                                   adapters=adapters) as client:
            info = client.info or {}
            chat = ChatSession(client, fmt, tools=catalog.tools(), settings=settings,
                               adapter=active or None, model_name=model.name,
                               system=args.system)
            out["provider"] = info.get("provider")
            if args.execute and args.mcp:
                runner = ToolRunner(CatalogExecutor(hub, catalog), ApprovalPolicy())
                turns = await converse(chat, args.prompt, runner, _cli_decider(args),
                                       max_rounds=max(1, args.max_rounds))
            else:
                chat.add_user(args.prompt)
                turns = [await chat.generate()]
    finally:
        await hub.close()
    out["tools"] = [t["name"] for t in catalog.tools()]
    out["turns"] = [t.to_json() for t in turns]
    last = turns[-1]
    out["answer"] = last.content
    out["calls"] = [c.to_json() for t in turns for c in t.calls]
    out["error"] = last.error
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
    else:
        _print_turns(turns, fmt.name, str(info.get("provider") or "?"), active)
    return 1 if last.error else 0


def _cli_decider(args: argparse.Namespace) -> Any:
    from phi4studio.core.mcp import Approval, is_destructive

    async def decide(call: Any) -> Any:
        if not call.valid:
            return Approval.deny("Not run: the call does not fit the tool's schema.")
        if is_destructive(call.tool) and not args.yes:
            return Approval.deny(f"Not run: {call.name!r} is annotated destructive and --yes "
                                 "was not given.")
        return Approval.approve()

    return decide


def _print_server(session: Any) -> None:
    name = " ".join(x for x in (session.server_name or session.name, session.server_version) if x)
    print(f"MCP server {name}: {len(session.tools)} tool(s)")
    for t in session.tools:
        ann = t.get("annotations") or {}
        flags = [k for k in ("readOnlyHint", "destructiveHint") if ann.get(k) is True]
        head = (t.get("description") or "").strip().splitlines()[:1]
        print(f"  {t['name']}{' [' + ', '.join(flags) + ']' if flags else ''}"
              f"{': ' + head[0] if head else ''}")


def _print_turns(turns: list[Any], fmt: str, provider: str, adapter: str) -> None:
    for t in turns:
        head = f"turn {t.index + 1}" + (f" (adapter {adapter})" if adapter else "")
        guided = f"guided ({t.guidance_type})" if t.guided else "free"
        print(f"--- {head}: {fmt} on {provider}, {guided} ---")
        if t.restarted:
            print(f"note: {t.restarted}")
        if t.error:
            print(f"error: {t.error}")
            continue
        if t.content:
            print(t.content)
        for err in t.parse_errors:
            print(f"  parse: {err}")
        for c in t.calls:
            mark = "valid" if c.valid else "INVALID"
            print(f"  call {c.index + 1}: {c.name} {json.dumps(c.arguments, ensure_ascii=False)}"
                  f"  [{mark}]")
            for i in c.issues:
                print(f"      {i.path}: {i.message}")
            if c.outcome is not None:
                res = c.outcome.message_content().replace("\n", " ")
                print(f"      -> {c.status.value}: {res[:300]}")
        tps = f"{t.decode_tokens_per_s:.0f} tokens/s" if t.decode_tokens_per_s else "- tokens/s"
        ttft = f"TTFT {t.ttft_s:.3f} s" if t.ttft_s is not None else "TTFT -"
        print(f"  [{t.prompt_tokens} prompt + {t.completion_tokens} generated tokens, {ttft}, "
              f"{tps}, stop: {t.stop_reason}]")
