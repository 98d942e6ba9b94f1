"""Verification: the export, loaded by onnxruntime-genai (through the app's inference worker, as
the playground will load it), answers the same prompts greedily as the PyTorch source did.

- Prompts: the first examples of the dataset's test split when one is given (the conversation up
  to its first assistant turn, with its tools), else built-in tool-calling prompts; rendered with
  the source's chat template through the chat-format registry.
- Reference: the export script's PyTorch greedy answers as token ids (`verify/reference.json`).
  The same prompt token ids go to the export (`prompt_ids`), so tokenizers cannot differ.
- Token agreement: the share of reference positions where the export picks the same next token
  given the reference's own prefix (teacher-forced). It is computed from free-running greedy
  requests: a request runs until the first difference, then the next one restarts from the
  reference's prefix one token further, so only differences cost a request. `exact` counts the
  prompts whose whole greedy answer is the reference's.
- Also: size on disk, load time, decode tokens/s. An INT4 build below the threshold is flagged
  with the advice to rebuild with k_quant_mixed or INT8.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

EOS = -1  # stands for "the model ended its answer" in token sequences

TOOLS: list[dict[str, Any]] = [
    {"name": "get_weather", "description": "Current weather for a city",
     "inputSchema": {"type": "object", "properties": {
         "city": {"type": "string"}, "unit": {"type": "string", "enum": ["C", "F"]}},
         "required": ["city"]}},
    {"name": "search_flights", "description": "Find flights between two airports on a date",
     "inputSchema": {"type": "object", "properties": {
         "origin": {"type": "string"}, "destination": {"type": "string"},
         "date": {"type": "string", "description": "YYYY-MM-DD"}},
         "required": ["origin", "destination", "date"]}},
    {"name": "create_event", "description": "Add an event to the user's calendar",
     "inputSchema": {"type": "object", "properties": {
         "title": {"type": "string"}, "start": {"type": "string"},
         "duration_min": {"type": "integer"}}, "required": ["title", "start"]}},
    {"name": "convert_currency", "description": "Convert an amount between currencies",
     "inputSchema": {"type": "object", "properties": {
         "amount": {"type": "number"}, "from": {"type": "string"}, "to": {"type": "string"}},
         "required": ["amount", "from", "to"]}},
]

BUILTIN: list[tuple[str, list[str]]] = [  # (user message, tools offered)
    ("What's the weather like in Oslo right now?", ["get_weather"]),
    ("Find me a flight from SFO to JFK on 2025-03-14.", ["search_flights", "get_weather"]),
    ("Put 'Dentist' in my calendar tomorrow at 9:00 for 30 minutes.", ["create_event"]),
    ("How much is 250 euros in Japanese yen?", ["convert_currency"]),
    ("Is it colder in Helsinki or in Reykjavik today, in Fahrenheit?", ["get_weather"]),
    ("Tell me a short joke about databases.", ["get_weather", "create_event"]),
    ("Book nothing yet, but which tools can you use?", list(t["name"] for t in TOOLS)),
    ("Convert 12.5 US dollars to Swiss francs and add a reminder 'pay rent' on Friday 8am.",
     ["convert_currency", "create_event"]),
]


# --- prompts ----------------------------------------------------------------------------------
def builtin_examples(n: int) -> list[dict[str, Any]]:
    by_name = {t["name"]: t for t in TOOLS}
    out: list[dict[str, Any]] = []
    for i in range(n):
        text, names = BUILTIN[i % len(BUILTIN)]
        out.append({"id": f"builtin-{i + 1}",
                    "messages": [{"role": "user", "content": text}],
                    "tools": [by_name[x] for x in names]})
    return out


def prompt_examples(examples: Iterable[Mapping[str, Any]], n: int) -> list[dict[str, Any]]:
    """Dataset examples cut before their first assistant turn (those without a user turn first
    are skipped)."""
    out: list[dict[str, Any]] = []
    for ex in examples:
        msgs = list(ex.get("messages") or [])
        cut = next((i for i, m in enumerate(msgs) if m.get("role") == "assistant"), len(msgs))
        head = msgs[:cut]
        if not any(m.get("role") == "user" for m in head):
            continue
        out.append({"id": str(ex.get("id") or f"example-{len(out) + 1}"), "messages": head,
                    "tools": list(ex.get("tools") or [])})
        if len(out) >= n:
            break
    return out


def render_prompts(examples: list[dict[str, Any]], template_source: Path | None) -> \
        tuple[list[dict[str, Any]], str]:
    """Prompt texts from the source's chat template (format name returned). Without a template
    the studio's ChatML-style format renders them."""
    from phi4studio.core.chatformats import FormatDetectionError, detect_format, get_format
    from phi4studio.core.chatformats.templates import TemplateError

    fmt: Any
    try:
        fmt = detect_format(template_source) if template_source else get_format("studio")
    except (FormatDetectionError, TemplateError, OSError):
        fmt = get_format("chatml-notools")
    out = []
    for ex in examples:
        text = fmt.render_prompt(ex["messages"], ex.get("tools") or None)
        out.append({"id": ex["id"], "text": text})
    return out, str(fmt.name)


def dataset_test_examples(open_store: Callable[[], Any], n: int) -> list[dict[str, Any]]:
    """The first `n` usable examples of a dataset store's test split."""
    from phi4studio.core.datasets.query import ExampleFilter

    store = open_store()
    try:
        return prompt_examples(store.iter_dicts(ExampleFilter(split="test")), n)
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()


# --- comparison -------------------------------------------------------------------------------
@dataclass
class PromptResult:
    id: str
    variant: str  # "" : the merged model / the base; else the adapter's name
    positions: int  # reference tokens compared (+1 when the reference ended with EOS)
    agreed: int
    first_difference: int | None  # position of the first free-running difference
    requests: int
    decode_tokens_per_s: float | None = None
    text: str = ""  # the export's free-running answer
    tokens: list[int] = field(default_factory=list)  # ... as token ids

    @property
    def exact(self) -> bool:
        return self.first_difference is None


def sequence(tokens: list[int], eos: bool) -> list[int]:
    return [*tokens, EOS] if eos else list(tokens)


@dataclass
class Verification:
    status: str  # passed | flagged | failed | skipped
    token_agreement: float | None = None
    exact_prompts: int = 0
    prompts: int = 0
    load_s: float | None = None
    startup_s: float | None = None
    decode_tokens_per_s: float | None = None
    provider: str | None = None
    size_bytes: int | None = None
    threshold: float = 0.9
    advice: str = ""
    message: str = ""
    by_variant: dict[str, float] = field(default_factory=dict)
    base_differs: bool | None = None  # adapter exports: the adapter changes the answers
    prompt_format: str = ""
    details: list[dict[str, Any]] = field(default_factory=list)
    seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def headline(self) -> str:
        if self.token_agreement is None:
            return f"verification {self.status}: {self.message}"
        return (f"token agreement {self.token_agreement:.1%} ({self.exact_prompts}/"
                f"{self.prompts} answers identical), load {self.load_s or 0:.2f} s, "
                f"{self.decode_tokens_per_s or 0:.0f} tokens/s")


def verdict(v: Verification, precision: str, algo: str) -> None:
    """passed / flagged, with advice for a weak INT4 build."""
    if v.token_agreement is None:
        return
    if v.token_agreement >= v.threshold:
        v.status = "passed"
        return
    v.status = "flagged"
    pct = f"{v.token_agreement:.0%}"
    if precision == "int4":
        v.advice = (f"This INT4 build ({algo}) agrees with the PyTorch model on only {pct} of "
                    f"tokens (threshold {v.threshold:.0%}). INT4 degrades small models: rebuild "
                    "with the k_quant_mixed algorithm, or INT8.")
        if algo == "k_quant_mixed":
            v.advice = (f"Even k_quant_mixed INT4 agrees on only {pct} of tokens: rebuild in "
                        "INT8 (or FP16 on a GPU).")
    elif precision == "int8":
        v.advice = f"INT8 agrees on only {pct} of tokens: try FP16 (GPU) or FP32."
    else:
        v.advice = (f"A {precision.upper()} build should agree almost fully ({pct}): check the "
                    "export log for builder warnings.")


def summarize(results: list[PromptResult], main_variant: str) -> tuple[float | None, int, int]:
    mine = [r for r in results if r.variant == main_variant]
    pos = sum(r.positions for r in mine)
    agreed = sum(r.agreed for r in mine)
    return (agreed / pos if pos else None), sum(r.exact for r in mine), len(mine)


def median_or_none(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def load_reference(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "prompts" not in data:
        raise ValueError(f"{path} is not a reference file")
    return data


async def verify_export(model_dir: Path, reference: dict[str, Any], *, provider: str,
                        adapters: Mapping[str, Path], threshold: float,
                        log: Callable[[str], None],
                        progress: Callable[[float, str], None] | None = None,
                        client_factory: Callable[..., Any] | None = None) -> Verification:
    """Load the export in the inference worker and compare it with the reference."""
    from phi4studio.core.inference import GenerateRequest, InferenceClient, InferenceError

    t0 = time.perf_counter()
    factory = client_factory or InferenceClient
    client = factory(model_dir, provider=provider, adapters=dict(adapters))
    v = Verification(status="failed", threshold=threshold)
    try:
        try:
            info = await client.start()
        except InferenceError as exc:
            v.status = "skipped" if provider != "cpu" else "failed"
            v.message = f"the export could not be loaded by onnxruntime-genai: {exc}"
            log(v.message)
            return v
        v.load_s, v.startup_s = info.get("load_s"), client.startup_s
        v.provider = info.get("provider")
        if info.get("fallback_reason"):
            log(f"verification runs on {v.provider}: {info['fallback_reason']}")
        variants = [str(x) for x in reference.get("variants", [""])]
        prompts = reference["prompts"]
        total = max(1, len(prompts) * len(variants))
        results: list[PromptResult] = []
        speeds: list[float] = []
        done = 0
        for p in prompts:
            for variant in variants:
                ref = p["reference"][variant]
                target = sequence(ref["tokens"], ref["eos"])
                first: dict[str, Any] = {}

                async def ask(pos: int, p: dict[str, Any] = p, variant: str = variant,
                              ref: dict[str, Any] = ref, target: list[int] = target,
                              first: dict[str, Any] = first) -> list[int]:
                    want = len(target) - pos
                    req = GenerateRequest(prompt_ids=[*p["prompt_ids"], *ref["tokens"][:pos]],
                                          max_new_tokens=max(1, want), greedy=True,
                                          repetition_penalty=1.0, adapter=variant)
                    data = await client.complete(req)
                    if pos == 0:
                        first["text"] = str(data.get("text", ""))
                        first["tokens"] = list(data.get("token_ids") or [])
                        if data.get("decode_tokens_per_s"):
                            speeds.append(float(data["decode_tokens_per_s"]))
                    return sequence(list(data.get("token_ids") or []),
                                    data.get("stop_reason") == "eos")

                agreed, diff, requests = await agreement_walk(target, ask)
                r = PromptResult(str(p.get("id")), variant, len(target), agreed, diff, requests,
                                 text=first.get("text", ""), tokens=first.get("tokens", []))
                results.append(r)
                label = variant or ("base" if len(variants) > 1 else "model")
                log(f"prompt {r.id} [{label}]: {agreed}/{len(target)} tokens agree"
                    + ("" if r.exact else f", first difference at token {diff}"))
                done += 1
                if progress is not None:
                    progress(done / total, f"verifying: {done}/{total} answers compared")
        main = variants[-1]  # the adapter when there is one, else the model
        v.token_agreement, v.exact_prompts, v.prompts = summarize(results, main)
        for variant in variants:
            label = variant or ("base" if len(variants) > 1 else "model")
            v.by_variant[label] = summarize(results, variant)[0] or 0.0
        if len(variants) > 1:
            base = {r.id: r.text for r in results if r.variant == ""}
            v.base_differs = any(base.get(r.id) != r.text for r in results if r.variant == main)
        v.decode_tokens_per_s = median_or_none(speeds)
        v.details = [asdict(r) for r in results]
        v.status = "passed"
    finally:
        await client.close()
        v.seconds = round(time.perf_counter() - t0, 2)
    return v


async def agreement_walk(target: list[int], ask: Callable[[int], Any]) -> \
        tuple[int, int | None, int]:
    """Teacher-forced agreement with few requests: `await ask(pos)` is the export's greedy
    continuation from the reference prefix target[:pos]. Returns (agreed, first difference,
    requests)."""
    pos = agreed = requests = 0
    first: int | None = None
    while pos < len(target):
        got = await ask(pos)
        requests += 1
        k = 0
        while pos + k < len(target) and k < len(got) and got[k] == target[pos + k]:
            k += 1
        agreed += k
        pos += k
        if pos >= len(target):
            break
        if first is None:
            first = pos
        pos += 1  # the export differs here: go on from the reference's next prefix
    return agreed, first, requests
