"""Serve without a model: addresses and keys, model ids, stop strings and text shaping, request
translation and its errors for both APIs."""

from __future__ import annotations

from pathlib import Path

import pytest

from phi4studio.core.serve import anthropic_api, openai_api
from phi4studio.core.serve.config import ServeConfig, ServeConfigError, is_loopback
from phi4studio.core.serve.errors import ApiError
from phi4studio.core.serve.output import OutputAssembler, StopScanner, TextShaper


@pytest.mark.parametrize(("host", "loop"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True),
    ("[::1]", True), ("0.0.0.0", False), ("192.168.1.5", False), ("example.com", False)])
def test_loopback(host: str, loop: bool) -> None:
    assert is_loopback(host) is loop


def test_another_address_gets_a_generated_key(tmp_path: Path) -> None:
    local = ServeConfig(tmp_path)
    assert not local.requires_key and local.ensure_api_key() is None
    remote = ServeConfig(tmp_path, host="0.0.0.0")
    assert remote.requires_key
    key = remote.ensure_api_key()
    assert key and key.startswith("p4s-") and len(key) > 30 and remote.ensure_api_key() == key
    assert ServeConfig(tmp_path, api_key="k").requires_key  # a chosen key is enforced too


def test_model_ids_and_adapters(tmp_path: Path) -> None:
    cfg = ServeConfig(tmp_path / "m", adapters={"ft": tmp_path / "ft.onnx_adapter"}, adapter="ft")
    assert cfg.model_ids() == ["m", "m:ft", "m:base"]
    assert (cfg.resolve_model("m"), cfg.resolve_model("m:ft"),
            cfg.resolve_model("m:base"), cfg.resolve_model("gpt-4o")) == ("ft", "ft", "", None)
    assert ServeConfig(tmp_path / "m", any_model=True).resolve_model("claude-x") == ""
    with pytest.raises(ServeConfigError, match="no adapter named 'x'"):
        ServeConfig(tmp_path, adapter="x")


def test_stop_scanner_holds_back_partial_stops() -> None:
    s = StopScanner(["END", "<|im_end|>"])
    assert s.feed("hello E") == "hello "
    assert s.feed("N") == ""
    assert s.feed("X more <|im") == "ENX more "
    assert s.feed("_end|> tail") == "" and s.hit == "<|im_end|>"
    assert s.feed("late") == "" and s.finish() == ""
    t = StopScanner(["###"])
    assert t.feed("a#") == "a" and t.finish() == "#"


def test_text_shaper_streams_exactly_the_stripped_content() -> None:
    sh = TextShaper()
    pieces = ["\n  ", "Hello", " ", " world", "  \n"]
    assert "".join(sh.feed(p) for p in pieces) == "Hello  world" == sh.text


def test_assembler_with_a_user_stop_sequence() -> None:
    a = OutputAssembler(parser=None, end_of_turn=["<|im_end|>"], user_stops=["STOP"])
    events = a.feed(" one two STO") + a.feed("P three")
    rest, finish = a.finish({"stop_reason": "stop_string", "prompt_tokens": 5,
                             "completion_tokens": 4})
    assert "".join(e.text for e in [*events, *rest]) == "one two"  # type: ignore[union-attr]
    assert (finish.reason, finish.stop_sequence, finish.content) == ("stop_sequence", "STOP",
                                                                     "one two")


def _openai_error(body: dict[str, object]) -> ApiError:
    with pytest.raises(ApiError) as err:
        openai_api.parse_request({"model": "m", **body}, 64)
    return err.value


def test_openai_translation() -> None:
    spec, stream, usage = openai_api.parse_request({
        "model": "m", "stream": True, "stream_options": {"include_usage": True},
        "max_completion_tokens": 9, "stop": "X", "parallel_tool_calls": False,
        "messages": [
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "f", "arguments": '{"a": 1}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "ok"}],
        "tools": [{"type": "function", "function": {"name": "f", "strict": True,
                                                    "parameters": {"type": "object"}}}],
        "tool_choice": "required"}, 64)
    assert stream and usage and spec.max_tokens == 9 and spec.stop == ["X"]
    assert spec.tool_choice == "required" and spec.strict_tools and not spec.parallel_tool_calls
    assert spec.messages[0] == {"role": "system", "content": "Be brief."}
    assert spec.messages[2]["tool_calls"] == [{"id": "c1", "name": "f", "arguments": {"a": 1}}]
    assert spec.messages[3] == {"role": "tool", "tool_call_id": "c1", "content": "ok",
                                "name": "f"}
    assert spec.tools == [{"name": "f", "description": "", "inputSchema": {"type": "object"}}]


@pytest.mark.parametrize(("body", "words"), [
    ({"messages": "hi"}, "'messages' must be a non-empty array"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "assistant", "tool_calls": [
        {"id": "c", "function": {"name": "f", "arguments": "{bad"}}]}]},
     "messages[0].tool_calls[0].function.arguments is not valid JSON"),
    ({"messages": [{"role": "user", "content": "x"}], "tools": [
        {"type": "function", "function": {"name": "bad name"}}]}, "tools[0].function.name"),
    ({"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"},
     "needs 'tools'"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}, "'max_tokens'"),
    ({"messages": [{"role": "user", "content": "x"}], "stop": ["a"] * 5}, "'stop'"),
    ({"messages": [{"role": "user", "content": "x"}], "functions": []}, "use 'tools'"),
    ({"messages": [{"role": "user", "content": "x"}],
      "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": 3}}}},
     "response_format.json_schema.schema is not a valid JSON Schema"),
])
def test_openai_errors_name_the_field(body: dict[str, object], words: str) -> None:
    err = _openai_error(body)
    assert err.status("openai") == 400 and words in err.message
    assert err.body("openai")["error"]["type"] == "invalid_request_error"


def test_anthropic_translation_and_errors() -> None:
    spec, stream = anthropic_api.parse_request({
        "model": "m", "max_tokens": 5, "system": [{"type": "text", "text": "S"}],
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "t1", "name": "w", "input": {"c": "Oslo"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "3C", "is_error": False},
                {"type": "text", "text": "thanks", "cache_control": {"type": "ephemeral"}}]}],
        "tools": [{"name": "w", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True}})
    assert not stream and spec.tool_choice == "required" and not spec.parallel_tool_calls
    assert [m["role"] for m in spec.messages] == ["system", "user", "assistant", "tool", "user"]
    assert spec.messages[3] == {"role": "tool", "tool_call_id": "t1", "content": "3C",
                                "name": "w"}
    assert spec.call_id_prefix == "toolu_"
    for body, words in [
        ({"messages": [{"role": "user", "content": "x"}]}, "max_tokens: Field required"),
        ({"max_tokens": 3, "messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
        ({"max_tokens": 3, "messages": [{"role": "user", "content": "x"}],
          "tools": [{"type": "web_search_20250305", "name": "web"}]}, "server tools"),
        ({"max_tokens": 3, "messages": [{"role": "user", "content": "x"}],
          "thinking": {"type": "enabled", "budget_tokens": 10}}, "'thinking'"),
    ]:
        with pytest.raises(ApiError) as err:
            anthropic_api.parse_request({"model": "m", **body})
        assert words in err.value.message
        assert err.value.body("anthropic")["error"]["type"] == "invalid_request_error"


def test_overload_shapes() -> None:
    err = ApiError("overloaded", "busy", code="queue_full")
    assert (err.status("openai"), err.status("anthropic")) == (429, 529)
    assert err.body("anthropic")["error"]["type"] == "overloaded_error"
    assert err.body("openai")["error"]["code"] == "queue_full"
    assert err.headers() == {"retry-after": "1"}
