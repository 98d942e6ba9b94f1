"""Figures for `phi4studio bench chat` (Qt-free part): decode speed and time to first token
through the inference worker and its IPC, against a bare onnxruntime-genai loop in this process,
on the same model folder and prompt, greedy (so both produce the same tokens).

Client-side figures are taken where the app sees them: TTFT from sending the request to the
first token event; decode tokens/s from the first token event to the result, over the tokens
after the first. The bare loop does the same work in one process (tokenize, prefill, generate,
detokenize with the same streaming decoder) with no IPC. Runs alternate and the medians are
compared (a shared 2-core machine is noisy).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

from phi4studio.core.inference import GenerateRequest, InferenceClient

DEFAULT_PROMPT = ("Write a long, detailed story about a lighthouse keeper who finds a message in "
                  "a bottle. Describe the sea, the weather and every step of the journey.")


def render(model_dir: Path, prompt: str) -> str:
    from phi4studio.core.playground.models import format_for_model

    return format_for_model(model_dir).render_prompt([{"role": "user", "content": prompt}])


def bare_loop(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> dict[str, Any]:
    """One greedy generation with onnxruntime-genai in this process (as the worker's engine
    does it, minus the protocol): TTFT and decode tokens/s."""
    import onnxruntime_genai as og

    t0 = time.perf_counter()
    ids = tokenizer.encode(prompt)
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + max_new_tokens, do_sample=False)
    gen = og.Generator(model, params)
    gen.append_tokens(ids)
    stream = tokenizer.create_stream()
    n = 0
    t_first: float | None = None
    text = ""
    while not gen.is_done():
        gen.generate_next_token()
        for tid in gen.get_next_tokens():
            text += stream.decode(int(tid))
            n += 1
        if t_first is None:
            t_first = time.perf_counter()
    t_end = time.perf_counter()
    first = t_first or t_end
    return {"tokens": n, "ttft_s": first - t0,
            "decode_tokens_per_s": (n - 1) / (t_end - first) if n > 1 and t_end > first else None,
            "text": text}


async def through_worker(client: InferenceClient, prompt: str, max_new_tokens: int
                         ) -> dict[str, Any]:
    req = GenerateRequest(prompt=prompt, add_special_tokens=False, greedy=True,
                          max_new_tokens=max_new_tokens)
    t0 = time.perf_counter()
    t_first: float | None = None
    data: dict[str, Any] = {}
    async for ev in client.generate(req):
        if ev["type"] == "token" and t_first is None:
            t_first = time.perf_counter()
        elif ev["type"] == "result":
            data = ev.get("data") or {}
    t_end = time.perf_counter()
    n = int(data.get("completion_tokens") or 0)
    first = t_first or t_end
    return {"tokens": n, "ttft_s": first - t0,
            "decode_tokens_per_s": (n - 1) / (t_end - first) if n > 1 and t_end > first else None,
            "worker_ttft_s": data.get("ttft_s"),
            "worker_decode_tokens_per_s": data.get("decode_tokens_per_s"),
            "text": data.get("text", "")}


def _median(rows: list[dict[str, Any]], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None


async def measure_decode(model_dir: Path, *, prompt: str = DEFAULT_PROMPT,
                         max_new_tokens: int = 256, repeats: int = 3,
                         provider: str = "cpu") -> dict[str, Any]:
    """Worker vs bare loop, alternating, `repeats` runs each after one warm-up of each."""
    import onnxruntime_genai as og

    text = render(model_dir, prompt)
    model = og.Model(str(model_dir))
    tok = og.Tokenizer(model)
    tok.update_options(skip_special_tokens="false", add_special_tokens="false")
    bare: list[dict[str, Any]] = []
    worker: list[dict[str, Any]] = []
    async with InferenceClient(model_dir, provider=provider) as client:
        startup_s = client.startup_s
        bare_loop(model, tok, text, 8)  # warm-up
        await through_worker(client, text, 8)
        for _ in range(repeats):
            bare.append(bare_loop(model, tok, text, max_new_tokens))
            worker.append(await through_worker(client, text, max_new_tokens))
    del model
    same = all(b["text"] == w["text"] for b, w in zip(bare, worker, strict=True))
    b_tps, w_tps = _median(bare, "decode_tokens_per_s"), _median(worker, "decode_tokens_per_s")
    return {
        "model": str(model_dir), "prompt_tokens": len(tok.encode(text)),
        "generated_tokens": worker[0]["tokens"] if worker else 0, "repeats": repeats,
        "same_tokens": same, "worker_startup_s": startup_s,
        "bare_decode_tokens_per_s": b_tps, "worker_decode_tokens_per_s": w_tps,
        "worker_inside_decode_tokens_per_s": _median(worker, "worker_decode_tokens_per_s"),
        "ratio": (w_tps / b_tps) if b_tps and w_tps else None,
        "bare_ttft_s": _median(bare, "ttft_s"), "worker_ttft_s": _median(worker, "ttft_s"),
        "worker_inside_ttft_s": _median(worker, "worker_ttft_s"),
        "runs_worker_tps": [r["decode_tokens_per_s"] for r in worker],
        "runs_bare_tps": [r["decode_tokens_per_s"] for r in bare],
    }
