"""The quick start's training data: the synthesizer's examples over the user's tools, shaped for
what the flow measures (docs/quickstart.md has the experiments behind each choice).

- Scenario mix (`QUICKSTART_MIX`): more single, multiple, parallel and irrelevance examples than
  the synthesizer's default, so that the model learns when to call, which tool, how many calls,
  and when not to call at all.
- Near misses (`near_miss`): a share of the irrelevance examples is a request that one of the
  user's own tools would serve, asked while only *other* tools are offered; the assistant says
  it has no tool for it. This teaches the model to read the offered tools instead of calling
  whenever a request sounds like a task.
- Phrasing (`rephrase`): a share of the requests is written again in plainer styles ("Get the
  current weather for a city for Lisbon.", "... with a days of 3", values without their names),
  closer to how people ask than the synthesizer's "Use city Lisbon" forms.
- Lists (`list_parallel`): a share of the parallel examples asks for one tool over a list of
  2-4 values of one parameter ("... for Lisbon, Porto and Oslo"), one call per value, in order.
- First turns (`first_turn`): a share of the conversations ends after the first assistant turn
  (the decision: call or not, which tools, which arguments). The prompt (system turn with the
  tool definitions) is most of each example's tokens and all of it is computed on; cutting the
  replies that follow tool results leaves more decisions per minute of CPU training.

Every example stays valid (checked by validation.py as the synthesizer's own are).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from phi4studio.core.datasets.schema import Example

QUICKSTART_MIX: dict[str, float] = {
    "single": 0.25, "multiple": 0.25, "parallel": 0.20, "irrelevance": 0.20,
    "missing_info_or_error": 0.10,
}
DEFAULT_SHAPE: dict[str, float] = {"first_turn": 1.0, "near_miss": 0.5, "rephrase": 0.0,
                                   "list_parallel": 0.0}
SOURCE = "synthetic:quickstart"

_DECLINE = [
    "I can't {action} with the tools I have here. I can {offered}.",
    "Sorry, none of my tools can {action}. What I can do: {offered}.",
    "That isn't something my tools cover: I can only {offered}.",
    "I don't have a tool to {action}. I could {offered} instead, if that helps.",
]


_ARG_STYLES = ["{label} {value}", "{label}: {value}", "{label} of {value}", "a {label} of {value}",
               "{value} for the {label}", "{value}"]
_REQUESTS = ["{Action} for {args}.", "{Action} with {args}.", "{Action}: {args}.",
             "Could you {action} for {args}?", "I want to {action}, {args}.",
             "Please {action}. {Args}.", "Help me {action} ({args}).", "{Args}: {action}."]
_LISTS = ["{Action}{common} for each of these {label}s: {values}.",
          "{Action}{common}, for {values}.", "I need to {action} for {values}{common}.",
          "Please {action} for the {label} {values}{common}.",
          "{Action}{common}. Do it for {values}."]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _and(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


_ASKING = re.compile(r"^(?:get|find|retrieve|look up|fetch|return|check|list|calculate|compute"
                     r"|determine|estimate)\s+(?:the\s+|a\s+|an\s+)?(.+)$", re.I)


def question(act: str, args: str, rng: random.Random) -> str | None:
    """"Get the current weather for a city" -> "What is the current weather for a city, for
    Lisbon?": a question form for tools that look something up or compute it."""
    m = _ASKING.match(act)
    if m is None:
        return None
    what = m.group(1)
    return rng.choice(["What is the {w} for {a}?", "What's the {w}, with {a}?",
                       "Can you tell me the {w}? {A}.", "I'd like to know the {w} for {a}."]
                      ).format(w=what, a=args, A=_cap(args))


def plain_request(tool: Mapping[str, Any], args: Mapping[str, Any], rng: random.Random) -> str:
    """A request in one of the plainer styles (values with or without their names), or a
    question."""
    from phi4studio.core.datasets.synthesis import phrasing as ph

    act = ph.action(tool)
    if not args:
        return _cap(act) + "."
    style = rng.choice(_ARG_STYLES)
    parts = [style.format(label=ph.label(k, tool), value=ph.fmt_value(k, v))
             for k, v in args.items()]
    a = _and(parts)
    if rng.random() < 0.35:
        asked = question(act, a, rng)
        if asked is not None:
            return asked
    return rng.choice(_REQUESTS).format(action=act, Action=_cap(act), args=a, Args=_cap(a))


def rephrase(example: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The first request written again from the call it leads to (one call, no missing value)."""
    msgs = example["messages"]
    u = next((i for i, m in enumerate(msgs) if m["role"] == "user"), None)
    if u is None or u + 1 >= len(msgs) or len(msgs[u + 1].get("tool_calls") or []) != 1:
        return example
    call = msgs[u + 1]["tool_calls"][0]
    tool = next((t for t in example["tools"] if t["name"] == call["name"]), None)
    if tool is None:
        return example
    new = [dict(m) for m in msgs]
    new[u]["content"] = plain_request(tool, call["arguments"], rng)
    return {**example, "messages": new, "tags": [*example["tags"], "rephrased"]}


def list_parallel(syn: Any, index: int, rng: random.Random) -> dict[str, Any] | None:
    """One tool over 2-4 values of one parameter: one call per value, in the order asked."""
    import json

    from phi4studio.core.datasets.synthesis import make_arguments, make_result
    from phi4studio.core.datasets.synthesis import phrasing as ph
    from phi4studio.core.datasets.synthesis.results import other_value

    base = syn.example(index, "single")
    tools = [t for t in syn.tools if (t.get("inputSchema") or {}).get("properties")]
    if not tools:
        return None
    tool = rng.choice(tools)
    args = make_arguments(tool, rng)
    scalars = [k for k, v in args.items() if isinstance(v, (str, int, float))
               and not isinstance(v, bool)]
    required = set((tool.get("inputSchema") or {}).get("required") or [])
    keys = [k for k in scalars if k in required] or scalars
    if not keys:
        return None
    param = rng.choice(keys)
    calls = [args]
    for _ in range(rng.choice([1, 1, 2, 2, 3]) * 4):
        if len(calls) >= 4:
            break
        other = other_value(tool, args, param, rng)
        if other is not None and all(other[param] != c[param] for c in calls):
            calls.append(other)
            if len(calls) >= 2 and rng.random() < 0.45:
                break
    if len(calls) < 2:
        return None
    common = {k: v for k, v in args.items() if k != param}
    common_text = ""
    if common:
        style = rng.choice(_ARG_STYLES[:4])
        common_text = " with " + _and([style.format(label=ph.label(k, tool),
                                                    value=ph.fmt_value(k, v))
                                       for k, v in common.items()])
    act = ph.action(tool)
    user = rng.choice(_LISTS).format(
        Action=_cap(act), action=act, common=common_text, label=ph.label(param, tool),
        values=_and([ph.fmt_value(param, c[param]) for c in calls]))
    tcs = [{"id": f"call_{i + 1}", "name": tool["name"], "arguments": c}
           for i, c in enumerate(calls)]
    msgs: list[dict[str, Any]] = [m for m in base["messages"][:1] if m["role"] == "system"]
    msgs += [{"role": "user", "content": user},
             {"role": "assistant", "content": "", "tool_calls": tcs}]
    results = []
    for tc, c in zip(tcs, calls, strict=True):
        r = make_result(tool, c, rng)
        results.append(r)
        msgs.append({"role": "tool", "tool_call_id": tc["id"], "name": tool["name"],
                     "content": json.dumps(r, ensure_ascii=False)})
    msgs.append({"role": "assistant", "content": ph.combined_answer(
        [ph.summarize(r, c) for r, c in zip(results, calls, strict=True)])})
    others = [t for t in syn.tools if t["name"] != tool["name"]]
    offered = [tool, *rng.sample(others, min(len(others), rng.randint(0, 1)))]
    rng.shuffle(offered)
    d = {**base, "messages": msgs, "tools": offered, "scenario": "parallel",
         "tags": [*base["tags"], "list"]}
    return Example.model_validate(d).to_dict()


def first_turn(example: dict[str, Any]) -> dict[str, Any]:
    """The example cut after its first assistant turn."""
    msgs = example["messages"]
    k = next((i for i, m in enumerate(msgs) if m["role"] == "assistant"), None)
    if k is None or k == len(msgs) - 1:
        return example
    return {**example, "messages": msgs[:k + 1]}


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def near_miss(syn: Any, index: int, rng: random.Random) -> dict[str, Any] | None:
    """A single-tool request asked while only other tools are offered, declined."""
    from phi4studio.core.datasets.synthesis import phrasing as ph

    base = syn.example(index, "single")
    wanted = base["tools"][0]["name"]
    pool = [t for t in syn.tools if t["name"] != wanted]
    if not pool:
        return None
    offered = rng.sample(pool, min(len(pool), rng.randint(1, 3)))
    user = next(m for m in base["messages"] if m["role"] == "user")
    system = [m for m in base["messages"][:1] if m["role"] == "system"]
    reply = rng.choice(_DECLINE).format(
        action=ph.action(base["tools"][0]),
        offered=_join([ph.action(t) for t in offered]))
    d = {**base, "messages": [*system, user, {"role": "assistant", "content": reply}],
         "tools": offered, "scenario": "irrelevance", "tags": [*base["tags"], "near_miss"]}
    return Example.model_validate(d).to_dict()


def quickstart_examples(
    tools: Sequence[Mapping[str, Any]],
    n: int,
    *,
    seed: int = 0,
    mix: Mapping[str, float] | None = None,
    shape: Mapping[str, float] | None = None,
    progress: Callable[[float, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Iterator[dict[str, Any]]:
    """n examples (canonical dicts), the same for the same seed."""
    from phi4studio.core.datasets.synthesis import Synthesizer
    from phi4studio.core.datasets.validation import validate_example

    shp = {**DEFAULT_SHAPE, **(shape or {})}
    syn = Synthesizer(tools, seed=seed, mix=mix or QUICKSTART_MIX)
    seen: dict[str, int] = {}
    for i, scenario in enumerate(syn.plan(n)):
        if cancelled is not None and i % 20 == 0 and cancelled():
            from phi4studio.core.jobs import JobCancelled

            raise JobCancelled()
        rng = random.Random(f"{seed}:shape:{i}")
        d: dict[str, Any] | None = None
        if scenario == "irrelevance" and rng.random() < shp["near_miss"]:
            d = near_miss(syn, i, rng)
        elif scenario == "parallel" and rng.random() < shp["list_parallel"]:
            d = list_parallel(syn, i, rng)
        if d is None:
            occurrence = seen.get(scenario, 0)
            seen[scenario] = occurrence + 1
            d = syn.example(i, scenario, occurrence)
            if rng.random() < shp["rephrase"]:
                d = rephrase(d, rng)
        if rng.random() < shp["first_turn"]:
            d = first_turn(d)
        d["source"] = SOURCE
        d["id"] = f"qs-{seed}-{i:05d}"
        bad = [x for x in validate_example(d) if x.severity == "error"]
        if bad:  # never expected: the synthesizer's examples are valid, and so are the cuts
            raise ValueError(f"example {d['id']} is invalid: {bad[0].path}: {bad[0].message}")
        if progress is not None and i % 20 == 0:
            progress(i / max(n, 1), f"{i} of {n} example(s)")
        yield d
    if progress is not None:
        progress(1.0, f"{n} example(s)")
