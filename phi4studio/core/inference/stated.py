"""Optional values the request states: offered to the model again after its call, kept only
where the conversation states them.

A small tuned model leaves out optional arguments that the request states ("in Celsius",
"using the Darwin model", "including human impact"): its probability of another argument there
is under 0.01 (docs/quickstart.md, sessions 10 and 18), so no threshold on it finds them. Asked
for the value, it mostly writes the right one. So, after a call:

- each optional parameter the call leaves out is a candidate (`plan`):
  - a flag (boolean) is decided from the words alone: true where every word of its name is in
    the request (`include_human_impact` on "including human impact", `avoid_tolls` on "toll
    roads avoided") and the request negates nothing (no "not", "no", "without"...);
  - a number only where the request holds a number the call does not already use;
  - an enum only where the request words one of its values;
  - any other string;
- the model continues its own call with them (one generation per call, `continuation_grammar`:
  `, "unit": <a value of its schema>, ...`);
- a value is kept only where it is stated (`stated`), more strictly than a required value's
  grounding (grounding.py), which only tells a made-up value from a given one:
  - a number: written in the conversation, and not the value of another of the call's
    arguments;
  - a string: written in the conversation as a whole word or words (case aside; not part of
    an address: "example.org" in "ana@example.org"), or every one of its words is (a word
    matching on its first five letters: "Celsius", "Darwin"); and not part of another of the
    call's values ("Warcraft" for a platform, after "World of Warcraft" for the game);
  - an array: every item stated; objects and null are not added.

Everything else is left out, as the model left it: a value the request does not state is the
tool's default to choose.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from phi4studio.core.inference.grounding import WORD, Said, placeholder

NEGATIONS = frozenset({"not", "no", "without", "dont", "exclude", "excluding",
                       "never", "except"})
# words of a flag's name that say nothing about what it turns on
_FLAG_FILLER = frozenset({"the", "and", "for", "use", "with", "get", "include", "is", "flag",
                          "whether", "only", "enable", "should", "has", "show", "allow", "do"})
_NAME_SPLIT = re.compile(r"[_\W]+|(?<=[a-z])(?=[A-Z])")
_ADDRESS = re.compile(r"\S*(?:@|://)\S*")  # an email address or a URL
TOKENS_PER_VALUE = 24  # the continuation's budget per candidate


@dataclass
class Plan:
    """What to ask for after one call: `flags` decided from the words, `ask` the parameters
    (name, schema) the model writes values for, in the schema's order."""

    flags: dict[str, bool] = field(default_factory=dict)
    ask: list[tuple[str, Any]] = field(default_factory=list)


def _schema(tool: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if not isinstance(tool, Mapping):
        return {}
    schema = tool.get("inputSchema") or tool.get("parameters") or {}
    return schema if isinstance(schema, Mapping) else {}


def _type(prop: Any) -> str:
    t = prop.get("type") if isinstance(prop, Mapping) else None
    return t if isinstance(t, str) else ""


def _stems(text: str, n: int) -> set[str]:
    return {w[:n] for w in WORD.findall(text.lower()) if len(w) >= 3}


def flag_stated(name: str, text: str) -> bool:
    """Every word of the flag's name is in the text (on its first four letters) and the text
    negates nothing."""
    words = [w.lower() for w in _NAME_SPLIT.split(name) if len(w) >= 3]
    words = [w for w in words if w not in _FLAG_FILLER]
    said = set(WORD.findall(text.lower().replace("n't", " not")))
    if not words or said & NEGATIONS:
        return False
    stems = _stems(text, 4)
    return all(w[:4] in stems for w in words)


def _numbers_of(args: Mapping[str, Any]) -> list[float]:
    return [float(v) for v in args.values()
            if isinstance(v, (int, float)) and not isinstance(v, bool)]


def plan(call: Mapping[str, Any], tool: Mapping[str, Any] | None, said: Said) -> Plan:
    """The optional parameters `call` leaves out that the conversation (`said`) may state."""
    schema = _schema(tool)
    props = schema.get("properties") or {}
    args = call.get("arguments")
    out = Plan()
    if not isinstance(props, Mapping) or not isinstance(args, Mapping):
        return out
    required = set(schema.get("required") or [])
    used = _numbers_of(args)
    free_number = any(not any(abs(x - u) < 1e-12 for u in used) for x in said.numbers)
    for name, prop in props.items():
        if name in args or name in required or not isinstance(prop, Mapping):
            continue
        kind = _type(prop)
        enum = prop.get("enum")
        if kind == "boolean":
            if flag_stated(str(name), said.text):
                out.flags[str(name)] = True
        elif isinstance(enum, list) and enum:
            if any(isinstance(v, str) and _string_stated(v, said) for v in enum):
                out.ask.append((str(name), prop))
        elif kind in ("number", "integer"):
            if free_number:
                out.ask.append((str(name), prop))
        elif kind in ("string", "array"):
            out.ask.append((str(name), prop))
    return out


def _string_stated(value: str, said: Said) -> bool:
    low = value.strip().lower()
    if not low:
        return False
    # the whole of a word or words, not part of an address ("example.org" in ana@example.org)
    if re.search(r"(?<![\w@./-])" + re.escape(low) + r"(?![\w@]|[./-]\w)", said.text.lower()):
        return True
    words = [w for w in WORD.findall(low) if len(w) >= 3 or w.isdigit()]
    prose = _ADDRESS.sub(" ", said.text)  # the words of addresses are not stated on their own
    stems = _stems(prose, 5) | set(WORD.findall(prose.lower()))
    return bool(words) and all(w[:5] in stems or w in stems for w in words)


def stated(name: str, value: Any, call_args: Mapping[str, Any], said: Said) -> bool:
    """The value is stated in the conversation (the strict rule above)."""
    if isinstance(value, bool) or value is None or isinstance(value, Mapping):
        return False
    if isinstance(value, (int, float)):
        used = _numbers_of({k: v for k, v in call_args.items() if k != name})
        return said.number(float(value)) and not any(abs(float(value) - u) < 1e-12
                                                      for u in used)
    if isinstance(value, str):
        others = {str(v).strip().lower() for k, v in call_args.items() if k != name
                  for v in (v if isinstance(v, list) else [v]) if isinstance(v, str)}
        low = value.strip().lower()
        return (not any(low in o for o in others) and not placeholder(name, value, None)
                and _string_stated(value, said))
    if isinstance(value, list):
        return bool(value) and all(
            not isinstance(v, (list, Mapping)) and stated(name, v, {}, said) for v in value)
    return False


# --- the continuation -----------------------------------------------------------------------


def arguments_end(raw: str, arguments: Mapping[str, Any], start: int = 0) -> int | None:
    """The index of the closing brace of the first `"arguments": {...}` object in `raw` at or
    after `start` that holds exactly `arguments` (a call as the model wrote it)."""
    decoder = json.JSONDecoder()
    key = re.compile(r'"(?:arguments|parameters)"\s*:\s*\{')
    pos = start
    while (m := key.search(raw, pos)) is not None:
        try:
            value, end = decoder.raw_decode(raw, m.end() - 1)
        except ValueError:
            value, end = None, 0
        if value == dict(arguments):
            return end - 1
        pos = m.end()
    return None


def continuation_grammar(ask: Sequence[tuple[str, Any]], first: bool) -> str:
    """A Lark grammar for `, "a": <value>, "b": <value>` (no leading comma where the call has no
    argument yet: `first`), each value of its parameter's schema, JSON spaced as the calls."""
    from phi4studio.core.chatformats.guidance import X_GUIDANCE, guidance_schema

    parts = []
    rows = []
    for i, (name, prop) in enumerate(ask):
        sep = "" if first and i == 0 else ", "
        parts.append(json.dumps(sep + json.dumps(name) + ": ", ensure_ascii=False) + f" v{i}")
        schema = {"x-guidance": X_GUIDANCE, **guidance_schema(dict(prop))}
        rows.append(f"v{i}: %json {json.dumps(schema, ensure_ascii=False)}")
    return "\n".join(["start: " + " ".join(parts), *rows]) + "\n"


def read_continuation(text: str, ask: Sequence[tuple[str, Any]], first: bool) -> dict[str, Any]:
    """The values the continuation wrote, in order, up to the first it did not complete."""
    decoder = json.JSONDecoder()
    out: dict[str, Any] = {}
    pos = 0
    for i, (name, _prop) in enumerate(ask):
        lead = ("" if first and i == 0 else ", ") + json.dumps(name) + ": "
        if not text.startswith(lead, pos):
            break
        pos += len(lead)
        try:
            value, pos = decoder.raw_decode(text, pos)
        except ValueError:
            break
        out[name] = value
    return out
