"""How the quick start words a plain request from a call's arguments: values with or without
their names, and, as the shape says (`Wording`), values before their names or questions.
Used by the data shaping (data.py) and the contrast pairs (contrast.py)."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ARG_STYLES = ["{label} {value}", "{label}: {value}", "{label} of {value}",
              "a {label} of {value}", "{value} for the {label}", "{value}"]
_REQUESTS = ["{Action} for {args}.", "{Action} with {args}.", "{Action}: {args}.",
             "Could you {action} for {args}?", "I want to {action}, {args}.",
             "Please {action}. {Args}.", "Help me {action} ({args}).", "{Args}: {action}."]
_ASKS = ["Can you {action} for {args}?", "Could you {action}, with {args}?",
         "Would you {action} for {args}?", "Can you {action}? {args}?"]


@dataclass(frozen=True)
class Wording:
    """How plain requests are worded (the shape's `natural`, `questions`, `questions_any`):
    with probability `natural` an argument that fits is stated by its value before its name
    ("metric units", "3 days"); with probability `questions` the request is a question (for
    tools that look something up or compute it, and with `any_tool` for the others too:
    "Can you ...?")."""

    natural: float = 0.0
    questions: float = 0.35
    any_tool: bool = False

    @classmethod
    def of(cls, shape: Mapping[str, float]) -> Wording:
        return cls(shape["natural"], shape["questions"], shape["questions_any"] > 0)


PLAIN = Wording()


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def and_list(parts: Sequence[str]) -> str:
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
                      ).format(w=what, a=args, A=cap(args))


def natural_arg(name: str, value: Any, tool: Mapping[str, Any]) -> str | None:
    """An argument stated by its value before a one-word name, as people write it: an enum
    value ("metric units", "high priority", "work calendar") or a count of a plural noun
    ("3 days"). None where that form does not fit."""
    from phi4studio.core.datasets.synthesis import phrasing as ph

    lab = ph.label(name, tool)
    if not re.fullmatch(r"[a-z]+", lab):
        return None
    schema = (((tool.get("inputSchema") or {}).get("properties") or {}).get(name) or {})
    if isinstance(value, str) and isinstance(schema, Mapping) and schema.get("enum"):
        return f"{value} {lab}"
    if isinstance(value, (int, float)) and not isinstance(value, bool) and lab.endswith("s") \
            and not lab.endswith("ss"):
        return f"{ph.fmt_value(name, value)} {lab}"
    return None


def plain_request(tool: Mapping[str, Any], args: Mapping[str, Any], rng: random.Random,
                  wording: Wording = PLAIN) -> str:
    """A request in one of the plainer styles (values with or without their names), or a
    question, worded as `wording` says."""
    from phi4studio.core.datasets.synthesis import phrasing as ph

    act = ph.action(tool)
    if not args:
        return cap(act) + "."
    style = rng.choice(ARG_STYLES)
    parts = []
    # The written numbers draw from a stream of their own, so that the rest of the wording
    # draws alike whatever the arguments (contrast.py words a pair of requests, with and
    # without one value, from the same draws). The values keep the call's order: stated in a
    # random order, the tuned model bound more values to the wrong parameter, not fewer
    # (docs/quickstart.md, session 10).
    own = random.Random(rng.random())
    for k, v in args.items():
        nat = natural_arg(k, v, tool) if wording.natural > 0 and \
            rng.random() < wording.natural else None
        parts.append(nat or style.format(label=ph.label(k, tool),
                                         value=ph.say_value(k, v, tool, own)))
    a = and_list(parts)
    if rng.random() < wording.questions:
        asked = question(act, a, rng)
        if asked is None and wording.any_tool:
            asked = rng.choice(_ASKS).format(action=act, args=a)
        if asked is not None:
            return asked
    return rng.choice(_REQUESTS).format(action=act, Action=cap(act), args=a, Args=cap(a))
