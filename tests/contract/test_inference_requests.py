"""The generate command's wire format: what the client sends is what the worker accepts."""

from __future__ import annotations

import pytest

from phi4studio.core.inference.requests import (
    CallControl,
    GenerateRequest,
    Guidance,
    RequestError,
    as_request,
    stop_strings_hit,
)


def test_round_trip_keeps_every_field() -> None:
    req = GenerateRequest(
        messages=[{"role": "user", "content": "hi"}],
        tools=[{"type": "function", "function": {"name": "f"}}],
        max_new_tokens=12, temperature=0.7, top_p=0.9, top_k=20, repetition_penalty=1.1,
        seed=3, guidance=Guidance.json_schema({"type": "object"}, ff_tokens=True),
        stop=["</tool_call>"], adapter="ft", add_special_tokens=False, echo_prompt=True,
        calls=CallControl("<tool_call>", "</tool_call>", 0.4, 12, False, 0, "\n", 0.3,
                          names={"get_weather": 2.0, "get_time": 0.0}),
    )
    cmd = req.to_command()
    assert cmd["cmd"] == "generate" and cmd["id"] == req.id
    assert cmd["guidance"] == {"type": "json_schema", "text": '{"type": "object"}',
                               "ff_tokens": True}
    assert GenerateRequest.from_command(cmd) == req


def test_defaults_and_shortcuts() -> None:
    req = as_request("Hello")
    assert req.prompt == "Hello" and req.max_new_tokens == 256 and not req.greedy
    cmd = req.to_command()
    assert cmd["guidance"] is None and "temperature" not in cmd and "seed" not in cmd
    assert as_request({"prompt": "x", "temperature": 0}).is_greedy
    schema_obj = as_request({"prompt": "x", "guidance": {"type": "json_schema",
                                                         "text": {"type": "object"}}})
    assert schema_obj.guidance is not None and schema_obj.guidance.text == '{"type": "object"}'
    assert GenerateRequest.from_command({"prompt": "x", "id": 7}).id == "7"


@pytest.mark.parametrize(
    ("fields", "code", "words"),
    [
        ({}, "bad_request", "exactly one"),
        ({"prompt": "x", "messages": [{"role": "user", "content": "y"}]}, "bad_request",
         "exactly one"),
        ({"prompt": 5}, "bad_request", "'prompt'"),
        ({"prompt_ids": []}, "bad_request", "prompt_ids"),
        ({"prompt_ids": [1, -2]}, "bad_request", "prompt_ids"),
        ({"prompt_ids": [1], "prompt": "x"}, "bad_request", "exactly one"),
        ({"messages": []}, "bad_request", "non-empty"),
        ({"messages": [{"content": "no role"}]}, "bad_request", "messages[0]"),
        ({"prompt": "x", "tools": [{"type": "function"}]}, "bad_request", "'tools' needs"),
        ({"prompt": "x", "max_new_tokens": 0}, "bad_request", "max_new_tokens"),
        ({"prompt": "x", "max_new_tokens": 2.5}, "bad_request", "integer"),
        ({"prompt": "x", "temperature": -1}, "bad_request", "temperature"),
        ({"prompt": "x", "temperature": float("nan")}, "bad_request", "number"),
        ({"prompt": "x", "top_p": 1.5}, "bad_request", "top_p"),
        ({"prompt": "x", "repetition_penalty": 0}, "bad_request", "> 0.0"),
        ({"prompt": "x", "greedy": "yes"}, "bad_request", "true or false"),
        ({"prompt": "x", "seed": True}, "bad_request", "integer"),
        ({"prompt": "x", "stop": "END"}, "bad_request", "'stop'"),
        ({"prompt": "x", "guidance": {"type": "xml", "text": "x"}}, "bad_guidance", "one of"),
        ({"prompt": "x", "guidance": {"type": "regex", "text": " "}}, "bad_guidance",
         "non-empty"),
        ({"prompt": "x", "guidance": "regex"}, "bad_request", "'guidance'"),
        ({"prompt": "x", "calls": "yes"}, "bad_request", "'calls'"),
        ({"prompt": "x", "calls": {"marker": ""}}, "bad_request", "calls.marker"),
        ({"prompt": "x", "calls": {"marker": "<c>", "threshold": 1.5}}, "bad_request",
         "calls: 'threshold'"),
        ({"prompt": "x", "calls": {"marker": "<c>", "text_tokens": 0}}, "bad_request",
         "calls: 'text_tokens'"),
        ({"prompt": "x", "calls": {"marker": "<c>", "loop_tokens": -1}}, "bad_request",
         "calls: 'loop_tokens'"),
        ({"prompt": "x", "calls": {"marker": "<c>", "close_reserve": -1}}, "bad_request",
         "calls: 'close_reserve'"),
        ({"prompt": "x", "calls": {"marker": "<c>", "close": "</c>", "between": "\n",
                                   "more_threshold": 2}}, "bad_request",
         "calls: 'more_threshold'"),
        ({"prompt": "x", "calls": {"marker": "<c>", "more_threshold": 0.5}}, "bad_request",
         "calls.between"),
        ({"prompt": "x", "calls": {"marker": "<c>", "between": 1}}, "bad_request",
         "calls.between"),
        ({"prompt": "x", "calls": {"marker": "<c>", "names": {"f": "high"}}}, "bad_request",
         "calls.names"),
        ({"prompt": "x", "calls": {"marker": "<c>", "names": ["f"]}}, "bad_request",
         "calls.names"),
    ],
)
def test_invalid_requests_name_the_field(fields: dict[str, object], code: str,
                                         words: str) -> None:
    with pytest.raises(RequestError) as err:
        GenerateRequest.from_command({"cmd": "generate", **fields})
    assert err.value.code == code
    assert words in err.value.message


def test_stop_strings_are_found_across_pieces() -> None:
    text = "abc</tool"
    assert stop_strings_hit(text, ["</tool_call>"], 3) is None
    text += "_call> more"
    assert stop_strings_hit(text, ["</tool_call>"], 9) == 3
    assert stop_strings_hit("xxENDyyEND", ["END", "yy"], 0) == 2


def test_provider_order_for_auto() -> None:
    from phi4studio.workers.inference.engine import Engine, configured_provider

    def cfg(*providers: str) -> dict[str, object]:
        opts = [{p: {}} for p in providers]
        return {"model": {"decoder": {"session_options": {"provider_options": opts}}}}

    assert configured_provider(cfg()) is None
    assert configured_provider(cfg("cuda")) == "cuda"
    assert configured_provider(cfg("DML")) == "dml"
    assert configured_provider({"model": None}) is None

    class NoGpu:
        @staticmethod
        def is_cuda_available() -> bool:
            return False

        @staticmethod
        def is_dml_available() -> bool:
            return False

    engine = Engine.__new__(Engine)
    engine._og = NoGpu()
    engine.genai_config = cfg("dml")
    # built for DirectML: tried first (and reported when it can't be), then the CPU
    assert engine._candidates("auto") == ["dml", "cpu"]
    assert "onnxruntime-genai-directml" in (engine._unavailable("dml") or "")
    engine.genai_config = cfg()
    assert engine._candidates("auto") == ["cpu"]
    assert engine._candidates("cuda") == ["cuda", "cpu"]
    assert engine._candidates("cpu") == ["cpu"]
