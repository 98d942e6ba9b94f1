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


# Parameters whose numbers are sums of money: a request writes them as people do ("$400,000").
_MONEY = frozenset(("amount", "price", "cost", "costs", "income", "salary", "payment",
                    "principal", "loan", "investment", "budget", "revenue", "fee", "deposit",
                    "capital", "balance", "bill", "rent", "wage", "savings", "profit", "debt",
                    "spend", "spending"))
_PERCENT = frozenset(("percent", "percentage", "pct"))


def _schema_of(name: str, tool: Mapping[str, Any] | None) -> Mapping[str, Any]:
    props = ((tool or {}).get("inputSchema") or {}).get("properties") or {}
    sub = props.get(name) if isinstance(props, Mapping) else None
    return sub if isinstance(sub, Mapping) else {}


def _plain_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def written_number(name: str, value: Any, tool: Mapping[str, Any] | None,
                   rng: random.Random) -> str | None:
    """A number as people write it in a request, where the parameter says what it is: a sum of
    money with a dollar sign and thousands separators ("$400,000"), a rate the schema takes
    as a decimal as a percentage ("5%" for 0.05), a percentage parameter with its sign
    ("15%"), a large count with separators ("2,500,000"). None for the plain form (also
    drawn now and then, so that both forms are seen). BFCL-style requests write numbers so,
    and a model that never saw "$400,000" reads it as 400."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    schema = _schema_of(name, tool)
    words = set(human(name).split())
    desc = str(schema.get("description") or "").lower()
    x = float(value)
    if words & _PERCENT and 0 < x <= 100:
        return f"{_plain_number(x)}%" if rng.random() < 0.6 else None
    maximum = schema.get("maximum")
    as_decimal = ("decimal" in desc or "fraction" in desc
                  or ("rate" in words and isinstance(maximum, (int, float)) and maximum <= 1))
    if as_decimal and 0 < x < 1:
        return f"{_plain_number(round(x * 100, 6))}%" if rng.random() < 0.6 else None
    money = bool(words & _MONEY) or bool(re.search(r"\b(?:dollars?|usd|money|currency)\b",
                                                   desc))
    if money and x > 0 and rng.random() < 0.7:
        text = (f"{int(x):,}" if x.is_integer() and x >= 1000 and rng.random() < 0.8
                else f"{x:,.2f}" if not x.is_integer() else _plain_number(x))
        return ("$" + text) if rng.random() < 0.6 else text
    if x.is_integer() and abs(x) >= 10000 and rng.random() < 0.5:
        return f"{int(x):,}"
    return None


def say_value(name: str, value: Any, tool: Mapping[str, Any] | None,
              rng: random.Random) -> str:
    """How a request states one argument's value: `written_number` where it applies, else
    `fmt_value`."""
    return written_number(name, value, tool, rng) or fmt_value(name, value)


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
    parts = [style.format(label=label(k, tool), value=say_value(k, v, tool, rng))
             for k, v in args.items()]
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
