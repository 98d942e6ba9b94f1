"""Synthetic examples from tool specs, without a model: template-based and deterministic per seed.

    for ex in synthesize(load_tool_catalog(path), 200, seed=7): ...

The scenario mix is allocated exactly (largest remainders) and shuffled by the seed; example i
draws from its own random stream (seed, i), so any example can be regenerated alone. Scenarios:
  single                one tool offered, one call, its result, an answer
  multiple              the right tool among 2-4 offered
  parallel              two or three calls in one assistant turn (same tool twice or two tools)
  multi_turn            a follow-up turn: the same tool with a changed argument, or another tool
  missing_info_or_error a required value is missing and the assistant asks for it (and then calls,
                        half of the time), or the tool returns an error the assistant explains
  irrelevance           a request no offered tool serves, answered without a call
Every call is validated against its tool's inputSchema, and every example through validation.py.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from phi4studio.core.datasets.errors import SynthesisError
from phi4studio.core.datasets.schema import SCENARIOS, Example
from phi4studio.core.datasets.synthesis import phrasing as ph
from phi4studio.core.datasets.synthesis import vocab
from phi4studio.core.datasets.synthesis.results import make_arguments, make_result, other_value
from phi4studio.core.datasets.validation import check_tool_schema, validate_example

DEFAULT_SYNTH_MIX: dict[str, float] = {
    "single": 0.25, "multiple": 0.20, "multi_turn": 0.20, "parallel": 0.15,
    "missing_info_or_error": 0.10, "irrelevance": 0.10,
}
SOURCE = "synthetic:templates"
_KNOWLEDGE_TOOL = re.compile(r"search|fetch|web|browse|lookup|wiki", re.I)
_ERRORS = [
    ("not_found", "No match found for {value}"),
    ("unavailable", "Service temporarily unavailable (HTTP 503)"),
    ("rate_limited", "Rate limit exceeded; retry in 60 seconds"),
    ("invalid_argument", "The value {value} was rejected by the service"),
]


def allocate(n: int, mix: Mapping[str, float]) -> dict[str, int]:
    """Exact counts per scenario for n examples (largest remainders)."""
    total = sum(v for v in mix.values() if v > 0)
    if total <= 0 or any(k not in SCENARIOS for k in mix):
        raise SynthesisError(f"A scenario mix needs positive shares of {', '.join(SCENARIOS)}.")
    raw = {k: n * v / total for k, v in mix.items() if v > 0}
    counts = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: (raw[k] - counts[k], k), reverse=True)[: n - sum(
            counts.values())]:
        counts[k] += 1
    return counts


class Synthesizer:
    def __init__(self, tools: Sequence[Mapping[str, Any]], *, seed: int = 0,
                 mix: Mapping[str, float] | None = None, system_prompt_rate: float = 0.7) -> None:
        if not tools:
            raise SynthesisError("Synthesis needs at least one tool.")
        for t in tools:
            why = check_tool_schema(t.get("inputSchema") or {"type": "object"})
            if why is not None:
                raise SynthesisError(f"The inputSchema of {t.get('name')!r} is invalid: {why}")
        self.tools = [dict(t) for t in tools]
        self.seed = seed
        self.mix = dict(mix or DEFAULT_SYNTH_MIX)
        self.system_prompt_rate = system_prompt_rate

    # --- the plan ---------------------------------------------------------------------------
    def plan(self, n: int) -> list[str]:
        counts = allocate(n, self.mix)
        order = [s for s in SCENARIOS for _ in range(counts.get(s, 0))]
        random.Random(f"{self.seed}:plan").shuffle(order)
        return order

    def generate(self, n: int, *, progress: Callable[[float, str], None] | None = None,
                 cancelled: Callable[[], bool] | None = None) -> Iterator[dict[str, Any]]:
        seen: dict[str, int] = {}
        for i, scenario in enumerate(self.plan(n)):
            occurrence = seen.get(scenario, 0)
            seen[scenario] = occurrence + 1
            if i % 100 == 0:
                if cancelled is not None and cancelled():
                    from phi4studio.core.jobs.model import JobCancelled

                    raise JobCancelled()
                if progress is not None:
                    progress(i / max(n, 1), f"{i} of {n} example(s)")
            yield self.example(i, scenario, occurrence)
        if progress is not None:
            progress(1.0, f"{n} example(s)")

    def example(self, index: int, scenario: str, occurrence: int = 0) -> dict[str, Any]:
        """Example `index` of a run; `occurrence` counts earlier examples of its scenario
        (irrelevance uses it to go through its requests without repeats)."""
        rng = random.Random(f"{self.seed}:{index}")
        b = _Builder(self, rng)
        b.occurrence = occurrence
        build = {
            "single": b.single, "multiple": b.multiple, "parallel": b.parallel,
            "multi_turn": b.multi_turn, "missing_info_or_error": b.missing_or_error,
            "irrelevance": b.irrelevance,
        }[scenario]
        build()
        messages = b.messages
        if rng.random() < self.system_prompt_rate:
            messages = [{"role": "system", "content": rng.choice(vocab.SYSTEM_PROMPTS)},
                        *messages]
        d = {
            "id": f"syn-{self.seed}-{index:05d}", "messages": messages, "tools": b.offered,
            "scenario": b.scenario or scenario, "source": SOURCE, "split": None,
            "tags": ["synthetic", *b.tags], "notes": "",
        }
        d = Example.model_validate(d).to_dict()
        errors = [i for i in validate_example(d) if i.severity == "error"]
        if errors:
            raise SynthesisError(f"Generated example {d['id']} is invalid: {errors[0].path}: "
                                 f"{errors[0].message}")
        return d


class _Builder:
    """Builds one example's messages; each scenario method appends turns."""

    def __init__(self, syn: Synthesizer, rng: random.Random) -> None:
        self.syn = syn
        self.rng = rng
        self.messages: list[dict[str, Any]] = []
        self.offered: list[dict[str, Any]] = []
        self.tags: list[str] = []
        self.scenario: str | None = None
        self.occurrence = 0
        self._n = 0

    # --- pieces -----------------------------------------------------------------------------
    def pick(self, k: int = 1, exclude: Sequence[str] = ()) -> list[dict[str, Any]]:
        pool = [t for t in self.syn.tools if t["name"] not in exclude]
        return self.rng.sample(pool, min(k, len(pool)))

    def offer(self, *tools: dict[str, Any], distractors: int = 0) -> None:
        names = {t["name"] for t in self.offered}
        for t in tools:
            if t["name"] not in names:
                self.offered.append(t)
                names.add(t["name"])
        for t in self.pick(distractors, exclude=list(names)):
            self.offered.append(t)
        self.rng.shuffle(self.offered)

    def call_turn(self, calls: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[Any]:
        """One assistant turn making the calls, then a tool result for each; returns results."""
        tcs, results = [], []
        for tool, args in calls:
            self._n += 1
            tcs.append({"id": f"call_{self._n}", "name": tool["name"], "arguments": args})
        content = self.rng.choice(["", "", "", "Let me check that.", "One moment."])
        self.messages.append({"role": "assistant", "content": content, "tool_calls": tcs})
        for (tool, args), tc in zip(calls, tcs, strict=True):
            result = make_result(tool, args, self.rng)
            results.append(result)
            self.tool_message(tc, result)
        return results

    def tool_message(self, tc: Mapping[str, Any], result: Any) -> None:
        self.messages.append({"role": "tool", "tool_call_id": tc["id"], "name": tc["name"],
                              "content": json.dumps(result, ensure_ascii=False)})

    def user(self, text: str) -> None:
        self.messages.append({"role": "user", "content": text})

    def assistant(self, text: str) -> None:
        self.messages.append({"role": "assistant", "content": text})

    def simple_round(self, tool: dict[str, Any]) -> dict[str, Any]:
        args = make_arguments(tool, self.rng)
        self.user(ph.user_request(tool, args, self.rng))
        (result,) = self.call_turn([(tool, args)])
        self.assistant(ph.final_answer(tool, result, self.rng, args))
        return args

    # --- scenarios --------------------------------------------------------------------------
    def single(self) -> None:
        (tool,) = self.pick()
        self.offer(tool)
        self.simple_round(tool)

    def multiple(self) -> None:
        if len(self.syn.tools) < 2:
            self.scenario = "single"
            return self.single()
        (tool,) = self.pick()
        self.offer(tool, distractors=self.rng.randint(1, min(3, len(self.syn.tools) - 1)))
        self.simple_round(tool)
        return None

    def parallel(self) -> None:
        same = len(self.syn.tools) < 2 or self.rng.random() < 0.5
        if same:
            (tool,) = self.pick()
            first = make_arguments(tool, self.rng)
            second = other_value(tool, first, self.rng.choice(list(first)), self.rng) if (
                first) else None
            calls = [(tool, first), (tool, second)] if second else None
        else:
            calls = None
        if calls is None:
            tools = self.pick(self.rng.choice([2, 2, 3]))
            if len(tools) < 2:
                self.scenario = "single"
                return self.single()
            calls = [(t, make_arguments(t, self.rng)) for t in tools]
        self.offer(*[t for t, _ in calls], distractors=self.rng.randint(0, 1))
        (t0, a0), (t1, a1) = calls[0], calls[1]
        if t0 is t1:
            diff = {k: v for k, v in a1.items() if a0.get(k) != v}
            self.user(ph.same_again(ph.user_request(t0, a0, self.rng), t0, diff, self.rng))
        else:
            self.user(ph.combined_request([ph.user_request(t, a, self.rng) for t, a in calls],
                                          self.rng))
        results = self.call_turn(calls)
        self.assistant(ph.combined_answer(
            [ph.summarize(r, a) for r, (_, a) in zip(results, calls, strict=True)]))
        return None

    def multi_turn(self) -> None:
        (tool,) = self.pick()
        self.offer(tool, distractors=self.rng.randint(0, 2))
        args = self.simple_round(tool)
        changed = None
        if args and self.rng.random() < 0.6:
            param = self.rng.choice(list(args))
            changed = other_value(tool, args, param, self.rng)
        if changed is not None:
            diff = {k: v for k, v in changed.items() if args.get(k) != v}
            self.user(ph.follow_up(tool, diff, self.rng))
            (result,) = self.call_turn([(tool, changed)])
            self.assistant(ph.final_answer(tool, result, self.rng, changed))
            return
        others = self.pick(exclude=[tool["name"]])
        nxt = others[0] if others else tool
        self.offer(nxt)
        self.simple_round(nxt)

    def missing_or_error(self) -> None:
        needy = [t for t in self.syn.tools if (t.get("inputSchema") or {}).get("required")]
        if needy and self.rng.random() < 0.5:
            return self.missing(self.rng.choice(needy))
        return self.error()

    def missing(self, tool: dict[str, Any]) -> None:
        self.offer(tool, distractors=self.rng.randint(0, 2))
        args = make_arguments(tool, self.rng)
        param = self.rng.choice(list(tool["inputSchema"]["required"]))
        partial = {k: v for k, v in args.items() if k != param}
        self.user(ph.user_request(tool, partial, self.rng))
        self.assistant(ph.ask_for(tool, param, self.rng))
        self.tags.append("missing_info")
        if self.rng.random() < 0.5:
            self.user(ph.provide(param, args[param], self.rng))
            (result,) = self.call_turn([(tool, args)])
            self.assistant(ph.final_answer(tool, result, self.rng, args))

    def error(self) -> None:
        (tool,) = self.pick()
        self.offer(tool, distractors=self.rng.randint(0, 2))
        args = make_arguments(tool, self.rng)
        self.user(ph.user_request(tool, args, self.rng))
        self._n += 1
        tc = {"id": f"call_{self._n}", "name": tool["name"], "arguments": args}
        self.messages.append({"role": "assistant", "content": "", "tool_calls": [tc]})
        param = next((k for k, v in args.items() if isinstance(v, str)), None)
        code, text = self.rng.choice(_ERRORS if param else _ERRORS[1:3])
        message = text.format(value=ph.fmt_value("", args[param]) if param else "the request")
        self.tool_message(tc, {"error": {"code": code, "message": message}})
        about = param if code in ("not_found", "invalid_argument") else None
        self.assistant(ph.error_reply(tool, message, about, self.rng))
        self.tags.append("tool_error")

    def irrelevance(self) -> None:
        pool = [t for t in self.syn.tools if not _KNOWLEDGE_TOOL.search(t["name"])]
        pool = pool or self.syn.tools
        k = min(len(pool), self.rng.randint(1, 3))
        self.offered = self.rng.sample(pool, k)
        bank = vocab.IRRELEVANT
        order = random.Random(f"{self.syn.seed}:irrelevance").sample(range(len(bank)), len(bank))
        question, answer = bank[order[self.occurrence % len(bank)]]
        lead = vocab.LEADS[(self.occurrence // len(bank)) % len(vocab.LEADS)]
        if lead:
            question = lead + question[:1].lower() + question[1:]
        self.user(question)
        self.assistant(answer)


def synthesize(
    tools: Sequence[Mapping[str, Any]],
    n: int,
    *,
    seed: int = 0,
    mix: Mapping[str, float] | None = None,
    progress: Callable[[float, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Iterator[dict[str, Any]]:
    """n canonical examples (dicts) across the scenario mix, the same for the same seed."""
    return Synthesizer(tools, seed=seed, mix=mix).generate(n, progress=progress,
                                                           cancelled=cancelled)
