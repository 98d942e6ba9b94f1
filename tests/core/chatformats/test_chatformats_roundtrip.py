"""Render -> parse returns the same calls for every family; trained spans are exactly the
assistant turns (checked against an oracle written independently of the renderer)."""

from __future__ import annotations

import json
from typing import Any

import cfsamples as S
import pytest

from phi4studio.core.chatformats import (
    ChatFormat,
    Rendered,
    detect_format,
    get_format,
    shipped_template,
)

# A Llama-3.1-like template: tools= in the system turn, calls as bare JSON with "parameters".
BARE_JSON_TEMPLATE = (
    "{{- bos_token }}"
    "{%- if tools %}<|start_header_id|>system<|end_header_id|>\n\n"
    "{%- if messages[0].role == 'system' %}{{ messages[0].content }}\n{%- endif %}"
    "Functions:\n{% for t in tools %}{{ t | tojson }}\n{% endfor %}<|eot_id|>{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role == 'system' and tools %}{%- continue %}{%- endif %}"
    "{%- if message.role == 'tool' %}<|start_header_id|>ipython<|end_header_id|>\n\n"
    "{{ message.content }}<|eot_id|>"
    "{%- elif message.tool_calls %}<|start_header_id|>assistant<|end_header_id|>\n\n"
    "{%- for c in message.tool_calls %}"
    '{{ \'{"name": "\' + c.function.name + \'", "parameters": \' + c.function.arguments | tojson'
    " + '}' }}{%- endfor %}<|eot_id|>"
    "{%- else %}<|start_header_id|>{{ message.role }}<|end_header_id|>\n\n"
    "{{ message.content }}<|eot_id|>{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n"
    "{%- endif %}"
)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def _calls(m: dict[str, Any]) -> list[dict[str, Any]]:
    return S.expected_calls(m)


def oracle_phi4_mini(m: dict[str, Any]) -> str:
    calls = _calls(m)
    block = f"<|tool_call|>{_dumps(calls)}<|/tool_call|>" if calls else ""
    return m["content"] + block + "<|end|>"


def oracle_studio(m: dict[str, Any]) -> str:
    calls = _calls(m)
    if not calls:
        return m["content"] + "<|im_end|>"
    sep = "\n" if m["content"] else ""
    blocks = "\n".join(f"<tool_call>{_dumps(c)}</tool_call>" for c in calls)  # one per call
    return m["content"] + sep + blocks + "<|im_end|>"


def oracle_hermes(m: dict[str, Any]) -> str:
    body = m["content"]
    for c in _calls(m):
        body += "\n<tool_call>\n" + _dumps(c) + "\n</tool_call>"
    if not m["content"] and _calls(m):
        body = body[1:]  # the template's first "\n" belongs to the generation prompt
    return body + "<|im_end|>"


ORACLES = {
    "phi4-mini": oracle_phi4_mini,
    "phi4": oracle_studio,
    "chatml-notools": oracle_studio,
    "studio": oracle_studio,
    "hermes": oracle_hermes,
    "generic": oracle_hermes,  # bound to the Qwen2.5 template below
}


def formats() -> dict[str, ChatFormat]:
    return {
        "phi4-mini": get_format("phi4-mini"),
        "phi4": get_format("phi4"),
        "hermes": get_format("hermes"),
        "chatml-notools": get_format("chatml-notools"),
        "studio": get_format("studio"),
        "generic": get_format("generic", template=shipped_template("hermes")),
    }


def check_spans_cover(r: Rendered) -> None:
    assert r.spans[0].start == 0
    assert r.spans[-1].end == len(r.text)
    for a, b in zip(r.spans, r.spans[1:], strict=False):
        assert a.end == b.start
        assert a.end > a.start
    assert all(s.role == "assistant" for s in r.spans if s.trained)
    assert not r.warnings


@pytest.mark.parametrize("family", list(ORACLES))
@pytest.mark.parametrize("example", S.ALL, ids=lambda e: e["id"])
def test_round_trip_and_trained_spans(family: str, example: dict[str, Any]) -> None:
    fmt = formats()[family]
    r = fmt.render(example)
    check_spans_cover(r)
    assistants = S.assistant_messages(example)
    turns = r.turns()
    assert len(turns) == len(assistants)
    oracle = ORACLES[family]
    assert r.trained_text() == "".join(oracle(m) for m in assistants)
    for turn, m in zip(turns, assistants, strict=True):
        out = fmt.parse(turn)
        assert out.errors == []
        assert out.tool_calls == _calls(m)
        assert out.content == m["content"]
    # Everything the user, system and tools said is in masked text only.
    masked = "".join(r.text[s.start:s.end] for s in r.spans if not s.trained)
    for m in example["messages"]:
        if m["role"] != "assistant" and m["content"]:
            assert m["content"] in masked or json.dumps(m["content"])[1:-1] in masked
            assert m["content"] not in r.trained_text()


@pytest.mark.parametrize("family", list(ORACLES))
def test_prompt_ends_with_generation_header_and_continues_the_rendering(family: str) -> None:
    fmt = formats()[family]
    ex = S.PARALLEL
    cut = 4  # up to the tool results, before the final answer
    prompt = fmt.render_prompt(ex["messages"][:cut], ex["tools"])
    full = fmt.render(ex).text
    answer = S.assistant_messages(ex)[-1]
    assert full.startswith(prompt)
    assert full[len(prompt):].startswith(answer["content"])
    r = fmt.render_messages(ex["messages"][:cut], ex["tools"], add_generation_prompt=True)
    assert r.text == prompt and r.spans[-1].role == "assistant" and not r.spans[-1].trained


def test_generic_bare_json_template_round_trips_single_calls() -> None:
    fmt = detect_format(BARE_JSON_TEMPLATE)
    assert fmt.name == "generic"
    assert fmt.syntax.open == "<tool_call>"  # nothing known in the template: default markers
    fmt = fmt.with_end_of_turn("<|eot_id|>")  # type: ignore[attr-defined]
    for ex in (S.SINGLE, S.NO_CALL):
        r = fmt.render(ex)
        check_spans_cover(r)
        for turn, m in zip(r.turns(), S.assistant_messages(ex), strict=True):
            out = fmt.parse(turn)
            assert out.errors == []
            assert out.tool_calls == _calls(m)
            assert out.content == ("" if _calls(m) else m["content"])


def test_generic_markers_are_configurable() -> None:
    fmt = get_format("generic", template=shipped_template("hermes"))
    custom = fmt.with_markers("<functioncall>", "</functioncall>", shape="array")  # type: ignore[attr-defined]
    out = custom.parse('ok <functioncall>[{"name": "f", "arguments": {"x": 1}}]</functioncall>')
    assert out.tool_calls == [{"name": "f", "arguments": {"x": 1}}]
    assert out.content == "ok" and out.errors == []


def test_pydantic_like_objects_are_accepted() -> None:
    class Model:
        def __init__(self, data: dict[str, Any]) -> None:
            self._data = data

        def model_dump(self, by_alias: bool = False) -> dict[str, Any]:
            return self._data

    fmt = get_format("phi4-mini")
    assert fmt.render(Model(S.SINGLE)).text == fmt.render(S.SINGLE).text


def test_tool_results_follow_each_family_convention() -> None:
    ex = S.PARALLEL
    phi4 = get_format("phi4").render(ex).text
    assert ('<|im_start|>user<|im_sep|><tool_response name="get_weather">\n{"temp_f": 28}\n'
            '</tool_response>\n<tool_response name="get_weather">\n{"temp_f": 71}\n'
            "</tool_response><|im_end|>") in phi4
    mini = get_format("phi4-mini").render(ex).text
    assert '<|tool|>{"temp_f": 28}<|end|><|tool|>{"temp_f": 71}<|end|>' in mini
    hermes = get_format("hermes").render(ex).text
    assert ("<|im_start|>user\n<tool_response>\n{\"temp_f\": 28}\n</tool_response>\n"
            "<tool_response>\n{\"temp_f\": 71}\n</tool_response><|im_end|>") in hermes


def test_dataset_models_render_like_their_dicts() -> None:
    from phi4studio.core.datasets.schema import Example

    for ex in S.ALL:
        data = {k: v for k, v in ex.items() if k != "split"} | {"split": None}
        model = Example.from_dict(data)
        for name in ("phi4-mini", "phi4", "hermes"):
            fmt = get_format(name)
            assert fmt.render(model).text == fmt.render(model.to_dict()).text == \
                fmt.render(ex).text


def test_standalone_formats_render_without_a_template() -> None:
    from phi4studio.core.chatformats import available_formats

    names = available_formats(standalone=True)
    assert "generic" not in names and "generic" in available_formats()
    for name in names:
        assert not get_format(name).needs_template
        assert get_format(name).render(S.SINGLE).turns()
    assert get_format("generic").needs_template
    assert not get_format("generic", template=shipped_template("hermes")).needs_template
