"""Python's cyclic garbage collection, run on the GUI thread only.

The collector runs in whichever thread happens to cross its allocation threshold. When that is a
worker thread (an executor job, `asyncio.to_thread`, a pipe reader) and the garbage holds Qt
objects (a closed page, a model, a timer caught in a reference cycle), Qt destroys them off the
GUI thread, and the process crashes later inside Qt's event processing, at random, more often
under load. So while the window lives automatic collection is off, and this object collects on
the GUI thread, generation by generation, with the interpreter's own thresholds.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer


class MainThreadGC(QObject):
    def __init__(self, parent: QObject | None = None, interval_ms: int = 250) -> None:
        super().__init__(parent)
        self.threshold = gc.get_threshold()
        self.was_enabled = gc.isenabled()
        self.collected = 0
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> None:
        """Collect the generations whose counts passed their thresholds (as the interpreter
        would, but here)."""
        c0, c1, c2 = gc.get_count()
        t0, t1, t2 = self.threshold
        if c0 > t0:
            self.collected += gc.collect(0)
            if c1 > t1:
                self.collected += gc.collect(1)
                if c2 > t2:
                    self.collected += gc.collect(2)

    def stop(self) -> None:
        """Automatic collection back as it was (called when the window closes)."""
        self._timer.stop()
        gc.collect()
        if self.was_enabled:
            gc.enable()

    @property
    def active(self) -> bool:
        return self._timer.isActive()
