"""BFCL's AST rules for tool calls, in core (bfcl-eval is never imported at run time).

An expected call is BFCL's "possible answer": `{"tool_name": {"param": [acceptable values]}}`.
A parameter whose list holds "" may be left out; every other listed parameter must be given, with
a value from its list. The rules follow `bfcl_eval/eval_checker/ast_eval/ast_checker.py` (Python
flavour) and are proven equal to it on BFCL's own data by tests/core/evaluation:

- types come from the tool's JSON Schema (integer, number -> BFCL float, string, boolean,
  array, object -> dict, no type -> BFCL "any", which BFCL checks as a string);
- an int is accepted for a float; a value whose type is that of the acceptable values (a
  "variable") is accepted on its value;
- strings compare after `standardize_string` (case, spaces and `,./-_*^` ignored, ' as ");
  lists and dicts compare element-wise with the same normalisation, one level deep, as BFCL does;
- parallel calls match in any order (each expected call to one distinct predicted call);
- the number of calls must equal the number of expected calls.

`check_turn` gives the verdict and the one-to-one matching that the metrics use; `check_param`
is one parameter's rule, also used for parameter accuracy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

PossibleAnswer = dict[str, list[Any]]
ExpectedCall = dict[str, PossibleAnswer]

PY_TYPES: dict[str, type] = {
    "string": str, "integer": int, "float": float, "boolean": bool, "array": list,
    "tuple": list, "dict": dict, "any": str,
}
NESTED_TYPES = ("array", "tuple")
_JSON_TO_BFCL = {
    "string": "string", "integer": "integer", "number": "float", "boolean": "boolean",
    "array": "array", "object": "dict",
}
_STANDARDIZE = re.compile(r"[ \,\.\/\-\_\*\^]")


@dataclass
class Verdict:
    valid: bool
    error: str = ""
    error_type: str = ""
    is_variable: bool = False


@dataclass
class TurnCheck:
    """The verdict on one assistant turn's calls, with the matching the metrics read.

    `matches`: (predicted index, expected index) pairs that passed. `errors`: per expected call
    that found no match, the error of its best-named candidate (or a missing-call message).
    """

    valid: bool
    error: str = ""
    error_type: str = ""
    matches: list[tuple[int, int]] = field(default_factory=list)


# --- types ---------------------------------------------------------------------------------


def bfcl_type(schema: Any) -> str:
    """The BFCL type name for a JSON Schema (what `importers.bfcl.bfcl_schema` made of it)."""
    if not isinstance(schema, Mapping):
        return "any"
    t = schema.get("type")
    if isinstance(t, list):
        kinds = [k for k in t if k != "null"]
        t = kinds[0] if len(kinds) == 1 else None
    return _JSON_TO_BFCL.get(str(t), "any") if t is not None else "any"


def _properties(tool: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    return _schema_properties((tool or {}).get("inputSchema") or (tool or {}).get("parameters"))


def _schema_properties(schema: Any) -> tuple[dict[str, Any], list[str]]:
    """An object schema's properties and required names (empty where it has none)."""
    props = schema.get("properties") if isinstance(schema, Mapping) else None
    required = schema.get("required") if isinstance(schema, Mapping) else None
    return (dict(props) if isinstance(props, Mapping) else {},
            [str(r) for r in required] if isinstance(required, list) else [])


def standardize_string(text: str) -> str:
    """BFCL's string normalisation: drop spaces and ,./-_*^, lower-case, ' -> "."""
    return _STANDARDIZE.sub("", text).lower().replace("'", '"')


def _answer_type(possible: Sequence[Any]) -> type | None:
    for answer in possible:
        if answer != "":
            return type(answer)
    return None


def _type_check(param: str, value: Any, possible: Sequence[Any], type_name: str,
                expected: type, nested: type | None) -> Verdict:
    """BFCL's type_checker: the value's type, or (a "variable") the acceptable values' type."""
    answer_type = _answer_type(possible)
    is_variable = answer_type is not None and answer_type is not expected
    nested_error = ""
    if type(value) is expected:
        if nested is None:
            return Verdict(True, is_variable=is_variable)
        for item in possible:
            ok = True
            if type(item) is list:
                for v in cast(list[Any], value):
                    if not _type_check(param, v, item, nested.__name__, nested, None).valid:
                        ok = False
                        break
            if ok:
                return Verdict(True, is_variable=is_variable)
        nested_error = (f"Nested type checking failed for parameter {param!r}. Expected outer "
                        f"type {type_name} with inner type {nested.__name__}. Parameter value: "
                        f"{value!r}.")
    if answer_type is not None and type(value) is answer_type:
        # BFCL returns here: valid unless the nested check above failed
        if nested_error:
            return Verdict(False, nested_error, "type_error:nested", is_variable=True)
        return Verdict(True, is_variable=True)
    error = (f"Incorrect type for parameter {param!r}. Expected type {type_name}, got "
             f"{type(value).__name__}. Parameter value: {value!r}.")
    return Verdict(False, f"{nested_error} {error}".strip(), "type_error:simple")


def _std(value: Any) -> Any:
    return standardize_string(value) if type(value) is str else value


def _string_check(param: str, value: str, possible: Sequence[Any]) -> Verdict:
    if standardize_string(value) in [standardize_string(p) for p in possible if type(p) is str]:
        return Verdict(True)
    return Verdict(False, f"Invalid value for parameter {param!r}: {value!r}. Expected one of "
                   f"{list(possible)}. Case insensitive.", "value_error:string")


def _list_check(param: str, value: list[Any], possible: Sequence[Any]) -> Verdict:
    got = [_std(v) for v in value]
    options = [[_std(v) for v in p] for p in possible]
    if got in options:
        return Verdict(True)
    return Verdict(False, f"Invalid value for parameter {param!r}: {value!r}. Expected one of "
                   f"{list(possible)}.", "value_error:list/tuple")


def _dict_check(param: str, value: dict[str, Any], possible: Sequence[Any]) -> Verdict:
    result = Verdict(False, "", "dict_checker:unclear")
    for answer in possible:
        if answer == "":
            continue
        result = Verdict(False, "", "dict_checker:unclear")
        ok = True
        for key, v in value.items():
            if key not in answer:
                result = Verdict(False, f"Unexpected dict key parameter: '{key}'.",
                                 "value_error:dict_key")
                ok = False
                break
            if _std(v) not in [_std(a) for a in answer[key]]:
                result = Verdict(False, f"Invalid value for parameter {key!r}: {v!r}.",
                                 "value_error:dict_value")
                ok = False
                break
        for key, options in answer.items():
            if key not in value and "" not in options:
                result = Verdict(False, f"Missing dict key parameter: '{key}'.",
                                 "value_error:dict_key")
                ok = False
                break
        if ok:
            return Verdict(True)
    return result


def _list_dict_check(param: str, value: list[Any], possible: Sequence[Any]) -> Verdict:
    result = Verdict(False, "", "list_dict_checker:unclear")
    for answer in possible:
        if len(value) != len(answer):
            result = Verdict(False, "Wrong number of dictionaries in the list.",
                             "value_error:list_dict_count")
            continue
        ok = True
        for item, expected in zip(value, answer, strict=True):
            result = _dict_check(param, item, [expected])
            if not result.valid:
                ok = False
                break
        if ok:
            return Verdict(True)
    return result


def check_param(prop: Any, param: str, value: Any, possible: Sequence[Any]) -> Verdict:
    """One parameter: type, then value against its acceptable values (BFCL's rules)."""
    type_name = bfcl_type(prop)
    expected = PY_TYPES[type_name]
    nested: type | None = None
    if type_name in NESTED_TYPES:
        items = prop.get("items") if isinstance(prop, Mapping) else None
        nested = PY_TYPES[bfcl_type(items)] if isinstance(items, Mapping) else None
    if type_name == "tuple" and type(value) is tuple:
        value = list(value)
    if type_name == "float" and type(value) is int:
        value = float(value)
    tc = _type_check(param, value, possible, type_name, expected, nested)
    if not tc.valid:
        return tc
    if not tc.is_variable:
        if expected is dict:
            return _dict_check(param, value, possible)
        if expected is list and nested is dict:
            return _list_dict_check(param, value, possible)
        if expected is str:
            return _string_check(param, value, possible)
        if expected is list:
            return _list_check(param, value, possible)
    if value not in possible:
        return Verdict(False, f"Invalid value for parameter {param!r}: {value!r}. Expected one "
                       f"of {list(possible)}.", "value_error:others")
    return Verdict(True)


def check_call(tool: Mapping[str, Any] | None, call: Mapping[str, Any],
               expected: ExpectedCall) -> Verdict:
    """One predicted call (`{"name", "arguments"}`) against one expected call."""
    name, possible = next(iter(expected.items()))
    if call.get("name") != name:
        return Verdict(False, f"Function name {name!r} not found in model output.",
                       "simple_function_checker:wrong_func_name")
    args = call.get("arguments")
    args = args if isinstance(args, Mapping) else {}
    props, required = _properties(tool)
    for param in required:
        if param not in args:
            return Verdict(False, f"Missing required parameter: {param!r}.",
                           "simple_function_checker:missing_required")
    for param, value in args.items():
        if param not in props or param not in possible:
            return Verdict(False, f"Unexpected parameter: {param!r}.",
                           "simple_function_checker:unexpected_param")
        verdict = check_param(props[param], param, value, possible[param])
        if not verdict.valid:
            return verdict
    for param, options in possible.items():
        if param not in args and "" not in options:
            return Verdict(False, f"Optional parameter {param!r} not provided and not marked as "
                           "optional.", "simple_function_checker:missing_optional")
    return Verdict(True)


def find_tool(tools: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    for tool in tools:
        if tool.get("name") == name:
            return tool
    return None


def check_turn(tools: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[str, Any]],
               expected: Sequence[ExpectedCall]) -> TurnCheck:
    """The calls of one turn against the expected calls, in any order (BFCL's parallel rule,
    which is also its simple and multiple rule when one call is expected). No expected calls:
    the turn is right when the model made none."""
    if not expected:
        if calls:
            return TurnCheck(False, f"{len(calls)} call(s) made where none was expected.",
                             "irrelevance:called")
        return TurnCheck(True)
    matches = greedy_matches(tools, calls, expected)
    if len(calls) != len(expected):
        return TurnCheck(False, f"Wrong number of functions: {len(calls)} made, "
                         f"{len(expected)} expected.", "wrong_count", matches)
    if len(matches) == len(expected):
        return TurnCheck(True, matches=matches)
    done = {j for _, j in matches}
    used = {i for i, _ in matches}
    j = min(k for k in range(len(expected)) if k not in done)
    name = next(iter(expected[j]))
    tool = find_tool(tools, name)
    verdict = Verdict(False, f"No call to {name!r}.", "cannot_find_match")
    for i, call in enumerate(calls):
        if i not in used and call.get("name") == name:
            verdict = check_call(tool, call, expected[j])
            break
    return TurnCheck(False, f"Expected call {j} ({name}) not matched: {verdict.error}",
                     verdict.error_type, matches)


def greedy_matches(tools: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[str, Any]],
                   expected: Sequence[ExpectedCall]) -> list[tuple[int, int]]:
    """BFCL's matching: each expected call, in order, to the first unused call that passes it."""
    out: list[tuple[int, int]] = []
    used: set[int] = set()
    for j, exp in enumerate(expected):
        tool = find_tool(tools, next(iter(exp)))
        for i, call in enumerate(calls):
            if i not in used and check_call(tool, call, exp).valid:
                used.add(i)
                out.append((i, j))
                break
    return out


# --- answers -------------------------------------------------------------------------------


def first_answer(expected: ExpectedCall, tool: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The call built from each parameter's first acceptable value.

    "" (may be left out) first: the parameter is left out, unless the tool requires it (then
    its next value). With `tool`, a parameter the tool does not declare is left out when ""
    allows it (BFCL's ground truth has a few of both; its own checker rejects the naive form).
    """
    name, possible = next(iter(expected.items()))
    props, required = _properties(tool) if tool is not None else ({}, [])
    args: dict[str, Any] = {}
    for param, options in possible.items():
        values = list(options)
        if tool is not None and "" in values and param not in props:
            continue
        if values and values[0] == "" and param in required:
            values = [v for v in values if v != ""]
        if not values or values[0] == "":
            continue
        args[param] = _first_value(values[0])
    return {"name": name, "arguments": args}


def _first_value(value: Any) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if isinstance(v, list):
                if v and v[0] != "":
                    out[k] = _first_value(v[0])
            else:
                out[k] = v
        return out
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [_first_value(v) for v in value]
    return value


def expected_from_call(call: Mapping[str, Any], tool: Mapping[str, Any] | None) -> ExpectedCall:
    """A reference call (a dataset's) as a possible answer: each given value is the one
    acceptable value; an optional parameter it leaves out may be left out or given its schema
    default."""
    schema = (tool or {}).get("inputSchema") or (tool or {}).get("parameters")
    return {str(call.get("name")): _possible_object(call.get("arguments"), schema)}


def _possible_object(args: Any, schema: Any, nest: bool = True) -> PossibleAnswer:
    """An object's given values as BFCL's possible answers (each key: a list of acceptable
    values), the keys it leaves out that its schema makes optional allowed out or at their
    default. A value that is itself an object, or a list of objects, is written the same way
    one level down (`nest`), as BFCL's dict checker reads it; deeper values stay as given."""
    args = dict(args) if isinstance(args, Mapping) else {}
    props, required = _schema_properties(schema)
    possible: PossibleAnswer = {}
    for key, value in args.items():
        prop = props.get(key)
        if nest and isinstance(value, Mapping):
            possible[key] = [_possible_object(value, prop, False)]
        elif (nest and isinstance(value, list) and value
              and all(isinstance(v, Mapping) for v in value)):
            item = prop.get("items") if isinstance(prop, Mapping) else None
            possible[key] = [[_possible_object(v, item, False) for v in value]]
        else:
            possible[key] = [value]
    for param, prop in props.items():
        if param in possible or param in required:
            continue
        options: list[Any] = [""]
        if isinstance(prop, Mapping) and "default" in prop:
            options.append(prop["default"])
        possible[param] = options
    return possible


def required_params(expected: ExpectedCall) -> list[str]:
    """The parameters an answer must give: those whose acceptable values do not hold ""."""
    possible = next(iter(expected.values()))
    return [p for p, options in possible.items() if "" not in options]
