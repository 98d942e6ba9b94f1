"""Tool-call decoding control (workers/inference/callcontrol.py): the call-or-text decision's
probability, forced and barred tokens, and the repeated-call watch over streamed text."""

from __future__ import annotations

import json

import numpy as np
import pytest

from phi4studio.core.chatformats import get_format
from phi4studio.workers.inference.callcontrol import (
    BARRED,
    NameWatch,
    RepeatWatch,
    Vocabulary,
    barred,
    biased,
    choice_probability,
    escaped,
    forced,
    loop_next,
    name_bias,
    token_probability,
)


def test_probability_is_the_softmax_mass_of_one_token() -> None:
    logits = np.log(np.array([[[0.4, 0.3, 0.2, 0.1]]], dtype=np.float32))
    assert token_probability(logits, 0) == pytest.approx(0.4, abs=1e-6)
    # greedy would take token 0 (0.4) although "not token 0" holds 0.6 of the mass
    assert token_probability(logits, 0) < 0.5
    big = np.array([1000.0, 999.0], dtype=np.float32)  # stable at large logits
    assert token_probability(big, 1) == pytest.approx(1 / (1 + np.e), rel=1e-5)


def test_forced_and_barred_keep_shape_and_dtype() -> None:
    logits = np.array([[[1.0, 5.0, 2.0]]], dtype=np.float32)
    f = forced(logits, 2)
    assert f.shape == logits.shape and f.dtype == logits.dtype
    assert int(f.argmax()) == 2 and f[0, 0, 0] == BARRED
    b = barred(logits, 1)
    assert int(b.argmax()) == 2 and b[0, 0, 0] == 1.0
    assert logits[0, 0, 1] == 5.0  # the input is untouched


def test_choice_probability_is_over_the_named_tokens_only() -> None:
    logits = np.log(np.array([[0.5, 0.3, 0.1, 0.1]], dtype=np.float32))
    assert choice_probability(logits, 2, [3]) == pytest.approx(0.5, abs=1e-6)
    assert choice_probability(logits, 1, [2, 3]) == pytest.approx(0.6, abs=1e-6)
    assert choice_probability(logits, 1, [1]) == pytest.approx(1.0)  # itself: no other choice
    both = forced(logits, [2, 3])
    assert both[0, 2] == both[0, 3] == 0.0 and both[0, 0] == BARRED


def test_escaped_puts_the_tiers_first_in_order_and_bars_the_loop_token() -> None:
    """Tier by tier, whatever the model's own logits: the first tier the grammar allows wins
    (`"` ends a string; inside a number `]`/`}` or `,`), the loop's token never does."""
    logits = np.array([[9.0, 1.0, 2.0, 3.0, 8.0, 7.0]], dtype=np.float32)
    out = escaped(logits, 0, [2], [3, 1], [5])
    order = [int(i) for i in np.argsort(-out[0])]
    assert order == [2, 3, 1, 5, 4, 0] and out[0, 0] == BARRED
    allowed = [1, 3, 4, 5]  # a grammar without the first tier: the second's best comes first
    assert max(allowed, key=lambda i: out[0, i]) == 3
    assert max([4, 5], key=lambda i: out[0, i]) == 5  # a later tier before the model's choice
    plain = escaped(logits, None, [3])  # closing: nothing barred, the model's order after
    assert [int(i) for i in np.argsort(-plain[0])][:3] == [3, 0, 4]
    assert logits[0, 0] == 9.0  # the input is untouched


def test_loop_next_names_the_token_that_continues_a_short_cycle() -> None:
    assert loop_next([5] * 8, 8) == 5  # newline after newline
    assert loop_next([5] * 7, 8) is None  # not long enough yet
    assert loop_next([1, 2, 3] + [7, 9] * 4, 8) == 7  # `/1000/1000`: the cycle's next token
    assert loop_next([1, 2, 3, 4] * 2, 8) is None  # two turns of a 4-cycle are not a loop
    assert loop_next([1, 2, 3, 4] * 3, 8) == 1  # three turns are (a cycle of 4 needs 12)
    # a long cycle (`/2022/02/20/forecast/1234567890/cc/normal/...`: 29 tokens) after three turns
    long = list(range(100, 129))
    assert loop_next([1] + long * 2 + long[:28], 8) is None
    assert loop_next([1] + long * 3, 8) == 100
    assert loop_next(list(range(1, 34)) * 3, 8) is None  # cycles over 32 tokens are left alone
    assert loop_next([4, 4, 4, 6] + [4] * 7, 8) is None  # the run is broken inside the window
    assert loop_next([], 8) is None


def stream(text: str, watch: RepeatWatch) -> int | None:
    """Feed text a few characters at a time, as tokens arrive; the first cut found."""
    for i in range(1, len(text) + 1, 3):
        cut = watch.feed(text[:i])
        if cut is not None:
            return cut
    return watch.feed(text)


def test_repeat_watch_cuts_after_the_last_new_call() -> None:
    a = {"name": "f", "arguments": {"x": 1, "s": "a } \" { b"}}
    b = {"name": "f", "arguments": {"x": 2, "s": "[nested]"}}
    text = "<tool_call>[" + ", ".join(json.dumps(c) for c in (a, b, a, a))
    cut = stream(text, RepeatWatch("<tool_call>"))
    assert cut is not None
    kept = text[:cut] + "]</tool_call>"
    assert kept == "<tool_call>[" + json.dumps(a) + ", " + json.dumps(b) + "]</tool_call>"
    parsed = get_format("generic").parse(kept)  # <tool_call> markers, an array inside
    assert [c["arguments"]["x"] for c in parsed.tool_calls] == [1, 2] and parsed.ok


def test_repeat_watch_over_one_block_per_call() -> None:
    """The studio convention (one block per call): the cut keeps the blocks before the repeat,
    and the format's `calls_close` ends the last one."""
    fmt = get_format("chatml-notools")
    a = {"name": "f", "arguments": {"x": 1, "s": "</tool_call> in a string"}}
    b = {"name": "f", "arguments": {"x": 2}}
    text = "\n".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in (a, b, a))
    cut = stream(text, RepeatWatch(fmt.syntax.open or ""))
    assert cut is not None
    kept = text[:cut] + fmt.calls_close
    assert fmt.calls_close == "</tool_call>"
    assert kept == f"<tool_call>{json.dumps(a)}</tool_call>\n<tool_call>{json.dumps(b)}</tool_call>"
    parsed = fmt.parse(kept)
    assert [c["arguments"]["x"] for c in parsed.tool_calls] == [1, 2] and parsed.ok


def test_repeat_watch_leaves_distinct_calls_and_text_alone() -> None:
    distinct = "<tool_call>[" + ", ".join(
        json.dumps({"name": "f", "arguments": {"x": i}}) for i in range(4)) + "]</tool_call>"
    assert stream(distinct, RepeatWatch("<tool_call>")) is None
    # braces before the marker are text, not calls
    text = 'Use {"a": 1} and {"a": 1} as shown.'
    assert stream(text, RepeatWatch("<tool_call>")) is None


def test_repeat_watch_sees_one_object_per_block() -> None:
    block = '<tool_call>\n{"name": "g", "arguments": {}}\n</tool_call>'
    text = block + "\n" + block
    watch = RepeatWatch("<tool_call>")
    cut = stream(text, watch)
    assert cut == text.index("\n</tool_call>") and watch.calls == 1


def test_a_call_cut_by_the_budget_is_found_after_the_complete_ones() -> None:
    a = '{"name": "f", "arguments": {"x": 1}}'
    blocks = f"<tool_call>{a}</tool_call>\n<tool_call>" + '{"name": "g", "arguments": {"s": "ab'
    watch = RepeatWatch("<tool_call>")
    cut = watch.unfinished(blocks)
    assert cut is not None and blocks[:cut] + "</tool_call>" == f"<tool_call>{a}</tool_call>"
    # the next call's marker alone, with no object yet, is cut too
    assert RepeatWatch("<tool_call>").unfinished(f"<tool_call>{a}</tool_call>\n<tool_") is None
    assert RepeatWatch("<tool_call>").unfinished(
        f"<tool_call>{a}</tool_call>\n<tool_call>") == len(f"<tool_call>{a}")
    array = "<tool_call>[" + a + ', {"name": "g", "arguments": {'
    assert RepeatWatch("<tool_call>").unfinished(array) == len("<tool_call>[" + a)
    # the budget ran out inside the last call's close, or in a next call's opening: mended
    done = f"<tool_call>{a}</tool_call>"
    for cut_at in (len(done) - 5, len(done) - len("</tool_call>")):
        assert RepeatWatch("<tool_call>").mended(done[:cut_at], "</tool_call>", "\n") == done
    assert RepeatWatch("<tool_call>").mended(done + "\n<tool_", "</tool_call>", "\n") == done
    assert RepeatWatch("<tool_call>").mended(done, "</tool_call>", "\n") is None
    assert RepeatWatch("<tool_call>").mended('<tool_call>{"name": "f"', "</tool_call>") is None
    assert RepeatWatch("<tool_call>").mended(done + "\nthen", "</tool_call>", "\n") is None
    # complete output, or a single call cut before it ends: nothing to keep or drop
    assert RepeatWatch("<tool_call>").unfinished(f"<tool_call>{a}</tool_call>") is None
    assert RepeatWatch("<tool_call>").unfinished('<tool_call>{"name": "f", "argu') is None


def test_name_watch_follows_the_tool_name_of_each_call_only() -> None:
    """The watch names the characters of a call's `"name"` value while it is written: in each
    block of the studio's format and in each item of a call array, never a `"name"` argument."""
    watch = NameWatch("<tool_call>")
    text = 'Sure. <tool_call>{"name": "sol'
    assert watch.feed(text) == "sol"
    text += 'arFarm.potential", "arguments": {"name": "Jo'
    assert watch.feed(text) is None  # an argument called name, inside the arguments
    text += 'hn", "site": {"name": "x'
    assert watch.feed(text) is None
    text += '"}}}</tool_call>\n<tool_call>{"name": "'
    assert watch.feed(text) == ""
    text += 'wind'
    assert watch.feed(text) == "wind"
    text += 'Farm.potential", "arguments": {}}</tool_call>'
    assert watch.feed(text) is None
    items = NameWatch("<|tool_call|>")
    assert items.feed('<|tool_call|>[{"name": "a", "arguments": {"k": "v"}}, {"name": "b') == "b"
    assert NameWatch("<tool_call>").feed('{"name": "not a call"') is None  # no marker yet


def test_name_bias_takes_the_difference_where_names_part() -> None:
    """The tokens that go on with each name lose what it weighs less than the best name the
    prefix allows; a token shared by several names takes the best; names weighing alike, or
    a prefix only one name continues, change nothing."""
    pieces = {"wind": [4], "w": [5], "sol": [1], "solar": [3], "math": [6], ".": [7], "_": [8],
              "_q": [9]}
    weights = {"solarFarm.potential": 5.0, "windFarm.potential": 1.0}
    assert name_bias("", weights, pieces, [99]) == {4: -4.0, 5: -4.0}
    parts = {"math.roots.cubic": 1.0, "math_roots.quadratic": 3.0, "math_roots.q2": 0.5}
    assert name_bias("", parts, pieces, [99]) == {}  # "math" begins every name: the best
    assert name_bias("math", parts, pieces, [99]) == {7: -2.0}
    assert name_bias("math_roots.q", parts, {**pieces, "2": [2]}, [99]) == {2: -2.5}
    assert name_bias("math_roots.q", {"math_roots.q": 0.0, "math_roots.q2": 1.0}, {"2": [2]},
                     [99]) == {99: -1.0}  # a complete name: its closing quote
    assert name_bias("", {"a": 1.0, "b": 1.0}, pieces, [99]) == {}
    assert name_bias("sol", weights, pieces, [99]) == {}


def test_biased_adds_to_the_named_tokens_only() -> None:
    logits = np.array([[[1.0, 5.0, 2.0]]], dtype=np.float32)
    out = biased(logits, {1: -4.5})
    assert out.dtype == logits.dtype and out.shape == logits.shape
    assert out[0, 0].tolist() == [1.0, 0.5, 2.0] and logits[0, 0, 1] == 5.0


def test_the_vocabulary_is_decoded_once_and_tiers_the_value_enders() -> None:
    """Token texts are decoded once, on first use; a text several ids decode to keeps them
    all; the enders come in the tiers `escaped` reads (quote, @, ] or }, comma)."""
    texts = ['"', '",', "@", "]", "}", ", ", "abc", "", "abc", " x"]

    class Tokenizer:
        calls = 0

        def decode(self, ids: list[int]) -> str:
            Tokenizer.calls += 1
            return texts[ids[0]]

    vocab = Vocabulary(Tokenizer(), len(texts))
    assert Tokenizer.calls == 0  # nothing decoded until call control needs it
    assert vocab.enders() == ([0, 1], [2], [3, 4], [5])
    assert vocab.pieces()["abc"] == [6, 8] and "" not in vocab.pieces()
    assert vocab.texts()[9] == (9, " x") and Tokenizer.calls == len(texts)
