"""Validation: is an example safe to train on? Each issue has a severity, a code, the JSON path of
the fault (`$.messages[3].tool_calls[0].arguments.city`) and a message in words.

Per example: tool definitions (unique names, valid JSON Schemas), role order (system first, user
opens, tool results follow the calls they answer, an assistant reply at the end), empty messages,
calls (name an offered tool, unique ids, arguments valid against the tool's inputSchema with JSON
Schema Draft 2020-12 and format checks, a tool result for every call unless the calls end the
conversation), tool results (answer a known call, once), scenario consistency, and length when a
token counter is given. Per dataset (`validate_store`): all that in batches, plus exact and near
duplicates (same text after normalising case, spacing and punctuation). Results are stored with
each example so the table can filter by validity and the editor can jump to a fault.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from jsonschema import Draft202012Validator, FormatChecker, SchemaError, validators
from jsonschema.protocols import Validator
from referencing.exceptions import Unresolvable

from phi4studio.core.datasets.schema import SCENARIOS, Example, canonical_json, json_path

if TYPE_CHECKING:
    from phi4studio.core.datasets.query import ExampleFilter
    from phi4studio.core.datasets.store import DatasetStore

ERROR = "error"
WARNING = "warning"
_FORMATS = FormatChecker()


@dataclass(frozen=True)
class Issue:
    severity: str  # "error" or "warning"
    code: str  # stable identifier, e.g. "unknown_tool", "bad_arguments"
    path: str  # JSON path of the fault inside the example
    message: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _validity(issues: list[Issue]) -> str:
    if any(i.severity == ERROR for i in issues):
        return "error"
    return "warning" if issues else "ok"


@functools.lru_cache(maxsize=512)
def _validator(schema_json: str) -> Validator | str:
    """A cached validator for a schema, or the reason the schema itself is invalid."""
    schema = json.loads(schema_json)
    cls = validators.validator_for(schema, default=Draft202012Validator)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        where = json_path(exc.absolute_path)
        return f"{exc.message} (at {where} in the schema)"
    return cls(schema, format_checker=_FORMATS)


def check_tool_schema(schema: Any) -> str | None:
    """Why a tool's inputSchema is not a usable JSON Schema, or None when it is."""
    if not isinstance(schema, Mapping):
        return "the inputSchema is not an object"
    v = _validator(canonical_json(schema))
    return v if isinstance(v, str) else None


MISSING = "required property is missing"
NOT_A_PARAMETER = "not a property of this tool (additionalProperties: false)"


@dataclass(frozen=True)
class ArgumentFault:
    """One fault of a call's arguments: `path` inside the arguments (`$` is the object itself,
    `$.city` a key, also a missing required one or one the schema does not allow)."""

    path: str
    message: str
    key: str | None = None  # the key a missing/forbidden-key fault is about

    def describe(self) -> str:
        """The message with the key named (for reports that show no path next to it)."""
        if self.key is not None and self.message == MISSING:
            return f"the required argument {self.key!r} is missing"
        if self.key is not None and self.message == NOT_A_PARAMETER:
            return f"{self.key!r} is not a parameter of this tool (additionalProperties: false)"
        return self.message


def argument_faults(schema: Mapping[str, Any], value: Any) -> list[ArgumentFault] | str:
    """Every fault of `value` against a tool's inputSchema, each at the JSON path of the key it
    is about (the one implementation behind validation, the call editor and the playground).

    A required key that is missing and a key that `additionalProperties: false` forbids are
    reported at that key (`$.city`), not at the object that holds it. Returns the reason as a
    string when the schema itself is not valid JSON Schema."""
    try:
        v = _validator(canonical_json(schema))
    except (TypeError, ValueError, RecursionError) as exc:
        return f"the schema cannot be used: {exc}"
    if isinstance(v, str):
        return v
    try:
        errors = sorted(v.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
    except (Unresolvable, RecursionError, TypeError, ValueError) as exc:
        return f"the schema cannot be used: {exc}"
    out: list[ArgumentFault] = []
    for err in errors:
        parts = list(err.absolute_path)
        if err.validator == "required":
            m = re.match(r"'(.+)' is a required property", err.message)
            if m:
                out.append(ArgumentFault(json_path([*parts, m.group(1)]), MISSING, m.group(1)))
                continue
        elif err.validator == "additionalProperties" and err.validator_value is False \
                and isinstance(err.instance, Mapping):
            extras = _extra_keys(err.schema, err.instance)
            if extras:
                out += [ArgumentFault(json_path([*parts, k]), NOT_A_PARAMETER, k)
                        for k in extras]
                continue
        out.append(ArgumentFault(json_path(parts), err.message))
    return out


def _extra_keys(schema: Any, instance: Mapping[str, Any]) -> list[str]:
    if not isinstance(schema, Mapping):
        return []
    props = schema.get("properties") or {}
    patterns = list((schema.get("patternProperties") or {}).keys())
    out = []
    for key in instance:
        if key in props:
            continue
        try:
            if any(re.search(p, str(key)) for p in patterns):
                continue
        except re.error:
            pass
        out.append(str(key))
    return out


def validate_arguments(
    tool: Mapping[str, Any], arguments: Any, base_path: str = "$"
) -> list[Issue]:
    """Arguments against a tool's inputSchema, each fault at its key (`...arguments.city`)."""
    if not isinstance(arguments, Mapping):
        return [Issue(ERROR, "bad_arguments", base_path, "The arguments are not a JSON object.")]
    schema = tool.get("inputSchema") or {}
    if not isinstance(schema, Mapping):
        return []  # reported once, where the tool is defined
    faults = argument_faults(schema, arguments)
    if isinstance(faults, str):
        return []  # the tool's schema is reported once, where it is defined
    name = tool.get("name")
    return [Issue(ERROR, "bad_arguments", base_path + f.path[1:], f"{name}: {f.describe()}")
            for f in faults]


def _check_tools(
    tools: list[Mapping[str, Any]],
) -> tuple[list[Issue], dict[str, Mapping[str, Any]]]:
    issues: list[Issue] = []
    by_name: dict[str, Mapping[str, Any]] = {}
    for k, t in enumerate(tools):
        name = str(t.get("name", ""))
        if not name:
            issues.append(Issue(ERROR, "tool_without_name", f"$.tools[{k}].name",
                                "A tool has no name."))
        elif name in by_name:
            issues.append(Issue(ERROR, "duplicate_tool", f"$.tools[{k}].name",
                                f"The tool {name!r} is defined twice."))
        by_name.setdefault(name, t)
        why = check_tool_schema(t.get("inputSchema"))
        if why is not None:
            issues.append(Issue(ERROR, "bad_tool_schema", f"$.tools[{k}].inputSchema",
                                f"The inputSchema of {name!r} is not valid JSON Schema: {why}"))
        elif (t.get("inputSchema") or {}).get("type", "object") != "object":
            issues.append(Issue(WARNING, "tool_schema_not_object", f"$.tools[{k}].inputSchema",
                                f"The inputSchema of {name!r} does not describe an object."))
        if not str(t.get("description") or "").strip():
            issues.append(Issue(WARNING, "tool_without_description", f"$.tools[{k}].description",
                                f"The tool {name!r} has no description to learn from."))
    return issues, by_name


def _check_messages(msgs: list[Mapping[str, Any]], tools: Mapping[str, Any]) -> list[Issue]:
    issues: list[Issue] = []

    def add(sev: str, code: str, i: int, msg: str, tail: str = "") -> None:
        issues.append(Issue(sev, code, f"$.messages[{i}]{tail}", msg))

    if not msgs:
        return [Issue(ERROR, "no_messages", "$.messages", "The example has no messages.")]
    calls: dict[str, tuple[int, str]] = {}  # call id -> (message index, tool name)
    answered: Counter[str] = Counter()
    first_chat = next((i for i, m in enumerate(msgs) if m.get("role") != "system"), None)
    if first_chat is not None and msgs[first_chat].get("role") != "user":
        add(ERROR, "bad_role_order", first_chat, "The conversation must open with a user message.")
    prev: str | None = None
    for i, m in enumerate(msgs):
        role = m.get("role")
        content = str(m.get("content") or "")
        tcs = m.get("tool_calls") or []
        if role == "system" and i != 0:
            add(ERROR, "bad_role_order", i, "A system message may only come first.")
        if role == "system" and not content.strip():
            add(WARNING, "empty_message", i, "The system message is empty.", ".content")
        if role == "user":
            if not content.strip():
                add(ERROR, "empty_message", i, "The user message is empty.", ".content")
            if prev == "user":
                add(WARNING, "bad_role_order", i, "Two user messages in a row.")
        if tcs and role != "assistant":
            add(ERROR, "calls_outside_assistant", i, "Only assistant messages can make tool calls.",
                ".tool_calls")
        if m.get("tool_call_id") is not None and role != "tool":
            add(WARNING, "stray_tool_call_id", i, "Only tool messages answer a call id.",
                ".tool_call_id")
        if role == "assistant":
            if not content.strip() and not tcs:
                add(ERROR, "empty_message", i, "The assistant message has neither text nor calls.")
            if prev == "assistant":
                add(WARNING, "bad_role_order", i, "Two assistant messages in a row.")
            for j, c in enumerate(tcs):
                where = f".tool_calls[{j}]"
                cid, name = str(c.get("id") or ""), str(c.get("name") or "")
                if not cid:
                    add(ERROR, "call_without_id", i, "The call has no id.", where + ".id")
                elif cid in calls:
                    add(ERROR, "duplicate_call_id", i, f"The call id {cid!r} is used twice.",
                        where + ".id")
                calls.setdefault(cid, (i, name))
                if name not in tools:
                    offered = ", ".join(sorted(tools)) or "none"
                    add(ERROR, "unknown_tool", i,
                        f"The call names {name!r}, which the example does not offer "
                        f"(offered: {offered}).", where + ".name")
                else:
                    issues += validate_arguments(
                        tools[name], c.get("arguments"), f"$.messages[{i}]{where}.arguments"
                    )
        if role == "tool":
            if prev not in ("assistant", "tool"):
                add(ERROR, "bad_role_order", i,
                    "A tool result must follow the assistant message that made the call.")
            rid = m.get("tool_call_id")
            if not rid:
                add(ERROR, "result_without_call_id", i, "The tool result has no tool_call_id.",
                    ".tool_call_id")
            elif rid not in calls:
                add(ERROR, "unknown_call_id", i, f"The tool result answers {rid!r}, "
                    "which no earlier call has.", ".tool_call_id")
            else:
                answered[rid] += 1
                if answered[rid] == 2:
                    add(WARNING, "call_answered_twice", i, f"The call {rid!r} is answered twice.",
                        ".tool_call_id")
                if m.get("name") and m["name"] != calls[rid][1]:
                    add(WARNING, "result_name_mismatch", i,
                        f"The result is named {m['name']!r} but answers a call to "
                        f"{calls[rid][1]!r}.", ".name")
            if not content.strip():
                add(WARNING, "empty_message", i, "The tool result is empty.", ".content")
        prev = str(role)
    last = len(msgs) - 1
    for cid, (i, name) in calls.items():
        if cid and not answered[cid] and i != last:
            j = next(k for k, c in enumerate(msgs[i].get("tool_calls") or []) if c.get("id") == cid)
            add(ERROR, "call_without_result", i, f"The call to {name!r} ({cid}) gets no tool "
                "result before the conversation goes on.", f".tool_calls[{j}]")
    if msgs[last].get("role") == "user":
        add(ERROR, "no_final_reply", last, "The conversation ends with a user message: there is "
            "no assistant reply to learn from.")
    elif msgs[last].get("role") == "tool":
        add(WARNING, "no_final_reply", last, "The conversation ends with a tool result and no "
            "assistant reply.")
    return issues


def _check_scenario(d: Mapping[str, Any], msgs: list[Mapping[str, Any]]) -> list[Issue]:
    scenario = d.get("scenario")
    if scenario not in SCENARIOS:
        return []
    per_turn = [len(m.get("tool_calls") or []) for m in msgs if m.get("role") == "assistant"]
    users = sum(1 for m in msgs if m.get("role") == "user")
    why = None
    if scenario == "irrelevance" and any(per_turn):
        why = "is marked irrelevance but makes tool calls"
    elif scenario == "parallel" and not any(n >= 2 for n in per_turn):
        why = "is marked parallel but no assistant turn makes two or more calls"
    elif scenario == "multi_turn" and users < 2:
        why = "is marked multi_turn but has only one user message"
    elif scenario in ("single", "multiple") and not any(per_turn):
        why = f"is marked {scenario} but makes no tool call"
    if why is None:
        return []
    return [Issue(WARNING, "scenario_mismatch", "$.scenario", f"The example {why}.")]


def validate_example(
    example: Example | Mapping[str, Any],
    *,
    count_tokens: Callable[[Mapping[str, Any]], int] | None = None,
    max_tokens: int | None = None,
) -> list[Issue]:
    """Every issue of one example (shape is assumed valid: it came through the model)."""
    d = example.to_dict() if isinstance(example, Example) else example
    tools = [t for t in d.get("tools") or [] if isinstance(t, Mapping)]
    msgs = [m for m in d.get("messages") or [] if isinstance(m, Mapping)]
    issues, by_name = _check_tools(tools)
    issues += _check_messages(msgs, by_name)
    issues += _check_scenario(d, msgs)
    if count_tokens is not None and max_tokens is not None:
        n = count_tokens(d)
        if n > max_tokens:
            issues.append(Issue(WARNING, "too_long", "$",
                                f"The example is {n} tokens long; the limit is {max_tokens}."))
    return issues


@dataclass
class ValidationSummary:
    n_examples: int = 0
    n_ok: int = 0
    n_warning: int = 0
    n_error: int = 0
    by_code: Counter[str] = field(default_factory=Counter)
    first_errors: list[tuple[str, Issue]] = field(default_factory=list)  # (example id, issue)

    @property
    def exit_code(self) -> int:
        """For `phi4studio dataset validate`: non-zero while errors remain."""
        return 1 if self.n_error else 0

    def summary(self) -> str:
        return (f"{self.n_examples} example(s): {self.n_ok} ok, {self.n_warning} with warnings, "
                f"{self.n_error} with errors")


def validate_store(
    store: DatasetStore,
    *,
    flt: ExampleFilter | None = None,
    count_tokens: Callable[[Mapping[str, Any]], int] | None = None,
    max_tokens: int | None = None,
    batch_size: int = 500,
    keep_errors: int = 50,
    progress: Callable[[float, str], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> ValidationSummary:
    """Validate a whole dataset in batches and store each example's result."""
    where, params = store.where(flt)
    total = store.count(flt)
    exact_first = dict(store.read(
        "SELECT exact_hash, id FROM examples WHERE pos IN (SELECT MIN(pos) FROM examples "
        "GROUP BY exact_hash HAVING COUNT(*) > 1)"))
    norm_first = dict(store.read(
        "SELECT norm_hash, id FROM examples WHERE pos IN (SELECT MIN(pos) FROM examples "
        "GROUP BY norm_hash HAVING COUNT(*) > 1)"))
    summary = ValidationSummary()
    after = 0
    while True:
        if cancelled is not None and cancelled():
            from phi4studio.core.jobs.model import JobCancelled

            raise JobCancelled()
        rows = store.read(
            f"SELECT pos, id, data, data_hash, exact_hash, norm_hash FROM examples "
            f"WHERE pos > ? AND {where} ORDER BY pos LIMIT ?",
            [after, *params, batch_size],
        )
        if not rows:
            break
        after = int(rows[-1][0])
        results = []
        for _pos, ex_id, data, dhash, ehash, nhash in rows:
            issues = validate_example(json.loads(data), count_tokens=count_tokens,
                                      max_tokens=max_tokens)
            first = exact_first.get(ehash)
            if first is not None and first != ex_id:
                issues.append(Issue(WARNING, "duplicate", "$.messages",
                                    f"Exact duplicate of {first!r}."))
            elif norm_first.get(nhash) not in (None, ex_id):
                issues.append(Issue(WARNING, "near_duplicate", "$.messages",
                                    f"Near duplicate of {norm_first[nhash]!r} (the same text "
                                    "after normalising case, spacing and punctuation)."))
            validity = _validity(issues)
            summary.n_examples += 1
            setattr(summary, f"n_{validity}", getattr(summary, f"n_{validity}") + 1)
            summary.by_code.update(i.code for i in issues)
            for i in issues:
                if i.severity == ERROR and len(summary.first_errors) < keep_errors:
                    summary.first_errors.append((str(ex_id), i))
            ne = sum(1 for i in issues if i.severity == ERROR)
            results.append((dhash, validity, ne, len(issues) - ne, [i.to_dict() for i in issues]))
        store.record_checks(results)
        if progress is not None:
            progress(summary.n_examples / max(total, 1),
                     f"{summary.n_examples} of {total} example(s) validated")
    store.prune_checks()
    return summary
