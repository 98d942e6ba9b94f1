"""The Playground tab offscreen: tokens from the real inference worker streaming into the
transcript, the inspector; tool-call cards and the approval flow against a real MCP server
(the model scripted, so every card is known); save to dataset; A/B side by side."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from fixtures.chat import ScriptedClient, calls_text
from ui.conftest import run

from phi4studio.core.mcp import McpServerConfig, ServerState
from phi4studio.core.playground import CallStatus
from phi4studio.ui.tabs.playground.transcript import Bubble

SERVER = Path(__file__).resolve().parents[1] / "core" / "mcp" / "notes_server.py"


def playground(window: Any) -> Any:
    tabs = window.tabs
    view = next(tabs.widget(i) for i in range(tabs.count()) if tabs.tabText(i) == "Playground")
    tabs.setCurrentWidget(view)
    return view


async def until(cond: Any, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


def test_a_real_model_streams_into_the_transcript(window: Any, qloop: Any,
                                                 tiny_phi3_onnx_dir: Path) -> None:
    from phi4studio.core.handoff import OpenModelRequest

    view = playground(window)
    window.tabs.setCurrentIndex(0)
    # Export's "Open in Playground": the tab takes the model, loads it and shows itself
    n = window.studio.handoff.publish(OpenModelRequest(model_dir=tiny_phi3_onnx_dir,
                                                       label="tiny export", provider="cpu"))
    assert n == 1 and window.tabs.currentWidget() is view
    assert view.model_combo.currentText() == "tiny export"
    run(qloop, until(lambda: bool(view.wb.sessions)))
    assert "chat format generic" in view.status.text() and "cpu" in view.status.text()
    view.wb.settings.max_new_tokens = 48
    view.wb.settings.greedy = True
    view.input.setPlainText("Hello there")
    flushes: list[int] = []
    tv = view.transcripts[0]
    task = view.send()
    assert task is not None and not view.send_button.isEnabled() and view.stop_button.isEnabled()

    async def watch() -> None:
        while not task.done():
            flushes.append(tv.flushes)
            await asyncio.sleep(0.01)

    run(qloop, asyncio.gather(task, watch()))
    turn = view.wb.sessions[0].turns[0]
    assert turn.completion_tokens == 48 and turn.error is None
    bubbles = [b.text() for b in tv.body.findChildren(Bubble) if b.role == "assistant"]
    assert bubbles == [turn.content]
    assert tv.flushes >= 1 and len(set(flushes)) >= 1  # painted in coalesced batches
    # the inspector shows what the model really saw and did
    assert view.inspector.prompt.toPlainText() == turn.prompt
    assert view.inspector.raw.toPlainText() == turn.raw_text
    assert "Decode speed" in view.inspector.figures.text()
    assert view.send_button.isEnabled() and view.save_button.isEnabled()


@pytest.fixture
def scripted(window: Any, tmp_path: Path) -> Any:
    """The Playground with a scripted model (outputs set per test) and the real notes server."""
    view = playground(window)
    model = ScriptedClient([], chunk=4, delay=0.002)
    view.wb._factory = lambda path, **kw: model
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "genai_config.json").write_text("{}")
    view.settings_panel.format.setCurrentIndex(view.settings_panel.format.findData(
        "chatml-notools"))
    view.open_folder(str(folder))
    view.wb.hub.add_transient(McpServerConfig(
        "notes", sys.executable, [str(SERVER)], env={"NOTES_FILE": str(tmp_path / "n.json")}))
    return view, model, tmp_path / "n.json"


def test_tool_call_cards_and_the_approval_flow_with_a_real_mcp_server(
        window: Any, qloop: Any, scripted: Any) -> None:
    view, model, notes = scripted
    run(qloop, view.wb.start_server("notes"))
    assert view.wb.hub.state("notes") is ServerState.READY
    panel = view.tools_panel
    top = panel.tree.topLevelItem(0)
    assert top.text(0).startswith("notes") and top.text(1).startswith("ready · 7 tool(s)")
    for off in ("broken_tool", "slow_tool", "crash_server", "get_forecast"):
        view.wb.catalog.set_tool_enabled(off, False)
    run(qloop, view.load())
    model.outputs = [
        calls_text(("add_note", {"text": "milk"}), ("list_notes", {}),
                   ("delete_note", {"index": "one"}), before="On it."),
        "Saved your note.",
    ]
    view.input.setPlainText("Note milk, list notes, delete the first")
    task = view.send()
    run(qloop, until(lambda: len(view.pending) == 3))
    cards = {c.call.name: c for c in view.transcripts[0].cards.values()}
    add, lst, dele = cards["add_note"], cards["list_notes"], cards["delete_note"]
    # guided, the tool names were weighed by the request's words ("note", "list", "delete")
    names = model.requests[0].calls.names
    assert view.settings_panel.tool_words.isChecked() and names["add_note"] > 0
    sp = view.settings_panel
    sp.tool_words.setChecked(False)
    assert not sp.settings.tool_words
    sp.guided.setChecked(False)
    assert not sp.tool_words.isEnabled()
    sp.guided.setChecked(True)
    sp.tool_words.setChecked(True)
    assert sp.tool_words.isEnabled() and sp.settings.tool_words
    # the cards: name, risk, formatted arguments, validation with paths, buttons per policy
    assert "on notes" in add.title.text() and "may change things" in add.badges.text()
    assert json.loads(add.args.toPlainText()) == {"text": "milk"}
    assert "fits the tool's schema" in add.issues.text() and "guided" in add.badges.text()
    assert add.run_button.isEnabled() and not add.always_button.isEnabled()
    assert lst.always_button.isEnabled() and "read-only" in lst.badges.text()
    assert "destructive" in dele.badges.text() and not dele.always_button.isEnabled()
    assert "$.index" in dele.issues.text()
    # "one" is nowhere in the request: the card says the value may be made up
    assert "perhaps made up: <code>index</code>" in dele.issues.text()
    assert "perhaps made up" not in add.issues.text() + lst.issues.text()
    assert add.raw.toPlainText() == add.raw_text and "<tool_call>" in add.raw_text
    # decide: run add_note, always-allow list_notes, correct then deny... delete_note
    add.run_button.click()
    # approved calls run as they are approved: the note is saved before it is listed
    run(qloop, until(lambda: add.call.status is CallStatus.DONE))
    lst.always_button.click()
    dele.edit_button.click()
    dele.editor.set_text('{"index": 1}')
    assert dele.edited_arguments() == {"index": 1}
    dele.deny_button.click()
    run(qloop, task)
    calls = {c.name: c for c in view.wb.sessions[0].turns[0].calls}
    assert calls["add_note"].status is CallStatus.DONE and json.loads(notes.read_text()) == [
        "milk"]
    assert calls["list_notes"].outcome.text == "milk"  # type: ignore[union-attr]
    assert calls["delete_note"].status is CallStatus.DENIED
    assert view.wb.policy.always_allowed == {"list_notes"}
    assert "ran" in add.status.text() and add.result.toPlainText() == "added note 1"
    assert "denied" in dele.status.text() and not dele.run_button.isVisible()
    assert view.wb.sessions[0].turns[1].content == "Saved your note."
    assert "Always allowed: list_notes" in panel.summary.text()
    # save to dataset: the example validates, a new dataset receives it
    dlg = view.save_to_dataset()
    assert dlg is not None and dlg.isVisible()
    example = dlg.example()
    assert example is not None and example["tools"]
    save = dlg.buttons.button(dlg.buttons.StandardButton.Save)
    # the denied call still has the model's bad argument: saving waits for a correction
    assert not save.isEnabled()
    assert "$.messages[1].tool_calls[2].arguments.index" in dlg.issues.text()
    example["messages"][1]["tool_calls"][2]["arguments"] = {"index": 1}
    dlg.text.setPlainText(json.dumps(example))
    assert save.isEnabled() and "valid example" in dlg.issues.text()
    dlg.dataset.setCurrentIndex(dlg.dataset.findData("__new__"))
    dlg.new_name.setText("From the playground")
    save.click()
    assert dlg.saved_id is not None
    ds = next(d for d in view.library.datasets() if d.name == "From the playground")
    assert ds.n_examples == 1 and ds.validity.ok + ds.validity.warning == 1


def test_ab_side_by_side_and_stop_while_waiting_for_a_decision(
        window: Any, qloop: Any, scripted: Any) -> None:
    view, model, _ = scripted
    sample = next(d for d in view.library.datasets() if d.name.startswith("Sample"))
    run(qloop, view.add_dataset_tools(sample.id, sample.name))
    src = view.wb.catalog.get(f"dataset:{sample.id}")
    assert src is not None and len(src.tools) >= 5 and "get_weather" in [
        t["name"] for t in view.wb.catalog.tools()]
    view.compare_check.setChecked(True)
    view.compare_combo.setCurrentIndex(view.compare_combo.findText("base model"))
    run(qloop, view.load())
    assert len(view.transcripts) == 2 and len(view.wb.sessions) == 2
    model.outputs = [calls_text(("get_weather", {"city": "Oslo"})), "I can't check."]
    view.input.setPlainText("Weather in Oslo?")
    task = view.send()
    run(qloop, until(lambda: bool(view.pending) and not view.wb.sessions[1].busy
                     and bool(view.wb.sessions[1].turns)))
    a, b = view.wb.sessions
    assert [t.content for t in b.turns] == ["I can't check."]
    assert len(view.transcripts[0].cards) == 1 and not view.transcripts[1].cards
    card = next(iter(view.transcripts[0].cards.values()))
    assert "no server: mock only" in card.title.text() and not card.run_button.isEnabled()
    view.stop()  # waiting for the decision: the turn ends, the call is settled as cancelled
    run(qloop, asyncio.wait([task]))
    run(qloop, asyncio.sleep(0.01))  # the task's done-callbacks
    assert a.turns[0].calls[0].status is CallStatus.CANCELLED and not a.awaiting_calls()
    assert view.inspector.picker.count() == 2 and view.send_button.isEnabled()


def test_a_card_says_when_the_budget_closed_its_call(qapp) -> None:  # type: ignore[no-untyped-def]
    """The card of a call the end of the token budget closed says its values may be cut short;
    after an edit (the user's values) it no longer does."""
    from phi4studio.core.playground import CallRecord
    from phi4studio.ui.widgets.tool_call_card import ToolCallCard

    tool = {"name": "add_note", "inputSchema": {"type": "object", "properties": {
        "text": {"type": "string"}}, "required": ["text"]}}
    call = CallRecord(id="c1", index=0, name="add_note", arguments={"text": "notes for the"},
                      original_arguments={"text": "notes for the"}, tool=tool, guided=True,
                      cut_short=True)
    card = ToolCallCard(0, "add_note")
    card.bind(call, "", can_run=True, server="notes")
    assert "fits the tool's schema" in card.issues.text()
    assert "Closed early: the token budget ran out" in card.issues.text()
    call.cut_short = False
    card.refresh()
    assert "Closed early" not in card.issues.text()
    card.deleteLater()


def test_a_streamed_call_that_call_control_dropped_leaves_no_card(qapp) -> None:  # type: ignore[no-untyped-def]
    """The worker may drop a call after it streamed (a repeat of an earlier one, a call the
    budget cut): its preview card goes, the kept call's card stays bound, and a notice says
    what was dropped."""
    from phi4studio.core.playground import CallRecord, SessionEvent, TurnRecord
    from phi4studio.ui.tabs.playground.transcript import Bubble, TranscriptView
    from phi4studio.ui.widgets.tool_call_card import ToolCallCard

    view = TranscriptView()
    view.on_event(SessionEvent("turn_started"))
    for i in (0, 1):
        view.on_event(SessionEvent("call_started", index=i, text="list_notes"))
        view.on_event(SessionEvent("arguments", index=i, text="{}"))
    turn = TurnRecord(index=0, raw_text="<tool_call>...", control={"repeats_dropped": 1})
    turn.calls = [CallRecord(id="c1", index=0, name="list_notes", arguments={},
                             original_arguments={}, tool=None)]
    view.on_event(SessionEvent("turn_finished", turn))
    cards = [w for w in view.body.findChildren(ToolCallCard) if view.lay.indexOf(w) >= 0]
    assert [c.call.id for c in cards if c.call is not None] == ["c1"] and len(cards) == 1
    notices = [b.text() for b in view.body.findChildren(Bubble) if view.lay.indexOf(b) >= 0]
    assert any("a call that repeated an earlier one was dropped" in t for t in notices)
    view.deleteLater()
