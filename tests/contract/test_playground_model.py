"""The Playground's chat session on a REAL tiny model in the inference worker: guided decoding
turns a model that cannot call tools into one whose calls are all schema-valid; a real MCP
server runs the call and the model continues; A/B of base vs adapter on one loaded base."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from phi4studio.core.inference import InferenceClient
from phi4studio.core.mcp import McpHub, McpServerConfig, ToolCatalog, source_from_session
from phi4studio.core.playground import (
    ABSession,
    CallStatus,
    CatalogExecutor,
    ChatSession,
    GenerationSettings,
    ToolRunner,
    auto_decider,
    converse,
    format_for_model,
)

# Small value spaces: a random model under guidance finishes a call in a few tokens.
TOOLS: list[dict[str, Any]] = [
    {"name": "set_alarm", "description": "Set an alarm.", "inputSchema": {
        "type": "object",
        "properties": {"hour": {"type": "integer", "enum": [6, 7, 8]},
                       "label": {"type": "string", "maxLength": 6},
                       "loud": {"type": "boolean"}},
        "required": ["hour", "label"]}},
    {"name": "get_weather", "description": "Weather.", "inputSchema": {
        "type": "object",
        "properties": {"unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["unit"]}},
]
SERVER = Path(__file__).resolve().parents[1] / "core" / "mcp" / "notes_server.py"


async def test_guided_decoding_yields_schema_valid_calls_the_free_model_never_makes(
    tiny_phi3_onnx_dir: Path, figures: Callable[[str, object], None]
) -> None:
    fmt = format_for_model(tiny_phi3_onnx_dir)
    async with InferenceClient(tiny_phi3_onnx_dir, provider="cpu") as client:
        free_ok = guided_ok = 0
        seeds = (1, 2, 3)
        for seed in seeds:
            for guided in (False, True):
                settings = GenerationSettings(max_new_tokens=128, seed=seed, guided=guided,
                                              tool_choice="required", max_calls=1,
                                              temperature=1.0, top_k=50)
                chat = ChatSession(client, fmt, tools=TOOLS, settings=settings)
                chat.add_user("Wake me at 7, and tell me the weather.")
                turn = await chat.generate()
                assert turn.error is None and turn.guided is guided
                assert turn.prompt.startswith("<|im_start|>")
                valid = bool(turn.calls) and all(c.valid for c in turn.calls) and \
                    not turn.parse_errors
                if guided:
                    guided_ok += valid
                    assert valid, (turn.raw_text, turn.parse_errors,
                                   [c.issues for c in turn.calls])
                    assert turn.stop_reason == "eos" and turn.guidance_type == "lark_grammar"
                    figures("playground guided decode tokens/s (tiny)", turn.decode_tokens_per_s)
                else:
                    free_ok += valid
                    figures("playground free decode tokens/s (tiny)", turn.decode_tokens_per_s)
        assert guided_ok == len(seeds) and free_ok == 0


async def test_a_real_model_calls_a_real_mcp_server_and_continues_with_the_result(
    tiny_phi3_onnx_dir: Path, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.json"
    notes.write_text(json.dumps(["water the plants"]))
    hub = McpHub()
    hub.add_transient(McpServerConfig("notes", sys.executable, [str(SERVER)],
                                      env={"NOTES_FILE": str(notes)}))
    session = await hub.start("notes")
    catalog = ToolCatalog([source_from_session(session)])
    for t in session.tools:
        catalog.set_tool_enabled(t["name"], t["name"] == "list_notes")
    fmt = format_for_model(tiny_phi3_onnx_dir)
    try:
        async with InferenceClient(tiny_phi3_onnx_dir, provider="cpu") as client:
            settings = GenerationSettings(max_new_tokens=40, greedy=True, tool_choice="required")
            chat = ChatSession(client, fmt, tools=catalog.tools(), settings=settings)
            runner = ToolRunner(CatalogExecutor(hub, catalog))
            runner.policy.allow_always(catalog.tool("list_notes") or {})
            asked: list[str] = []

            async def decide(call: Any) -> Any:
                asked.append(call.name)
                return await auto_decider()(call)

            turns = await converse(chat, "What are my notes?", runner, decide, max_rounds=2)
            assert asked == []  # read-only and always allowed: ran without asking
            call = turns[0].calls[0]
            assert call.name == "list_notes" and call.status is CallStatus.DONE
            assert call.outcome is not None and call.outcome.text == "water the plants"
            assert chat.messages[2] == {"role": "tool", "tool_call_id": call.id,
                                        "name": "list_notes", "content": "water the plants"}
            # the next turn's prompt (what the model continued from) holds the result
            assert len(turns) == 2 and "water the plants" in turns[1].prompt
            assert turns[1].prompt_tokens and turns[1].prompt_tokens > (turns[0].prompt_tokens or 0)
    finally:
        await hub.close()


async def test_ab_base_vs_adapter_on_one_loaded_base(tiny_phi3_adapter_onnx_dir: Path) -> None:
    adapters = {"ft": tiny_phi3_adapter_onnx_dir / "adapters" / "ft.onnx_adapter"}
    fmt = format_for_model(tiny_phi3_adapter_onnx_dir)
    settings = GenerationSettings(max_new_tokens=12, greedy=True, guided=False)
    async with InferenceClient(tiny_phi3_adapter_onnx_dir, provider="cpu",
                               adapters=adapters) as client:
        base = ChatSession(client, fmt, settings=settings, adapter="", model_name="tiny")
        tuned = ChatSession(client, fmt, settings=settings, adapter="ft", model_name="tiny")
        ab = ABSession(base, tuned, labels=("base", "ft"))
        ta, tb = await ab.send("Hello there", ToolRunner(None), auto_decider(), auto_decider())
        assert ta[0].adapter == "" and tb[0].adapter == "ft"
        assert ta[0].prompt == tb[0].prompt
        assert ta[0].raw_text != tb[0].raw_text  # the adapter changes the answer
        summary = ab.summary()
        assert summary["base"]["turns"] == summary["ft"]["turns"] == 1
        assert summary["ft"]["decode_tokens_per_s"]


@pytest.mark.slow
async def test_smollm2_calls_the_right_tool_only_under_guidance(smollm2_onnx_dir: Path) -> None:
    """A real 135M instruct model: free, it answers in prose; guided, its calls are right."""
    tools = [
        {"name": "add_note", "description": "Add a note.", "inputSchema": {
            "type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
        {"name": "get_forecast", "description": "Get the weather forecast for a city.",
         "inputSchema": {"type": "object", "properties": {
             "city": {"type": "string"}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
             "required": ["city"]}},
    ]
    fmt = format_for_model(smollm2_onnx_dir)
    asks = [("Add a note that says: buy milk", "add_note", "milk"),
            ("What is the weather forecast for Lisbon for 3 days?", "get_forecast", "lisbon")]
    async with InferenceClient(smollm2_onnx_dir, provider="cpu") as client:
        for guided in (False, True):
            for text, expected, word in asks:
                settings = GenerationSettings(max_new_tokens=64, greedy=True, guided=guided,
                                              tool_choice="required" if guided else "auto")
                chat = ChatSession(client, fmt, tools=tools, settings=settings)
                chat.add_user(text)
                turn = await chat.generate()
                if guided:
                    assert [c.name for c in turn.calls] == [expected], turn.raw_text
                    assert turn.calls[0].valid and turn.stop_reason == "eos"
                    assert word in json.dumps(turn.calls[0].arguments).lower()
                else:
                    assert not any(c.valid for c in turn.calls), turn.raw_text
