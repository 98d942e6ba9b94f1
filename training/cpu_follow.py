"""CPU threads that follow the free cores during training (`cpu_threads` -1).

The threads a CPU training starts with are the cores other processes leave free at that moment;
a short burst of other work then (a test run, an app starting) would halve a 2-core machine's
training for its whole length. With -1 the trainer measures again between steps, every
`every_s` seconds, and resizes PyTorch's intra-op pool (`torch.set_num_threads`) when the free
cores changed. Measured with psutil over a fifth of a second, this process's own use left out
(it is idle during the measurement); without psutil PyTorch's default stays.
"""

from __future__ import annotations

import os
import time
from typing import Any

from transformers import TrainerCallback


def free_cores(interval: float = 0.2) -> int | None:
    """The cores other processes leave free now (at least one), None where unmeasurable."""
    try:
        import psutil

        me = psutil.Process()
        me.cpu_percent(None)
        total = psutil.cpu_percent(interval=interval)  # all cores, averaged
        mine = me.cpu_percent(None)  # percent of one core
        cores = psutil.cpu_count() or os.cpu_count() or 1
    except Exception:  # noqa: BLE001 - no measurement: keep what runs now
        return None
    busy = max(0.0, float(total) / 100.0 * cores - float(mine) / 100.0)
    return max(1, min(cores, round(cores - busy)))


def threads_now(measure: Any = free_cores) -> int | None:
    """Sets PyTorch's threads to the free cores; returns them (None: left as they were)."""
    import torch

    n = measure()
    if n is not None and n != torch.get_num_threads():
        torch.set_num_threads(n)
    return n


class FollowFreeCores(TrainerCallback):  # type: ignore[misc]
    """Between steps, at most every `every_s` seconds: the threads follow the free cores.
    Each change is logged through `log(text)`."""

    def __init__(self, log: Any, every_s: float = 30.0, measure: Any = free_cores) -> None:
        self.log, self.every_s, self.measure = log, every_s, measure
        self.last = time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        import torch

        now = time.monotonic()
        if now - self.last < self.every_s:
            return
        self.last = now
        before = torch.get_num_threads()
        n = threads_now(self.measure)
        if n is not None and n != before:
            self.log(f"CPU threads {before} -> {n} (the cores other processes leave free) "
                     f"at step {state.global_step}")
