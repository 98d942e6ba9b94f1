"""Contrast pairs for the quick start: two examples that differ in one thing and get different
answers, so the model learns what the difference is.

- Missing-value pairs (`missing_pairs`): a request that leaves out a required value, answered
  by asking for it, and the same request with that value, answered by the call. Both are worded
  alike and offer the same tools. Without the pair, asking and calling come from different
  requests, and a small model learns "a request for a tool: call it" and fills in a value the
  user never gave (docs/quickstart.md, session 6).
- Near-miss pairs (`near_miss_pairs`): a near miss (a request declined because the tool it
  needs is not offered) next to the same request with that tool offered as well, answered by
  the call. Only the tool list differs, so the tool list is what decides.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any

from phi4studio.core.datasets.schema import Example


def _required_scalars(tool: Mapping[str, Any], args: Mapping[str, Any]) -> list[str]:
    """Required arguments holding one string or number: a value a request states in words."""
    required = (tool.get("inputSchema") or {}).get("required") or []
    return [k for k in required if k in args and isinstance(args[k], (str, int, float))
            and not isinstance(args[k], bool)]


def missing_pair(syn: Any, index: int, rng: random.Random, wording: Any = None
                 ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(ask, call): a request without one required value and the assistant asking for it, and
    the same request with the value and the assistant calling. None where no tool has a
    required value to leave out. The asking example goes on, half of the time, with the user
    giving the value and the call (cut later with the rest when only first turns are kept)."""
    from phi4studio.core.datasets.synthesis import make_arguments, make_result
    from phi4studio.core.datasets.synthesis import phrasing as ph
    from phi4studio.core.quickstart.wording import PLAIN, plain_request

    wording = wording or PLAIN
    base = syn.example(index, "single")
    tools = [t for t in syn.tools if (t.get("inputSchema") or {}).get("required")]
    rng.shuffle(tools)
    for tool in tools:
        args = make_arguments(tool, rng)
        keys = _required_scalars(tool, args)
        if keys:
            break
    else:
        return None
    param = rng.choice(keys)
    partial = {k: v for k, v in args.items() if k != param}
    # the same draws word both requests alike (the wording draws nothing per argument
    # unless `natural` is on, where the two may differ a little more)
    state = rng.getstate()
    asked = plain_request(tool, partial, rng, wording)
    twin = random.Random()
    twin.setstate(state)
    full = plain_request(tool, args, twin, wording)
    others = [t for t in syn.tools if t["name"] != tool["name"]]
    offered = [tool, *rng.sample(others, min(len(others), rng.randint(0, 2)))]
    rng.shuffle(offered)
    system = [m for m in base["messages"][:1] if m["role"] == "system"]
    call = {"id": "call_1", "name": tool["name"], "arguments": args}
    result = make_result(tool, args, rng)
    done = [{"role": "tool", "tool_call_id": "call_1", "name": tool["name"],
             "content": json.dumps(result, ensure_ascii=False)},
            {"role": "assistant", "content": ph.final_answer(tool, result, rng, args)}]
    ask_msgs: list[dict[str, Any]] = [*system, {"role": "user", "content": asked},
                                      {"role": "assistant", "content": ph.ask_for(tool, param,
                                                                                  rng)}]
    if rng.random() < 0.5:
        ask_msgs += [{"role": "user", "content": ph.provide(param, args[param], rng)},
                     {"role": "assistant", "content": "", "tool_calls": [call]}, *done]
    call_msgs = [*system, {"role": "user", "content": full},
                 {"role": "assistant", "content": "", "tool_calls": [call]}, *done]
    common = {"source": base["source"], "split": None, "notes": ""}
    ask = Example.model_validate({
        **common, "id": f"{base['id']}-ask", "messages": ask_msgs, "tools": offered,
        "scenario": "missing_info_or_error",
        "tags": [*base["tags"], "missing_info", "pair"]}).to_dict()
    calls = Example.model_validate({
        **common, "id": f"{base['id']}-call", "messages": call_msgs, "tools": offered,
        "scenario": "single" if len(offered) == 1 else "multiple",
        "tags": [*base["tags"], "pair"]}).to_dict()
    return ask, calls


def offered_twin(decline: dict[str, Any], base: dict[str, Any], rng: random.Random
                 ) -> dict[str, Any]:
    """The near miss `decline` with the tool its request needs offered too, answered by the
    call: `base` is the single-call example the near miss was made from (its tool and call)."""
    tool = base["tools"][0]
    call = next(tc for m in base["messages"] for tc in m.get("tool_calls") or [])
    offered = [*decline["tools"], tool]
    rng.shuffle(offered)
    msgs = [*decline["messages"][:-1],
            {"role": "assistant", "content": "", "tool_calls": [{**call, "id": "call_1"}]}]
    return Example.model_validate({
        **decline, "id": f"{decline['id']}-call", "messages": msgs, "tools": offered,
        "scenario": "multiple", "tags": [*base["tags"], "pair"]}).to_dict()
