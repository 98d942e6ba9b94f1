"""The inference worker, for real: a tiny Phi3 built with the ORT GenAI model builder, served by
`phi4studio --worker inference` and driven through InferenceClient."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from phi4studio.core.inference import (
    GenerateRequest,
    GenerationError,
    Guidance,
    InferenceClient,
    WorkerDiedError,
)
from phi4studio.core.jobs import JobQueue, JobState, kill_tree

MESSAGES = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                       "required": ["city"]},
    },
}]
# Enums and no free whitespace: even a random model finishes a valid call in a few tokens.
CALL_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"enum": ["get_weather", "get_time"]},
        "arguments": {
            "type": "object",
            "properties": {
                "city": {"enum": ["Paris", "Rome", "Oslo"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
            },
            "required": ["city", "days"],
            "additionalProperties": False,
        },
    },
    "required": ["name", "arguments"],
    "additionalProperties": False,
    "x-guidance": {"whitespace_flexible": False},
}


async def collect(client: InferenceClient, req: GenerateRequest | dict[str, Any]
                  ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    events = [ev async for ev in client.generate(req)]
    assert events[-1]["type"] == "result"
    return events, events[-1]["data"]


async def test_start_reports_model_info(client: InferenceClient) -> None:
    info = client.info
    assert info is not None and info["type"] == "start"
    assert info["provider"] == "cpu" and info["device_type"] == "CPU"
    assert info["model_type"] == "phi3"
    assert info["vocab_size"] == 49152 and info["context_length"] == 2048
    assert info["eos_token_ids"] == [2] and info["chat_template"] is True
    assert info["fallback_reason"] is None
    assert client.running and client.pid == info["pid"]
    assert (await client.model_info())["context_length"] == 2048
    cores = os.cpu_count() or 1
    assert 1 <= info["cpu_threads"] <= cores  # the cores other processes leave free


async def test_cpu_threads_can_be_set_and_do_not_change_the_answer(
        client: InferenceClient, tiny_phi3_onnx_dir: Path, tmp_path: Path) -> None:
    """`--threads` sets onnxruntime's intra-op threads; a genai_config.json that names them
    itself keeps its number."""
    import shutil

    req = {"messages": MESSAGES, "max_new_tokens": 24, "greedy": True}
    auto = await client.complete(req)
    one = InferenceClient(tiny_phi3_onnx_dir, provider="cpu", worker_args=["--threads", "1"],
                          start_timeout_s=60)
    try:
        assert (await one.start())["cpu_threads"] == 1
        assert (await one.complete(req))["token_ids"] == auto["token_ids"]
    finally:
        await one.close()
    own = tmp_path / "own"
    shutil.copytree(tiny_phi3_onnx_dir, own)
    cfg = json.loads((own / "genai_config.json").read_text(encoding="utf-8"))
    cfg["model"]["decoder"]["session_options"]["intra_op_num_threads"] = 3
    (own / "genai_config.json").write_text(json.dumps(cfg), encoding="utf-8")
    kept = InferenceClient(own, provider="cpu", worker_args=["--threads", "1"],
                           start_timeout_s=60)
    try:
        assert (await kept.start())["cpu_threads"] == 3
    finally:
        await kept.close()


async def test_greedy_streams_and_is_deterministic(client: InferenceClient, figures: Any) -> None:
    req = {"messages": MESSAGES, "tools": TOOLS, "max_new_tokens": 48, "greedy": True}
    events, first = await collect(client, req)
    tokens = [ev for ev in events if ev["type"] == "token"]
    # batched: fewer events than tokens, and they add up to the result exactly
    assert 1 <= len(tokens) < first["completion_tokens"] == 48
    assert [t for ev in tokens for t in ev["ids"]] == first["token_ids"]
    assert "".join(ev["text"] for ev in tokens) == first["text"]
    assert tokens[-1]["n"] == 48 and first["stop_reason"] == "max_tokens"
    # the exact prompt the model saw comes back, rendered with the tools
    assert '"get_weather"' in first["prompt"] and first["prompt"].endswith("assistant\n")
    assert first["prompt_tokens"] > 40 and first["seed"] is None
    _, second = await collect(client, req)
    assert second["token_ids"] == first["token_ids"] and second["text"] == first["text"]
    figures("tiny Phi3: time to first token (s)", first["ttft_s"])
    figures("tiny Phi3: decode tokens/s (via worker)", first["decode_tokens_per_s"])


async def test_sampling_follows_the_seed(client: InferenceClient) -> None:
    base = {"prompt": "Once upon a time", "max_new_tokens": 24, "temperature": 0.9,
            "top_p": 0.95, "top_k": 40, "repetition_penalty": 1.1}
    a = await client.complete({**base, "seed": 7})
    b = await client.complete({**base, "seed": 7})
    c = await client.complete({**base, "seed": 8})
    assert a["token_ids"] == b["token_ids"] and a["seed"] == 7
    assert c["token_ids"] != a["token_ids"]
    # no seed: the worker picks one and reports it, so the run can be repeated
    d = await client.complete({**base})
    assert isinstance(d["seed"], int)
    assert (await client.complete({**base, "seed": d["seed"]}))["token_ids"] == d["token_ids"]


async def test_stop_ends_a_generation_promptly(client: InferenceClient, figures: Any) -> None:
    req = GenerateRequest(prompt="Tell me a long story.", max_new_tokens=2000, greedy=True)
    t_stop = 0.0
    result: dict[str, Any] = {}
    async for ev in client.generate(req):
        if ev["type"] == "token" and not t_stop and ev["n"] >= 5:
            assert client.stop_generation(req.id)
            t_stop = time.perf_counter()
        if ev["type"] == "result":
            result = ev["data"]
    figures("tiny Phi3: stop command to result (s)", time.perf_counter() - t_stop)
    assert result["stop_reason"] == "stopped"
    assert 5 <= result["completion_tokens"] < 2000
    # an id-less stop ends whatever runs; leaving the loop early stops the request too
    async for ev in client.generate({"prompt": "Again", "max_new_tokens": 2000}):
        if ev["type"] == "token":
            client.stop_generation()
        elif ev["type"] == "result":
            assert ev["data"]["stop_reason"] == "stopped"
    async for ev in client.generate({"prompt": "And again", "max_new_tokens": 2000}):
        assert ev["type"] == "token"
        break
    # the worker serves the next request normally
    after = await client.complete({"prompt": "Hello", "max_new_tokens": 4, "greedy": True})
    assert after["stop_reason"] == "max_tokens" and after["completion_tokens"] == 4


async def test_a_full_context_window_ends_the_generation(client: InferenceClient) -> None:
    r = await client.complete({"prompt_ids": [42] * 2040, "max_new_tokens": 100, "greedy": True})
    assert r["stop_reason"] == "context_length" and r["completion_tokens"] == 8


async def test_stop_strings(client: InferenceClient) -> None:
    full = await client.complete({"prompt": "Hello there", "max_new_tokens": 30, "greedy": True})
    stop = full["text"][12:15]
    assert stop.strip()
    cut = await client.complete({"prompt": "Hello there", "max_new_tokens": 30, "greedy": True,
                                 "stop": [stop]})
    assert cut["stop_reason"] == "stop_string" and cut["stop_string"] == stop
    assert cut["text"] == full["text"][: full["text"].find(stop) + len(stop)]


async def test_guided_json_schema_output_validates(client: InferenceClient, figures: Any) -> None:
    free = await client.complete({"messages": MESSAGES, "tools": TOOLS, "max_new_tokens": 40,
                                  "greedy": True})
    with pytest.raises(ValueError):
        json.loads(free["text"])  # the random model on its own writes no JSON at all
    req = GenerateRequest(messages=MESSAGES, tools=TOOLS, max_new_tokens=80, greedy=True,
                          guidance=Guidance.json_schema(CALL_SCHEMA))
    guided = await client.complete(req)
    call = json.loads(guided["text"])
    jsonschema.validate(call, CALL_SCHEMA)
    assert guided["stop_reason"] == "eos" and guided["guidance"] == "json_schema"
    figures("tiny Phi3: guided decode tokens/s", guided["decode_tokens_per_s"])
    # fast-forwarded tokens (inserted by the grammar) are streamed and counted as well
    ff = GenerateRequest(messages=MESSAGES, tools=TOOLS, max_new_tokens=80, greedy=True,
                         guidance=Guidance.json_schema(CALL_SCHEMA, ff_tokens=True))
    events, fast = await collect(client, ff)
    jsonschema.validate(json.loads(fast["text"]), CALL_SCHEMA)
    streamed = [t for ev in events if ev["type"] == "token" for t in ev["ids"]]
    assert streamed == fast["token_ids"] and fast["stop_reason"] == "eos"
    # regex and Lark grammars
    yes_no = await client.complete({"prompt": "Ok?", "max_new_tokens": 10,
                                    "guidance": {"type": "regex", "text": "(yes|no)"}})
    assert yes_no["text"] in ("yes", "no")
    lark = await client.complete({"prompt": "Pick", "max_new_tokens": 10, "greedy": True,
                                  "guidance": {"type": "lark_grammar",
                                               "text": 'start: "A" | "B" | "C"'}})
    assert lark["text"] in ("A", "B", "C")


async def test_a_forced_run_past_the_token_budget_is_kept_whole(
        client: InferenceClient) -> None:
    """Guidance with ff_tokens inserts a grammar's forced tokens several in one step; a run that
    crosses max_new_tokens once failed inside onnxruntime-genai and could abort the worker."""
    literal = "x" + "abcdefghij" * 6
    req = {"prompt": "Hello", "greedy": True, "max_new_tokens": 3,
           "guidance": {"type": "regex", "text": literal, "ff_tokens": True}}
    out = await client.complete(req)
    assert out["stop_reason"] == "max_tokens" and out["text"] == literal
    assert out["completion_tokens"] > 3  # the forced run, whole
    again = await client.complete({"prompt": "Hello", "max_new_tokens": 2, "greedy": True})
    assert again["completion_tokens"] == 2  # the same worker goes on serving


async def test_bad_requests_get_an_error_and_the_worker_keeps_serving(
    client: InferenceClient,
) -> None:
    pid = client.pid
    with pytest.raises(GenerationError) as bad_schema:
        await client.complete({"prompt": "x", "guidance": {"type": "json_schema",
                                                           "text": "{not json"}})
    assert bad_schema.value.code == "bad_guidance"
    with pytest.raises(GenerationError) as bad_lark:
        await client.complete({"prompt": "x", "guidance": {"type": "lark_grammar",
                                                           "text": "start: ???"}})
    assert bad_lark.value.code == "bad_guidance"
    with pytest.raises(GenerationError) as too_long:
        await client.complete({"prompt": "word " * 3000, "max_new_tokens": 8})
    assert too_long.value.code == "prompt_too_long" and "2048" in too_long.value.message
    with pytest.raises(GenerationError) as bad_field:
        await client.complete({"prompt": "x", "top_p": 2.0})
    assert bad_field.value.code == "bad_request" and "top_p" in bad_field.value.message
    with pytest.raises(GenerationError) as bad_ids:
        await client.complete({"prompt_ids": [1, 10**6]})
    assert bad_ids.value.code == "bad_request" and "vocabulary" in bad_ids.value.message
    with pytest.raises(GenerationError) as no_adapter:
        await client.complete({"prompt": "x", "adapter": "nope"})
    assert no_adapter.value.code == "adapter_error"
    ok = await client.complete({"prompt": "Hello", "max_new_tokens": 3, "greedy": True})
    assert ok["completion_tokens"] == 3 and client.pid == pid


async def test_killed_worker_is_restarted_by_the_next_request(
    client: InferenceClient, figures: Any
) -> None:
    old_pid = client.pid
    assert old_pid is not None
    with pytest.raises(WorkerDiedError):
        async for ev in client.generate({"prompt": "Go on", "max_new_tokens": 2000}):
            if ev["type"] == "token":
                kill_tree(old_pid, force=True)
    assert not client.running
    t0 = time.perf_counter()
    events, result = await collect(client, {"prompt": "Hello", "max_new_tokens": 5,
                                            "greedy": True})
    figures("tiny Phi3: restart after a kill, to first result (s)", time.perf_counter() - t0)
    assert events[0]["type"] == "restart" and events[0]["restarts"] == 1
    assert "exit code" in events[0]["reason"]
    assert result["completion_tokens"] == 5
    assert client.pid != old_pid and client.restarts == 1


async def test_every_request_in_flight_learns_that_the_worker_died(
    client: InferenceClient,
) -> None:
    first_token = asyncio.Event()

    async def running() -> None:
        async for ev in client.generate({"prompt": "One", "max_new_tokens": 2000}):
            if ev["type"] == "token":
                first_token.set()

    tasks = [asyncio.ensure_future(running()),
             asyncio.ensure_future(client.complete({"prompt": "Two (queued)"}))]
    await asyncio.wait_for(first_token.wait(), 30)
    assert client.pid is not None
    kill_tree(client.pid, force=True)
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    assert all(isinstance(r, WorkerDiedError) for r in results), results
    assert "exit code" in str(results[0])
    assert (await client.complete({"prompt": "Three", "max_new_tokens": 2}))[
        "completion_tokens"] == 2


async def test_concurrent_requests_are_served_in_turn(client: InferenceClient) -> None:
    reqs = [{"prompt": f"Request {i}", "max_new_tokens": 6, "greedy": True} for i in range(3)]
    results = await asyncio.gather(*(client.complete(r) for r in reqs))
    assert [r["completion_tokens"] for r in results] == [6, 6, 6]
    alone = await client.complete(reqs[1])
    assert alone["token_ids"] == results[1]["token_ids"]


async def test_provider_fallback_is_reported(tiny_phi3_onnx_dir: Path) -> None:
    import onnxruntime_genai as og

    if og.is_cuda_available():
        pytest.skip("CUDA is available here: nothing to fall back from")
    logs: list[dict[str, Any]] = []
    client = InferenceClient(tiny_phi3_onnx_dir, provider="cuda",
                             on_event=lambda ev: logs.append(ev) if ev["type"] == "log" else None)
    try:
        info = await client.start()
        assert info["provider"] == "cpu" and info["requested_provider"] == "cuda"
        assert "cuda" in info["fallback_reason"].lower()
        assert any(ev.get("code") == "provider_fallback" for ev in logs)
        assert (await client.complete({"prompt": "Hi", "max_new_tokens": 2}))[
            "completion_tokens"] == 2
    finally:
        await client.close()


async def test_a_missing_model_fails_to_start(tmp_path: Path) -> None:
    from phi4studio.core.inference import WorkerStartError

    client = InferenceClient(tmp_path / "nowhere", start_timeout_s=60)
    with pytest.raises(WorkerStartError, match=r"genai_config\.json"):
        await client.start()
    await client.close()


async def test_runs_as_a_job_in_the_gpu_slot(tiny_phi3_onnx_dir: Path) -> None:
    queue = JobQueue({"gpu": 1, "cpu": 1})
    client = InferenceClient(tiny_phi3_onnx_dir, provider="cpu", submit=queue.submit)
    await client.start()
    job = client.job
    assert job is not None and job.state is JobState.RUNNING
    assert queue.resources_in_use()["gpu"] == 1
    assert (await client.complete({"prompt": "Hi", "max_new_tokens": 3}))["completion_tokens"] == 3
    assert "model loaded on cpu" in job.message
    # cancelled from the jobs panel: the worker ends; the next request starts a new job
    queue.cancel(job)
    assert await queue.wait(job) is JobState.CANCELLED
    events, _ = await collect(client, {"prompt": "Hi", "max_new_tokens": 3})
    assert events[0]["type"] == "restart"
    second = client.job
    assert second is not None and second is not job and second.state is JobState.RUNNING
    await client.close()
    assert await queue.wait(second) is JobState.SUCCEEDED
    assert queue.resources_in_use()["gpu"] == 0


def _torch_greedy(hf_dir: Path, prompt_ids: list[int], n: int) -> list[int]:
    """Greedy PyTorch continuation, up to n tokens, without the end-of-sequence token (the
    worker's token_ids leave it out too: stop_reason says "eos")."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(hf_dir), dtype=torch.float32).eval()
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos if isinstance(eos, list) else [eos])
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt_ids]), max_new_tokens=n, do_sample=False,
                             pad_token_id=min(eos_ids))
    new = [int(t) for t in out[0, len(prompt_ids):]]
    return new[: next((i for i, t in enumerate(new) if t in eos_ids), len(new))]


async def test_onnx_fp32_matches_pytorch_token_by_token(
    client: InferenceClient, tiny_phi3_hf_dir: Path, figures: Any
) -> None:
    """Greedy decoding through the worker equals greedy PyTorch on the source model."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_phi3_hf_dir))
    prompts = [
        tok.apply_chat_template(MESSAGES, tools=TOOLS, tokenize=False, add_generation_prompt=True),
        "The quick brown fox",
        "def add(a, b):\n    return",
    ]
    n = 32
    agree = total = 0
    for prompt in prompts:
        ids = tok.encode(prompt, add_special_tokens=False)
        onnx = await client.complete({"prompt": prompt, "max_new_tokens": n, "greedy": True,
                                      "add_special_tokens": False})
        assert onnx["prompt_tokens"] == len(ids)
        # token ids in: the form export verification uses (no tokenizer in between)
        by_ids = await client.complete({"prompt_ids": ids, "max_new_tokens": n, "greedy": True})
        assert by_ids["token_ids"] == onnx["token_ids"]
        ref = _torch_greedy(tiny_phi3_hf_dir, ids, n)
        assert onnx["token_ids"] == ref, f"diverged on {prompt!r}"
        agree += sum(a == b for a, b in zip(onnx["token_ids"], ref, strict=False))
        total += n
    figures("tiny Phi3 fp32: greedy token agreement with PyTorch", f"{agree}/{total}")


async def test_lora_adapters_switch_per_request(
    tiny_phi3_adapter_onnx_dir: Path, tiny_phi3_hf_dir: Path, tiny_phi3_lora_dir: Path
) -> None:
    """Base and fine-tuned answers from one loaded base: each matches its PyTorch model."""
    from transformers import AutoTokenizer

    adapters = tiny_phi3_adapter_onnx_dir / "adapters"
    client = InferenceClient(tiny_phi3_adapter_onnx_dir, provider="cpu",
                             adapters={"ft": adapters / "ft.onnx_adapter"})
    prompt = "The quick brown fox"
    ids = AutoTokenizer.from_pretrained(str(tiny_phi3_hf_dir)).encode(prompt)
    req = {"prompt": prompt, "max_new_tokens": 16, "greedy": True}
    try:
        info = await client.start()
        assert info["adapters"] == ["ft"] and info["active_adapter"] is None
        base = await client.complete(req)
        tuned = await client.complete({**req, "adapter": "ft"})
        assert base["adapter"] is None and tuned["adapter"] == "ft"
        assert base["token_ids"] == _torch_greedy(tiny_phi3_hf_dir, ids, 16)
        assert tuned["token_ids"] == _torch_greedy(tiny_phi3_lora_dir / "merged", ids, 16)
        # a second adapter at run time, made the default; "" still means the base model
        state = await client.load_adapter("neg", adapters / "neg.onnx_adapter")
        assert state == {"adapters": ["ft", "neg"], "active_adapter": None}
        assert (await client.set_adapter("neg"))["active_adapter"] == "neg"
        neg = await client.complete(req)
        assert neg["adapter"] == "neg"
        assert neg["token_ids"] not in (base["token_ids"], tuned["token_ids"])
        assert (await client.complete({**req, "adapter": ""}))["token_ids"] == base["token_ids"]
        assert (await client.unload_adapter("neg"))["active_adapter"] is None
        assert (await client.complete(req))["token_ids"] == base["token_ids"]
        with pytest.raises(GenerationError) as missing:
            await client.load_adapter("x", adapters / "missing.onnx_adapter")
        assert missing.value.code == "adapter_error"
        assert (await client.complete({**req, "adapter": "ft"}))["token_ids"] == \
            tuned["token_ids"]
    finally:
        await client.close()


def _bare_og_decode_rate(model_dir: Path, prompt: str, n: int) -> float:
    """Decode tokens/s of a plain onnxruntime-genai loop in this process (no worker, no IPC)."""
    import onnxruntime_genai as og

    model = og.Model(str(model_dir))
    tok = og.Tokenizer(model)
    ids = tok.encode(prompt)
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + n, min_length=len(ids) + n, do_sample=False)
    gen = og.Generator(model, params)
    gen.append_tokens(ids)
    gen.generate_next_token()
    t0, count = time.perf_counter(), 1
    while not gen.is_done():
        gen.generate_next_token()
        gen.get_next_tokens()
        count += 1
    return (count - 1) / (time.perf_counter() - t0)


@pytest.mark.slow
async def test_smollm2_int8_chat_through_the_worker(
    smollm2_onnx_dir: Path, smollm2_hf_dir: Path, figures: Any
) -> None:
    """The real 135M chat model (int8): answers, guided tool calls, and figures against PyTorch
    and a bare onnxruntime-genai loop."""
    from transformers import AutoTokenizer

    client = InferenceClient(smollm2_onnx_dir, provider="cpu")
    t0 = time.perf_counter()
    info = await client.start()
    figures("SmolLM2 int8: worker start, spawn to `start` (s)", time.perf_counter() - t0)
    figures("SmolLM2 int8: model load inside the worker (s)", info["load_s"])
    try:
        chat = [{"role": "user", "content": "What is the capital of France?"}]
        answer = await client.complete({"messages": chat, "max_new_tokens": 48, "greedy": True})
        assert answer["text"].strip() and answer["stop_reason"] in ("eos", "max_tokens")
        figures("SmolLM2 int8: time to first token (s)", answer["ttft_s"])
        figures("SmolLM2 int8: decode tokens/s via worker", answer["decode_tokens_per_s"])
        # multi-turn: the client sends the whole conversation every turn
        chat += [{"role": "assistant", "content": answer["text"]},
                 {"role": "user", "content": "And of Italy?"}]
        second = await client.complete({"messages": chat, "max_new_tokens": 32, "greedy": True})
        assert second["prompt_tokens"] > answer["prompt_tokens"] + answer["completion_tokens"]
        # guided decoding: a schema-valid call from a model that was never trained for tools
        weather = [{"role": "user", "content": "Weather in Oslo for 3 days?"}]
        guided = await client.complete(GenerateRequest(
            messages=weather, tools=TOOLS, max_new_tokens=80, greedy=True,
            guidance=Guidance.json_schema(CALL_SCHEMA)))
        jsonschema.validate(json.loads(guided["text"]), CALL_SCHEMA)
        figures("SmolLM2 int8: guided decode tokens/s", guided["decode_tokens_per_s"])
        # decode speed through the worker and its IPC vs a bare loop, same prompt and length
        long = await client.complete({"prompt": "Once upon a time", "max_new_tokens": 128,
                                      "greedy": True})
    finally:
        await client.close()
    bare = _bare_og_decode_rate(smollm2_onnx_dir, "Once upon a time", 128)
    figures("SmolLM2 int8: decode tokens/s, bare og loop", bare)
    if long["completion_tokens"] == 128 and long["decode_tokens_per_s"]:
        figures("SmolLM2 int8: worker / bare decode rate", long["decode_tokens_per_s"] / bare)
    # agreement of the int8 build with the fp32 PyTorch model, greedy (reported, not asserted)
    tok = AutoTokenizer.from_pretrained(str(smollm2_hf_dir))
    ids = tok.encode(answer["prompt"], add_special_tokens=False)
    ref = _torch_greedy(smollm2_hf_dir, ids, 48)
    got = answer["token_ids"]
    same = next((i for i, (a, b) in enumerate(zip(got, ref, strict=False)) if a != b),
                min(len(ref), len(got)))
    figures("SmolLM2 int8 vs PyTorch fp32: greedy tokens equal before divergence",
            f"{same} of {len(ref)} (int8 {len(got)} tokens: {answer['text'][:40]!r})")
