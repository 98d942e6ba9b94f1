"""The official `anthropic` client against the local server on the tiny model: messages,
Anthropic's exact streaming event sequence, a tool_use / tool_result round trip, errors."""

from __future__ import annotations

import json
from pathlib import Path

import anthropic
import httpx2
import jsonschema
import pytest
from serve_support import ANTHROPIC_TOOLS, WEATHER_SCHEMA, anthropic_base, record_for, running

USER = [{"role": "user", "content": "What is the weather in Oslo?"}]
GREEDY = {"temperature": 0}


def client(rt: object, key: str = "unused") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=anthropic_base(rt), api_key=key,  # type: ignore[arg-type]
                                    max_retries=0, timeout=60)


def sse_events(raw: str) -> list[tuple[str, dict[str, object]]]:
    out = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        data = json.loads(lines["data"])
        assert data["type"] == lines["event"]
        out.append((lines["event"], data))
    return out


async def test_messages_and_the_streaming_event_sequence(tiny_phi3_onnx_dir: Path) -> None:
    async with running(tiny_phi3_onnx_dir) as rt:
        ac = client(rt)
        m = await ac.messages.create(model="tiny", max_tokens=12, messages=USER,
                                     system="You are terse.", extra_body=GREEDY)
        assert m.type == "message" and m.role == "assistant" and m.model == "tiny"
        assert m.stop_reason in ("end_turn", "max_tokens") and m.id.startswith("msg_")
        assert [b.type for b in m.content] in (["text"], [])
        assert m.usage.input_tokens > 10 and 1 <= m.usage.output_tokens <= 12
        rec = await record_for(rt, m.id)
        assert (rec.api, rec.status, rec.prompt_tokens) == ("anthropic", 200,
                                                            m.usage.input_tokens)

        async with ac.messages.stream(model="tiny", max_tokens=12, messages=USER,
                                      system="You are terse.", extra_body=GREEDY) as stream:
            final = await stream.get_final_message()
        assert [b.model_dump(include={"type", "text"}) for b in final.content] == \
            [b.model_dump(include={"type", "text"}) for b in m.content]
        assert final.stop_reason == m.stop_reason
        assert final.usage.output_tokens == m.usage.output_tokens
        assert final.usage.input_tokens == m.usage.input_tokens

        async with httpx2.AsyncClient(timeout=60) as http:
            r = await http.post(anthropic_base(rt) + "/v1/messages", json={
                "model": "tiny", "max_tokens": 12, "messages": USER, "stream": True,
                "temperature": 0, "system": "You are terse."})
        assert r.status_code == 200 and r.headers["content-type"].startswith(
            "text/event-stream")
        events = sse_events(r.text)
        names = [e for e, _ in events]
        assert names[:2] == ["message_start", "ping"] and names[-2:] == ["message_delta",
                                                                          "message_stop"]
        body = names[2:-2]
        if body:
            assert body[0] == "content_block_start" and body[-1] == "content_block_stop"
            assert set(body[1:-1]) == {"content_block_delta"}
        start = events[0][1]["message"]
        assert start["usage"]["input_tokens"] == m.usage.input_tokens  # type: ignore[index]
        delta = events[-2][1]
        assert delta["delta"]["stop_reason"] == m.stop_reason  # type: ignore[index]
        assert delta["usage"]["output_tokens"] == m.usage.output_tokens  # type: ignore[index]


async def test_tool_use_round_trip(tiny_phi3_onnx_dir: Path) -> None:
    async with running(tiny_phi3_onnx_dir) as rt:
        ac = client(rt)
        m1 = await ac.messages.create(
            model="tiny", max_tokens=64, messages=USER, tools=ANTHROPIC_TOOLS,
            tool_choice={"type": "tool", "name": "get_weather"}, extra_body=GREEDY)
        assert m1.stop_reason == "tool_use"
        uses = [b for b in m1.content if b.type == "tool_use"]
        assert len(uses) == 1 and uses[0].name == "get_weather"
        assert uses[0].id.startswith("toolu_")
        jsonschema.validate(uses[0].input, WEATHER_SCHEMA)

        history = [*USER, {"role": "assistant", "content": [b.model_dump() for b in m1.content]},
                   {"role": "user", "content": [
                       {"type": "tool_result", "tool_use_id": uses[0].id,
                        "content": [{"type": "text", "text": '{"temp_c": 3}'}]},
                       {"type": "text", "text": "Answer in one word."}]}]
        m2 = await ac.messages.create(model="tiny", max_tokens=16, messages=history,
                                      tools=ANTHROPIC_TOOLS, extra_body=GREEDY)
        assert m2.stop_reason in ("end_turn", "max_tokens", "tool_use")
        assert m2.usage.input_tokens > m1.usage.input_tokens  # the result is in the prompt
        rec = await record_for(rt, m2.id)
        assert rec.preview == "Answer in one word."

        async with ac.messages.stream(
                model="tiny", max_tokens=64, messages=USER, tools=ANTHROPIC_TOOLS,
                tool_choice={"type": "any", "disable_parallel_tool_use": True},
                extra_body=GREEDY) as stream:
            kinds = [ev.type async for ev in stream]
            final = await stream.get_final_message()
        assert "input_json" in kinds and final.stop_reason == "tool_use"
        use = next(b for b in final.content if b.type == "tool_use")
        jsonschema.validate(use.input, WEATHER_SCHEMA)


async def test_bad_input_gets_anthropic_errors(tiny_phi3_onnx_dir: Path) -> None:
    async with running(tiny_phi3_onnx_dir) as rt:
        ac = client(rt)
        bad_schema = [{"name": "f", "input_schema": {"type": "object",
                                                     "properties": {"a": {"type": 12}}}}]
        cases = [
            (dict(model="nope", max_tokens=4, messages=USER), anthropic.NotFoundError,
             "not_found_error", "'nope' does not exist"),
            (dict(model="tiny", max_tokens=4, messages=USER, tools=bad_schema),
             anthropic.BadRequestError, "invalid_request_error",
             "tools.0.input_schema is not a valid JSON Schema"),
            (dict(model="tiny", max_tokens=4, messages=[{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                             "data": "AA=="}}]}]),
             anthropic.BadRequestError, "invalid_request_error", "messages.0.content.0"),
            (dict(model="tiny", max_tokens=4, messages=USER, tools=ANTHROPIC_TOOLS,
                  tool_choice={"type": "tool", "name": "other"}),
             anthropic.BadRequestError, "invalid_request_error", "'other' is not in tools"),
            (dict(model="tiny", max_tokens=4, messages=USER, extra_body={"bogus": True}),
             anthropic.BadRequestError, "invalid_request_error", "bogus"),
            (dict(model="tiny", max_tokens=4,
                  messages=[{"role": "user", "content": "word " * 3000}]),
             anthropic.BadRequestError, "invalid_request_error", "context"),
        ]
        for kwargs, exc_type, kind, words in cases:
            with pytest.raises(exc_type) as err:
                await ac.messages.create(**kwargs)  # type: ignore[call-overload]
            body = err.value.body
            assert isinstance(body, dict) and body["type"] == "error", body
            assert body["error"]["type"] == kind and words in body["error"]["message"], body
        async with httpx2.AsyncClient(timeout=30) as http:
            url = anthropic_base(rt) + "/v1/messages"
            r = await http.post(url, content=b"{nope")
            assert r.status_code == 400 and r.json()["type"] == "error"
            r = await http.post(url, json={"model": "tiny", "messages": USER})
            assert r.status_code == 400 and "max_tokens" in r.json()["error"]["message"]
        ok = await ac.messages.create(model="tiny", max_tokens=3, messages=USER)
        assert ok.usage.output_tokens >= 1
