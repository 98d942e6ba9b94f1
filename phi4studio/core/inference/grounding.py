"""Grounded arguments: is a required value of a call stated in the conversation, or made up?

A small tuned model asked "write this to a file" with no path does not ask for the path: it
calls `write_file` with `"path": "/home/user/workspace/file.txt"` (docs/quickstart.md, session
7). `ungrounded(call, tool, conversation)` names the required arguments whose values appear
nowhere in what the user (or a tool result) said, and `ask_text` words the question the
assistant asks instead. The evaluation's `ask_missing` withholds such a call; the playground
shows the values on the call and asks before running it.

What counts as stated, leniently (a value the request words differently must still pass):
- a number: the same number written in the conversation (1e-9, 200,000, 10% for 0.1, the
  words one to twenty, thirty ... ninety, hundred, thousand);
- a string: one of its words (letters or digits, 3 characters or more, or a number) in the
  conversation: "New York, NY" passes on "New York", "/home/ana/notes.md" on "notes.md"; or
  the value under another of its names (aliases.py: "USA" for "the United States", "EUR"
  for "euros", "TX" for "Texas"). Words of the tool's own definition do not count (a
  request that words the tool's description, "write text to a file", states no path); a
  value made only of such words passes;
- an enum value, a boolean, null: always (the schema offers them, the request need not name
  them); an array or object: one grounded item.
A value the parameter's own definition offers as an example ("City name, e.g. Lisbon", its
`examples`) is stated only where the conversation says it: a tuned model asked for something
none of the offered tools does calls one of them with the definition's example.
A placeholder is never stated: an empty string, or the argument's own name as its value
(`"cell_part": "cell_part"`, `"query": "query"`), which a tuned model writes when the request
holds nothing for it.
Optional arguments are not checked: a model may leave them out or give their default.

`invented_variants` reads a call list: a second call of a tool that changes a value the
conversation does not state is a variation the model made up, not a parallel call.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from phi4studio.core.inference.aliases import stated_as_alias

WORD = re.compile(r"[a-z0-9]+")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:e[-+]?\d+)?",
                     re.I)
_UNITS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
          "fourteen fifteen sixteen seventeen eighteen nineteen twenty")
_TENS = "thirty forty fifty sixty seventy eighty ninety"
_NUMBER_WORDS = {w: float(i) for i, w in enumerate(_UNITS.split(" "))}
_NUMBER_WORDS.update({w: float(10 * (i + 3)) for i, w in enumerate(_TENS.split(" "))})
_NUMBER_WORDS.update({"hundred": 100.0, "thousand": 1000.0, "million": 1e6, "dozen": 12.0,
                      "once": 1.0, "twice": 2.0, "single": 1.0, "double": 2.0, "half": 0.5})
# a number's scale written after it: "5 million", "2.5 billion", "10k"
_SCALE = re.compile(r"\s*(thousand|million|billion|trillion|k\b)")
_SCALES = {"thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12, "k": 1e3}


def conversation_text(messages: Iterable[Mapping[str, Any]]) -> str:
    """What the user and the tools said: the text a call's values may come from."""
    return "\n".join(str(m.get("content") or "") for m in messages
                     if m.get("role") in ("user", "tool"))


class Said:
    """The words and numbers of a conversation, read once."""

    def __init__(self, text: str) -> None:
        low = text.lower()
        self.text = text
        self.words = set(WORD.findall(low))
        self.numbers: list[float] = []
        for m in _NUMBER.finditer(low):
            s = m.group(0).replace(",", "")
            if not any(ch.isdigit() for ch in s):
                continue
            try:
                x = float(s)
            except ValueError:
                continue
            self.numbers.append(x)
            if low[m.end():m.end() + 1] == "%":
                self.numbers.append(x / 100.0)
            scale = _SCALE.match(low, m.end())
            if scale:
                self.numbers.append(x * _SCALES[scale.group(1)])
        self.numbers += [v for w, v in _NUMBER_WORDS.items() if w in self.words]

    def number(self, x: float) -> bool:
        return any(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) for y in self.numbers)

    def string(self, s: str, common: frozenset[str]) -> bool:
        words = [w for w in WORD.findall(s.lower())
                 if (len(w) >= 3 or w.isdigit()) and w not in common]
        if not words:
            return True  # nothing to look for ("", "x", "-")
        return any(w in self.words for w in words) or any(
            self.number(float(w)) for w in words if w.isdigit()) or stated_as_alias(
            s, self.text)


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


def _grounded(value: Any, schema: Any, said: Said, common: frozenset[str]) -> bool:
    if value is None or isinstance(value, bool):
        return True
    if isinstance(schema, Mapping) and (schema.get("enum") or "const" in schema):
        return True
    if isinstance(value, (int, float)):
        return said.number(float(value))
    if isinstance(value, str):
        return said.string(value, common)
    leaves = list(_leaves(value))
    return not leaves or any(_grounded(v, None, said, common) for v in leaves)


def ungrounded(call: Mapping[str, Any], tool: Mapping[str, Any] | None,
               conversation: str | Said) -> list[str]:
    """The required arguments of `call` whose values the conversation (its text, or its
    `Said` already read) does not state (none where the tool is unknown: a call to an
    unknown tool is another kind of error)."""
    return _ungrounded(call, tool, conversation if isinstance(conversation, Said)
                       else Said(conversation))


def _ungrounded(call: Mapping[str, Any], tool: Mapping[str, Any] | None, said: Said
                ) -> list[str]:
    if tool is None:
        return []
    schema = tool.get("inputSchema") or tool.get("parameters") or {}
    if not isinstance(schema, Mapping):
        return []
    props = schema.get("properties") or {}
    args = call.get("arguments")
    if not isinstance(args, Mapping):
        return []
    common = frozenset(WORD.findall(json.dumps(tool, default=str).lower()))
    out = []
    for k in schema.get("required") or []:
        if k not in args:
            continue
        prop = props.get(k) if isinstance(props, Mapping) else None
        if placeholder(k, args[k], prop) or _copied(args[k], prop, said) or not _grounded(
                args[k], prop, said, common):
            out.append(k)
    return out


def _copied(value: Any, schema: Any, said: Said) -> bool:
    """A value the parameter's own definition offers as an example ("City name, e.g. Lisbon",
    `examples`), which the conversation does not say: copied from the tool list, not stated
    (the tool's other words do not count for a value, so without this such a value passed)."""
    if not isinstance(value, str) or not isinstance(schema, Mapping) or schema.get("enum"):
        return False
    low = value.strip().lower()
    offered = " ".join([str(schema.get("description") or ""),
                        *(str(x) for x in schema.get("examples") or [])]).lower()
    if len(low) < 2 or low not in offered:
        return False
    words = [w for w in WORD.findall(low) if len(w) >= 3 or w.isdigit()]
    return not any(w in said.words for w in words) and not stated_as_alias(value, said.text)


def placeholder(name: str, value: Any, schema: Any) -> bool:
    """An empty string, or the argument's name written as its value (an enum may hold it)."""
    if not isinstance(value, str) or (isinstance(schema, Mapping) and schema.get("enum")):
        return False
    words = WORD.findall(value.lower())
    return not value.strip() or words == WORD.findall(name.lower().replace("_", " "))


def numbers_as_stated(tool: Mapping[str, Any], said: Said) -> Mapping[str, Any]:
    """`tool` with each required number or integer parameter held to the numbers the
    conversation states (an `enum` of them, within the parameter's bounds), for guided
    decoding: a small model copying "$400,000" writes 400 or 4000000, which `ask_missing`
    then withholds as not stated. A parameter keeps its schema where no stated number fits it
    (an integer where only fractions are stated), or where it has an enum or a const already.
    The tool itself is not changed."""
    schema = tool.get("inputSchema") or tool.get("parameters")
    if not isinstance(schema, Mapping) or not isinstance(schema.get("properties"), Mapping):
        return tool
    props = dict(schema["properties"])
    changed = False
    for k in schema.get("required") or []:
        prop = props.get(k)
        if not isinstance(prop, Mapping) or prop.get("enum") or "const" in prop:
            continue
        kind = prop.get("type")
        if kind not in ("number", "integer"):
            continue
        values = _fitting(said.numbers, prop, integer=kind == "integer")
        if values:
            props[k] = {**prop, "enum": values}
            changed = True
    if not changed:
        return tool
    key = "inputSchema" if tool.get("inputSchema") else "parameters"
    return {**tool, key: {**schema, "properties": props}}


def _fitting(numbers: Sequence[float], prop: Mapping[str, Any], *, integer: bool
             ) -> list[int | float]:
    out: list[int | float] = []
    low, high = prop.get("minimum"), prop.get("maximum")
    xlow, xhigh = prop.get("exclusiveMinimum"), prop.get("exclusiveMaximum")
    for x in numbers:
        if integer and not float(x).is_integer():
            continue
        if (isinstance(low, (int, float)) and x < low) or (
                isinstance(high, (int, float)) and x > high) or (
                isinstance(xlow, (int, float)) and not isinstance(xlow, bool) and x <= xlow) or (
                isinstance(xhigh, (int, float)) and not isinstance(xhigh, bool) and x >= xhigh):
            continue
        value: int | float = int(x) if float(x).is_integer() and abs(x) < 2**53 else x
        if value not in out:
            out.append(value)
    return out


def ungrounded_calls(calls: Sequence[Mapping[str, Any]], tools: Sequence[Mapping[str, Any]],
                     conversation: str | Said) -> list[tuple[str, list[str]]]:
    """(tool name, ungrounded required arguments) of each call that has any (`conversation`:
    its text, or its `Said` already read)."""
    by_name = {str(t.get("name")): t for t in tools}
    said = conversation if isinstance(conversation, Said) else Said(conversation)
    out = []
    for c in calls:
        missing = _ungrounded(c, by_name.get(str(c.get("name"))), said)
        if missing:
            out.append((str(c.get("name")), missing))
    return out


def invented_variants(calls: Sequence[Mapping[str, Any]], said: Said
                      ) -> list[tuple[int, list[str]]]:
    """(index, arguments) of each call that calls a tool an earlier call of the list already
    called, where a value it changes is one the conversation does not state.

    A small tuned model asked for one thing sometimes calls the tool again with a variation
    of its own ("difficulty": "beginner", then "advanced"; a second booking with "parking"
    and "spa" added). A parallel request states the values its calls vary ("for 10, 20 and
    30 years"); an invented variation does not. Stricter than `ungrounded`, since the value
    is the whole point of the extra call: every number, and every string (an enum value
    too) of a changed argument must be stated; booleans and null count as stated. An
    argument changes where its value differs from that of every earlier call of the tool
    (or only this call gives it)."""
    out: list[tuple[int, list[str]]] = []
    seen: dict[str, list[Mapping[str, Any]]] = {}
    for i, call in enumerate(calls):
        name = str(call.get("name"))
        args = call.get("arguments")
        args = args if isinstance(args, Mapping) else {}
        earlier = seen.setdefault(name, [])
        if earlier:
            changed = [k for k, v in args.items()
                       if all(e.get(k, _ABSENT) != v for e in earlier)]
            invented = [k for k in changed if not all(  # each leaf, enum values too
                _grounded(v, None, said, frozenset()) for v in _leaves(args[k]))]
            if invented:
                out.append((i, invented))
                continue  # the calls after it compare with what was kept
        earlier.append(args)
    return out


_ABSENT = object()


def ask_text(missing: Sequence[tuple[str, list[str]]]) -> str:
    """The question asked instead of calls with made-up values: "Which path should I use for
    write_file?"."""
    parts = []
    for name, keys in missing:
        labels = [k.replace("_", " ") for k in keys]
        what = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
        parts.append(f"Which {what} should I use for {name}?")
    return " ".join(parts)
