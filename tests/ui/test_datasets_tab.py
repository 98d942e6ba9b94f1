"""The Datasets tab for real: the window on a qasync loop, real SQLite stores, real jobs."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton

from phi4studio.core.datasets.store import DatasetStore
from tests.ui.conftest import run

sys.path.insert(0, str(Path(__file__).parents[1] / "core" / "datasets"))
from dsfixtures import (
    EMAIL_TOOL,
    WEATHER_TOOL,
    chat_example,
    smollm2_tokenizer_json,
    weather_example,
)


async def until(pred: Any, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


def tab(window: Any) -> Any:
    from phi4studio.ui.tabs.datasets.view import DatasetsView

    view = window.tabs.widget(0)
    assert isinstance(view, DatasetsView)
    return view


def dataset(view: Any, name: str, examples: list[dict[str, Any]]) -> DatasetStore:
    info = view.library.create(name)
    store = view.library.store(info.id)
    store.add_many(examples, record_undo=False)
    view.list_panel.select(info.id)
    assert view.dataset_id == info.id
    return store


def press(widget: Any, key: Qt.Key, mods: Qt.KeyboardModifier) -> None:
    """A key press as the user makes it (QTest sends the ShortcutOverride first)."""
    from PySide6.QtTest import QTest

    widget.setFocus()
    QTest.keyClick(widget, key, mods)


def test_editor_checks_arguments_as_you_type_autosaves_and_undoes(window, qloop, qtbot) -> None:  # type: ignore[no-untyped-def]
    view = tab(window)
    store = dataset(view, "Editing", [weather_example(i, city="Paris") for i in range(3)])
    assert view.select_example("ex-1")
    ed = view.editor
    assert ed.example_id == "ex-1" and [c.role.currentText() for c in ed.cards] == [
        "system", "user", "assistant", "tool", "assistant"]
    args = ed.cards[2].calls[0].args
    assert args.value == {"city": "Paris"} and args.issues == []

    args.text.selectAll()
    qtbot.keyClicks(args.text, '{"city": 3')  # typed key by key: checked on every key
    assert [i.path for i in args.issues] == ["$"] and "not valid JSON" in args.issues[0].message
    assert args.issue_label.isVisibleTo(ed)
    qtbot.keyClicks(args.text, ', "town": 1}')
    assert sorted(i.path for i in args.issues) == ["$.city", "$.town"]
    assert "$.city" in args.issue_label.text()
    args.text.selectAll()
    qtbot.keyClicks(args.text, '{"city": "Oslo", "unit": "celsius"}')
    assert args.issues == [] and not args.issue_label.isVisibleTo(ed)

    # autosave after a short pause: one store transaction, one undo step
    run(qloop, until(lambda: ed.saves == 1))
    saved = store.get_dict("ex-1")
    assert saved["messages"][2]["tool_calls"][0]["arguments"] == {"city": "Oslo",
                                                                   "unit": "celsius"}
    assert store.undo_label == "Edit ex-1"
    # a field edit, then focus leaves the editor: saved at once; only its row is repainted
    for r in range(3):
        view.model.row(r)  # all rows on screen
    refreshed, read = view.model.rows_refreshed, view.model.pages_read
    ed.cards[1].content.setPlainText("Weather in Oslo, please")
    view.table.setFocus()
    ed._focus_changed(ed.cards[1].content, view.table)
    assert ed.saves == 2 and store.get_dict("ex-1")["messages"][1]["content"] == \
        "Weather in Oslo, please"
    assert view.model.row(1).preview == "Weather in Oslo, please"  # the table follows
    assert view.model.rows_refreshed - refreshed == 1 and view.model.pages_read - read == 1

    # Ctrl+Z / Ctrl+Shift+Z on the tab: the store's undo/redo, the editor follows
    window.activateWindow()
    press(view.table, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert store.get_dict("ex-1")["messages"][1]["content"] == "What's the weather in Paris today?"
    assert ed.cards[1].content.toPlainText() == "What's the weather in Paris today?"
    view.undo()
    assert store.get_dict("ex-1")["messages"][2]["tool_calls"][0]["arguments"] == {
        "city": "Paris"}
    assert ed.cards[2].calls[0].args.value == {"city": "Paris"} and not store.can_undo
    press(view.table, Qt.Key.Key_Z,
          Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert ed.cards[2].calls[0].args.value == {"city": "Oslo", "unit": "celsius"}
    assert view.act_redo.isEnabled() and view.act_redo.text() == "Redo Edit ex-1"
    # an undo selects the example it touched, wherever the table was
    assert view.select_example("ex-0") and ed.example_id == "ex-0"
    view.undo()
    assert ed.example_id == "ex-1" and view.table.currentIndex().row() == 1
    assert ed.cards[2].calls[0].args.value == {"city": "Paris"}
    assert view.select_example("ex-2")
    view.redo()
    assert ed.example_id == "ex-1" and ed.cards[2].calls[0].args.value == {
        "city": "Oslo", "unit": "celsius"}

    # structure: add a call (its schema follows the chosen tool), remove a message
    ed.cards[2].findChild(QPushButton, "addCall").click()
    assert len(ed.cards[2].calls) == 2
    new = ed.cards[2].calls[1]
    assert new.name.currentText() == "get_weather" and [i.path for i in new.args.issues] == [
        "$.city"]
    ed._message_action("remove", 4)
    assert ed.flush() and len(store.get_dict("ex-1")["messages"]) == 4
    assert len(store.get_dict("ex-1")["messages"][2]["tool_calls"]) == 2
    # arguments that are not a JSON object stay as a draft (never saved, never lost)
    ed.cards[2].calls[1].args.set_text('{"city": ')
    ed._changed(False)
    assert ed.flush() and ed.drafts == 1
    assert view.select_example("ex-0") and view.select_example("ex-1")
    assert ed.cards[2].calls[1].args.plain_text() == '{"city": '
    # a pending edit is written when the tab goes away (another tab, the window closing)
    ed.cards[0].content.setPlainText("Be brief.")
    window.tabs.setCurrentIndex(1)
    assert store.get_dict("ex-1")["messages"][0]["content"] == "Be brief."


def test_import_wizard_previews_reports_bad_lines_and_commits(window, qloop, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from phi4studio.ui.tabs.datasets.import_dialog import ImportWizard

    view = tab(window)
    src = tmp_path / "calls.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"Weather in city {i}?"},
                          {"role": "assistant", "tool_calls": [{
                              "id": "c1", "type": "function", "function": {
                                  "name": "get_weather",
                                  "arguments": json.dumps({"city": f"C{i}"})}}]},
                          {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
                          {"role": "assistant", "content": "Sunny."}],
             "tools": [{"type": "function", "function": {
                 "name": "get_weather", "description": "Weather",
                 "parameters": WEATHER_TOOL["inputSchema"]}}]} for i in range(30)]
    lines = [json.dumps(r) for r in rows]
    lines.insert(7, '{"messages": [truncated')
    src.write_text("\n".join(lines) + "\n")

    dlg = view.show_import()
    assert isinstance(dlg, ImportWizard) and dlg.isVisible()
    assert not dlg.next_button.isEnabled()
    dlg.set_path(src)
    assert dlg.new_name.text() == "calls" and dlg.next_button.isEnabled()
    dlg.new_name.setText("Weather calls")
    dlg.next_button.click()  # preview, as a job
    run(qloop, until(lambda: dlg.nav.page == "preview"))
    assert "OpenAI chat" in dlg.detected.text() and "detected" in dlg.detected.text()
    assert dlg.examples.rowCount() == 20 and dlg.examples.item(0, 2).text() == "get_weather"
    assert any("line 8" in dlg.preview_issues.item(i).text()
               for i in range(dlg.preview_issues.count()))
    # an explicit format override reads the file again as that format
    dlg.reformat.setCurrentIndex(dlg.reformat.findData("xlam"))
    dlg._reread()
    run(qloop, until(lambda: dlg.job.state.finished))
    assert dlg.examples.rowCount() == 0 and not dlg.next_button.isEnabled()
    dlg.reformat.setCurrentIndex(0)
    dlg._reread()
    run(qloop, until(lambda: dlg.job.state.finished and dlg.examples.rowCount() == 20))

    before = view.library.datasets()  # the first-run sample dataset
    dlg.next_button.click()  # import: a bad line, so nothing is written; the report lists it
    run(qloop, until(lambda: dlg.nav.page == "report"))
    assert view.library.datasets() == before
    assert dlg.report_list.item(0).text().startswith("line 8: not valid JSON")
    assert dlg.next_button.text() == "Import the 30 good example(s)"
    dlg.next_button.click()
    run(qloop, until(lambda: dlg.nav.page == "done"))
    info = view.library.find("Weather calls")
    assert info.n_examples == 30 and view.dataset_id == info.id
    assert view.model.total() == 30 and "30 example(s) imported" in dlg.done_label.text()
    lm = view.list_panel.model
    assert lm.data(lm.index(lm.row_of(info.id), 0)).startswith("Weather calls\n30 examples")
    dlg.close()


def big_dataset(path: Path, n: int) -> DatasetStore:
    """`n` examples fast: 500 varied ones through the store, then copied inside SQLite with new
    ids (the derived columns, tool rows and search index copied along)."""
    store = DatasetStore.create(path, "Big")
    base: list[dict[str, Any]] = []
    rnd = random.Random(7)
    for i in range(500):
        if i % 5 == 0:
            base.append(chat_example(i, f"tell me something about topic {rnd.randint(0, 99)}",
                                     split="test"))
        else:
            d = weather_example(i, city=rnd.choice(["Paris", "Oslo", "Lima", "Kyoto"]),
                                split=rnd.choice(["train", "validation"]))
            if i % 7 == 0:
                d["tools"] = [WEATHER_TOOL, EMAIL_TOOL]
                d["scenario"] = "multiple"
            base.append(d)
    store.add_many(base, record_undo=False)
    store.close()
    c = sqlite3.connect(path)
    cols = ("scenario, split, source, n_messages, n_user, n_calls, called, preview, exact_hash, "
            "norm_hash, data_hash, validity, n_errors, n_warnings, updated_at")
    with c:
        for k in range(1, n // 500):
            c.execute(f"INSERT INTO examples (pos, id, {cols}, data) SELECT pos + ?, "
                      f"id || '-{k}', {cols}, json_set(data, '$.id', id || '-{k}') FROM examples "
                      "WHERE pos <= 500", (k * 500,))
            c.execute("INSERT INTO example_tools SELECT pos + ?, name, called FROM example_tools "
                      "WHERE pos <= 500", (k * 500,))
            c.execute("INSERT INTO examples_fts (rowid, text) SELECT rowid + ?, text FROM "
                      "examples_fts WHERE rowid <= 500", (k * 500,))
    c.close()
    return DatasetStore.open(path)


def test_large_dataset_pages_lazily_and_filters_fast(window, qloop, qtbot, figures) -> None:  # type: ignore[no-untyped-def]
    from phi4studio.core.datasets.library import new_dataset_id, store_file

    view = tab(window)
    n = 20_000
    lib = view.library
    ds = new_dataset_id()
    t0 = time.perf_counter()
    big_dataset(store_file(lib.workspace, ds), n).close()
    figures("datasets tab: make a 20k dataset for the test (s)", time.perf_counter() - t0)
    lib.register(ds, "Big")  # a new dataset in the list is selected
    assert view.dataset_id == ds and lib.get(ds).n_examples == n
    view.open_dataset(None)
    read_before = view.model.pages_read
    t0 = time.perf_counter()
    view.open_dataset(ds)
    view.table.viewport().repaint()
    figures("datasets tab: open 20k dataset + first page (ms)", (time.perf_counter() - t0) * 1e3)
    model, table = view.model, view.table
    assert model.rowCount() == n and model.pages_read - read_before <= 2
    assert view.count_label.text() == "20,000"

    # jump anywhere: one keyset page per jump, never the whole dataset
    t0 = time.perf_counter()
    rnd = random.Random(1)
    for _ in range(40):
        r = rnd.randrange(n)
        table.scrollTo(model.index(r, 0))
        table.viewport().repaint()
        assert model.row(r).id.startswith(("ex-", "chat-"))
    per_jump = (time.perf_counter() - t0) * 1e3 / 40
    figures("datasets tab: random jump + repaint in 20k rows (ms, mean)", per_jump)
    assert len(model._pages) <= 64
    table.scrollToBottom()
    table.viewport().repaint()
    assert model.row(n - 1).id == "ex-499-39"
    assert per_jump < 100

    # filters: tool, scenario, split, free text (debounced)
    t0 = time.perf_counter()
    view.tool_filter.setCurrentIndex(view.tool_filter.findData("send_email"))
    figures("datasets tab: filter by tool in 20k (ms)", (time.perf_counter() - t0) * 1e3)
    offering = [i for i in range(500) if i % 5 == 0 or i % 7 == 0]  # chats offer both tools
    assert model.total() == 40 * len(offering)
    view.tool_filter.setCurrentIndex(0)
    view.split_filter.setCurrentIndex(view.split_filter.findData("test"))
    assert model.total() == n // 5
    assert {model.row(i).split for i in range(0, model.total(), 97)} == {"test"}
    view.split_filter.setCurrentIndex(0)
    qtbot.keyClicks(view.search, "topic")
    assert model.total() == n  # not yet: the search waits for a pause in typing
    t0 = time.perf_counter()
    run(qloop, until(lambda: model.total() == n // 5))
    figures("datasets tab: search 20k after the debounce (ms)",
            (time.perf_counter() - t0) * 1e3 - 250)
    assert view.count_label.text() == f"{n // 5:,} of {n:,}"
    assert view.editor.example_id is not None and view.editor.example_id.startswith("chat-")


def test_delete_to_trash_undo_restore_and_rename(window, qloop, qtbot) -> None:  # type: ignore[no-untyped-def]
    view = tab(window)
    store = dataset(view, "Keep me", [weather_example(i) for i in range(4)])
    ds = view.dataset_id
    panel = view.list_panel
    box = panel.delete_dataset()
    assert isinstance(box, QMessageBox) and "Keep me" in box.text() and "trash" in box.text()
    box.done(QMessageBox.StandardButton.Cancel)
    assert view.library.get(ds).n_examples == 4
    box = panel.delete_dataset()
    box.done(QMessageBox.StandardButton.Yes)
    assert ds not in [d.id for d in view.library.datasets()]
    assert panel.undo_bar.isVisibleTo(panel) and view.dataset_id != ds
    panel.undo_button.click()
    assert view.dataset_id == ds and view.model.rowCount() == 4
    store = view.library.store(ds)
    assert store.count() == 4

    dlg = panel.rename_dataset()
    dlg.setTextValue("Renamed")
    dlg.accept()
    assert view.library.get(ds).name == "Renamed" and store.name == "Renamed"
    panel.delete_dataset().done(QMessageBox.StandardButton.Yes)
    panel.trash_menu.aboutToShow.emit()
    acts = [a for a in panel.trash_menu.actions() if a.text().startswith("Restore")]
    assert len(acts) == 1 and "Renamed" in acts[0].text()
    acts[0].trigger()
    assert view.library.get(ds).n_examples == 4 and view.dataset_id == ds


def test_validation_panel_jumps_to_the_field_and_coverage_draws(window, qloop) -> None:  # type: ignore[no-untyped-def]
    view = tab(window)
    bad = weather_example(2)
    bad["messages"][2]["tool_calls"][0]["arguments"] = {"city": "Oslo", "unit": "kelvin"}
    extra = weather_example(3)
    extra["messages"][2]["tool_calls"][0]["arguments"] = {"wind": 3}
    dataset(view, "Checked", [weather_example(0), chat_example(1, "hello"), bad, extra])
    job = view.validate()
    run(qloop, view.studio.queue.wait(job))
    run(qloop, until(lambda: view.validation.tree.topLevelItemCount() == 3))
    tree = view.validation.tree
    items = {tree.topLevelItem(i).text(2): tree.topLevelItem(i) for i in range(3)}
    base = "$.messages[2].tool_calls[0].arguments"
    assert set(items) == {base + ".unit", base + ".wind", base + ".city"}
    # a forbidden key and a missing required key are named by their own path
    tree.itemClicked.emit(items[base + ".wind"], 0)
    wind = view.editor.cards[2].calls[0].args
    assert view.editor.example_id == "ex-3" and wind.text.textCursor().selectedText() == '"wind"'
    assert sorted(i.path for i in wind.issues) == ["$.city", "$.wind"]
    item = items[base + ".unit"]
    assert item.text(0) == "error" and item.text(1) == "ex-2"
    assert item.text(2) == "$.messages[2].tool_calls[0].arguments.unit"
    assert view.library.get(view.dataset_id).validity.error == 2
    view.select_example("chat-1")
    view.validation.tree.itemClicked.emit(item, 0)
    ed = view.editor
    assert ed.example_id == "ex-2"
    args = ed.cards[2].calls[0].args
    assert args.text.hasFocus() and args.text.textCursor().selectedText() == '"unit"'
    assert [i.path for i in args.issues] == ["$.unit"]
    view.validity_filter.setCurrentIndex(view.validity_filter.findData("error"))
    assert view.model.total() == 2

    view.bottom.setCurrentWidget(view.coverage)
    run(qloop, until(lambda: bool(view.coverage.mix.bars)))
    mix = {b.label: b for b in view.coverage.mix.bars}
    assert mix["single"].value == 3 / 4 and mix["single"].target == 0.30
    assert [b.label for b in view.coverage.tools.bars] == ["get_weather", "send_email"]
    assert not view.coverage.grab().isNull()
    job = view.coverage_report()
    run(qloop, view.studio.queue.wait(job))
    run(qloop, until(lambda: "Gaps:" in view.coverage.report.toPlainText()))
    assert view.coverage.tools.title == "Calls per tool"
    assert view.coverage.lengths.isVisibleTo(view.coverage)
    assert sum(b.value for b in view.coverage.lengths.bars) == 4


def test_synthesis_split_and_export_dialogs(window, qloop, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QDialogButtonBox

    from phi4studio.ui.tabs.datasets import dialogs

    view = tab(window)
    queue = view.studio.queue

    def ok(dlg: Any) -> Any:
        dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
        job = queue.jobs[-1]
        run(qloop, queue.wait(job))
        return job

    dlg = dialogs.show_synthesis(view)
    assert dlg.isVisible() and dlg.catalog.text().endswith("tools.json")
    dlg.n.setValue(60)
    dlg.seed.setValue(5)
    dlg.new_name.setText("Synth")
    job = ok(dlg)
    run(qloop, until(lambda: view.dataset_id == job.made_dataset))
    assert view.model.total() == 60 and view.library.get(view.dataset_id).name == "Synth"
    tools = view.store.tool_counts()

    dlg = dialogs.show_split(view)
    first = dlg.holdout.item(0)
    first.setCheckState(Qt.CheckState.Checked)
    held = first.text()
    job = ok(dlg)
    assert "train" in job.message, job.error
    splits = view.store.counts_by("split")
    assert None not in splits and splits["test"] >= tools[held][1]
    assert [v.name for v in view.store.versions.list()] == ["Before split (seed 0)"]
    run(qloop, until(lambda: view.model.row(0).split is not None))  # the table follows

    dlg = dialogs.show_export(view)
    dlg.format.setCurrentIndex(dlg.format.findData("trl"))
    dlg.which.setCurrentIndex(dlg.which.findData("train"))
    out = tmp_path / "train.jsonl"
    dlg.out.setText(str(out))
    job = ok(dlg)
    assert job.error is None and len(out.read_text().splitlines()) == splits["train"]
    dlg = dialogs.show_export(view)  # rendered text for a model family from the registry
    assert not dlg.family.isEnabled()
    dlg.format.setCurrentIndex(dlg.format.findData("rendered"))
    assert dlg.family.isEnabled() and [dlg.family.itemData(i) for i in range(
        dlg.family.count())] == ["phi4-mini", "phi4", "hermes", "chatml-notools", "studio"]
    dlg.family.setCurrentIndex(dlg.family.findData("hermes"))
    dlg.which.setCurrentIndex(dlg.which.findData("test"))
    dlg.out.setText(str(tmp_path / "hermes.jsonl"))
    job = ok(dlg)
    lines = [json.loads(x) for x in (tmp_path / "hermes.jsonl").read_text().splitlines()]
    assert len(lines) == splits["test"] and job.result.format == "rendered:hermes"
    assert all(x["format"] == "hermes" and "<|im_start|>" in x["text"] for x in lines)
    dlg = dialogs.show_synthesis(view)
    dlg.from_server.setChecked(True)
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    assert "command that starts the MCP server" in dlg.error.text() and dlg.isVisible()
    dlg.reject()
    dlg = dialogs.show_split(view)  # sources to keep in training: the dataset's one source
    assert [dlg.train_only.item(i).text() for i in range(dlg.train_only.count())] == [
        "synthetic:templates (60)"]
    dlg.train_only.item(0).setCheckState(Qt.CheckState.Checked)
    job = ok(dlg)
    assert "60 training-only by their source" in job.message, job.error
    assert view.store.counts_by("split") == {"train": 60}


def test_first_run_shows_the_sample_dataset_once(window, qloop, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from phi4studio.core.datasets.library import DatasetLibrary
    from phi4studio.core.datasets.workflows import SAMPLE_FILE, SAMPLE_NAME
    from phi4studio.core.paths import resource
    from phi4studio.core.studio import Studio

    if not resource(*SAMPLE_FILE).is_file():
        pytest.skip("no sample dataset in resources/")
    view = tab(window)
    infos = view.library.datasets()
    assert [d.name for d in infos] == [SAMPLE_NAME] and view.dataset_id == infos[0].id
    assert view.model.total() == infos[0].n_examples > 0 and view.editor.example_id
    view.library.delete(infos[0].id)  # a deleted sample stays deleted
    again = Studio.open()
    lib = DatasetLibrary(lambda: again.workspace)
    assert lib.datasets() == []
    lib.close()
    again.close()
    other = Studio.open(workspace=tmp_path / "other")  # only the default workspace gets it
    lib = DatasetLibrary(lambda: other.workspace)
    assert lib.datasets() == []
    lib.close()
    other.close()


def test_versions_panel_restores_and_a_split_is_undone(window, qloop, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QDialogButtonBox

    from phi4studio.ui.tabs.datasets import dialogs, versions_panel

    view = tab(window)
    queue = view.studio.queue
    store = dataset(view, "Versioned", [weather_example(i, city=f"C{i}") for i in range(12)])
    vc = view.versions
    panel = vc.panel
    view.bottom.setCurrentWidget(panel)
    run(qloop, until(lambda: "No version saved yet" in panel.summary.text()))
    panel.name.setText("start")
    panel.save_button.click()  # a job
    run(qloop, queue.wait(queue.jobs[-1]))
    run(qloop, until(lambda: panel.tree.topLevelItemCount() == 1))
    assert [panel.tree.topLevelItem(0).text(c) for c in range(5)] == [
        "start", "12", "+12", "~0", "-0"]
    store.update(weather_example(3, city="Rome"))
    store.delete(["ex-4"])
    panel.load(store)
    assert panel.summary.text() == "Since “start”: 0 added, 1 changed, 1 removed."
    panel.tree.setCurrentItem(panel.tree.topLevelItem(0))
    assert panel.diff_label.text() == "From this version to now: 0 added, 1 changed, 1 removed."

    panel.restore_button.click()  # small: in place, one step of the tab's undo history
    assert "ex-4" in store and "C3" in json.dumps(store.get_dict("ex-3"))
    assert view.act_undo.text() == "Undo Restore version 'start'" and view.model.total() == 12
    view.undo()
    assert "ex-4" not in store and view.model.total() == 11

    monkeypatch.setattr(versions_panel, "IN_PLACE_LIMIT", 0)  # large: a job, state kept first
    panel.tree.setCurrentItem(panel.tree.topLevelItem(0))
    job = panel.restore_button.click() or queue.jobs[-1]
    run(qloop, queue.wait(job))
    assert job.message.startswith("Restored 'start': 1 added, 1 changed, 0 removed")
    run(qloop, until(lambda: view.model.total() == 12))
    assert [v.name for v in store.versions.list()] == ["start", "Before restoring 'start'"]
    monkeypatch.undo()

    dlg = dialogs.show_split(view)  # a split job: Ctrl+Z in the tab takes it back
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    run(qloop, queue.wait(queue.jobs[-1]))
    run(qloop, until(lambda: None not in store.counts_by("split")))
    assert view.act_undo.isEnabled() and view.act_undo.text() == "Undo Split"
    view.undo()
    assert store.counts_by("split") == {None: 12}
    run(qloop, until(lambda: view.model.row(0).split is None))
    assert view.act_undo.text() == "Undo Restore version 'Before split (seed 0)'"
    view.undo()  # and the undo itself can be undone: the split is back
    assert None not in store.counts_by("split")
    panel.load(store)
    panel.tree.setCurrentItem(panel.tree.topLevelItem(0))
    panel.delete_button.click()
    assert [v.name for v in store.versions.list()] == [
        "Before restoring 'start'", "Before split (seed 0)"]


def test_token_lengths_flag_long_examples(window, qloop, model_cache_dir, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    folder = tmp_path / "tok"  # a model folder holding a tokenizer.json (no chat template)
    folder.mkdir()
    shutil.copy(smollm2_tokenizer_json(model_cache_dir), folder / "tokenizer.json")
    view = tab(window)
    long = chat_example(9, "Please summarise: " + "lorem ipsum " * 200)
    dataset(view, "Tokens", [weather_example(i, city=f"C{i}") for i in range(3)] + [long])
    panel = view.validation
    panel.tokenizer.setText(str(folder))
    panel.family.setCurrentIndex(panel.family.findData("chatml-notools"))
    panel.max_tokens.setValue(300)
    had_transformers = "transformers" in sys.modules
    job = view.validate()
    run(qloop, view.studio.queue.wait(job))
    assert job.error is None
    assert any("token lengths: tok (chatml-notools)" in x for x in job.log.lines)
    run(qloop, until(lambda: panel.tree.topLevelItemCount() == 1))
    item = panel.tree.topLevelItem(0)
    assert (item.text(1), item.text(2)) == ("chat-9", "$")
    assert "the limit is 300" in item.text(3)
    # counted with `tokenizers` in the job's thread: transformers never enters the app
    assert ("transformers" in sys.modules) == had_transformers
    job = view.coverage_report()  # the full report counts real tokens too
    run(qloop, view.studio.queue.wait(job))
    assert job.result.over_length == 1 and not job.result.length_is_estimate
    # the choice is kept with the dataset
    other = view.library.create("Other").id
    view.list_panel.select(other)
    assert panel.tokenizer.text() == ""
    view.list_panel.select(next(d.id for d in view.library.datasets() if d.name == "Tokens"))
    assert panel.tokenizer.text() == str(folder) and panel.max_tokens.value() == 300
    assert panel.family.currentData() == "chatml-notools"


def test_import_wizard_takes_bfcl_answers_and_claude_tools(window, qloop, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    fx = Path(__file__).parents[1] / "core" / "datasets" / "fixtures"
    view = tab(window)
    questions = tmp_path / "BFCL_v3_simple.json"  # no possible_answer/ folder beside it
    shutil.copy(fx / "bfcl" / "BFCL_v3_simple.json", questions)
    dlg = view.show_import()
    dlg.set_path(questions)
    dlg.answers_edit.setText(str(tmp_path / "nope.json"))
    assert not dlg.next_button.isEnabled() and dlg.status.text() == "No such BFCL answers file."
    dlg.answers_edit.setText(str(fx / "bfcl" / "possible_answer" / "BFCL_v3_simple.json"))
    assert dlg.next_button.isEnabled()
    dlg.next_button.click()
    run(qloop, until(lambda: dlg.nav.page == "preview"))
    assert dlg.examples.rowCount() == 3 and "BFCL" in dlg.detected.text()
    dlg.close()

    read = {"name": "Read", "description": "Read a file", "inputSchema": {
        "type": "object", "properties": {"file_path": {"type": "string"}}}}
    catalog = tmp_path / "claude_tools.json"
    catalog.write_text(json.dumps({"tools": [read]}))
    dlg = view.show_import()
    dlg.set_path(fx / "claude_session.jsonl")
    dlg.tools_edit.setText(str(catalog))
    dlg.next_button.click()
    run(qloop, until(lambda: dlg.nav.page == "preview"))
    dlg.next_button.click()
    run(qloop, until(lambda: dlg.nav.page == "done"))
    store = view.library.store(view.library.find("claude_session").id)
    main = store.get_dict(store.ids()[0])
    assert main["tools"][0] == read  # the catalog's definition, not a stub
    dlg.close()
