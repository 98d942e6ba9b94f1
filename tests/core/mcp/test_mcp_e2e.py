"""MCP end to end with a REAL stdio server (notes_server.py, the official SDK): list tools,
approve, execute, feed the result back, continue; deny; destructive always asks; read-only
always-allow; tool errors, timeouts and a crash reach the model as errors; jobs panel cancel.

The model is scripted (tests/fixtures/chat.py): what is real here is the server,
the client session, the approval flow and the conversation. tests/contract/test_playground_*
run the same flow with a real model in the inference worker.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from fixtures.chat import ScriptedClient, calls_text

from phi4studio.core.chatformats import get_format
from phi4studio.core.jobs import JobQueue, JobState
from phi4studio.core.mcp import (
    Approval,
    ApprovalError,
    McpHub,
    McpServerConfig,
    McpServerError,
    ServerState,
    ToolCatalog,
    source_from_session,
)
from phi4studio.core.playground import (
    CallRecord,
    CallStatus,
    CatalogExecutor,
    ChatSession,
    ToolRunner,
    converse,
)

SERVER = str(Path(__file__).with_name("notes_server.py"))
FMT = get_format("chatml-notools")


def notes_config(tmp_path: Path, **kw: Any) -> McpServerConfig:
    return McpServerConfig("notes", sys.executable, [SERVER],
                           env={"NOTES_FILE": str(tmp_path / "notes.json")}, **kw)


class User:
    """Answers approvals from a table (per tool name, in order) and records what was asked."""

    def __init__(self, **answers: Any) -> None:
        self.answers = {k: (v if isinstance(v, list) else [v]) for k, v in answers.items()}
        self.asked: list[str] = []

    async def __call__(self, call: CallRecord) -> Approval:
        self.asked.append(call.name)
        queue = self.answers.get(call.name) or [Approval.deny()]
        return queue.pop(0) if len(queue) > 1 else queue[0]


async def test_list_approve_execute_feed_back_continue_deny_destructive_read_only(
    tmp_path: Path,
) -> None:
    hub = McpHub()
    hub.add_transient(notes_config(tmp_path))
    session = await hub.start("notes")
    try:
        tools = {t["name"]: t for t in session.tools}
        assert session.state is ServerState.READY and session.server_name == "notes-test"
        assert list(tools)[:4] == ["get_forecast", "list_notes", "add_note", "delete_note"]
        assert tools["delete_note"]["annotations"]["destructiveHint"] is True
        assert tools["list_notes"]["annotations"] == {"readOnlyHint": True}
        assert "annotations" not in tools["add_note"]
        catalog = ToolCatalog([source_from_session(session)])
        for off in ("broken_tool", "slow_tool", "crash_server"):
            catalog.set_tool_enabled(off, False)
        runner = ToolRunner(CatalogExecutor(hub, catalog))
        model = ScriptedClient([
            calls_text(("add_note", {"text": "buy milk"})), "Noted.",
            calls_text(("list_notes", {})), "You have one note.",
            calls_text(("list_notes", {}), ("delete_note", {"index": 1})), "Not deleted.",
            calls_text(("list_notes", {}), ("delete_note", {"index": 1})), "Deleted.",
        ])
        chat = ChatSession(model, FMT, tools=catalog.tools())
        user = User(add_note=Approval.approve(), list_notes=Approval.always(),
                    delete_note=[Approval.deny(), Approval.approve()])
        notes = tmp_path / "notes.json"

        # approve -> the server runs it -> the result goes back -> the model continues
        turns = await converse(chat, "Note: buy milk", runner, user)
        assert [t.content for t in turns] == ["", "Noted."]
        assert json.loads(notes.read_text()) == ["buy milk"]
        call = turns[0].calls[0]
        assert call.status is CallStatus.DONE and call.outcome.text == "added note 1"  # type: ignore[union-attr]
        assert '<tool_response name="add_note">\nadded note 1\n</tool_response>' in (
            model.requests[1].prompt or "")

        # read-only: "always allow" once, then it runs without asking
        await converse(chat, "What notes do I have?", runner, user)
        assert user.asked == ["add_note", "list_notes"]
        assert chat.messages[-2]["content"] == "buy milk"

        # destructive: asks every time; denied first (nothing deleted), approved next
        t = await converse(chat, "Delete note 1", runner, user)
        assert user.asked[-1] == "delete_note" and user.asked.count("list_notes") == 1
        assert t[0].calls[0].auto_approved and t[0].calls[1].status is CallStatus.DENIED
        assert json.loads(notes.read_text()) == ["buy milk"]
        assert "denied" in chat.messages[-2]["content"]
        await converse(chat, "Yes, delete it", runner, user)
        assert user.asked.count("delete_note") == 2 and json.loads(notes.read_text()) == []
        with pytest.raises(ApprovalError, match="destructive"):
            runner.policy.allow_always(tools["delete_note"])
        assert [m["role"] for m in chat.messages].count("tool") == 6
    finally:
        await hub.close()
    assert session.state is ServerState.STOPPED


async def test_tool_errors_timeouts_and_a_crash_reach_the_model_as_errors(tmp_path: Path) -> None:
    hub = McpHub()
    hub.add_transient(notes_config(tmp_path, timeout_s=0.5))
    session = await hub.start("notes")
    try:
        catalog = ToolCatalog([source_from_session(session)])
        runner = ToolRunner(CatalogExecutor(hub, catalog))
        model = ScriptedClient([
            calls_text(("broken_tool", {"reason": "disk full"}), ("slow_tool", {"seconds": 3})),
            "Both failed.",
            calls_text(("crash_server", {})), "The server is gone.",
        ])
        chat = ChatSession(model, FMT, tools=catalog.tools())
        yes = User(broken_tool=Approval.approve(), slow_tool=Approval.approve(),
                   crash_server=Approval.approve())
        turns = await converse(chat, "try", runner, yes)
        broken, slow = turns[0].calls
        assert broken.status is CallStatus.FAILED and broken.outcome.kind == "tool_error"  # type: ignore[union-attr]
        assert slow.outcome.kind == "timeout"  # type: ignore[union-attr]
        results = [m["content"] for m in chat.messages if m["role"] == "tool"]
        assert "disk full" in results[0] and results[0].startswith("Error")
        assert results[1] == "Error: the tool 'slow_tool' did not answer within 0.5 s"
        assert turns[-1].content == "Both failed."

        turns = await converse(chat, "crash it", runner, yes)
        crash = turns[0].calls[0]
        assert crash.outcome.kind == "crash" and crash.status is CallStatus.FAILED  # type: ignore[union-attr]
        assert session.state is ServerState.FAILED
        assert "crashing on purpose" in (session.error or "")
        assert "died" in chat.messages[-2]["content"] and turns[-1].content.startswith("The")
        # the state is failed; a restart brings it back
        await hub.start("notes")
        assert session.state is ServerState.READY
        out = await hub.call("notes", "get_forecast", {"city": "Oslo"})
        assert out.structured == {"city": "Oslo", "temp_c": 21.5, "conditions": "sunny"}
    finally:
        await hub.close()


async def test_servers_run_as_jobs_and_failures_say_why(tmp_path: Path) -> None:
    queue = JobQueue({"gpu": 1, "cpu": 1})
    hub = McpHub(submit=queue.submit)
    hub.add_transient(notes_config(tmp_path))
    hub.add_transient(McpServerConfig("broken", sys.executable, [SERVER, "--crash-on-start"]))
    hub.add_transient(McpServerConfig("missing", "/nonexistent/mcp-server-xyz"))
    states: list[tuple[str, str]] = []
    hub.add_listener(lambda s: s and states.append((s.name, s.state.value)))
    try:
        session = await hub.start("notes")
        job = session.job
        assert job is not None and job.state is JobState.RUNNING and "notes" in job.name
        assert "7 tool(s)" in job.message
        queue.cancel(job)  # from the jobs panel
        assert await queue.wait(job) is JobState.CANCELLED
        assert session.state is ServerState.STOPPED
        with pytest.raises(McpServerError, match=r"cannot open /nonexistent/notes\.db"):
            await hub.start("broken")
        assert hub.state("broken") is ServerState.FAILED
        with pytest.raises(McpServerError, match="cannot start the MCP server 'missing'"):
            await hub.start("missing")
        bad_job = hub.sessions["broken"].job
        assert bad_job is not None and await queue.wait(bad_job) is JobState.FAILED
        out = await hub.call("broken", "x", {})
        assert out.kind == "not_running" and out.is_error
    finally:
        await hub.close()
        await queue.shutdown(timeout=5)
    assert ("notes", "ready") in states and ("broken", "failed") in states
