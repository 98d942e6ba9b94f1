"""CPU cores for the work the studio runs on the processor: onnxruntime's intra-op threads (the
inference worker) take the cores other processes leave free, measured when the model loads:
threads fighting another process for a core run several times slower than fewer threads would.
Training measures the same way, again every 30 s while it runs (`cpu_threads` -1), in
training/cpu_follow.py: the training scripts run without the app's package."""

from __future__ import annotations

import os


def busy_cores(interval: float = 0.5) -> float | None:
    """How many cores other processes keep busy now: the machine's CPU use over `interval`
    seconds, less this process's own. (The load average lags by a minute and counts this
    process too: a command that has just started, importing its libraries, reads as one busy
    core.) None where it cannot be measured."""
    try:
        import psutil

        me = psutil.Process()
        me.cpu_percent(None)
        total = psutil.cpu_percent(interval=interval)  # all cores, averaged, over the interval
        mine = me.cpu_percent(None)  # percent of one core, over the same interval
        cores = psutil.cpu_count() or os.cpu_count() or 1
    except Exception:  # noqa: BLE001 - no measurement: the caller keeps its runtime's default
        return None
    return max(0.0, float(total) / 100.0 * cores - float(mine) / 100.0)


def free_cores(cores: int | None = None, busy: float | None = None,
               interval: float = 0.5) -> int | None:
    """The cores not busy with other processes (at least one; measured over `interval` seconds
    unless `busy` is given), or None where the use cannot be measured."""
    cores = cores or os.cpu_count() or 1
    if busy is None:
        busy = busy_cores(interval)
        if busy is None:
            return None
    return max(1, min(cores, round(cores - busy)))


def cpu_name() -> str:
    """The processor's model name ("AMD EPYC 7B13", "Intel(R) Core(TM) i7-1185G7 ..."): Linux's
    /proc/cpuinfo, macOS's sysctl, else what Python's platform module says; "unknown" where
    none tells."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, sep, value = line.partition(":")
                if sep and key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    if platform.system() == "Darwin":
        import subprocess

        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"],
                                 capture_output=True, text=True, timeout=5, check=False)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.TimeoutExpired):
            pass
    return platform.processor() or platform.machine() or "unknown"
