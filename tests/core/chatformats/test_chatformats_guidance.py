"""Guided decoding specs: valid JSON Schema that accepts exactly the calls the formats render,
and grammar text that onnxruntime-genai 0.18 (llguidance) accepts and that constrains a real
(tiny, random) ONNX model to well-formed calls of the offered tools."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import cfsamples as S
import jsonschema
import pytest

from phi4studio.core.chatformats import ChatFormat, GuidanceSpec, get_format, shipped_template

FAMILIES = ["phi4-mini", "phi4", "hermes", "chatml-notools", "generic"]


def fmt_of(name: str) -> ChatFormat:
    if name == "generic":
        return get_format("generic", template=shipped_template("hermes"))
    return get_format(name)


def _validator(spec: GuidanceSpec) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(spec.payload_schema)
    return jsonschema.Draft202012Validator(spec.payload_schema)


def _payloads(fmt: ChatFormat, calls: list[dict[str, Any]], kind: str) -> list[Any]:
    """What the payload schema validates for these calls: one array, or one object per call."""
    if kind == "lark_grammar" and fmt.syntax.shape == "object":
        return calls
    return [calls]


@pytest.mark.parametrize("kind", ["lark_grammar", "json_schema"])
@pytest.mark.parametrize("family", FAMILIES)
def test_payload_schema_accepts_rendered_calls_and_rejects_bad_ones(family: str, kind: str) -> None:
    fmt = fmt_of(family)
    spec = fmt.guidance(S.TOOLS, kind=kind)  # type: ignore[arg-type]
    assert spec.type == kind and spec.tool_names == ("get_weather", "create_event", "list_files")
    validator = _validator(spec)
    for ex in S.ALL[:-1]:
        for turn in fmt.render(ex).turns():
            calls = fmt.parse(turn).tool_calls
            for payload in (_payloads(fmt, calls, kind) if calls else []):
                validator.validate(payload)
    bad_calls = [
        {"name": "delete_everything", "arguments": {}},
        {"name": "get_weather", "arguments": {"unit": "kelvin", "city": "X"}},
        {"name": "get_weather", "arguments": {"city": "X", "extra": 1}},
        {"name": "get_weather", "arguments": {}},
        {"name": "create_event", "arguments": {"title": "t", "when": {"start": 3}}},
    ]
    for bad in bad_calls:
        for payload in _payloads(fmt, [bad], kind):
            assert not validator.is_valid(payload), bad
    if kind == "json_schema":
        assert json.loads(spec.text)["x-guidance"]["whitespace_flexible"] is False
        assert json.loads(spec.text)["items"] == spec.payload_schema["items"]


def test_grammar_text_uses_each_familys_markers() -> None:
    mini = get_format("phi4-mini").guidance(S.TOOLS).text
    assert "calls: <|tool_call|> payload <|/tool_call|>" in mini
    assert "TEXT: /(.|\\n)+/\n" in mini
    studio = get_format("phi4").guidance(S.TOOLS).text
    assert 'calls: call ("\\n" call)*' in studio  # one block per call
    assert 'call: "<tool_call>" payload "</tool_call>"' in studio
    assert "~/(.|\\n)*<tool_call>(.|\\n)*/" in studio
    hermes = get_format("hermes").guidance(S.TOOLS, max_calls=3).text
    assert 'calls: call ("\\n" call){0,2}' in hermes
    assert 'call: "<tool_call>\\n" payload "\\n</tool_call>"' in hermes
    required = get_format("phi4").guidance(S.TOOLS, require_call=True).text
    assert required.startswith("start: calls\n") and "TEXT" not in required
    with pytest.raises(ValueError):
        get_format("phi4").guidance([])


def test_schemas_are_cleaned_and_refs_hoisted() -> None:
    tool = {"name": "q.run", "description": "", "inputSchema": {
        "$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
        "properties": {"node": {"$ref": "#/definitions/Node"}, "n": {"type": "integer",
                                                                     "examples": [1]}},
        "definitions": {"Node": {"type": "object", "properties": {
            "child": {"anyOf": [{"$ref": "#/definitions/Node"}, {"type": "null"}]}}}},
    }}
    spec = get_format("phi4-mini").guidance([tool])  # an array payload
    validator = _validator(spec)
    schema = spec.payload_schema
    assert "q_run__Node" in schema["$defs"]
    assert "$schema" not in json.dumps(schema) and "examples" not in json.dumps(schema)
    ok = [{"name": "q.run", "arguments": {"node": {"child": {"child": None}}, "n": 2}}]
    assert validator.is_valid(ok)
    assert not validator.is_valid([{"name": "q.run", "arguments": {"node": {"x": 1}}}])


# --- onnxruntime-genai ----------------------------------------------------------------------

ORT_TOOLS = [
    {"name": "set_alarm", "description": "Set an alarm.", "inputSchema": {
        "type": "object",
        "properties": {"hour": {"type": "integer", "enum": [6, 7, 8]},
                       "label": {"type": "string", "maxLength": 8},
                       "loud": {"type": "boolean"}},
        "required": ["hour", "label"]}},
    {"name": "get_weather", "description": "Weather.", "inputSchema": {
        "type": "object",
        "properties": {"unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
        "required": ["unit"]}},
]


@pytest.fixture(scope="module")
def ort_model(tiny_phi3_onnx_dir: Path) -> Any:
    og = pytest.importorskip("onnxruntime_genai")
    return og, og.Model(str(tiny_phi3_onnx_dir))


@pytest.fixture(scope="module")
def ort_phi4_mini_model(tiny_phi3_onnx_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The tiny model with two unused special tokens renamed to Phi-4-mini's call markers."""
    og = pytest.importorskip("onnxruntime_genai")
    folder = tmp_path_factory.mktemp("tiny-phi4mini-tokens")
    for f in tiny_phi3_onnx_dir.iterdir():
        if f.name in ("tokenizer.json", "tokenizer_config.json"):
            text = f.read_text(encoding="utf-8")
            text = text.replace('"<repo_name>"', '"<|tool_call|>"')
            text = text.replace('"<reponame>"', '"<|/tool_call|>"')
            (folder / f.name).write_text(text, encoding="utf-8")
        elif f.is_file():
            shutil.copyfile(f, folder / f.name)
    return og, og.Model(str(folder))


def _generate(og: Any, model: Any, prompt: str, spec: GuidanceSpec, seed: int,
              max_new: int = 200) -> str:
    tok = og.Tokenizer(model)
    tok.update_options(skip_special_tokens="false")  # as the inference worker decodes
    ids = tok.encode(prompt)
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + max_new, do_sample=True, top_k=50,
                              temperature=1.0, random_seed=seed)
    params.set_guidance(spec.type, spec.text)
    gen = og.Generator(model, params)
    gen.append_tokens(ids)
    out: list[int] = []
    while not gen.is_done():
        gen.generate_next_token()
        out.extend(int(t) for t in gen.get_next_tokens())
    return str(tok.decode(out))


def _check_guided_output(fmt: ChatFormat, text: str, spec: GuidanceSpec, kind: str) -> None:
    out = fmt.parse_payload(text) if kind == "json_schema" else fmt.parse(text)
    assert out.errors == [], (text, out.errors)
    assert 1 <= len(out.tool_calls) <= 2, text
    validator = _validator(spec)
    for payload in _payloads(fmt, out.tool_calls, kind):
        validator.validate(payload)


@pytest.mark.parametrize("kind", ["lark_grammar", "json_schema"])
@pytest.mark.parametrize("family", ["chatml-notools", "phi4", "hermes"])
def test_onnxruntime_genai_accepts_the_guidance_and_is_held_to_it(
    ort_model: Any, family: str, kind: str
) -> None:
    og, model = ort_model
    fmt = fmt_of(family)
    prompt = fmt.render_prompt([{"role": "user", "content": "Wake me at 7."}], ORT_TOOLS)
    spec = fmt.guidance(ORT_TOOLS, kind=kind, require_call=True, max_calls=2)  # type: ignore[arg-type]
    _check_guided_output(fmt, _generate(og, model, prompt, spec, seed=1), spec, kind)
    free = fmt.guidance(ORT_TOOLS)  # text or calls: accepted, and whatever comes out parses
    text = _generate(og, model, prompt, free, seed=3, max_new=24)
    assert fmt.parse(text).errors == []


def test_onnxruntime_genai_phi4_mini_special_token_markers(ort_phi4_mini_model: Any) -> None:
    og, model = ort_phi4_mini_model
    fmt = get_format("phi4-mini")
    prompt = fmt.render_prompt([{"role": "user", "content": "Weather?"}], ORT_TOOLS)
    spec = fmt.guidance(ORT_TOOLS, require_call=True, max_calls=2)
    text = _generate(og, model, prompt, spec, 5)
    assert text.startswith("<|tool_call|>[{") and "<|/tool_call|>" in text
    _check_guided_output(fmt, text, spec, "lark_grammar")


def test_a_required_key_without_a_schema_stays_allowed_when_objects_are_closed(
        ort_model: Any) -> None:
    """BFCL's waste_calculation requires `population` to hold adults, children and singles
    but describes none of them. Closing that object (strict guidance) made the schema
    unsatisfiable: llguidance refused the grammar and the call was generated unguided."""
    og, model = ort_model
    population = {"type": "object", "required": ["adults", "children", "singles"],
                  "properties": {}}
    tool = {"name": "waste", "description": "d", "inputSchema": {
        "type": "object", "properties": {"population": population,
                                         "location": {"type": "string", "enum": ["LA"]}},
        "required": ["population", "location"]}}
    fmt = get_format("hermes")
    spec = fmt.guidance([tool], require_call=True, max_calls=1)
    call = spec.payload_schema.get("items", spec.payload_schema)["oneOf"][0]
    args = call["properties"]["arguments"]
    inner = args["properties"]["population"]
    assert inner["additionalProperties"] is False
    assert inner["properties"] == {"adults": {}, "children": {}, "singles": {}}
    assert tool["inputSchema"]["properties"]["population"]["properties"] == {}  # untouched
    prompt = fmt.render_prompt([{"role": "user", "content": "Waste for LA?"}], [tool])
    text = _generate(og, model, prompt, spec, seed=2, max_new=40)  # compiles, and holds
    # the random model's value for `adults` (any JSON) may not end; the object's shape holds
    assert text.startswith('<tool_call>\n{"name": "waste", "arguments": {"population": '
                           '{"adults": '), text


def test_onnxruntime_genai_rejects_a_broken_grammar(ort_model: Any) -> None:
    og, model = ort_model
    params = og.GeneratorParams(model)
    with pytest.raises(Exception, match=r"(?i)grammar"):
        params.set_guidance("lark_grammar", "start: ( broken")
        og.Generator(model, params)


def test_a_nested_object_that_names_no_property_stays_a_free_form_map(ort_model: Any) -> None:
    """BFCL's `gradeDict` ("keys represent subjects", `properties: {}`): closing it (strict
    guidance) left `{}` as the only value it could take. A nested object naming no property
    and requiring none stays open; one with properties, and the arguments object of a tool
    without parameters, are closed."""
    og, model = ort_model
    grades = {"type": "object", "description": "subject -> score", "properties": {}}
    tool = {"name": "average", "description": "d", "inputSchema": {
        "type": "object", "required": ["grades"], "properties": {
            "grades": grades, "meta": {"type": "object"},
            "range": {"type": "object", "properties": {"min": {"type": "number"}}},
            "tags": {"type": "object", "patternProperties": {"^x-": {"type": "string"}}}}}}
    bare = {"name": "ping", "description": "p", "inputSchema": {"type": "object",
                                                                  "properties": {}}}
    fmt = get_format("hermes")
    spec = fmt.guidance([tool, bare], require_call=True, max_calls=1)
    branches = spec.payload_schema.get("items", spec.payload_schema)["oneOf"]
    args = branches[0]["properties"]["arguments"]
    assert args["additionalProperties"] is False
    assert "additionalProperties" not in args["properties"]["grades"]
    assert "additionalProperties" not in args["properties"]["meta"]
    assert args["properties"]["range"]["additionalProperties"] is False
    assert args["properties"]["tags"]["additionalProperties"] is False  # keys by pattern only
    assert branches[1]["properties"]["arguments"]["additionalProperties"] is False
    prompt = fmt.render_prompt([{"role": "user", "content": "Average of math 90?"}], [tool])
    # onnxruntime-genai's llguidance compiles the open map and holds the call's shape
    text = _generate(og, model, prompt, fmt.guidance([tool], require_call=True, max_calls=1),
                     seed=3, max_new=40)
    assert text.startswith('<tool_call>\n{"name": "average", "arguments": {'), text
