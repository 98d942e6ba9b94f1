"""The official `openai` client against the local server on the tiny model: plain chat,
streaming, a tool-call round trip with guided decoding, JSON output, errors, the API key."""

from __future__ import annotations

import json
from pathlib import Path

import httpx2
import jsonschema
import openai
import pytest
from serve_support import OPENAI_TOOLS, WEATHER_SCHEMA, record_for, running

USER = [{"role": "user", "content": "What is the weather in Oslo?"}]


def client(url: str, key: str = "unused") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=url, api_key=key, max_retries=0, timeout=60)


async def test_models_plain_chat_and_streaming(tiny_phi3_onnx_dir: Path) -> None:
    async with running(tiny_phi3_onnx_dir) as rt:
        oc = client(rt.url)
        assert [m.id async for m in oc.models.list()] == ["tiny"]
        assert (await oc.models.retrieve("tiny")).owned_by == "phi4studio"
        r = await oc.chat.completions.create(model="tiny", messages=USER, max_tokens=12,
                                             temperature=0)
        choice = r.choices[0]
        assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
        assert choice.finish_reason in ("stop", "length") and not choice.message.tool_calls
        assert r.usage is not None and r.usage.prompt_tokens > 10
        assert 1 <= r.usage.completion_tokens <= 12
        assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
        rec = await record_for(rt, r.id)
        assert (rec.status, rec.api, rec.model, rec.stream) == (200, "openai", "tiny", False)
        assert rec.completion_tokens == r.usage.completion_tokens and rec.latency_s > 0
        assert "Oslo" in rec.preview and "AsyncOpenAI" in rec.client

        chunks = [c async for c in await oc.chat.completions.create(
            model="tiny", messages=USER, max_tokens=12, temperature=0, stream=True,
            stream_options={"include_usage": True})]
        assert chunks[0].choices[0].delta.role == "assistant"
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == choice.message.content  # greedy: the same answer, streamed
        finals = [c.choices[0].finish_reason for c in chunks if c.choices]
        assert finals[-1] == choice.finish_reason and set(finals[:-1]) == {None}
        assert chunks[-1].choices == [] and chunks[-1].usage is not None
        assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens
        assert len({c.id for c in chunks}) == 1


async def test_tool_call_round_trip(tiny_phi3_onnx_dir: Path) -> None:
    async with running(tiny_phi3_onnx_dir) as rt:
        oc = client(rt.url)
        r1 = await oc.chat.completions.create(
            model="tiny", messages=USER, tools=OPENAI_TOOLS, tool_choice="required",
            parallel_tool_calls=False, max_tokens=64, temperature=0)
        assert r1.choices[0].finish_reason == "tool_calls"
        msg = r1.choices[0].message
        assert msg.content is None and msg.tool_calls and len(msg.tool_calls) == 1
        call = msg.tool_calls[0]
        assert call.type == "function" and call.id.startswith("call_")
        assert call.function.name == "get_weather"
        args = json.loads(call.function.arguments)  # a JSON string, as OpenAI sends it
        jsonschema.validate(args, WEATHER_SCHEMA)
        assert (await record_for(rt, r1.id)).tool_calls == ["get_weather"]

        history = [*USER, msg.model_dump(exclude_none=True),
                   {"role": "tool", "tool_call_id": call.id,
                    "content": json.dumps({"temp_c": 3, "sky": "snow"})}]
        r2 = await oc.chat.completions.create(model="tiny", messages=history,
                                              tools=OPENAI_TOOLS, tool_choice="none",
                                              max_tokens=16, temperature=0)
        assert r2.choices[0].finish_reason in ("stop", "length")
        assert isinstance(r2.choices[0].message.content, str)
        assert not r2.choices[0].message.tool_calls
        assert r2.usage is not None and r1.usage is not None

        # streamed, with a named tool: tool-call deltas in OpenAI's chunk shape
        stream = await oc.chat.completions.create(
            model="tiny", messages=USER, tools=OPENAI_TOOLS, max_tokens=64, temperature=0,
            tool_choice={"type": "function", "function": {"name": "get_weather"}}, stream=True)
        calls: dict[int, dict[str, str]] = {}
        finish = None
        async for chunk in stream:
            for d in chunk.choices[0].delta.tool_calls or []:
                c = calls.setdefault(d.index, {"id": "", "name": "", "arguments": ""})
                c["id"] += d.id or ""
                if d.function is not None:
                    c["name"] += d.function.name or ""
                    c["arguments"] += d.function.arguments or ""
            finish = chunk.choices[0].finish_reason or finish
        assert finish == "tool_calls" and list(calls) == [0]
        assert calls[0]["name"] == "get_weather" and calls[0]["id"].startswith("call_")
        jsonschema.validate(json.loads(calls[0]["arguments"]), WEATHER_SCHEMA)


async def test_json_output_follows_the_schema(tiny_phi3_onnx_dir: Path) -> None:
    schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}
    async with running(tiny_phi3_onnx_dir) as rt:
        r = await client(rt.url).chat.completions.create(
            model="tiny", messages=USER, max_tokens=32, temperature=0,
            response_format={"type": "json_schema",
                             "json_schema": {"name": "answer", "schema": schema}})
        jsonschema.validate(json.loads(r.choices[0].message.content or ""), schema)


async def test_bad_input_gets_openai_errors_and_the_server_keeps_serving(
        tiny_phi3_onnx_dir: Path) -> None:
    async with running(tiny_phi3_onnx_dir, max_body_bytes=64 * 1024) as rt:
        oc = client(rt.url)
        bad_schema = [{"type": "function", "function": {
            "name": "f", "parameters": {"type": "object", "properties": {"a": {"type": 12}}}}}]
        cases = [
            (dict(model="nope", messages=USER), openai.NotFoundError, "model_not_found",
             "'nope' does not exist"),
            (dict(model="tiny", messages=[{"role": "user", "content": "word " * 3000}]),
             openai.BadRequestError, "context_length_exceeded", "context"),
            (dict(model="tiny", messages=USER, tools=bad_schema), openai.BadRequestError,
             "invalid_schema", "tools[0].function.parameters is not a valid JSON Schema"),
            (dict(model="tiny", messages=USER, n=2), openai.BadRequestError,
             "unsupported_parameter", "'n' is not supported"),
            (dict(model="tiny", messages=USER, logprobs=True), openai.BadRequestError,
             "unsupported_parameter", "'logprobs'"),
            (dict(model="tiny", messages=USER, extra_body={"bogus": 1}),
             openai.BadRequestError, "unknown_parameter", "bogus"),
            (dict(model="tiny", messages=USER, tools=OPENAI_TOOLS,
                  tool_choice={"type": "function", "function": {"name": "other"}}),
             openai.BadRequestError, None, "'other', which is not in 'tools'"),
            (dict(model="tiny", messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "data:,"}}]}]),
             openai.BadRequestError, "unsupported_parameter", "messages[0].content[0]"),
            (dict(model="tiny", messages=USER, temperature=5), openai.BadRequestError, None,
             "'temperature'"),
            (dict(model="tiny", messages=[]), openai.BadRequestError, None, "'messages'"),
        ]
        for kwargs, exc_type, code, words in cases:
            with pytest.raises(exc_type) as err:
                await oc.chat.completions.create(max_tokens=4, **kwargs)  # type: ignore[call-overload]
            body = err.value.body
            assert isinstance(body, dict), kwargs
            assert body["type"] in ("invalid_request_error",), body
            assert words in body["message"], (words, body)
            if code is not None:
                assert body["code"] == code, body
        async with httpx2.AsyncClient(timeout=30) as http:
            url = rt.url + "/chat/completions"
            r = await http.post(url, content=b'{"model": "tiny", "messages": [',
                                headers={"content-type": "application/json"})
            assert r.status_code == 400 and "not valid JSON" in r.json()["error"]["message"]
            r = await http.post(url, content=b"x" * (65 * 1024))
            assert r.status_code == 413 and r.json()["error"]["type"] == "invalid_request_error"
            r = await http.get(rt.url + "/nothing")
            assert r.status_code == 404 and "no endpoint" in r.json()["error"]["message"]
            r = await http.post(url, json={"model": "tiny", "messages": USER},
                                headers={"origin": "https://example.com"})
            assert r.status_code == 403
        ok = await oc.chat.completions.create(model="tiny", messages=USER, max_tokens=3)
        assert ok.choices[0].message.content is not None
        statuses = [r.status for r in rt.reqlog.records]
        assert statuses.count(400) >= 8 and statuses[-1] == 200


async def test_api_key_is_enforced(tiny_phi3_onnx_dir: Path) -> None:
    async with running(tiny_phi3_onnx_dir, api_key="s3cret-key") as rt:
        with pytest.raises(openai.AuthenticationError) as err:
            await client(rt.url, "wrong").chat.completions.create(
                model="tiny", messages=USER, max_tokens=2)
        assert err.value.code == "invalid_api_key"
        ok = await client(rt.url, "s3cret-key").chat.completions.create(
            model="tiny", messages=USER, max_tokens=2)
        assert ok.usage is not None
        async with httpx2.AsyncClient(timeout=30) as http:
            r = await http.get(rt.url + "/models", headers={"x-api-key": "s3cret-key"})
            assert r.status_code == 200 and r.json()["data"][0]["id"] == "tiny"
            r = await http.get(rt.url + "/models")
            assert r.status_code == 401 and "no API key" in r.json()["error"]["message"]
            r = await http.post(rt.url + "/chat/completions",
                                json={"model": "tiny", "messages": USER, "max_tokens": 2})
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
            r = await http.get(rt.url[:-3] + "/health")
            assert r.status_code == 200 and r.json()["status"] == "ok"
