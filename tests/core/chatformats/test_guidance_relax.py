"""Guided decoding relaxes only what llguidance (onnxruntime-genai 0.18) cannot compile."""

from __future__ import annotations

from phi4studio.core.chatformats import get_format
from phi4studio.core.chatformats.guidance import guidance_schema


def test_guidance_relaxes_only_what_llguidance_cannot_compile() -> None:
    schema = {"type": "object", "properties": {
        "url": {"type": "string", "format": "uri"},
        "when": {"type": "string", "format": "date-time"},
        "format": {"type": "string"},  # a property named format stays
        "not": {"type": "integer", "multipleOf": 15},  # and one named not
        "tags": {"type": "array", "items": {"type": "string", "format": "regex"},
                 "uniqueItems": True, "maxItems": 3},
        "either": {"oneOf": [{"type": "string"}, {"type": "string", "minLength": 1}]},
    }, "dependentRequired": {"url": ["when"]}, "propertyNames": {"pattern": "^[a-z]"}}
    out = guidance_schema(schema)
    props = out["properties"]
    assert "format" not in props["url"] and props["when"]["format"] == "date-time"
    assert props["format"] == {"type": "string"} and props["not"]["multipleOf"] == 15
    assert props["tags"] == {"type": "array", "items": {"type": "string"}, "maxItems": 3}
    assert props["either"] == {"anyOf": [{"type": "string"}, {"type": "string",
                                                               "minLength": 1}]}
    assert set(out) == {"type", "properties"}
    assert schema["properties"]["url"]["format"] == "uri"  # the tool itself is untouched


def test_every_format_builds_guidance_for_a_schema_llguidance_would_reject() -> None:
    import json

    tool = {"name": "fetch", "description": "d", "inputSchema": {
        "type": "object", "properties": {"url": {"type": "string", "format": "uri"},
                                         "ids": {"type": "array", "uniqueItems": True}},
        "required": ["url"], "dependentRequired": {"url": ["ids"]}}}
    for name in ("phi4-mini", "phi4", "hermes", "chatml-notools"):
        spec = get_format(name).guidance([tool], kind="json_schema")
        text = json.dumps(json.loads(spec.text))
        assert "uniqueItems" not in text and '"uri"' not in text and "dependentRequired" not in text
