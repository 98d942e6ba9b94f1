"""`phi4studio chat` as a subprocess on the tiny model: the answer and the parsed, validated
calls (text and --json), --mcp listing a real server's tools, --execute, and destructive tools
never run without --yes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from phi4studio.core.jobs.workers import app_argv

SERVER = Path(__file__).resolve().parents[1] / "core" / "mcp" / "notes_server.py"
TOOLS = {"tools": [{"name": "set_alarm", "description": "Set an alarm.", "inputSchema": {
    "type": "object", "properties": {"hour": {"type": "integer", "enum": [6, 7, 8]},
                                     "label": {"type": "string", "maxLength": 6}},
    "required": ["hour", "label"]}}]}


def chat(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PHI4STUDIO_HOME": str(tmp_path / "home")}
    return subprocess.run(app_argv("chat", *args), capture_output=True, text=True, env=env,
                          timeout=120, check=False)


def mcp_line(*extra: str) -> str:
    return " ".join([sys.executable, str(SERVER), *extra])


def test_chat_prints_the_answer_and_validated_calls(tiny_phi3_onnx_dir: Path,
                                                    tmp_path: Path) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(TOOLS))
    base = ["--model", str(tiny_phi3_onnx_dir), "--tools", str(tools), "--prompt", "Wake me at 7",
            "--seed", "2", "--max-new-tokens", "64", "--provider", "cpu"]
    r = chat(tmp_path, *base, "--require-call", "--json")
    assert r.returncode == 0, r.stderr
    out: dict[str, Any] = json.loads(r.stdout)
    assert out["format"] == "generic" and out["tools"] == ["set_alarm"]
    turn = out["turns"][0]
    assert turn["guided"] and turn["prompt"].endswith("<|im_start|>assistant\n")
    assert turn["stop_reason"] == "eos" and out["calls"]
    assert all(c["name"] == "set_alarm" and c["valid"] for c in out["calls"])
    assert all(c["arguments"]["hour"] in (6, 7, 8) for c in out["calls"])
    # free decoding of a random model: no valid call; the text output names the problems
    r = chat(tmp_path, *base, "--free")
    assert r.returncode == 0, r.stderr
    assert "free ---" in r.stdout and "tokens/s" in r.stdout and "TTFT" in r.stdout
    r = chat(tmp_path, "--model", str(tmp_path), "--prompt", "x")
    assert r.returncode == 2 and "genai_config.json" in r.stderr


def test_chat_with_mcp_lists_tools_and_runs_calls_only_when_asked(tiny_phi3_onnx_dir: Path,
                                                                 tmp_path: Path) -> None:
    base = ["--model", str(tiny_phi3_onnx_dir), "--prompt", "Delete my first note", "--seed",
            "1", "--max-new-tokens", "48", "--require-call", "--provider", "cpu", "--max-rounds",
            "1"]
    only_delete = mcp_line("--only", "delete_note")
    # without --execute: the server's tools are listed, the calls shown and never run
    r = chat(tmp_path, *base, "--mcp", only_delete)
    assert r.returncode == 0, r.stderr
    assert "MCP server notes-test: 1 tool(s)" in r.stdout
    assert "delete_note [destructiveHint]" in r.stdout and "->" not in r.stdout
    # --execute without --yes: a destructive tool is refused, and the model is told
    r = chat(tmp_path, *base, "--mcp", only_delete, "--execute", "--json")
    assert r.returncode == 0, r.stderr
    calls = json.loads(r.stdout)["calls"]
    assert calls and all(c["status"] == "denied" for c in calls)
    assert all("--yes" in c["outcome"]["text"] or not c["valid"] for c in calls)
    # --execute --yes: valid calls reach the server (which answers, here with an error)
    r = chat(tmp_path, *base, "--mcp", only_delete, "--execute", "--yes", "--json")
    calls = json.loads(r.stdout)["calls"]
    ran = [c for c in calls if c["valid"]]
    assert ran and all(c["outcome"]["server"] == "mcp" for c in ran)
    assert all(c["outcome"]["kind"] in ("ok", "tool_error") for c in ran)
