"""Parsing model output: robust to the usual damage, never raising; the streaming parser gives
the same result as the batch parser whatever the chunking (seeded random chunk boundaries, inside
markers and inside multi-byte characters)."""

from __future__ import annotations

import json
import random
from typing import Any

import cfsamples as S
import pytest

from phi4studio.core.chatformats import (
    ChatFormat,
    ParsedOutput,
    StreamEvent,
    TextDelta,
    get_format,
    shipped_template,
)

FAMILIES = ["phi4-mini", "phi4", "hermes", "chatml-notools"]
CALL = {"name": "get_weather", "arguments": {"city": "Paris"}}


def fmt_of(name: str) -> ChatFormat:
    if name == "generic":
        return get_format("generic", template=shipped_template("hermes"))
    return get_format(name)


# (family, output, expected calls, expected content, expected error fragments)
CASES: list[tuple[str, str, list[dict[str, Any]], str, list[str]]] = [
    ("phi4-mini", '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]'
     "<|/tool_call|><|end|>", [CALL], "", []),
    ("phi4-mini", '  <|tool_call|>  [ {"name":"get_weather","arguments":{"city":"Paris"}} ]  '
     "<|/tool_call|>  ", [CALL], "", []),
    ("phi4-mini", '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]',
     [CALL], "", ["missing closing marker <|/tool_call|>"]),
    ("phi4-mini", '<|tool_call|>{"name": "get_weather", "arguments": {"city": "Paris"}}'
     "<|/tool_call|>", [CALL], "", ["single call object"]),
    ("phi4-mini", '<|tool_call|>[{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}]'
     "<|/tool_call|>", [CALL], "", ["given as a JSON string"]),
    ("phi4-mini", '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}] oops'
     "<|/tool_call|>", [CALL], "", ["trailing text"]),
    ("phi4-mini", 'Sure. functools[{"name": "get_weather", "arguments": {"city": "Paris"}}]<|end|>',
     [CALL], "Sure.", []),
    ("phi4-mini", "I like functools.partial", [], "I like functools.partial", []),
    ("phi4-mini", "It is sunny.<|end|>garbage after the end", [], "It is sunny.",
     ["after the end-of-turn"]),
    ("phi4", '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
     "<|im_end|>", [CALL], "", []),
    ("phi4", '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>\n'
     '<tool_call>{"name": "list_files", "arguments": {}}</tool_call><|im_end|>',
     [CALL, {"name": "list_files", "arguments": {}}], "", []),
    # the studio convention before one block per call: read, with a note
    ("phi4", '<tool_call>[{"name": "get_weather", "arguments": {"city": "Paris"}}]</tool_call>',
     [CALL], "", ["array of calls where one call object"]),
    ("phi4", 'Let me look.\n<tool_call>{"name": "get_weather", "parameters": {"city": "Paris"}}'
     "</tool_call>", [CALL], "Let me look.", []),
    ("phi4", '<tool_call>{"name": "get_weather", "arguments": {"city": "Par', [
        {"name": "get_weather", "arguments": {"city": "Par"}}], "",
     ["missing closing marker", "truncated"]),
    ("phi4", "<tool_call>{'name': 'get_weather', 'arguments': {'city': 'Paris'}}</tool_call>",
     [CALL], "", ["Python literal"]),
    ("phi4", "<tool_call>not json at all</tool_call> and text", [], "and text",
     ["not valid JSON"]),
    ("phi4", "<tool_call></tool_call>", [], "", ["empty tool-call block"]),
    ("phi4", '<tool_call>[{"arguments": {}}, 3, {"name": "list_files"}]</tool_call>',
     [{"name": "list_files", "arguments": {}}], "", ["without a name", "must be a JSON object",
                                                     "has no arguments"]),
    ("phi4", '[{"name": "get_weather", "arguments": {"city": "Paris"}}]', [CALL], "",
     ["without markers"]),
    ("phi4", '{"answer": 42}', [], '{"answer": 42}', []),
    ("phi4", '<tool_call>{"name": "f", "arguments": {"s": "a </tool_call> in a string"}}'
     "</tool_call>", [{"name": "f", "arguments": {"s": "a </tool_call> in a string"}}], "", []),
    ("hermes", '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
     '\n<tool_call>\n{"name": "list_files", "arguments": {}}\n</tool_call>',
     [CALL, {"name": "list_files", "arguments": {}}], "", []),
    ("hermes", '<tool_call>[{"name": "get_weather", "arguments": {"city": "Paris"}}]</tool_call>',
     [CALL], "", ["array of calls where one call object"]),
    ("hermes", '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}<tool_call>'
     '{"name": "list_files", "arguments": {}}</tool_call>',
     [CALL, {"name": "list_files", "arguments": {}}], "", ["missing closing marker"]),
    ("hermes", '<tool_call>{"type": "function", "function": {"name": "get_weather", '
     '"arguments": "{\\"city\\": \\"Paris\\"}"}}</tool_call>', [CALL], "",
     ["given as a JSON string"]),
    ("generic", '{"name": "get_weather", "arguments": {"city": "Paris"}}', [CALL], "", []),
    ("generic", "plain answer", [], "plain answer", []),
]


@pytest.mark.parametrize(("family", "text", "calls", "content", "errors"), CASES)
def test_robust_parsing(family: str, text: str, calls: list[dict[str, Any]], content: str,
                        errors: list[str]) -> None:
    out = fmt_of(family).parse(text)
    assert out.tool_calls == calls
    assert out.content == content
    for fragment in errors:
        assert any(fragment in e for e in out.errors), (fragment, out.errors)
    if not errors:
        assert out.errors == []
    assert out.ok is (not out.errors)


def _chunks(data: str | bytes, rng: random.Random) -> list[Any]:
    out = []
    i = 0
    while i < len(data):
        k = rng.choice((1, 1, 2, 3, 5, 8, 13))
        out.append(data[i:i + k])
        i += k
    return out


def stream(fmt: ChatFormat, chunks: list[Any]) -> tuple[ParsedOutput, list[StreamEvent]]:
    parser = fmt.stream_parser()
    events: list[StreamEvent] = []
    for c in chunks:
        events += parser.feed(c)
    events += parser.finish()
    return parser.result, events


def check_events(out: ParsedOutput, events: list[StreamEvent]) -> None:
    done = [e for e in events if e.type == "tool_call_done"]
    assert [e.call for e in done] == out.tool_calls
    assert [e.index for e in done] == list(range(len(out.tool_calls)))
    started = {e.index: i for i, e in enumerate(events) if e.type == "tool_call_started"}
    for i, e in enumerate(events):
        if e.type == "tool_call_done":
            assert started[e.index] < i  # every call starts before it is done
    text = "".join(e.text for e in events if e.type == "text")
    if out.content:
        assert text.strip() == out.content or out.content in text


def _outputs() -> list[tuple[str, str]]:
    """Realistic outputs (every assistant turn of every sample, every family) and damaged ones."""
    out: list[tuple[str, str]] = []
    for family in [*FAMILIES, "generic"]:
        fmt = fmt_of(family)
        for ex in S.ALL:
            out += [(family, t) for t in fmt.render(ex).turns()]
    out += [(f, t) for f, t, *_ in CASES]
    return out


OUTPUTS = _outputs()


@pytest.mark.parametrize("seed", range(12))
def test_streaming_equals_batch_under_random_chunking(seed: int) -> None:
    rng = random.Random(seed)
    for family, text in OUTPUTS:
        fmt = fmt_of(family)
        expected = fmt.parse(text)
        as_bytes = seed % 2 == 1  # odd seeds: UTF-8 bytes split anywhere, even inside characters
        data: str | bytes = text.encode() if as_bytes else text
        got, events = stream(fmt, _chunks(data, rng))
        assert got == expected, (family, text)
        check_events(got, events)


def test_arguments_deltas_rebuild_the_arguments() -> None:
    for family in ("phi4-mini", "phi4", "hermes"):
        fmt = fmt_of(family)
        for ex in (S.PARALLEL, S.MULTI_TURN, S.UNICODE):
            for turn in fmt.render(ex).turns():
                out, events = stream(fmt, _chunks(turn, random.Random(7)))
                by_index: dict[int, str] = {}
                for e in events:
                    if e.type == "arguments_delta":
                        by_index[e.index] = by_index.get(e.index, "") + e.delta
                assert [json.loads(by_index[i]) for i in sorted(by_index)] == \
                    [c["arguments"] for c in out.tool_calls]
                names = [e.name for e in events if e.type == "tool_call_started"]
                assert names == [c["name"] for c in out.tool_calls]


def test_fuzz_never_raises_and_stream_matches() -> None:
    pieces = ["<tool_call>", "</tool_call>", "<|tool_call|>", "<|/tool_call|>", "<|im_end|>",
              "<|end|>", "functools[", "<", "|", "/", "{", "}", "[", "]", '"', "\\", ":", ",",
              " ", "\n",
              '"name"', '"arguments"', '"f"', "1", "é", "🙂", "x", "true", "null"]
    rng = random.Random(1234)
    for _ in range(400):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        for family in ("phi4-mini", "phi4", "hermes", "generic"):
            fmt = fmt_of(family)
            expected = fmt.parse(text)
            got, events = stream(fmt, _chunks(text, rng))
            assert got == expected, (family, text)
            assert [e.call for e in events if e.type == "tool_call_done"] == got.tool_calls


def test_stream_parser_lifecycle() -> None:
    parser = get_format("phi4").stream_parser()
    assert parser.feed("Hi ") == [TextDelta("Hi ")]
    parser.finish()
    assert parser.finish() == []
    with pytest.raises(RuntimeError):
        parser.feed("more")
    assert parser.result.content == "Hi"


def test_text_is_not_held_back_longer_than_a_possible_marker() -> None:
    parser = get_format("phi4").stream_parser()
    events = parser.feed("Hello wor")
    assert "".join(e.text for e in events if e.type == "text") == "Hello wor"
    events = parser.feed("ld <tool")  # "<tool" may open a call: held back
    assert "".join(e.text for e in events if e.type == "text") == "ld "
    events = parser.feed("box> ok")  # it did not
    assert "".join(e.text for e in events if e.type == "text") == "<toolbox> ok"


def test_parse_payload_reads_json_schema_guided_output() -> None:
    out = get_format("phi4-mini").parse_payload('[{"name": "get_weather", "arguments": '
                                                '{"city": "Paris"}}]')
    assert out.tool_calls == [CALL] and out.errors == [] and out.content == ""
