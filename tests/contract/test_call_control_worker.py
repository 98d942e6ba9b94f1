"""Call control in the inference worker, for real (docs/inference.md, "Call control"): the
call-or-text decision and another call by probability, looping values ended, and the end of the
budget closing a call, on the tiny Phi3 through `phi4studio --worker inference`."""

from __future__ import annotations

import json
from typing import Any

from phi4studio.core.inference import InferenceClient


async def test_call_control_decides_call_or_text_by_probability(
        client: InferenceClient) -> None:
    """The first step decides by P(marker): threshold 0 always writes the whole (multi-token)
    marker, threshold 1 never starts it; a text answer stops at its token budget."""
    marker = "<tool_call>"
    base = {"prompt": "What is the weather in Paris?", "max_new_tokens": 20, "greedy": True}
    always = await client.complete({**base, "calls": {"marker": marker, "threshold": 0.0}})
    assert always["text"].startswith(marker), always["text"]
    assert 0.0 <= always["p_call"] < 1.0
    never = await client.complete({**base, "calls": {"marker": marker, "threshold": 1.0,
                                                     "text_tokens": 4}})
    assert not never["text"].startswith("<") and never["p_call"] == always["p_call"]
    assert never["stop_reason"] == "text_limit" and never["completion_tokens"] == 4
    free = await client.complete({**base, "calls": {"marker": marker}})
    plain = await client.complete(base)
    assert free["text"] == plain["text"] and free["p_call"] == always["p_call"]


async def test_call_control_decides_another_call_by_probability(
        client: InferenceClient) -> None:
    """After each call's close the choice is another call or the end: `p_more` is reported for
    every such step; more_threshold 1 ends after the first call, 0 goes on to the budget, and
    without it greedy decoding takes the likelier of the two (as the reported figures say)."""
    close = "</tool_call>"
    grammar = 'start: call ("\\n" call)*\ncall: "<tool_call>" ("a" | "b" | "c") "</tool_call>"'
    base = {"prompt": "Hello", "max_new_tokens": 40, "greedy": True,
            "guidance": {"type": "lark_grammar", "text": grammar}}
    calls = {"marker": "<tool_call>", "close": close, "between": "\n", "threshold": 0.0,
             "stop_repeats": False}
    one = await client.complete({**base, "calls": {**calls, "more_threshold": 1.0}})
    assert one["text"].count(close) == 1 and one["text"].endswith(close), one["text"]
    assert len(one["p_more"]) == 1 and 0.0 < one["p_more"][0] < 1.0
    # forced tokens fast-forwarded would hide the step after the close: the threshold turns
    # fast-forwarding off for its request, and the answer is the same
    ff = {**base, "guidance": {**base["guidance"], "ff_tokens": True}}
    assert (await client.complete({**ff, "calls": {**calls, "more_threshold": 1.0}})) \
        ["p_more"] == one["p_more"]
    many = await client.complete({**base, "calls": {**calls, "more_threshold": 0.0}})
    assert many["text"].count(close) >= 3 and many["stop_reason"] == "max_tokens"
    assert len(many["p_more"]) == many["text"].count(close)
    assert many["p_more"][0] == one["p_more"][0]
    free = await client.complete({**base, "calls": calls})
    n = free["text"].count(close)
    assert len(free["p_more"]) == n
    assert all(p >= 0.5 for p in free["p_more"][:-1])
    if free["stop_reason"] == "eos":
        assert free["p_more"][-1] < 0.5


async def test_a_value_that_loops_inside_a_call_is_broken(client: InferenceClient) -> None:
    """Inside a call, once the last `loop_tokens` tokens repeat a short cycle, the token that
    would continue it is barred. The random model held to digits and slashes loops when left
    alone (`/6/6/6/6333333...`), never with the guard, and writes the same text up to there."""
    from phi4studio.workers.inference.callcontrol import loop_next

    marker, run = "<tool_call>", 8
    base = {"prompt": "Hello", "max_new_tokens": 80, "greedy": True,
            "guidance": {"type": "regex", "text": marker + "[0-9/]+"}}
    free = await client.complete({**base, "calls": {"marker": marker, "threshold": 0.0,
                                                    "loop_tokens": 0}})
    guarded = await client.complete({**base, "calls": {"marker": marker, "threshold": 0.0,
                                                       "loop_tokens": run}})
    ids_free, ids = free["token_ids"], guarded["token_ids"]
    looping = [k for k in range(len(ids_free)) if ids_free[k] == loop_next(ids_free[:k], run)]
    assert looping, f"the unguarded model was expected to loop: {free['text']!r}"
    first = looping[0]
    assert ids[:first] == ids_free[:first] and ids[first] != ids_free[first]
    assert all(ids[k] != loop_next(ids[:k], run) for k in range(len(ids)))
    assert "loops_broken" not in free and guarded["loops_broken"] >= 1
    assert guarded["text"].startswith(marker) and guarded["completion_tokens"] == 80


async def test_the_end_of_the_budget_closes_a_first_call_the_grammar_leaves_open(
        client: InferenceClient) -> None:
    """Under guidance, once no more than `close_reserve` tokens are left inside the first call,
    (at most the budget's last quarter) each step puts first the tokens that end the value: a
    string ends at its quote, a number at the `]` or `,` after it, and the call closes as the
    grammar requires, where the random model left alone runs out of budget inside a value
    (invalid JSON)."""
    marker, close = "<tool_call>", "</tool_call>"
    words = ('start: "<tool_call>{\\"n\\": " NUM ", \\"s\\": \\"" WORD "\\"}</tool_call>"\n'
             "NUM: /[0-9]+/\nWORD: /[a-z]+/")
    numbers = ('start: "<tool_call>{\\"n\\": [" NUM "], \\"m\\": " NUM "}</tool_call>"\n'
               "NUM: /[0-9]+/")
    calls = {"marker": marker, "threshold": 0.0, "loop_tokens": 0}

    async def run(grammar: str, budget: int, reserve: int) -> dict[str, Any]:
        return await client.complete({
            "prompt": "Hello", "max_new_tokens": budget, "greedy": True,
            "guidance": {"type": "lark_grammar", "text": grammar},
            "calls": {**calls, "close_reserve": reserve}})

    for grammar, budget in ((words, 60), (numbers, 40)):
        cut = await run(grammar, budget, 0)
        assert cut["stop_reason"] == "max_tokens" and close not in cut["text"], \
            f"the random model was expected to write past the budget: {cut['text']!r}"
        assert "closed_at_budget" not in cut
        # the reserve starts where the budget says (at most its last quarter): up to there
        # both answers are the same
        closed = await run(grammar, budget, 32)
        free = budget - budget // 4
        assert closed["token_ids"][:free] == cut["token_ids"][:free]
        assert closed["stop_reason"] == "eos" and closed["closed_at_budget"] >= 1, closed
        assert closed["text"].startswith(marker) and closed["text"].endswith(close)
        value = json.loads(closed["text"][len(marker):-len(close)])
        assert closed["completion_tokens"] < budget and len(value) == 2
    # a later call: with the repeat watch it is dropped when the budget cuts it (the calls
    # before it stand), without it (nothing would drop it) it is closed as the first is
    two = ('start: "<tool_call>{\\"a\\": 1}</tool_call>\\n<tool_call>{\\"s\\": \\"" WORD '
           '"\\"}</tool_call>"\nWORD: /[a-z]+/')
    later = {"prompt": "Hello", "max_new_tokens": 40, "greedy": True,
             "guidance": {"type": "lark_grammar", "text": two}}
    dropped = await client.complete({**later, "calls": {**calls, "close": close}})
    assert dropped["text"] == '<tool_call>{"a": 1}</tool_call>', dropped["text"]
    assert dropped["cut_call_dropped"] == 1 and "closed_at_budget" not in dropped
    kept = await client.complete({**later, "calls": {**calls, "close": close,
                                                     "stop_repeats": False}})
    assert kept["stop_reason"] == "eos" and kept["closed_at_budget"] >= 1
    assert kept["text"].count(close) == 2 and kept["text"].endswith('"}' + close)
    # without a grammar the tokens that end a value would not end the call: left alone
    free = await client.complete({"prompt": "Hello", "max_new_tokens": 20, "greedy": True,
                                  "calls": {**calls, "close_reserve": 20}})
    assert "closed_at_budget" not in free


async def test_a_call_continued_with_its_optional_parameters(client: InferenceClient) -> None:
    """The continuation `stated_optional` asks for (core.inference.stated): the worker compiles
    its grammar (one `%json` rule per parameter) and the tiny Phi3's output reads back as one
    value of each parameter's schema, after the call as written."""
    from phi4studio.core.inference.stated import continuation_grammar, read_continuation

    ask = [("mode", {"type": "string", "enum": ["car", "bike", "train"]}),
           ("stops", {"type": "integer"}), ("tags", {"type": "array", "maxItems": 2,
                                                       "items": {"type": "string",
                                                                 "maxLength": 8}})]
    prompt = ('Route from Rome to Oslo by train.<tool_call>{"name": "route", "arguments": '
              '{"start": "Rome", "end": "Oslo"')
    out = await client.complete({"prompt": prompt, "max_new_tokens": 72, "greedy": True,
                                 "guidance": {"type": "lark_grammar",
                                              "text": continuation_grammar(ask, False)}})
    assert out["text"].startswith(', "mode": "'), out["text"]
    values = read_continuation(out["text"], ask, False)
    assert values["mode"] in ("car", "bike", "train")
    if out["stop_reason"] == "eos":  # the grammar ended: every value was written
        assert isinstance(values["stops"], int) and isinstance(values["tags"], list)
        assert len(values["tags"]) <= 2


async def test_a_prior_over_the_tool_names_decides_where_they_part(
        client: InferenceClient) -> None:
    """`calls.names` (core.inference.relevance): the tiny Phi3's greedy choice between two
    names that share a prefix follows a prior strong enough to outweigh it, the steps it
    changed are counted, and names that weigh alike leave the choice to the model."""
    names = ["weather_now", "weather_week"]
    schema = {"x-guidance": {"whitespace_flexible": False, "key_separator": ": ",
                             "item_separator": ", "},
              "type": "object", "additionalProperties": False, "required": ["name", "arguments"],
              "properties": {"name": {"type": "string", "enum": names},
                             "arguments": {"type": "object", "properties": {},
                                           "additionalProperties": False}}}
    grammar = f'start: "<tool_call>" payload "</tool_call>"\npayload: %json {json.dumps(schema)}'
    base = {"prompt": "What is the weather?", "max_new_tokens": 40, "greedy": True,
            "guidance": {"type": "lark_grammar", "text": grammar}}
    calls = {"marker": "<tool_call>", "close": "</tool_call>"}

    def chosen(out: dict[str, Any]) -> str:
        return str(json.loads(out["text"][len("<tool_call>"):-len("</tool_call>")])["name"])

    plain = await client.complete({**base, "calls": calls})
    own = chosen(plain)
    other = names[1 - names.index(own)]
    turned = await client.complete({**base, "calls": {**calls, "names": {other: 50.0,
                                                                           own: 0.0}}})
    assert chosen(turned) == other and turned["names_weighed"] >= 1, turned["text"]
    kept = await client.complete({**base, "calls": {**calls, "names": {other: 0.0,
                                                                         own: 50.0}}})
    assert chosen(kept) == own and kept["text"] == plain["text"]
    alike = await client.complete({**base, "calls": {**calls, "names": {own: 1.0,
                                                                          other: 1.0}}})
    assert alike["text"] == plain["text"] and "names_weighed" not in alike


async def test_required_numbers_held_to_the_stated_ones_compile_and_hold(
        client: InferenceClient) -> None:
    """The guidance `stated_numbers` builds (core.inference.grounding.numbers_as_stated): the
    worker compiles a number parameter held to an enum of numbers, and the tiny Phi3 writes one
    of them, for an integer and for a fraction."""
    from phi4studio.core.inference.grounding import Said, numbers_as_stated

    tool = {"name": "loan", "inputSchema": {"type": "object", "required": ["amount", "rate"],
                                            "properties": {"amount": {"type": "integer"},
                                                           "rate": {"type": "number"}}}}
    said = Said("A loan of $400,000 at 4.5% for 30 years.")
    schema = numbers_as_stated(tool, said)["inputSchema"]
    payload = {"x-guidance": {"whitespace_flexible": False, "key_separator": ": ",
                              "item_separator": ", "}, **schema, "additionalProperties": False}
    grammar = f'start: "<tool_call>" payload "</tool_call>"\npayload: %json {json.dumps(payload)}'
    out = await client.complete({"prompt": "Loan payment?", "max_new_tokens": 40,
                                 "greedy": True,
                                 "guidance": {"type": "lark_grammar", "text": grammar}})
    args = json.loads(out["text"][len("<tool_call>"):-len("</tool_call>")])
    assert args["amount"] in (400000, 4, 30) and isinstance(args["amount"], int), out["text"]
    assert args["rate"] in (400000, 4.5, 0.045, 30), out["text"]
