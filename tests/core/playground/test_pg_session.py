"""ChatSession with a scripted model: streaming, incremental parsing (calls split across chunks),
validation with JSON paths, the tool-result loop, stop, worker restart and failures."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fixtures.chat import NOTE, TOOLS, WEATHER, ScriptedClient, calls_text, died

from phi4studio.core.chatformats import get_format
from phi4studio.core.inference import GenerationError
from phi4studio.core.mcp.session import ToolOutcome
from phi4studio.core.playground import (
    CallStatus,
    ChatSession,
    GenerationSettings,
    SessionEvent,
)

FMT = get_format("chatml-notools")


def session(outputs: list[Any], chunk: int = 3, **kw: Any) -> tuple[ChatSession, ScriptedClient,
                                                                    list[SessionEvent]]:
    client = ScriptedClient(outputs, chunk=chunk)
    s = ChatSession(client, FMT, tools=list(TOOLS), model_name="scripted", **kw)
    events: list[SessionEvent] = []
    s.add_listener(events.append)
    return s, client, events


@pytest.mark.parametrize("chunk", [1, 2, 5, 7, 64])
async def test_calls_split_across_streamed_chunks_are_read_as_they_stream(chunk: int) -> None:
    out = calls_text(("get_weather", {"city": "Oslo", "days": 2}), ("add_note", {"text": "é ✓"}),
                     before="Let me check.")
    s, _, events = session([out], chunk=chunk)
    s.add_user("Weather in Oslo, and note it")
    turn = await s.generate()
    assert turn.error is None and turn.finished
    assert [(c.name, c.arguments) for c in turn.calls] == [
        ("get_weather", {"city": "Oslo", "days": 2}), ("add_note", {"text": "é ✓"})]
    assert turn.content == "Let me check." and turn.parse_errors == []
    kinds = [e.kind for e in events]
    assert kinds[:2] == ["messages", "turn_started"] and kinds[-2:] == ["turn_finished",
                                                                         "messages"]
    # the live preview: started (with the name), argument deltas, then the final call
    started = [e for e in events if e.kind == "call_started"]
    assert [e.index for e in started] == [0, 1]
    for i in (0, 1):
        args = "".join(e.text for e in events if e.kind == "arguments" and e.index == i)
        assert json.loads(args) == turn.calls[i].arguments
    parsed = [e.data for e in events if e.kind == "call_parsed"]
    assert parsed == [{"name": c.name, "arguments": c.arguments} for c in turn.calls]
    text = "".join(e.text for e in events if e.kind == "text")
    assert text.strip() == "Let me check."
    assert "".join(e.text for e in events if e.kind == "tokens") == turn.raw_text == out
    # the assistant message carries the calls with ids
    msg = s.messages[-1]
    assert msg["role"] == "assistant" and [c["id"] for c in msg["tool_calls"]] == [
        c.id for c in turn.calls]


async def test_each_call_is_validated_against_its_schema_with_json_paths() -> None:
    out = calls_text(("get_weather", {"city": "O", "days": 9, "wind": True}),
                     ("launch_rocket", {}), ("add_note", {}))
    s, _, _ = session([out])
    s.add_user("go")
    turn = await s.generate()
    weather, unknown, note = turn.calls
    assert {(i.path, i.message) for i in weather.issues} >= {
        ("$.days", "9 is greater than the maximum of 7"),
        ("$.wind", "not a property of this tool (additionalProperties: false)"),
    }
    assert any(i.path == "$.city" for i in weather.issues)
    assert not weather.valid and unknown.tool is None and not unknown.valid
    assert unknown.issues[0].message == "'launch_rocket' is not one of the offered tools"
    assert [(i.path, i.message) for i in note.issues] == [("$.text",
                                                           "required property is missing")]
    # a correction re-validates, and the conversation keeps the corrected call
    s.edit_arguments(weather, {"city": "Oslo", "days": 3})
    assert weather.valid and weather.edited
    assert weather.original_arguments == {"city": "O", "days": 9, "wind": True}
    assert s.messages[-1]["tool_calls"][0]["arguments"] == {"city": "Oslo", "days": 3}


async def test_results_join_the_conversation_in_call_order_and_the_model_continues() -> None:
    first = calls_text(("get_weather", {"city": "Oslo"}), ("add_note", {"text": "x"}))
    s, client, events = session([first, "It is sunny in Oslo."])
    s.add_user("Weather?")
    turn = await s.generate()
    a, b = turn.calls
    assert s.awaiting_calls() and not s.can_continue()
    with pytest.raises(Exception, match="pending tool calls"):
        s.add_user("hello?")
    s.settle(b, ToolOutcome("added note 1"))  # the second call settles first
    assert s.messages[-1]["role"] == "assistant"  # results wait for every call of the turn
    s.settle(a, ToolOutcome('{"temp": 3}'))
    assert [m["role"] for m in s.messages] == ["user", "assistant", "tool", "tool"]
    assert [m["tool_call_id"] for m in s.messages[2:]] == [a.id, b.id]
    assert s.messages[2]["name"] == "get_weather" and s.messages[2]["content"] == '{"temp": 3}'
    assert a.status is CallStatus.DONE and s.can_continue()
    turn2 = await s.generate()
    assert turn2.content == "It is sunny in Oslo." and turn2.calls == []
    # the second prompt carries the results the model continues from
    prompt = client.requests[1].prompt or ""
    assert '<tool_response name="get_weather">\n{"temp": 3}\n</tool_response>' in prompt
    assert turn2.prompt == prompt and prompt.endswith("<|im_start|>assistant\n")
    assert sum(1 for e in events if e.kind == "call_updated") == 2


async def test_denied_mocked_and_failed_calls_tell_the_model_in_words() -> None:
    out = calls_text(("delete_file", {"path": "/x"}), ("add_note", {"text": "y"}),
                     ("get_weather", {"city": "Rome"}))
    s, _, _ = session([out])
    s.add_user("do it")
    d, m, w = (await s.generate()).calls
    s.deny(d)
    s.mock(m, "note saved (typed by hand)")
    s.settle(w, ToolOutcome("the tool 'get_weather' did not answer within 5 s", True, "timeout"))
    assert (d.status, m.status, w.status) == (CallStatus.DENIED, CallStatus.MOCKED,
                                              CallStatus.FAILED)
    contents = [msg["content"] for msg in s.messages if msg["role"] == "tool"]
    assert contents == ["Error: The user denied running this tool call.",
                        "note saved (typed by hand)",
                        "Error: the tool 'get_weather' did not answer within 5 s"]


async def test_guided_decoding_is_on_by_default_for_tool_calls_and_its_cost_is_shown() -> None:
    s, client, _ = session(["hi", "hello", "free"])
    s.add_user("hi")
    t1 = await s.generate()
    req = client.requests[0]
    assert t1.guided and req.guidance is not None and req.guidance.type == "lark_grammar"
    assert "get_weather" in req.guidance.text and req.add_special_tokens is False
    assert req.stop == ["<|im_end|>"] and req.echo_prompt
    s.settings.tool_choice = "required"
    s.add_user("again")
    await s.generate()
    assert client.requests[1].guidance is not None
    assert "start: calls\n" in client.requests[1].guidance.text
    s.settings.guided = False
    s.add_user("free")
    t3 = await s.generate()
    assert not t3.guided and client.requests[2].guidance is None
    cost = s.guidance_cost()
    assert cost == {"guided_tps": 90.0, "free_tps": 100.0, "ratio": 0.9}
    # without tools there is nothing to guide
    bare = ChatSession(ScriptedClient(["x"]), FMT)
    bare.add_user("x")
    assert not (await bare.generate()).guided


async def test_a_guided_turn_has_call_control_and_a_call_closed_at_the_budget_is_marked(
        ) -> None:
    """Guided turns ask the worker for call control (repeats, loops, the budget's end closing
    the first call; the sampler still decides text or call). A call the end of the budget
    closed is marked cut short, the turn keeps what control did, and an edit clears the mark."""
    closed = calls_text(("add_note", {"text": "meeting notes for the"}))
    s, client, _ = session([{"text": closed, "result": {"closed_at_budget": 3,
                                                        "loops_broken": 1, "other": 5}},
                            calls_text(("add_note", {"text": "x"}))])
    s.add_user("note the meeting")
    turn = await s.generate()
    control = client.requests[0].calls
    assert control is not None and control.marker == "<tool_call>"
    assert control.threshold is None and control.stop_repeats
    assert control.close_reserve == 32 and control.loop_tokens == 24
    assert turn.control == {"closed_at_budget": 3, "loops_broken": 1}
    call = turn.calls[0]
    assert call.valid and call.cut_short and call.to_json()["cut_short"]
    assert turn.to_json()["control"] == turn.control
    s.edit_arguments(call, {"text": "meeting notes for the team"})
    assert not call.cut_short
    # a turn without guidance asks for no control; one that was not cut marks nothing
    s.mock(call, "saved")
    s.settings.guided = False
    s.add_user("again")
    plain = await s.generate()
    assert client.requests[1].calls is None and not plain.calls[0].cut_short
    assert plain.control == {}


async def test_a_guided_turn_weighs_the_tool_names_by_the_request_s_words() -> None:
    """With several tools the worker is sent each tool's prior from the latest request's
    words (core.inference.relevance), and the turn keeps how many steps it changed; the
    setting off, or one tool, sends none."""
    todo = {"name": "add_todo", "description": "Add an item to the to-do list.",
            "inputSchema": NOTE["inputSchema"]}
    s, client, _ = session([{"text": calls_text(("add_note", {"text": "x"})),
                             "result": {"names_weighed": 2}}, "ok", "ok"])
    s.tools = [NOTE, todo]
    s.add_user("add a note: buy milk")
    turn = await s.generate()
    names = client.requests[0].calls.names
    assert names is not None and names["add_note"] > names["add_todo"]
    assert turn.control == {"names_weighed": 2}
    s.mock(turn.calls[0], "saved")
    s.settings.tool_words = False
    s.add_user("add another note")
    await s.generate()
    assert client.requests[1].calls.names is None
    s.settings.tool_words = True
    s.tools = [NOTE]
    s.add_user("one more note")
    await s.generate()
    assert client.requests[2].calls.names is None


async def test_stop_ends_the_turn_with_what_it_had_and_runs_none_of_its_calls() -> None:
    out = "Working on it " + calls_text(("add_note", {"text": "x" * 200}))
    client = ScriptedClient([out], chunk=2, delay=0.005)
    s = ChatSession(client, FMT, tools=[NOTE])
    s.add_user("note")
    task = asyncio.ensure_future(s.generate())
    while not s.busy or not s.turns or not s.turns[-1].raw_text:
        await asyncio.sleep(0.005)
    await asyncio.sleep(0.05)
    assert s.stop()
    turn = await task
    assert turn.stop_reason == "stopped" and 0 < len(turn.raw_text) < len(out)
    assert client.stopped == [client.requests[0].id]
    assert all(c.status is CallStatus.CANCELLED for c in turn.calls)
    assert "tool_calls" not in s.messages[-1] and not s.awaiting_calls()
    assert not s.stop()  # nothing to stop now


async def test_worker_restart_is_reported_and_failures_are_recorded_not_raised() -> None:
    s, _, events = session([died(), ("RESTART", "Back."),
                            GenerationError("the prompt is 9000 tokens; the model's context is "
                                            "2048 tokens", code="prompt_too_long",
                                            request_id="r")])
    s.add_user("hi")
    t1 = await s.generate()
    assert "stopped" in (t1.error or "") and t1.finished
    assert events[-1].kind == "turn_failed"
    assert [m["role"] for m in s.messages] == ["user"]  # nothing added: try again
    t2 = await s.generate()
    assert t2.restarted and "restarted" in t2.restarted and t2.content == "Back."
    assert any(e.kind == "restart" for e in events)
    s.add_user("long")
    t3 = await s.generate()
    assert t3.error_code == "prompt_too_long" and "context" in (t3.error or "")


async def test_bad_settings_and_a_schema_that_cannot_be_guided_fail_the_turn() -> None:
    s, _, _ = session(["x"], settings=GenerationSettings(top_p=2.0, temperature=-1))
    s.add_user("x")
    t = await s.generate()
    assert "top-p must be between 0 and 1" in (t.error or "")
    assert "temperature must be >= 0" in (t.error or "")
    dup = ChatSession(ScriptedClient(["x"]), FMT, tools=[WEATHER, WEATHER])
    dup.add_user("x")
    assert "unique" in ((await dup.generate()).error or "")


async def test_system_prompt_and_adapter_reach_the_request() -> None:
    s, client, _ = session(["ok"], adapter="ft", system="Be brief.")
    s.add_user("hi")
    await s.generate()
    req = client.requests[0]
    assert req.adapter == "ft" and (req.prompt or "").startswith("<|im_start|>system\nBe brief.")
    assert s.conversation()[0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in s.messages] == ["user", "assistant"]
    s.reset()
    assert s.messages == [] and s.turns == []


async def test_measured_guidance_cost_runs_both_ways_without_touching_the_conversation() -> None:
    s, client, _ = session(["a b c", "<tool_call>[]</tool_call>"])
    s.add_user("x")
    cost = await s.measure_guidance_cost(max_new_tokens=8)
    assert cost["free_tps"] == 100.0 and cost["guided_tps"] == 90.0 and cost["ratio"] == 0.9
    assert [r.guidance is not None for r in client.requests] == [False, True]
    assert all(r.greedy and r.max_new_tokens == 8 for r in client.requests)
    assert s.turns == [] and [m["role"] for m in s.messages] == ["user"]
    s.tools = []
    with pytest.raises(Exception, match="needs tools"):
        await s.measure_guidance_cost()



@pytest.mark.parametrize("family", ["phi4-mini", "phi4", "hermes", "chatml-notools"])
@pytest.mark.parametrize("chunk", [1, 3, 11])
async def test_every_family_streams_its_own_call_syntax_into_validated_calls(
    family: str, chunk: int
) -> None:
    from phi4studio.core.chatformats.canonical import Call

    fmt = get_format(family)
    calls = (Call("get_weather", {"city": "Oslo", "units": "metric"}),
             Call("add_note", {"text": "a </tool_call> b"}))
    eot = fmt.end_of_turn[0] if fmt.end_of_turn else ""
    out = fmt.assistant_text("Sure.", calls) + eot
    client = ScriptedClient([out], chunk=chunk)
    s = ChatSession(client, fmt, tools=list(TOOLS))
    s.add_user("weather and a note")
    turn = await s.generate()
    assert [(c.name, c.arguments) for c in turn.calls] == [(c.name, c.arguments) for c in calls]
    assert all(c.valid for c in turn.calls) and turn.parse_errors == []
    assert turn.content == "Sure."
    assert (client.requests[0].guidance is not None
            and fmt.syntax.open in client.requests[0].guidance.text)
