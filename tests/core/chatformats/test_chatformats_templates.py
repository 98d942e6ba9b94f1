"""The shipped templates are the real ones and render as transformers renders them; the
Phi-4-mini template puts tools where the model expects them; detection finds the family."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cfsamples as S
import pytest

from phi4studio.core.chatformats import (
    FormatDetectionError,
    TemplateError,
    TemplateSource,
    available_formats,
    detect_format,
    family_of_template,
    get_format,
    render_template,
    shipped_template,
    template_source,
)
from phi4studio.core.chatformats import canonical as cn
from phi4studio.core.chatformats.formats import compact_tool
from phi4studio.core.paths import resource

SHIPPED = ["phi4-mini", "phi4", "hermes", "chatml-notools"]


def test_shipped_templates_name_their_source_and_strip_to_the_upstream_text() -> None:
    for name in SHIPPED:
        raw = resource("chat_templates", f"{name}.jinja").read_text(encoding="utf-8")
        assert raw.startswith("{#-") and "tokenizer_config.json" in raw.split("#}")[0]
        text = shipped_template(name)
        assert not text.startswith("{#") and text.lstrip().startswith("{")
    assert shipped_template("phi4-mini").startswith("{% for message in messages %}")
    assert shipped_template("phi4").endswith("{{ '<|im_start|>assistant<|im_sep|>' }}{% endif %}")


def _conversations(fmt_name: str) -> list[tuple[list[dict[str, Any]], Any]]:
    fmt = get_format(fmt_name)
    out = []
    for ex in S.ALL:
        from phi4studio.core.chatformats.canonical import read_example

        messages, tools = read_example(ex)
        turns, tools_arg = fmt.turns(messages, tools)
        out.append(([t.message for t in turns], tools_arg))
    return out


@pytest.mark.parametrize("name", SHIPPED)
def test_renderer_matches_transformers(name: str) -> None:
    from transformers.utils.chat_template_utils import render_jinja_template

    fmt = get_format(name)
    source = fmt.template()
    for messages, tools in _conversations(name):
        for gen in (False, True):
            ours = render_template(source, messages, tools=tools, add_generation_prompt=gen)
            theirs, _ = render_jinja_template(
                conversations=[messages], tools=tools, chat_template=source.text,
                add_generation_prompt=gen, **source.special_tokens,
            )
            assert ours == theirs[0]


def test_phi4_mini_renders_tools_where_the_model_expects_them() -> None:
    text = get_format("phi4-mini").render(S.SINGLE).text
    tools = json.dumps([{"name": t["name"], "description": t["description"],
                         "parameters": t["inputSchema"]} for t in S.TOOLS])
    assert text.startswith(f"<|system|>You are a helpful assistant.<|tool|>{tools}<|/tool|><|end|>")
    assert ("<|user|>What's the weather in Paris?<|end|><|assistant|><|tool_call|>"
            '[{"name": "get_weather", "arguments": {"city": "Paris"}}]<|/tool_call|><|end|>'
            "<|endoftext|>") in text
    assert text.endswith("<|end|><|endoftext|>")
    # No system message: one is added to carry the tools (the model card's wording).
    no_system = {**S.SINGLE, "messages": S.SINGLE["messages"][1:]}
    assert get_format("phi4-mini").render(no_system).text.startswith(
        "<|system|>You are a helpful assistant with some tools.<|tool|>[{")
    # No tools: the system turn is plain.
    plain = get_format("phi4-mini").render(S.NO_TOOLS).text
    assert plain == "<|user|>Hi<|end|><|assistant|>Hello! How can I help?<|end|><|endoftext|>"
    prompt = get_format("phi4-mini").render_prompt(S.SINGLE["messages"][:2], S.TOOLS)
    assert prompt.endswith("<|user|>What's the weather in Paris?<|end|><|assistant|>")


def test_phi4_renders_the_studio_convention_inside_its_own_template() -> None:
    text = get_format("phi4").render(S.SINGLE).text
    assert text.startswith("<|im_start|>system<|im_sep|>You are a helpful assistant.\n\n# Tools\n")
    # The definitions are compact JSON without the schema's top-level `type` and
    # `additionalProperties` (fewer tokens in every example); calls keep json.dumps' defaults.
    assert '\n<tools>\n{"name":"get_weather","description":"Current weather for a city.",' \
           '"parameters":{"properties":{"city":{' in text
    assert "\n</tools><|im_end|><|im_start|>user<|im_sep|>What's the weather in Paris?" \
           "<|im_end|><|im_start|>assistant<|im_sep|><tool_call>{\"name\": \"get_weather\", " \
           '"arguments": {"city": "Paris"}}</tool_call><|im_end|>' in text


def test_hermes_uses_the_templates_own_tool_block() -> None:
    text = get_format("hermes").render(S.SINGLE).text
    assert text.startswith("<|im_start|>system\nYou are a helpful assistant.\n\n# Tools\n\n")
    assert '<tools>\n{"type": "function", "function": {"name": "get_weather", ' in text
    assert ('<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": '
            '{"city": "Paris"}}\n</tool_call><|im_end|>\n') in text


@pytest.mark.parametrize("name", SHIPPED)
def test_family_of_each_shipped_template(name: str) -> None:
    assert family_of_template(shipped_template(name)) == name
    assert detect_format(shipped_template(name)).name == name


def test_detection_from_folders_files_and_tokenizer_like_objects(tmp_path: Path) -> None:
    # tokenizer_config.json with a chat_template string and AddedToken-style special tokens
    a = tmp_path / "a"
    a.mkdir()
    (a / "tokenizer_config.json").write_text(json.dumps({
        "chat_template": shipped_template("phi4-mini"),
        "eos_token": {"content": "<|endoftext|>", "special": True}}))
    fmt = detect_format(a)
    assert fmt.name == "phi4-mini" and fmt.template().special_tokens["eos_token"] == "<|endoftext|>"
    # chat_template.jinja wins over tokenizer_config.json; named template lists are understood
    b = tmp_path / "b"
    b.mkdir()
    (b / "chat_template.jinja").write_text(shipped_template("hermes"))
    (b / "tokenizer_config.json").write_text(json.dumps({"chat_template": [
        {"name": "default", "template": shipped_template("phi4")}]}))
    assert detect_format(b).name == "hermes"
    (b / "chat_template.jinja").unlink()
    assert detect_format(b).name == "phi4"
    # a .jinja file, and template text
    f = tmp_path / "t.jinja"
    f.write_text(shipped_template("chatml-notools"))
    assert detect_format(f).name == "chatml-notools"
    assert detect_format(str(f)).name == "chatml-notools"

    class Tok:
        chat_template = {"default": shipped_template("phi4"),
                         "tool_use": shipped_template("hermes")}
        eos_token = "<|im_end|>"
        bos_token = None

    src = template_source(Tok())
    assert src is not None and src.special_tokens == {"eos_token": "<|im_end|>"}
    assert detect_format(Tok()).name == "hermes"  # the tool_use template is preferred


def test_detection_without_a_template(tmp_path: Path) -> None:
    folder = tmp_path / "Phi-4-mini-instruct-onnx"
    folder.mkdir()
    assert detect_format(folder).name == "phi4-mini"
    other = tmp_path / "mystery"
    other.mkdir()
    with pytest.raises(FormatDetectionError):
        detect_format(other)
    with pytest.raises(TemplateError):
        detect_format(tmp_path / "missing")


def test_unknown_plain_template_gets_the_studio_convention_with_its_end_of_turn() -> None:
    llama2ish = ("{% for m in messages %}{% if m['role'] == 'user' %}[INST] {{ m['content'] }} "
                 "[/INST]{% else %}{{ m['content'] }}</s>{% endif %}{% endfor %}")
    fmt = detect_format(llama2ish)
    assert fmt.name == "studio" and fmt.end_of_turn == ("</s>",)
    ex = {"messages": [{"role": "user", "content": "Weather?"}, {"role": "assistant",
          "content": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Rome"}}]}],
          "tools": [S.WEATHER]}
    r = fmt.render(ex)
    assert r.turns() == ['<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}'
                         "</tool_call></s>"]
    assert fmt.parse(r.turns()[0]).tool_calls == [{"name": "get_weather",
                                                   "arguments": {"city": "Rome"}}]


def test_template_errors_are_reported() -> None:
    with pytest.raises(TemplateError):
        render_template(TemplateSource("{% for x in %}"), [])
    bad = TemplateSource("{{ raise_exception('roles must alternate') }}")
    with pytest.raises(TemplateError, match="roles must alternate"):
        render_template(bad, [])
    with pytest.raises(TemplateError):
        get_format("generic").render(S.SINGLE)  # generic needs a template
    with pytest.raises(KeyError):
        get_format("nope")
    assert set(available_formats()) >= {"phi4-mini", "phi4", "hermes", "chatml-notools",
                                        "generic"}
    assert get_format("Phi-4-mini").name == "phi4-mini" and get_format("qwen2.5").name == "hermes"


def test_generation_tag_and_sandbox() -> None:
    src = TemplateSource("{% for m in messages %}{% generation %}{{ m.content }}"
                         "{% endgeneration %}{% endfor %}")
    assert render_template(src, [{"role": "user", "content": "a"}]) == "a"
    with pytest.raises(TemplateError):
        render_template(TemplateSource("{{ messages.__class__.__mro__ }}"), [])


def test_gguf_metadata_reader(tmp_path: Path) -> None:
    import gguf

    from phi4studio.core.chatformats.gguf_meta import GGUFError, read_metadata

    path = tmp_path / "m.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_chat_template(shipped_template("phi4"))
    w.add_token_list(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "ä"])
    w.add_token_scores([0.0, 1.5, -2.0, 3.25])
    w.add_array("test.nested", [[1, 2], [3]])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.close()
    fmt = detect_format(path)
    assert fmt.name == "phi4"
    assert fmt.template().special_tokens == {"bos_token": "<|im_start|>", "eos_token": "<|im_end|>"}
    meta = read_metadata(path, frozenset({"test.nested", "tokenizer.ggml.scores"}))
    assert meta == {"test.nested": [[1, 2], [3]], "tokenizer.ggml.scores": [0.0, 1.5, -2.0, 3.25]}
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x03\x00\x00\x00\x00")
    with pytest.raises(GGUFError):
        read_metadata(bad, frozenset())
    with pytest.raises(TemplateError):
        detect_format(bad)


def test_studio_tool_definitions_leave_out_only_what_every_tool_says_alike() -> None:
    strict, tags = cn.read_tools([
        {"name": "f", "description": "F.", "parameters": {
            "type": "object", "properties": {"a": {"type": "object", "properties": {}}},
            "required": ["a"], "additionalProperties": False}},
        {"name": "tag", "description": "Tags.", "parameters": {
            "type": "object", "additionalProperties": {"type": "string"}}},
    ])
    # The boolean and the top-level type go; a nested object's type stays.
    assert compact_tool(strict)["parameters"] == {
        "properties": {"a": {"type": "object", "properties": {}}}, "required": ["a"]}
    # A map's value schema is what the extra keys hold: kept.
    assert compact_tool(tags)["parameters"] == {"additionalProperties": {"type": "string"}}
    # The tool itself is untouched (guided decoding reads the full schema).
    assert strict.input_schema["additionalProperties"] is False
    text = get_format("chatml-notools").system_text("", [strict, tags])
    assert ('{"name":"tag","description":"Tags.","parameters":'
            '{"additionalProperties":{"type":"string"}}}\n</tools>') in text
