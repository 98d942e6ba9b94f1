"""The quick start's training data: the synthesizer's examples over the user's tools, shaped for
what the flow measures (docs/quickstart.md has the experiments behind each choice).

- Scenario mix (`QUICKSTART_MIX`): more single, multiple, parallel and irrelevance examples than
  the synthesizer's default, so that the model learns when to call, which tool, how many calls,
  and when not to call at all.
- Near misses (`near_miss`): a share of the irrelevance examples is a request that one of the
  user's own tools would serve, asked while only *other* tools are offered; the assistant says
  it has no tool for it. This teaches the model to read the offered tools instead of calling
  whenever a request sounds like a task. With `near_miss_one` a near miss offers one tool, the
  shape of every single-call example (otherwise one offered tool is nearly always called).
- Phrasing (`rephrase`): a share of the requests is written again in plainer styles ("Get the
  current weather for a city for Lisbon.", "... with a days of 3", values without their names),
  closer to how people ask than the synthesizer's "Use city Lisbon" forms.
- Wording (`natural`, `questions`, `questions_any`, `near_miss_rephrase`: measured, off by
  default): values before their names ("metric units"), questions for any tool, near misses
  worded like rephrased calls, so that wording does not tell a call from a decline.
- Lists (`list_parallel`): a share of the parallel examples asks for one tool over a list of
  2-4 values of one parameter ("... for Lisbon, Porto and Oslo"), one call per value, in order.
  `varied_parallel`: calls that change one or two arguments of the first ("..., also for ...").
  `dense_parallel` (measured, off by default): two parameters' values paired
  ("respectively") or crossed (every combination, 4 calls), as dense requests pack them.
- Calls first (`preamble`: the share of call turns that keep the synthesizer's short preamble,
  "One moment."): without it a turn that calls starts with the call marker, so the first token
  the model writes is the decision (call or answer), which guided decoding then takes by
  probability mass (docs/quickstart.md).
- First turns (`first_turn`): a share of the conversations ends after the first assistant turn
  (the decision: call or not, which tools, which arguments). The prompt (system turn with the
  tool definitions) is most of each example's tokens and all of it is computed on; cutting the
  replies that follow tool results leaves more decisions per minute of CPU training.

Every example stays valid (checked by validation.py as the synthesizer's own are).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from phi4studio.core.datasets.schema import Example
from phi4studio.core.quickstart.wording import (
    ARG_STYLES,
    PLAIN,
    Wording,
    and_list,
    cap,
    plain_request,
)

QUICKSTART_MIX: dict[str, float] = {
    "single": 0.20, "multiple": 0.25, "parallel": 0.20, "irrelevance": 0.25,
    "missing_info_or_error": 0.10,
}
DEFAULT_SHAPE: dict[str, float] = {"first_turn": 1.0, "near_miss": 0.5, "rephrase": 0.0,
                                   "list_parallel": 0.0, "general": 0.0, "hard_negatives": 0.0,
                                   "varied_parallel": 0.0, "preamble": 1.0, "near_miss_one": 0.0,
                                   "natural": 0.0, "near_miss_rephrase": 0.0, "questions": 0.35,
                                   "questions_any": 0.0, "missing_pairs": 0.0,
                                   "near_miss_pairs": 0.0, "dense_parallel": 0.0}
# The recipe's shaping (docs/quickstart.md, "Experiments": the best measured on SmolLM2-135M;
# the broad catalog's 30%, training-only, since session 9).
RECIPE_SHAPE: dict[str, float] = {**DEFAULT_SHAPE, "near_miss": 0.7, "rephrase": 0.5,
                                  "list_parallel": 0.4, "varied_parallel": 0.3,
                                  "hard_negatives": 0.5, "preamble": 0.0, "near_miss_one": 1.0,
                                  "general": 0.3}
SOURCE = "synthetic:quickstart"
# The broad catalog's examples: auxiliary training data, never held out (the split keeps them in
# train), so the held-out split measures the user's own tools only.
BROAD_SOURCE = "synthetic:quickstart:broad"
GENERAL_CATALOG = "tools_general.json"  # resources/samples: the studio's broad sample catalog

_DECLINE = [
    "I can't {action} with the tools I have here. I can {offered}.",
    "Sorry, none of my tools can {action}. What I can do: {offered}.",
    "That isn't something my tools cover: I can only {offered}.",
    "I don't have a tool to {action}. I could {offered} instead, if that helps.",
]


_LISTS = ["{Action}{common} for each of these {label}s: {values}.",
          "{Action}{common}, for {values}.", "I need to {action} for {values}{common}.",
          "Please {action} for the {label} {values}{common}.",
          "{Action}{common}. Do it for {values}."]
_LABELLED_LISTS = [_LISTS[0], _LISTS[3], "{Action}{common}. Do it for the {label} {values}.",
                   "{Action}{common}, once for each {label}: {values}."]



def rephrase(example: dict[str, Any], rng: random.Random, wording: Wording = PLAIN
             ) -> dict[str, Any]:
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
    new[u]["content"] = plain_request(tool, call["arguments"], rng, wording)
    return {**example, "messages": new, "tags": [*example["tags"], "rephrased"]}


def _parallel_example(syn: Any, base: dict[str, Any], tool: dict[str, Any],
                      msgs: list[dict[str, Any]], tag: str, max_extra: int,
                      rng: random.Random) -> dict[str, Any]:
    """A parallel example calling `tool`, offered with up to `max_extra` other tools."""
    others = [t for t in syn.tools if t["name"] != tool["name"]]
    offered = [tool, *rng.sample(others, min(len(others), rng.randint(0, max_extra)))]
    rng.shuffle(offered)
    d = {**base, "messages": msgs, "tools": offered, "scenario": "parallel",
         "tags": [*base["tags"], tag]}
    return Example.model_validate(d).to_dict()


def with_args(args: Mapping[str, Any], tool: Mapping[str, Any], rng: random.Random) -> str:
    """" with unit metric and days 3": the arguments every call of a request shares ("" for
    none), in one of the labelled styles."""
    from phi4studio.core.datasets.synthesis import phrasing as ph

    if not args:
        return ""
    style = rng.choice(ARG_STYLES[:4])
    return " with " + and_list([style.format(label=ph.label(k, tool),
                                             value=ph.say_value(k, v, tool, rng))
                                for k, v in args.items()])


def multi_arg_start(syn: Any, rng: random.Random
                    ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A tool with two or more parameters, and the arguments of its first call."""
    from phi4studio.core.datasets.synthesis import make_arguments

    tools = [t for t in syn.tools if len((t.get("inputSchema") or {}).get("properties") or {})
             >= 2]
    if not tools:
        return None
    tool = rng.choice(tools)
    return tool, make_arguments(tool, rng)


def scalar_keys(args: Mapping[str, Any]) -> list[str]:
    """The arguments holding one string or number (the ones a request can list or vary)."""
    return [k for k, v in args.items() if isinstance(v, (str, int, float))
            and not isinstance(v, bool)]


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
    scalars = scalar_keys(args)
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
    common_text = with_args(common, tool, rng)
    act = ph.action(tool)
    # with other arguments in the request, the list says which parameter its values are for
    user = rng.choice(_LISTS if not common else _LABELLED_LISTS).format(
        Action=cap(act), action=act, common=common_text, label=ph.label(param, tool),
        values=and_list([ph.say_value(param, c[param], tool, rng) for c in calls]))
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
    return _parallel_example(syn, base, tool, msgs, "list", 1, rng)


_STOP = frozenset(re.findall(r"\w+", "a an and the of for to in on at by with from or is are be "
                             "as its it this that into given between over per their your my "
                             "user users"))


def _terms(tool: Mapping[str, Any]) -> frozenset[str]:
    """The words of a tool's name and description, for telling similar tools apart."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", str(tool.get("name", ""))) + " " + str(
        tool.get("description", ""))
    return frozenset(w for w in re.findall(r"[a-z0-9]+", text.lower().replace("_", " "))
                     if w not in _STOP and len(w) > 1)


def similar_tools(tool: Mapping[str, Any], pool: Sequence[Mapping[str, Any]], k: int,
                  rng: random.Random) -> list[dict[str, Any]]:
    """k tools of `pool` among those closest to `tool` (the words their names and descriptions
    share, rare words counting more): the hard choices, where only the description tells which
    tool fits."""
    import math

    others = [t for t in pool if t.get("name") != tool.get("name")]
    if not others or k <= 0:
        return []
    terms = {id(t): _terms(t) for t in others}
    df = Counter(w for ts in terms.values() for w in ts)
    n = len(others) + 1

    def idf(w: str) -> float:
        return math.log(n / (1 + df[w])) + 1.0

    mine = _terms(tool)

    def score(t: Mapping[str, Any]) -> float:
        theirs = terms[id(t)]
        union = sum(idf(w) for w in mine | theirs)
        return sum(idf(w) for w in mine & theirs) / max(union, 1e-9) + rng.random() * 0.02

    ranked = sorted(others, key=score, reverse=True)
    top = ranked[:k + 1]
    return [dict(t) for t in rng.sample(top, min(k, len(top)))]


def harden(example: dict[str, Any], catalog: Sequence[Mapping[str, Any]],
           rng: random.Random) -> dict[str, Any]:
    """The tools offered besides the ones called replaced by tools similar to a called one."""
    called = {tc["name"] for m in example["messages"] for tc in m.get("tool_calls") or []}
    if not called:
        return example
    keep = [t for t in example["tools"] if t["name"] in called]
    extra = len(example["tools"]) - len(keep)
    if extra <= 0 or not keep:
        return example
    pool = [t for t in catalog if t["name"] not in called]
    offered = keep + similar_tools(keep[0], pool, extra, rng)
    rng.shuffle(offered)
    return {**example, "tools": offered, "tags": [*example["tags"], "hard_negatives"]}


def general_tools() -> list[dict[str, Any]]:
    """The studio's broad sample catalog (many domains, naming styles and argument types)."""
    from phi4studio.core.datasets.catalog import load_tool_catalog
    from phi4studio.core.paths import resource

    return load_tool_catalog(resource("samples", GENERAL_CATALOG))


def without_examples(schema: Any) -> Any:
    """A schema without its `examples` lists. The broad catalog's examples are where the
    synthesizer picks values from; left in the prompt they would teach the model to copy a
    value from the tool definition instead of from the request."""
    if isinstance(schema, dict):
        return {k: without_examples(v) for k, v in schema.items() if k != "examples"}
    if isinstance(schema, list):
        return [without_examples(v) for v in schema]
    return schema


_AGAIN = ["Also for {args}.", "Then repeat it with {args}.", "And once more with {args}.",
          "Do the same for {args}.", "Then again with {args}."]
_TUPLES = ["{Action}: {first}; {rest}.", "{Action} for {first}, and for {rest}.",
           "{Action}. First {first}, then {rest}."]


def varied_parallel(syn: Any, index: int, rng: random.Random, wording: Wording = PLAIN
                    ) -> dict[str, Any] | None:
    """One tool called 2-3 times where each call changes one or two arguments of the first
    ("... for 6 ft and 80 kg, also for 5.6 ft and 60 kg"): one call per case, in order."""
    from phi4studio.core.datasets.synthesis import phrasing as ph
    from phi4studio.core.datasets.synthesis.results import other_value

    base = syn.example(index, "single")
    start = multi_arg_start(syn, rng)
    if start is None:
        return None
    tool, first = start
    keys = scalar_keys(first)
    if len(first) < 2 or not keys:
        return None
    varied = rng.sample(keys, min(len(keys), rng.choice([1, 2, 2])))
    calls = [first]
    for _ in range(rng.choice([1, 1, 2])):
        new: dict[str, Any] | None = dict(first)
        for k in varied:
            new = other_value(tool, new, k, rng) if new is not None else None
        if new is None or any(all(new.get(k) == c.get(k) for k in varied) for c in calls):
            break
        calls.append(new)
    if len(calls) < 2 or any(set(c) != set(first) for c in calls):
        return None
    # what actually changed (keeping arguments consistent may have moved another one too)
    varied = [k for k in first if any(c[k] != first[k] for c in calls)]

    def args_text(c: Mapping[str, Any], keys: Sequence[str]) -> str:
        style = rng.choice(ARG_STYLES[:4])
        return and_list([style.format(label=ph.label(k, tool),
                                      value=ph.say_value(k, c[k], tool, rng))
                         for k in keys])

    if rng.random() < 0.5:
        text = plain_request(tool, first, rng, replace(wording, questions=0.35, any_tool=False)
                             ) + " " + " ".join(
            rng.choice(_AGAIN).format(args=args_text(c, varied)) for c in calls[1:])
    else:
        act = ph.action(tool)
        common = [k for k in first if k not in varied]
        lead = cap(act) + (" with " + args_text(first, common) if common else "")
        text = rng.choice(_TUPLES).format(
            Action=lead, first=args_text(first, varied),
            rest=and_list([args_text(c, varied) for c in calls[1:]]))
    msgs: list[dict[str, Any]] = [m for m in base["messages"][:1] if m["role"] == "system"]
    msgs += [{"role": "user", "content": text},
             {"role": "assistant", "content": "", "tool_calls": [
                 {"id": f"call_{i + 1}", "name": tool["name"], "arguments": c}
                 for i, c in enumerate(calls)]}]
    return _parallel_example(syn, base, tool, msgs, "varied", 2, rng)


_RESPECTIVELY = ["{Action}{common} for {l1} {v1} with {l2} {v2} respectively.",
                 "{Action}{common}: {l1} {v1}, and {l2} {v2}, respectively.",
                 "{Action}{common} for {v1}, with {l2} {v2} respectively.",
                 "Can you {action}{common} for {l1} {v1}, with {l2} {v2} respectively?"]
_CROSS = ["{Action}{common} for {l1} {v1}, each with {l2} {v2}.",
          "{Action}{common} for {v1}, and for each of them with {l2} {v2}.",
          "{Action}{common} for every combination of {l1} {v1} and {l2} {v2}.",
          "Can you {action}{common} for {l1} {v1}? Each with {l2} {v2}."]


def dense_parallel(syn: Any, index: int, rng: random.Random) -> dict[str, Any] | None:
    """Requests that pack several calls of one tool densely: the values of two parameters
    paired in order ("... for the amounts 10 and 20 with the rates 3 and 4 respectively": 2-3
    calls) or crossed ("... for Lisbon and Porto, each with units metric and imperial": 4
    calls, every combination, the first parameter's values outermost)."""
    from phi4studio.core.datasets.synthesis import phrasing as ph
    from phi4studio.core.datasets.synthesis.results import other_value
    from phi4studio.core.datasets.validation import validate_arguments

    base = syn.example(index, "single")
    start = multi_arg_start(syn, rng)
    if start is None:
        return None
    tool, first = start
    keys = scalar_keys(first)
    if len(keys) < 2:
        return None
    p1, p2 = rng.sample(keys, 2)
    crossed = rng.random() < 0.5
    n = 2 if crossed else rng.choice([2, 2, 3])

    def values(param: str) -> list[Any]:
        out = [first[param]]
        for _ in range(4 * n):
            other = other_value(tool, first, param, rng)
            # only a value that changes nothing else, so that values of two parameters combine
            if other is not None and all(other[k] == first[k] for k in first if k != param) \
                    and other[param] not in out:
                out.append(other[param])
            if len(out) == n:
                return out
        return []

    v1, v2 = values(p1), values(p2)
    if not v1 or not v2:
        return None
    pairs = [(a, b) for a in v1 for b in v2] if crossed else list(zip(v1, v2, strict=True))
    calls = [{**first, p1: a, p2: b} for a, b in pairs]
    if any(validate_arguments(tool, c) for c in calls):
        return None
    common = {k: v for k, v in first.items() if k not in (p1, p2)}
    common_text = with_args(common, tool, rng)
    act = ph.action(tool)
    text = rng.choice(_CROSS if crossed else _RESPECTIVELY).format(
        Action=cap(act), action=act, common=common_text, l1=ph.label(p1, tool),
        l2=ph.label(p2, tool), v1=and_list([ph.say_value(p1, v, tool, rng) for v in v1]),
        v2=and_list([ph.say_value(p2, v, tool, rng) for v in v2]))
    msgs: list[dict[str, Any]] = [m for m in base["messages"][:1] if m["role"] == "system"]
    msgs += [{"role": "user", "content": text},
             {"role": "assistant", "content": "", "tool_calls": [
                 {"id": f"call_{i + 1}", "name": tool["name"], "arguments": c}
                 for i, c in enumerate(calls)]}]
    return _parallel_example(syn, base, tool, msgs, "crossed" if crossed else "paired", 2, rng)


def first_turn(example: dict[str, Any]) -> dict[str, Any]:
    """The example cut after its first assistant turn."""
    msgs = example["messages"]
    k = next((i for i, m in enumerate(msgs) if m["role"] == "assistant"), None)
    if k is None or k == len(msgs) - 1:
        return example
    return {**example, "messages": msgs[:k + 1]}


def calls_first(example: dict[str, Any]) -> dict[str, Any]:
    """The example with no text before the calls of its assistant turns."""
    msgs = [{**m, "content": ""} if m["role"] == "assistant" and m.get("tool_calls") else m
            for m in example["messages"]]
    return {**example, "messages": msgs}


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def near_miss(syn: Any, index: int, rng: random.Random, hard: float = 0.0, one: float = 0.0,
              rephrased: float = 0.0, wording: Wording = PLAIN) -> dict[str, Any] | None:
    """A single-tool request asked while only other tools are offered, declined; with
    probability `hard` the offered tools are the ones most like the tool it needs, and with
    probability `one` a single tool is offered (else 1-3). A single offered tool is the shape
    of every single-call example, which always calls: without declines of that shape the
    model learns "one tool offered: call it". With probability `rephrased` the request is
    written in the plainer styles (and questions) that rephrased calls use, so that the way a
    request is worded does not tell whether it gets a call."""
    from phi4studio.core.datasets.synthesis import phrasing as ph

    base = syn.example(index, "single")
    wanted = base["tools"][0]["name"]
    pool = [t for t in syn.tools if t["name"] != wanted]
    if not pool:
        return None
    k = 1 if one > 0 and rng.random() < one else min(len(pool), rng.randint(1, 3))
    offered = similar_tools(base["tools"][0], pool, k, rng) if rng.random() < hard else \
        rng.sample(pool, k)
    user = next(m for m in base["messages"] if m["role"] == "user")
    system = [m for m in base["messages"][:1] if m["role"] == "system"]
    reply = rng.choice(_DECLINE).format(
        action=ph.action(base["tools"][0]),
        offered=_join([ph.action(t) for t in offered]))
    if rephrased > 0 and rng.random() < rephrased:
        call = next(tc for m in base["messages"] for tc in m.get("tool_calls") or [])
        user = {"role": "user", "content": plain_request(
            base["tools"][0], call["arguments"], rng, replace(wording, natural=0.0))}
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
    general: Sequence[Mapping[str, Any]] | None = None,
) -> Iterator[dict[str, Any]]:
    """n examples (canonical dicts), the same for the same seed.

    With `shape["general"]` > 0 that share of the examples comes from the studio's broad sample
    catalog (`general` tools, default resources/samples/tools_general.json) instead of the
    user's tools: many more tools, names and argument types to read, so the model learns to
    read an offered tool list rather than the user's few tools by heart."""
    from phi4studio.core.datasets.synthesis import Synthesizer

    shp = {**DEFAULT_SHAPE, **(shape or {})}
    wording = Wording.of(shp)
    syn = Synthesizer(tools, seed=seed, mix=mix or QUICKSTART_MIX)
    gsyn: Any = None
    if shp["general"] > 0:
        gtools = list(general) if general is not None else general_tools()
        gsyn = Synthesizer(gtools, seed=seed + 7919, mix=mix or QUICKSTART_MIX)
    seen: dict[tuple[bool, str], int] = {}
    made = 0
    owed: Counter[str] = Counter()  # places a pair's second example took, by scenario
    for i, scenario in enumerate(syn.plan(n)):
        if made >= n:  # pairs whose scenario had no later place left filled the plan's end
            break
        if owed[scenario] > 0:
            owed[scenario] -= 1
            continue
        if cancelled is not None and i % 20 == 0 and cancelled():
            from phi4studio.core.jobs import JobCancelled

            raise JobCancelled()
        rng = random.Random(f"{seed}:shape:{i}")
        use_general = gsyn is not None and rng.random() < shp["general"]
        src = gsyn if use_general else syn
        group: list[dict[str, Any]] = []
        d: dict[str, Any] | None = None
        if scenario == "irrelevance" and rng.random() < shp["near_miss"]:
            d = near_miss(src, i, rng, shp["hard_negatives"], shp["near_miss_one"],
                          shp["near_miss_rephrase"], wording)
            if d is not None and shp["near_miss_pairs"] > 0 and \
                    rng.random() < shp["near_miss_pairs"]:
                from phi4studio.core.quickstart.contrast import offered_twin

                group = [{**d, "tags": [*d["tags"], "pair"]},
                         offered_twin(d, src.example(i, "single"), rng)]
        elif scenario == "parallel":
            draw = rng.random()
            if draw < shp["list_parallel"]:
                d = list_parallel(src, i, rng)
            elif draw < shp["list_parallel"] + shp["varied_parallel"]:
                d = varied_parallel(src, i, rng, wording)
            elif draw < shp["list_parallel"] + shp["varied_parallel"] + shp["dense_parallel"]:
                d = dense_parallel(src, i, rng)
        elif scenario == "missing_info_or_error" and shp["missing_pairs"] > 0 and \
                rng.random() < shp["missing_pairs"]:
            from phi4studio.core.quickstart.contrast import missing_pair

            group = list(missing_pair(src, i, rng, wording) or ())
        if d is None and not group:
            occurrence = seen.get((use_general, scenario), 0)
            seen[(use_general, scenario)] = occurrence + 1
            d = src.example(i, scenario, occurrence)
            if rng.random() < shp["rephrase"]:
                d = rephrase(d, rng, wording)
            if scenario in ("multiple", "parallel") and rng.random() < shp["hard_negatives"]:
                d = harden(d, src.tools, rng)
        if not group and d is not None:
            group = [d]
        for k, ex in enumerate(group):
            if made >= n:
                break
            if k > 0:  # the pair's second example takes a later place of its scenario
                owed[ex["scenario"]] += 1
            ex = _finish(ex, rng, shp, use_general)
            ex["id"] = f"qs-{seed}-{i:05d}" + ("" if k == 0 else f"-{k}")
            made += 1
            if progress is not None and made % 20 == 0:
                progress(made / max(n, 1), f"{made} of {n} example(s)")
            yield ex
    if progress is not None:
        progress(1.0, f"{n} example(s)")


def _finish(d: dict[str, Any], rng: random.Random, shp: Mapping[str, float],
            use_general: bool) -> dict[str, Any]:
    """The shaping every example gets last (the broad catalog's schemas without examples, the
    first-turn cut, calls first) and its check."""
    from phi4studio.core.datasets.validation import validate_example

    if use_general:
        d = {**d, "tools": [{**t, "inputSchema": without_examples(t.get("inputSchema"))}
                            for t in d["tools"]]}
    if rng.random() < shp["first_turn"]:
        d = first_turn(d)
    if rng.random() >= shp["preamble"]:
        d = calls_first(d)
    d["source"] = BROAD_SOURCE if use_general else SOURCE
    bad = [x for x in validate_example(d) if x.severity == "error"]
    if bad:  # never expected: the synthesizer's examples are valid, and so are the cuts
        raise ValueError(f"example {d.get('id')} is invalid: {bad[0].path}: {bad[0].message}")
    return d
