"""Realistic argument values from a JSON Schema: types, enums, const, formats, ranges, lengths,
simple patterns, required vs optional properties, nested objects and arrays, local $refs.

Strings are picked by what the parameter is about (its name, then its description): a `city` gets
a city, an `email` an address, a `sql` a query. The caller checks every value against the schema
(jsonschema) and asks again with the next random state when one does not fit.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import string
from collections.abc import Mapping
from typing import Any

from phi4studio.core.datasets.synthesis import vocab

MAX_DEPTH = 6


def _words(text: str) -> str:
    return re.sub(r"[_\-]+", " ", re.sub(r"([a-z])([A-Z])", r"\1 \2", text)).lower()


class ValueSampler:
    def __init__(self, rng: random.Random, root: Mapping[str, Any] | None = None,
                 optional_rate: float = 0.5) -> None:
        self.rng = rng
        self.root = root or {}
        self.optional_rate = optional_rate

    # --- dispatch ---------------------------------------------------------------------------
    def sample(self, schema: Any, name: str = "", depth: int = 0) -> Any:
        if schema is True or not isinstance(schema, Mapping):
            return self._string({}, name)
        if "$ref" in schema:
            return self.sample(self._resolve(str(schema["$ref"])), name, depth + 1)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("examples"), list) and schema["examples"]:
            return self.rng.choice(schema["examples"])
        if schema.get("enum"):
            return self.rng.choice(list(schema["enum"]))
        if "allOf" in schema:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for sub in schema["allOf"]:
                if isinstance(sub, Mapping):
                    sub = self._resolve(sub["$ref"]) if "$ref" in sub else sub
                    for k, v in sub.items():
                        if k == "properties":
                            merged["properties"] = {**merged.get("properties", {}), **v}
                        elif k == "required":
                            merged["required"] = [*merged.get("required", []), *v]
                        else:
                            merged.setdefault(k, v)
            return self.sample(merged, name, depth + 1)
        for key in ("oneOf", "anyOf"):
            if schema.get(key):
                branches = [b for b in schema[key] if not _is_null(b)] or list(schema[key])
                branch = self.rng.choice(branches)
                base = {k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")}
                return self.sample({**base, **branch} if isinstance(branch, Mapping) else branch,
                                   name, depth + 1)
        t = schema.get("type")
        if isinstance(t, list):
            non_null = [x for x in t if x != "null"]
            t = self.rng.choice(non_null) if non_null else "null"
        if t is None:
            t = _guess_type(schema)
        if depth > MAX_DEPTH and t in ("object", "array"):
            return {} if t == "object" else []
        if t == "string":
            return self._string(schema, name)
        if t == "integer":
            return self._integer(schema, name)
        if t == "number":
            return self._number(schema, name)
        if t == "boolean":
            return self.rng.random() < 0.5
        if t == "null":
            return None
        if t == "array":
            return self._array(schema, name, depth)
        return self.object(schema, depth)

    def _resolve(self, ref: str) -> Mapping[str, Any]:
        if not ref.startswith("#/"):
            return {}
        node: Any = self.root
        for part in ref[2:].split("/"):
            node = node.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(
                node, Mapping) else {}
        return node if isinstance(node, Mapping) else {}

    # --- objects and arrays -----------------------------------------------------------------
    def object(self, schema: Mapping[str, Any], depth: int = 0,
               omit: tuple[str, ...] = (), include_all: bool = False) -> dict[str, Any]:
        props: Mapping[str, Any] = schema.get("properties") or {}
        required = [p for p in schema.get("required") or [] if p not in omit]
        out: dict[str, Any] = {}
        for key, sub in props.items():
            if key in omit:
                continue
            if key in required or include_all or self.rng.random() < self.optional_rate:
                out[key] = self.sample(sub, key, depth + 1)
        for key in required:
            if key not in out:
                out[key] = self._string({}, key)
        extra = schema.get("additionalProperties")
        if not props and extra not in (None, False):
            for _ in range(self.rng.randint(1, 2)):
                key = self.rng.choice(vocab.KEYS)
                out[key] = self.sample(extra if isinstance(extra, Mapping) else {}, key, depth + 1)
        min_props = int(schema.get("minProperties", 0))
        for key, sub in props.items():
            if len(out) >= min_props:
                break
            if key not in omit:
                out.setdefault(key, self.sample(sub, key, depth + 1))
        return out

    def _array(self, schema: Mapping[str, Any], name: str, depth: int) -> list[Any]:
        lo = int(schema.get("minItems", 1))
        hi = int(schema.get("maxItems", max(lo, 3)))
        n = self.rng.randint(lo, max(lo, min(hi, lo + 2)))
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            return [self.sample(p, name, depth + 1) for p in prefix]
        items = schema.get("items", {})
        item_name = name[:-1] if name.endswith("s") else name
        out: list[Any] = []
        for _ in range(n * 6):
            if len(out) >= n:
                break
            v = self.sample(items, item_name, depth + 1)
            if schema.get("uniqueItems") and v in out:
                continue
            out.append(v)
        return out

    # --- numbers ----------------------------------------------------------------------------
    def _bounds(self, schema: Mapping[str, Any], name: str, integer: bool) -> tuple[float, float]:
        lo_d, hi_d = _numeric_range(_words(name))
        lo = schema.get("minimum", lo_d)
        hi = schema.get("maximum", max(hi_d, lo + 1))
        if max(lo, lo_d) < min(hi, hi_d):  # a typical range inside what the schema allows
            lo, hi = max(lo, lo_d), min(hi, hi_d)
        step = 1 if integer else 0.01
        if "exclusiveMinimum" in schema:
            lo = max(lo, schema["exclusiveMinimum"] + step)
        if "exclusiveMaximum" in schema:
            hi = min(hi, schema["exclusiveMaximum"] - step)
        if "minimum" not in schema and "exclusiveMinimum" not in schema and hi < lo:
            lo = hi - (hi_d - lo_d)
        if "maximum" not in schema and "exclusiveMaximum" not in schema and hi < lo:
            hi = lo + (hi_d - lo_d)
        return float(lo), float(hi)

    def _integer(self, schema: Mapping[str, Any], name: str) -> int:
        lo, hi = self._bounds(schema, name, True)
        lo_i, hi_i = int(-(-lo // 1)), int(hi // 1)
        mult = schema.get("multipleOf")
        if isinstance(mult, int) and mult > 0:
            first = -(-lo_i // mult) * mult
            choices = list(range(first, hi_i + 1, mult)) or [first]
            return int(self.rng.choice(choices[:200]))
        return self.rng.randint(lo_i, max(lo_i, hi_i))

    def _number(self, schema: Mapping[str, Any], name: str) -> float | int:
        if isinstance(schema.get("multipleOf"), int):
            return self._integer(schema, name)
        lo, hi = self._bounds(schema, name, False)
        value = round(self.rng.uniform(lo, hi), 2)
        return min(max(value, lo), hi)

    # --- strings ----------------------------------------------------------------------------
    def _string(self, schema: Mapping[str, Any], name: str) -> str:
        fmt = schema.get("format")
        value = self._formatted(str(fmt)) if fmt else None
        if value is None:
            value = self._about(name, str(schema.get("description") or ""))
        pattern = schema.get("pattern")
        if isinstance(pattern, str) and not re.search(pattern, value):
            value = from_pattern(pattern, self.rng) or value
        lo, hi = int(schema.get("minLength", 0)), schema.get("maxLength")
        if hi is not None and len(value) > int(hi):
            value = value[: int(hi)].rstrip() or value[: int(hi)]
        while len(value) < lo:
            value += " " + self.rng.choice(vocab.FILLER)
        return value

    def _formatted(self, fmt: str) -> str | None:
        r = self.rng
        day = dt.date(2025, 1, 1) + dt.timedelta(days=r.randint(0, 540))
        if fmt == "date":
            return day.isoformat()
        if fmt == "date-time":
            return f"{day.isoformat()}T{r.randint(7, 19):02d}:{r.choice([0, 15, 30, 45]):02d}:00Z"
        if fmt == "time":
            return f"{r.randint(7, 19):02d}:{r.choice([0, 15, 30, 45]):02d}:00"
        if fmt == "email" or fmt == "idn-email":
            return r.choice(vocab.EMAILS)
        if fmt in ("uri", "url", "iri", "uri-reference"):
            return r.choice(vocab.URLS)
        if fmt == "uuid":
            return "-".join("".join(r.choice("0123456789abcdef") for _ in range(n))
                            for n in (8, 4, 4, 4, 12))
        if fmt == "ipv4":
            return f"192.168.{r.randint(0, 254)}.{r.randint(1, 254)}"
        if fmt == "ipv6":
            return f"2001:db8::{r.randint(1, 65535):x}"
        if fmt in ("hostname", "idn-hostname"):
            return r.choice(vocab.HOSTS)
        if fmt == "duration":
            return f"PT{r.randint(1, 8)}H"
        return None

    def _about(self, name: str, description: str) -> str:
        for text in (_words(name), description.lower()):
            for keys, bank in vocab.TOPICS:
                if any(re.search(rf"\b{re.escape(k)}s?\b", text) for k in keys):
                    return str(self.rng.choice(bank))
        return " ".join(self.rng.sample(vocab.FILLER, 2))


def _is_null(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("type") == "null"


def _guess_type(schema: Mapping[str, Any]) -> str:
    if "properties" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if any(k in schema for k in ("minimum", "maximum", "multipleOf")):
        return "number"
    return "string"


def _numeric_range(words: str) -> tuple[float, float]:
    for keys, lo, hi in vocab.NUMBER_RANGES:
        if any(re.search(rf"\b{re.escape(k)}s?\b", words) for k in keys):
            return lo, hi
    return 1, 100


_CLASSES = {"d": string.digits, "w": string.ascii_letters + string.digits + "_",
            "s": " ", "D": "abc", "W": "-", "S": "x"}


def from_pattern(pattern: str, rng: random.Random) -> str | None:
    """A string matching a simple regular expression (classes, groups, alternation,
    quantifiers); None when the pattern uses anything else."""
    try:
        out, _ = _seq(pattern.lstrip("^").rstrip("$"), 0, rng)
    except (IndexError, ValueError):
        return None
    return out if re.search(pattern, out) else None


def _seq(p: str, i: int, rng: random.Random) -> tuple[str, int]:
    alternatives: list[str] = []
    out = ""
    while i < len(p) and p[i] != ")":
        if p[i] == "|":
            alternatives.append(out)
            out, i = "", i + 1
            continue
        atom, i = _atom(p, i, rng)
        lo, hi, i = _quant(p, i)
        out += "".join(atom() for _ in range(rng.randint(lo, hi)))
    alternatives.append(out)
    return rng.choice(alternatives), i


def _atom(p: str, i: int, rng: random.Random) -> tuple[Any, int]:
    c = p[i]
    if c == "\\":
        esc = p[i + 1]
        chars = _CLASSES.get(esc, esc)
        return (lambda: rng.choice(chars)), i + 2
    if c == "[":
        j = p.index("]", i + 1)
        body, chars = p[i + 1:j], ""
        if body.startswith("^"):
            raise ValueError("negated class")
        k = 0
        while k < len(body):
            if body[k] == "\\":
                chars += _CLASSES.get(body[k + 1], body[k + 1])
                k += 2
            elif k + 2 < len(body) and body[k + 1] == "-":
                chars += "".join(chr(x) for x in range(ord(body[k]), ord(body[k + 2]) + 1))
                k += 3
            else:
                chars += body[k]
                k += 1
        return (lambda: rng.choice(chars)), j + 1
    if c == "(":
        start = i + 3 if p.startswith("(?:", i) else i + 1
        text, j = _seq(p, start, rng)
        return (lambda: text), j + 1
    if c == ".":
        return (lambda: rng.choice(string.ascii_lowercase)), i + 1
    if c in "*+?{}":
        raise ValueError("dangling quantifier")
    return (lambda: c), i + 1


def _quant(p: str, i: int) -> tuple[int, int, int]:
    if i >= len(p):
        return 1, 1, i
    c = p[i]
    if c == "*":
        return 0, 3, i + 1
    if c == "+":
        return 1, 3, i + 1
    if c == "?":
        return 0, 1, i + 1
    if c == "{":
        j = p.index("}", i)
        parts = p[i + 1:j].split(",")
        lo = int(parts[0])
        hi = lo if len(parts) == 1 else (int(parts[1]) if parts[1] else lo + 3)
        return lo, hi, j + 1
    return 1, 1, i
