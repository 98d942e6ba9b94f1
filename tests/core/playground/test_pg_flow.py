"""The approve -> run -> continue flow and the approval policy, with a scripted model and a
recording executor; A/B; saving a conversation to a dataset."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fixtures.chat import DELETE, NOTE, TOOLS, WEATHER, ScriptedClient, calls_text

from phi4studio.core.chatformats import get_format
from phi4studio.core.datasets.errors import DatasetError
from phi4studio.core.datasets.library import DatasetLibrary
from phi4studio.core.mcp import Approval, ApprovalError, ApprovalPolicy, ToolOutcome
from phi4studio.core.mcp.approval import can_always_allow, risk_label
from phi4studio.core.playground import (
    ABSession,
    CallRecord,
    CallStatus,
    ChatSession,
    ToolRunner,
    auto_decider,
    check_example,
    conversation_example,
    converse,
    save_example,
)

FMT = get_format("chatml-notools")


class Recorder:
    """An executor that records the calls it runs and answers from a table."""

    def __init__(self, runnable: set[str] | None = None, delay: float = 0.0) -> None:
        self.runnable = runnable if runnable is not None else {t["name"] for t in TOOLS}
        self.ran: list[tuple[str, dict[str, Any]]] = []
        self.delay = delay

    def can_run(self, name: str) -> bool:
        return name in self.runnable

    async def run(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        await asyncio.sleep(self.delay)
        self.ran.append((name, dict(arguments)))
        return ToolOutcome(f"{name} ok", server="rec")


class Asker:
    """The user: records which calls were asked about and answers from a table."""

    def __init__(self, answers: dict[str, Approval]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def __call__(self, call: CallRecord) -> Approval:
        self.asked.append(call.name)
        return self.answers.get(call.name, Approval.deny())


def chat(outputs: list[Any], tools: list[dict[str, Any]] | None = None) -> ChatSession:
    return ChatSession(ScriptedClient(outputs), FMT, tools=list(tools or TOOLS))


def test_policy_always_allow_only_for_read_only_tools() -> None:
    p = ApprovalPolicy()
    assert all(p.needs_approval(t) for t in TOOLS) and p.needs_approval(None)
    p.allow_always(WEATHER)
    assert not p.needs_approval(WEATHER)
    with pytest.raises(ApprovalError, match="destructive"):
        p.allow_always(DELETE)
    with pytest.raises(ApprovalError, match="not annotated read-only"):
        p.allow_always(NOTE)
    both = {**WEATHER, "name": "odd", "annotations": {"readOnlyHint": True,
                                                      "destructiveHint": True}}
    assert not can_always_allow(both) and risk_label(both) == "destructive"
    with pytest.raises(ApprovalError):
        p.allow_always(both)
    # a tool re-listed as destructive loses its always-allow at once
    relisted = {**WEATHER, "annotations": {"readOnlyHint": True, "destructiveHint": True}}
    assert p.needs_approval(relisted)
    p.revoke("get_weather")
    assert p.needs_approval(WEATHER)
    assert [risk_label(t) for t in TOOLS] == ["read-only", "destructive", "may change things"]


async def test_approve_execute_feed_back_continue() -> None:
    s = chat([calls_text(("add_note", {"text": "milk"})), "Done: noted."])
    rec, ask = Recorder(), Asker({"add_note": Approval.approve()})
    turns = await converse(s, "Note: milk", ToolRunner(rec), ask)
    assert [t.index for t in turns] == [0, 1] and turns[1].content == "Done: noted."
    assert ask.asked == ["add_note"] and rec.ran == [("add_note", {"text": "milk"})]
    assert [m["role"] for m in s.messages] == ["user", "assistant", "tool", "assistant"]
    assert s.messages[2]["content"] == "add_note ok"


async def test_deny_path_runs_nothing_and_the_model_hears_it() -> None:
    s = chat([calls_text(("delete_file", {"path": "/etc"})), "Understood, not deleted."])
    rec = Recorder()
    turns = await converse(s, "delete /etc", ToolRunner(rec), Asker({}))
    assert rec.ran == [] and turns[0].calls[0].status is CallStatus.DENIED
    assert "denied" in s.messages[2]["content"] and turns[-1].content.startswith("Understood")


async def test_destructive_always_asks_and_read_only_always_allow_sticks() -> None:
    out = calls_text(("get_weather", {"city": "Oslo"}), ("delete_file", {"path": "/tmp/x"}))
    s = chat([out, out, "ok"])
    rec = Recorder()
    ask = Asker({"get_weather": Approval.always(), "delete_file": Approval.approve()})
    runner = ToolRunner(rec)
    await converse(s, "Weather in Oslo, then delete /tmp/x", runner, ask, max_rounds=2)
    # round 1: both asked; get_weather now always allowed. round 2: only delete_file asks.
    assert ask.asked == ["get_weather", "delete_file", "delete_file"]
    assert runner.policy.always_allowed == {"get_weather"}
    auto = [c for t in s.turns for c in t.calls if c.auto_approved]
    assert [c.name for c in auto] == ["get_weather"] and auto[0].turn == 1
    assert [n for n, _ in rec.ran].count("delete_file") == 2


async def test_always_allow_is_refused_for_a_tool_that_is_not_read_only() -> None:
    s = chat([calls_text(("add_note", {"text": "x"}))])
    with pytest.raises(ApprovalError):
        await converse(s, "go", ToolRunner(Recorder()), Asker({"add_note": Approval.always()}))
    assert s.turns[0].calls[0].status is CallStatus.CANCELLED  # settled, conversation intact
    assert s.messages[-1]["role"] == "tool"


async def test_invalid_or_unrunnable_calls_ask_even_when_always_allowed() -> None:
    out = calls_text(("get_weather", {"city": "O"}))
    s = chat([out, out, "fine"])
    runner = ToolRunner(Recorder())
    runner.policy.allow_always(WEATHER)
    ask = Asker({"get_weather": Approval.approve({"city": "Oslo"})})
    await converse(s, "x", runner, ask, max_rounds=2)
    assert ask.asked == ["get_weather", "get_weather"]  # the arguments were invalid both times
    call = s.turns[0].calls[0]
    assert call.edited and call.arguments == {"city": "Oslo"} and call.valid
    # a tool no live server offers: mock is the way
    s2 = chat([calls_text(("add_note", {"text": "x"})), "ok"])
    ask2 = Asker({"add_note": Approval.mock("saved")})
    await converse(s2, "x", ToolRunner(Recorder(runnable=set())), ask2)
    assert s2.turns[0].calls[0].status is CallStatus.MOCKED and s2.messages[2]["content"] == "saved"
    # approving it anyway tells the model no server runs it
    s3 = chat([calls_text(("add_note", {"text": "x"})), "ok"])
    await converse(s3, "x", ToolRunner(None), auto_decider(default=Approval.approve()))
    assert s3.turns[0].calls[0].outcome.kind == "not_running"  # type: ignore[union-attr]


async def test_parallel_calls_are_decided_and_run_concurrently() -> None:
    out = calls_text(("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Rome"}))
    s = chat([out, "both sunny"])
    rec = Recorder(delay=0.2)
    t0 = asyncio.get_running_loop().time()
    await converse(s, "x", ToolRunner(rec), auto_decider(default=Approval.approve()))
    assert asyncio.get_running_loop().time() - t0 < 0.35
    assert sorted(a["city"] for _, a in rec.ran) == ["Oslo", "Rome"]


async def test_cancelling_the_flow_settles_every_call() -> None:
    s = chat([calls_text(("add_note", {"text": "x"}), ("add_note", {"text": "y"}))])
    never: asyncio.Future[Approval] = asyncio.get_running_loop().create_future()

    async def wait_forever(call: CallRecord) -> Approval:
        return await never

    task = asyncio.ensure_future(converse(s, "x", ToolRunner(Recorder()), wait_forever))
    while not s.turns or not s.turns[0].finished:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [c.status for c in s.turns[0].calls] == [CallStatus.CANCELLED] * 2
    assert [m["role"] for m in s.messages] == ["user", "assistant", "tool", "tool"]


async def test_ab_two_sides_answer_the_same_conversation_one_generation_at_a_time() -> None:
    active = []
    peak = [0]

    class Counting(ScriptedClient):
        async def generate(self, req):  # type: ignore[no-untyped-def]
            active.append(1)
            peak[0] = max(peak[0], len(active))
            try:
                async for ev in super().generate(req):
                    yield ev
            finally:
                active.pop()

    a = ChatSession(Counting([calls_text(("get_weather", {"city": "Oslo"})), "sunny"], delay=0.01),
                    FMT, tools=[WEATHER], model_name="base", adapter="")
    b = ChatSession(Counting(["I cannot check the weather."], delay=0.01), FMT, tools=[WEATHER],
                    model_name="base", adapter="ft")
    ab = ABSession(a, b, labels=("base", "ft"))
    ta, tb = await ab.send("Weather in Oslo?", ToolRunner(Recorder()),
                           auto_decider(default=Approval.approve()),
                           auto_decider(default=Approval.approve()))
    assert peak[0] == 1  # serialized: comparable tokens/s on one CPU
    assert len(ta) == 2 and len(tb) == 1
    assert a.messages[0] == b.messages[0] == {"role": "user", "content": "Weather in Oslo?"}
    summary = ab.summary()
    assert summary["base"]["calls"] == 1 and summary["ft"]["calls"] == 0
    assert summary["ft"]["adapter"] == "ft" and summary["base"]["valid_calls"] == 1


async def test_a_conversation_with_corrected_calls_is_saved_as_a_valid_example(
    tmp_path: Path,
) -> None:
    from phi4studio.core.workspace import open_workspace

    s = chat([calls_text(("get_weather", {"city": "O"}), before="Checking."), "Sunny, 21 °C."],
             tools=[WEATHER, NOTE])
    s.system = "You are helpful."
    s.model_name = "tiny"
    ask = Asker({"get_weather": Approval.approve({"city": "Oslo", "units": "metric"})})
    await converse(s, "Weather in Oslo?", ToolRunner(Recorder()), ask)
    ex = conversation_example(s)
    assert [m["role"] for m in ex["messages"]] == ["system", "user", "assistant", "tool",
                                                   "assistant"]
    assert ex["messages"][2]["tool_calls"][0]["arguments"] == {"city": "Oslo", "units": "metric"}
    assert ex["messages"][3]["tool_call_id"] == ex["messages"][2]["tool_calls"][0]["id"]
    assert [t["name"] for t in ex["tools"]] == ["get_weather", "add_note"]
    assert ex["scenario"] == "multiple" and ex["source"] == "playground:tiny"
    assert ex["tags"] == ["playground", "corrected"]
    assert check_example(ex)[1] == []

    ws = open_workspace(tmp_path / "ws")
    lib = DatasetLibrary(lambda: ws)
    try:
        ds = lib.create("Playground keeps")
        saved = save_example(lib, ds.id, ex)
        assert lib.store(ds.id).get_dict(saved)["messages"] == ex["messages"]  # type: ignore[index]
        info = lib.get(ds.id)
        assert info.n_examples == 1 and info.validity.ok == 1
        again = save_example(lib, ds.id, ex)  # the id is taken: stored under a new one
        assert again != saved and lib.get(ds.id).n_examples == 2
        bad = {**ex, "messages": ex["messages"][:2]}  # ends with the user: no reply
        with pytest.raises(DatasetError, match=r"error\(s\); the first: \$\.messages\[1\]"):
            save_example(lib, ds.id, bad)
        assert check_example({"id": ""})[1][0].code == "bad_shape"
    finally:
        lib.close()
        ws.close()


async def test_a_call_with_a_value_the_user_never_gave_asks_even_when_always_allowed() -> None:
    """A required value the conversation does not state (a made-up city) is shown on the call
    and makes it ask, even for an always-allowed tool; stated values run at once."""
    guess = calls_text(("get_weather", {"city": "Lisbon"}))
    runner = ToolRunner(Recorder())
    runner.policy.allow_always(WEATHER)
    s = chat([guess, "ok"])
    ask = Asker({"get_weather": Approval.approve({"city": "Porto"})})
    await converse(s, "What's the weather like?", runner, ask)
    call = s.turns[0].calls[0]
    assert ask.asked == ["get_weather"] and call.unstated == []  # the user's value now
    assert call.edited and runner.executor.ran == [("get_weather", {"city": "Porto"})]
    assert s.turns[0].calls[0].to_json()["unstated"] == []
    s2 = chat([guess, "ok"])
    ask2 = Asker({})
    await converse(s2, "Weather in Lisbon?", runner, ask2)
    assert ask2.asked == [] and s2.turns[0].calls[0].auto_approved
    s3 = chat([guess])
    s3.add_user("What's the weather like?")
    turn = await s3.generate()
    assert turn.calls[0].unstated == ["city"] and turn.calls[0].to_json()["unstated"] == ["city"]


async def test_a_call_the_budget_closed_asks_even_when_always_allowed() -> None:
    """A call whose values the end of the token budget cut short asks before it runs, even for
    an always-allowed tool; the same call written whole runs at once."""
    call = calls_text(("get_weather", {"city": "Lis"}))
    runner = ToolRunner(Recorder())
    runner.policy.allow_always(WEATHER)
    s = chat([{"text": call, "result": {"closed_at_budget": 2}}, "ok"])
    ask = Asker({"get_weather": Approval.approve({"city": "Lisbon"})})
    await converse(s, "Weather in Lis?", runner, ask)
    assert ask.asked == ["get_weather"] and not s.turns[0].calls[0].cut_short  # edited
    assert runner.executor.ran == [("get_weather", {"city": "Lisbon"})]
    s2 = chat([call, "ok"])
    ask2 = Asker({})
    await converse(s2, "Weather in Lis?", runner, ask2)
    assert ask2.asked == [] and s2.turns[0].calls[0].auto_approved


async def test_a_second_call_with_a_value_of_its_own_asks_and_numbers_follow_the_schema() -> None:
    """A second call of a tool that changes a value the conversation does not state (a made-up
    variation) is shown as not stated and asks, even for an always-allowed tool; one whose
    changed value the user gave runs at once. A whole number at a `number` place is a float."""
    runner = ToolRunner(Recorder())
    runner.policy.allow_always(WEATHER)
    twice = calls_text(("get_weather", {"city": "Lisbon", "units": "metric"}),
                       ("get_weather", {"city": "Lisbon", "units": "imperial"}))
    s = chat([twice, "ok"])
    ask = Asker({"get_weather": Approval.deny()})
    await converse(s, "Weather in Lisbon?", runner, ask)
    first, second = s.turns[0].calls
    assert first.unstated == [] and second.unstated == ["units"]
    assert ask.asked == ["get_weather"] and first.auto_approved
    s2 = chat([twice, "ok"])
    ask2 = Asker({})
    await converse(s2, "Weather in Lisbon, metric and imperial?", runner, ask2)
    assert ask2.asked == [] and [c.unstated for c in s2.turns[0].calls] == [[], []]
    grid = {"name": "grid", "description": "Values on a grid.", "inputSchema": {
        "type": "object", "properties": {"steps": {"type": "integer"}, "points": {
            "type": "array", "items": {"type": "number"}}}, "required": ["points"]}}
    s3 = chat([calls_text(("grid", {"steps": 2, "points": [1, 2.5]}))], tools=[grid])
    s3.add_user("Grid over 1 and 2.5 in 2 steps")
    turn = await s3.generate()
    args = turn.calls[0].arguments
    assert args == {"steps": 2, "points": [1.0, 2.5]}
    assert type(args["steps"]) is int and type(args["points"][0]) is float
