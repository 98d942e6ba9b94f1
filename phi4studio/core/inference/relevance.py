"""Tool choice helped by the request's words: how much each offered tool's own words overlap
the request, as a prior the worker adds to the model's choice of the tool's name.

A small tuned model choosing among alike tools often names the wrong one although the request
names the subject of the right one ("solar farm" -> `windFarm.potential`, "roll a die" ->
`flip_coin_probability`; docs/quickstart.md, session 19). Retrieval systems pick tools by such
overlap; here it only weighs the model's choice, which stays the model's where the words do not
tell the tools apart.

The score of a tool: the distinct words of the request that its name (each counting 2) or its
description (1) holds. Words are letters only, lower case, camelCase and snake_case split, three
letters or more, outside a list of function words, and compared by their first five letters
(`populations` and `population`, `calculate` and `calculation`). A word every offered tool holds
shifts every score alike and so changes no choice. The request is the latest user message and
what followed it (tool results).

`name_weights(tools, messages, weight)` gives each tool `weight` x its score, in nats: with
weight 1, each word a tool holds and another does not multiplies the odds of the first by e at
the token where their names part (`CallControl.names`, docs/inference.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_LETTERS = re.compile(r"[a-z]+")
_CAMEL = re.compile(r"([a-z])([A-Z])")
STEM = 5  # words are compared by their first five letters
NAME_WORD = 2.0  # a word of the tool's name counts twice a word of its description
WEIGHT = 1.0  # nats per word of a tool's score: the Evaluate tab's and the quick start's
_FUNCTION = (
    "the and for with from into onto over under about above below after before between "
    "through during without within what which who whom whose when where why how that this "
    "these those there here then than are was were been being have has had does did doing "
    "can could would should will shall may might must not nor any all each every some such "
    "its our your their his her them they you she him one two use using used get gets find "
    "give given tell show please want need like also just only very much many more most "
    "other another same new make let")
FUNCTION_WORDS = frozenset(_FUNCTION.split(" "))


def words(text: str) -> set[str]:
    """The words of `text` as the score compares them (see the module's docstring)."""
    text = _CAMEL.sub(r"\1 \2", text).lower()
    return {w[:STEM] for w in _LETTERS.findall(text)
            if len(w) >= 3 and w not in FUNCTION_WORDS}


def request_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The latest user message and what came after it (tool results)."""
    last = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    return "\n".join(str(m.get("content") or "") for m in messages[max(last, 0):]
                     if m.get("role") in ("user", "tool"))


def tool_score(tool: Mapping[str, Any], said: set[str]) -> float:
    name = words(str(tool.get("name") or "").replace("_", " ").replace(".", " "))
    described = words(str(tool.get("description") or "")) - name
    return NAME_WORD * len(name & said) + len(described & said)


def name_weights(tools: Sequence[Mapping[str, Any]], messages: Sequence[Mapping[str, Any]],
                 weight: float) -> dict[str, float] | None:
    """Each offered tool's prior, `weight` x its score; None where it could change nothing
    (fewer than two tools, a weight of 0, or every tool scored alike)."""
    if weight <= 0 or len(tools) < 2:
        return None
    said = words(request_text(messages))
    scores = {str(t.get("name")): tool_score(t, said) for t in tools if t.get("name")}
    if len(set(scores.values())) < 2:
        return None
    return {name: round(weight * s, 4) for name, s in scores.items()}
