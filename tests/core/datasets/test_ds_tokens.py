"""Token length per example with a real tokenizer (SmolLM2's, converted from its GGUF file)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from dsfixtures import chat_example, smollm2_gguf, smollm2_tokenizer_json, weather_example

from phi4studio.core.chatformats import available_formats, get_format
from phi4studio.core.datasets.coverage import compute_coverage
from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.store import DatasetStore
from phi4studio.core.datasets.tokens import load_token_counter, tokenizer_file
from phi4studio.core.datasets.validation import validate_store


@pytest.fixture(scope="session")
def smol_json(model_cache_dir: Path) -> Path:
    return smollm2_tokenizer_json(model_cache_dir)


def test_render_text_is_the_rendered_text_without_spans() -> None:
    for name in available_formats(standalone=True):
        fmt = get_format(name)
        for d in (weather_example(1), chat_example(2, "hi")):
            assert fmt.render_text(d) == fmt.render(d).text


def test_counts_with_the_gguf_tokenizer_and_its_own_template(smol_json: Path,
                                                             tmp_path: Path) -> None:
    from tokenizers import Tokenizer

    assert json.loads((smol_json.parent / "source.json").read_text())["source"].endswith(".gguf")
    # the GGUF source: its converted tokenizer is found in the cache, its template detected
    counter = load_token_counter(smollm2_gguf(), cache_dir=smol_json.parent.parent)
    assert counter.format.name == "chatml-notools" and "own template" in counter.label
    tok = Tokenizer.from_file(str(smol_json))
    d = weather_example(1)
    text = counter.text(d)
    assert text.startswith("<|im_start|>system\n") and "<tool_call>" in text
    assert counter(d) == len(tok.encode(text, add_special_tokens=False).ids)
    assert len(tok.encode("<|im_start|>", add_special_tokens=False).ids) == 1  # special token
    long = chat_example(3, "word " * 300)
    assert counter(long) > counter(chat_example(4, "hi")) + 250
    phi = load_token_counter(smol_json, "phi4-mini")  # another family's text, same tokenizer
    assert "<|tool_call|>" in phi.text(d) and phi(d) != counter(d)

    store = DatasetStore.create(tmp_path / "t.sqlite")
    store.add_many([weather_example(i, city=f"C{i}") for i in range(3)] + [long])
    limit = counter(long) - 1
    summary = validate_store(store, count_tokens=counter, max_tokens=limit)
    assert summary.by_code["too_long"] == 1 and summary.n_warning == 1
    issue = store.issues("chat-3")[0]  # type: ignore[index]
    assert issue["code"] == "too_long" and issue["path"] == "$"
    assert f"the limit is {limit}" in issue["message"]
    cov = compute_coverage(store, count_tokens=counter, max_tokens=limit)
    assert cov.over_length == 1 and not cov.length_is_estimate
    store.close()


def test_tokenizer_sources_and_clear_errors(smol_json: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(smol_json, folder / "tokenizer.json")
    assert tokenizer_file(folder) == folder / "tokenizer.json"
    with pytest.raises(DatasetError, match="No chat template") as exc:  # no template, no name
        load_token_counter(folder)
    assert "Choose the model family" in (exc.value.hint or "")
    assert load_token_counter(folder, "smollm2").format.name == "chatml-notools"
    assert tokenizer_file(smol_json) == smol_json
    with pytest.raises(DatasetError, match="No tokenizer at"):
        tokenizer_file(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="is not a tokenizer"):
        tokenizer_file(tmp_path / "notes.txt")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(DatasetError, match=r"not a readable tokenizer\.json"):
        load_token_counter(tmp_path / "bad.json", "phi4")
    (tmp_path / "empty").mkdir()  # a folder without any tokenizer: the conversion says why
    with pytest.raises(DatasetError, match="Cannot convert the tokenizer"):
        tokenizer_file(tmp_path / "empty", tmp_path / "cache", convert="subprocess")
