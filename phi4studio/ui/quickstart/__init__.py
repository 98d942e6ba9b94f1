"""Quick start in the app: the page (page.py), shown on first run and from Help > Quick start...

`QuickStartLauncher` is built by the composition root (app.py) with the session's services: it
opens the page on request and turns the page's links into tab switches (each tab's own public
selection: a dataset opened, an export or an evaluation selected, a run selected).
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QObject
from PySide6.QtWidgets import QWidget

from phi4studio.core.quickstart import QuickStart
from phi4studio.core.studio import Studio

log = logging.getLogger(__name__)
SHOWN_MARKER = "quickstart-shown"
TABS = {"dataset": "Datasets", "run": "Train", "export": "Export", "evaluation": "Evaluate"}


def should_show_on_start(studio: Studio) -> bool:
    """The first start of the app (the page has never been shown, and no flow exists)."""
    if (studio.dirs.config / SHOWN_MARKER).exists():
        return False
    from phi4studio.core.quickstart.state import FlowStore

    try:
        return FlowStore(studio.workspace.root).latest() is None
    except OSError:
        return False


def mark_shown(studio: Studio) -> None:
    try:
        studio.dirs.config.mkdir(parents=True, exist_ok=True)
        (studio.dirs.config / SHOWN_MARKER).write_text("1\n", encoding="utf-8")
    except OSError as exc:  # the page shows again next time: harmless
        log.warning("could not remember that the quick start was shown: %s", exc)


class QuickStartLauncher(QObject):
    def __init__(self, window: Any, studio: Studio, tabs: dict[str, QWidget],
                 training: Any = None) -> None:
        super().__init__(window)
        from phi4studio.core.quickstart.services import Services

        self.window = window
        self.studio = studio
        self.tabs = tabs
        self.quickstart = QuickStart(studio, services=Services.for_studio(studio,
                                                                          training=training))
        self.page: Any = None
        window.quickstart_requested.connect(self.show)

    def show(self) -> Any:
        from phi4studio.core.quickstart.recipe import cuda_available

        if self.page is None:
            from phi4studio.ui.quickstart.page import QuickStartPage

            default = ""
            if not cuda_available(self.studio.runtime_info):  # no network check on the UI thread
                from phi4studio.core.training.models import smollm2_gguf

                found = smollm2_gguf()
                default = str(found) if found else ""
            self.page = QuickStartPage(self.quickstart, self.window, default_base=default)
            self.page.link_activated.connect(self.navigate)
        mark_shown(self.studio)
        self.page.show()
        self.page.raise_()
        self.page.activateWindow()
        return self.page

    def navigate(self, kind: str, ident: str) -> None:
        """Show an artefact of the quick start in its tab."""
        name = TABS.get(kind)
        tab = self.tabs.get(name or "")
        if tab is None:
            return
        self.window.tabs.setCurrentWidget(tab)
        self.window.raise_()
        self.window.activateWindow()
        try:
            if kind == "dataset":
                tab.list_panel.select(ident)
                tab.open_dataset(ident)
            elif kind == "export":
                tab.refresh()
                tab.select(ident)
            elif kind == "evaluation":
                tab.reload()
                tab.select_run(tab.service.get(ident))
            elif kind == "run":
                tab.history_model.refresh()
                row = tab.history_model.row_of(ident)
                if row is not None:
                    tab.history.selectionModel().select(
                        tab.history_model.index(row, 0),
                        QItemSelectionModel.SelectionFlag.ClearAndSelect
                        | QItemSelectionModel.SelectionFlag.Rows)
        except Exception as exc:  # noqa: BLE001 - the tab is shown; selecting is a courtesy
            log.warning("could not select %s %s in its tab: %s", kind, ident, exc)

    def shutdown(self) -> None:
        if self.page is not None:
            self.page.shutdown()
