"""Template phrasings: user requests from a tool's description and arguments, and the assistant's
questions, answers and apologies. Several templates each, picked by the example's seeded random.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Mapping
from typing import Any

_QUOTED = ("subject", "body", "message", "content", "query", "expression", "sql", "title",
           "text", "note")


def human(name: str) -> str:
    """`start_date` / `startDate` -> "start date"."""
    return re.sub(r"[_\-]+", " ", re.sub(r"([a-z])([A-Z])", r"\1 \2", name)).strip().lower()


def _base_verb(word: str) -> str:
    w = word.lower()
    if w in ("is", "does", "has", "was"):
        return w
    if w.endswith("ies"):
        return w[:-3] + "y"
    if re.search(r"(ch|sh|ss|x)es$", w):
        return w[:-2]
    if w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


def action(tool: Mapping[str, Any]) -> str:
    """What the tool does, as an instruction: "get the current weather for a city"."""
    desc = str(tool.get("description") or "").strip()
    first = re.split(r"(?<=[.!?])\s", desc, maxsplit=1)[0].rstrip(".!? ") if desc else ""
    if not first:
        return f"use {human(str(tool.get('name', 'the tool')))}"
    words = first.split()
    words[0] = _base_verb(words[0])
    text = " ".join(words)
    return re.sub(r"\bthe user\b", "me", re.sub(r"\bthe user's\b", "my", text))


def fmt_value(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return f'"{value}"' if any(k in name.lower() for k in _QUOTED) else value
    if isinstance(value, list):
        parts = [fmt_value(name, v) for v in value]
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    if isinstance(value, dict):
        return ", ".join(f"{human(k)} {fmt_value(k, v)}" for k, v in value.items())
    return json.dumps(value, ensure_ascii=False)


_ARG = ["{label} {value}", "{label}: {value}", "{value} as the {label}",
        "the {label} set to {value}"]


def label(name: str, tool: Mapping[str, Any] | None = None) -> str:
    """How a request names a parameter: its name in words, or for very short names (`to`,
    `q`) a short description from the schema."""
    props = ((tool or {}).get("inputSchema") or {}).get("properties") or {}
    desc = str((props.get(name) or {}).get("description") or "") if isinstance(
        props.get(name), Mapping) else ""
    desc = re.sub(r"\s*\(.*?\)", "", desc).strip().rstrip(".")
    if len(name) <= 3 and desc and len(desc) <= 40:
        desc = re.sub(r"^(?:the|a|an)\s+", "", desc, flags=re.I)
        return desc[:1].lower() + desc[1:]
    return human(name)


def describe_args(args: Mapping[str, Any], rng: random.Random,
                  tool: Mapping[str, Any] | None = None) -> str:
    style = rng.choice(_ARG)
    parts = [style.format(label=label(k, tool), value=fmt_value(k, v)) for k, v in args.items()]
    if not parts:
        return ""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


_REQUEST = [
    "Can you {action}? Use {args}.",
    "Please {action} with {args}.",
    "I need to {action}. Use {args}.",
    "Could you help me {action}? Details: {args}.",
    "Quick one: {action} ({args}).",
    "Hey, {action} for me: {args}.",
    "I'd like you to {action}, with {args}.",
]
_REQUEST_NO_ARGS = ["Can you {action}?", "Please {action}.", "I'd like you to {action}."]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def user_request(tool: Mapping[str, Any], args: Mapping[str, Any], rng: random.Random) -> str:
    act = action(tool)
    if not args:
        return rng.choice(_REQUEST_NO_ARGS).format(action=act)
    a = describe_args(args, rng, tool)
    return rng.choice(_REQUEST).format(action=act, args=a)


def _lower_first(text: str) -> str:
    return text if re.match(r"I\b", text) else text[:1].lower() + text[1:]


def combined_request(parts: list[str], rng: random.Random) -> str:
    """Two or more requests in one message (for parallel calls)."""
    glue = rng.choice([" Also, ", " And ", " At the same time, "])
    first, rest = parts[0], parts[1:]
    return first + "".join(glue + _lower_first(r) for r in rest)


def same_again(first: str, tool: Mapping[str, Any], changed: Mapping[str, Any],
               rng: random.Random) -> str:
    """One request, then the same call again with other values (parallel calls to one tool)."""
    a = describe_args(changed, rng, tool)
    return first + " " + rng.choice(["Then do the same with {args}.",
                                     "And the same again with {args}, please.",
                                     "Do it a second time with {args} as well."]).format(args=a)


def ask_for(tool: Mapping[str, Any], param: str, rng: random.Random) -> str:
    name = label(param, tool)
    return rng.choice([
        "Sure, which {label} should I use?",
        "I can do that. What {label} would you like?",
        "To {action}, I need the {label}. Could you tell me?",
        "Happy to help. Could you give me the {label} first?",
    ]).format(label=name, action=action(tool))


def provide(param: str, value: Any, rng: random.Random) -> str:
    v = fmt_value(param, value)
    return rng.choice(["{v}", "Use {v}.", "The {label} is {v}.", "Oh right, {v}."]).format(
        v=v, label=human(param))


def follow_up(tool: Mapping[str, Any], changed: Mapping[str, Any], rng: random.Random) -> str:
    a = describe_args(changed, rng, tool)
    return rng.choice([
        "Thanks! And what about {args}?",
        "Great. Now do the same with {args}.",
        "Perfect, and once more with {args}, please.",
    ]).format(args=a)


def summarize(result: Any, args: Mapping[str, Any] | None = None, limit: int = 3) -> str:
    """A short human summary of a tool result, leaving out what only echoes the arguments."""
    if isinstance(result, Mapping):
        parts: list[str] = []
        echoed = args or {}
        for k, v in result.items():
            if len(parts) >= limit:
                break
            if k in echoed and echoed[k] == v:
                continue
            if isinstance(v, list):
                if v and isinstance(v[0], Mapping):
                    first = next((x for x in v[0].values() if isinstance(x, str)), None)
                    noun = human(k)[:-1] if len(v) == 1 and k.endswith("s") else human(k)
                    parts.append(f"{len(v)} {noun}" + (f", the first being \"{first}\""
                                                       if first else ""))
                else:
                    parts.append(f"{human(k)} {fmt_value(k, v)}" if v else f"no {human(k)}")
            elif isinstance(v, Mapping):
                continue
            else:
                parts.append(f"{human(k)} {fmt_value('', v)}")
        return "; ".join(parts) if parts else "the request went through"
    return str(result)


def final_answer(tool: Mapping[str, Any], result: Any, rng: random.Random,
                 args: Mapping[str, Any] | None = None) -> str:
    s = summarize(result, args)
    read_only = bool((tool.get("annotations") or {}).get("readOnlyHint"))
    if read_only:
        return rng.choice(["Here's what I found: {s}.", "Done. The result: {s}.",
                           "I checked for you: {s}."]).format(s=s)
    return rng.choice(["Done: {s}.", "All set. {S}.", "That's taken care of: {s}."]).format(
        s=s, S=_cap(s))


def combined_answer(parts: list[str]) -> str:
    return "Here's everything: " + " ".join(f"({i + 1}) {p}." for i, p in enumerate(parts))


def error_reply(tool: Mapping[str, Any], message: str, param: str | None,
                rng: random.Random) -> str:
    retry = (f"Would you like me to try again with a different {label(param, tool)}?" if param
             else "Would you like me to try again in a minute?")
    return rng.choice([
        "I tried to {action}, but it failed: {m}. {retry}",
        "Sorry, that didn't work ({m}). {retry}",
        "The request returned an error: {m}. {retry}",
    ]).format(action=action(tool), m=message.rstrip("."), retry=retry)
