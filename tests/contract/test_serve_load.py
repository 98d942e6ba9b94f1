"""Queue, disconnects and load: one request at a time, a bounded queue (429 / 529 past it), a
client that goes away stops its generation, and 50 concurrent clients all get their own answer
or the documented refusal."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
from serve_support import anthropic_base, record_for, running, wait_for

USER = [{"role": "user", "content": "Tell me a long story."}]
LONG = {"model": "tiny", "messages": USER, "max_tokens": 1800, "temperature": 0}


def watch_results(rt: Any) -> list[dict[str, Any]]:
    """The inference worker's `result` events (to see how generations ended)."""
    seen: list[dict[str, Any]] = []
    rt.backend.client.on_event = lambda ev: seen.append(ev["data"]) if ev.get(
        "type") == "result" else None
    return seen


async def test_a_client_that_disconnects_stops_its_generation(tiny_phi3_onnx_dir: Path) -> None:
    async with running(tiny_phi3_onnx_dir) as rt:
        results = watch_results(rt)
        async with httpx2.AsyncClient(timeout=60) as http:
            # streaming: read the first chunks, then hang up
            async with http.stream("POST", rt.url + "/chat/completions",
                                   json={**LONG, "stream": True}) as resp:
                assert resp.status_code == 200
                lines = resp.aiter_lines()
                assert (await lines.__anext__()).startswith("data: ")
            await wait_for(lambda: any(r.status == 499 for r in rt.reqlog.records), 10,
                           "the stream's record")
            await wait_for(lambda: len(results) == 1, 10, "the worker's result")
            assert results[0]["stop_reason"] == "stopped"
            assert results[0]["completion_tokens"] < 1800

            # not streaming: the client gives up while the answer is being generated
            try:
                await http.post(rt.url + "/chat/completions", json=LONG, timeout=0.4)
            except httpx2.TimeoutException:
                pass
            await wait_for(lambda: len(results) == 2, 10, "the second result")
            assert results[1]["stop_reason"] == "stopped"
            closed = [r for r in rt.reqlog.records if r.status == 499]
            assert len(closed) == 2 and all(r.error == "the client disconnected" for r in closed)
        # and the server goes on serving at once
        t0 = time.perf_counter()
        r = await openai.AsyncOpenAI(base_url=rt.url, api_key="x", max_retries=0)\
            .chat.completions.create(model="tiny", messages=USER, max_tokens=4)
        assert r.usage is not None and time.perf_counter() - t0 < 5


async def test_a_full_queue_is_refused_with_429_and_529(tiny_phi3_onnx_dir: Path) -> None:
    async with running(tiny_phi3_onnx_dir, max_queue=1) as rt:
        oc = openai.AsyncOpenAI(base_url=rt.url, api_key="x", max_retries=0)
        ac = anthropic.AsyncAnthropic(base_url=anthropic_base(rt), api_key="x", max_retries=0)
        async with httpx2.AsyncClient(timeout=60) as http:
            async with http.stream("POST", rt.url + "/chat/completions",
                                   json={**LONG, "stream": True}) as busy:
                assert busy.status_code == 200  # being served
                waiting = asyncio.ensure_future(oc.chat.completions.create(
                    model="tiny", messages=USER, max_tokens=2))
                await wait_for(lambda: rt.backend.queued == 1, 5, "a queued request")
                try:
                    await oc.chat.completions.create(model="tiny", messages=USER, max_tokens=2)
                    raise AssertionError("a third request was accepted")
                except openai.RateLimitError as err:
                    assert err.status_code == 429 and err.code == "queue_full"
                    assert err.response.headers["retry-after"] == "1"
                    assert "queue is full" in err.message
                try:
                    await ac.messages.create(model="tiny", max_tokens=2, messages=USER)
                    raise AssertionError("a third request was accepted")
                except anthropic.APIStatusError as err:
                    assert err.status_code == 529
                    assert err.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
            done = await asyncio.wait_for(waiting, 30)  # served once the stream was dropped
            assert done.usage is not None
        statuses = sorted(r.status for r in rt.reqlog.records)
        assert statuses == [200, 429, 499, 529]


async def test_fifty_concurrent_clients(tiny_phi3_onnx_dir: Path, figures: Any) -> None:
    """50 clients, each with its own nonce, for a bounded time: every request is answered with
    its own nonce (guided JSON output) or refused with 429 queue_full; none is lost."""
    clients, per_client, budget_s = 50, 2, 60.0
    async with running(tiny_phi3_onnx_dir, max_queue=8) as rt:
        outcomes: list[tuple[str, str, str]] = []  # (nonce, "ok"|"refused", response id)
        deadline = time.perf_counter() + budget_s

        async def one(k: int) -> None:
            oc = openai.AsyncOpenAI(base_url=rt.url, api_key="x", max_retries=0, timeout=60)
            for i in range(per_client):
                if time.perf_counter() > deadline:
                    return
                nonce = f"n{k:02d}x{i}{uuid.uuid4().hex[:6]}"
                schema = {"type": "string", "enum": [nonce]}
                try:
                    r = await oc.chat.completions.create(
                        model="tiny", max_tokens=24, temperature=0,
                        messages=[{"role": "user", "content": f"Repeat {nonce}"}],
                        response_format={"type": "json_schema",
                                         "json_schema": {"name": "n", "schema": schema}})
                    assert json.loads(r.choices[0].message.content or "") == nonce
                    outcomes.append((nonce, "ok", r.id))
                except openai.RateLimitError as err:
                    assert err.code == "queue_full"
                    outcomes.append((nonce, "refused", ""))
            await oc.close()

        t0 = time.perf_counter()
        await asyncio.gather(*(one(k) for k in range(clients)))
        wall = time.perf_counter() - t0
        ok = [o for o in outcomes if o[1] == "ok"]
        refused = [o for o in outcomes if o[1] == "refused"]
        assert len(outcomes) == len({o[0] for o in outcomes}) >= clients
        assert ok, "nothing was answered"
        for nonce, _, rid in ok:  # the log pairs every answer with its own prompt
            rec = await record_for(rt, rid)
            assert rec.status == 200 and nonce in rec.preview
        await wait_for(lambda: len(rt.reqlog.records) == len(outcomes), 5, "all records")
        assert sorted(r.status for r in rt.reqlog.records) == \
            sorted([200] * len(ok) + [429] * len(refused))
        figures("serve load: 50 clients, requests answered / refused",
                f"{len(ok)} / {len(refused)} in {wall:.1f} s")
