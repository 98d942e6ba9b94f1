"""A child that starts a grandchild which ignores SIGTERM; the child ignores cancel by default.

    python tree.py [--child-ignores-term] [--new-session] [--hold-pipes] [--obey-cancel]

--new-session puts the grandchild in its own session: killing the child's process group misses
it, and once the child is gone only a tree snapshot taken earlier still knows about it.
--hold-pipes leaves the job's stderr pipe open in the grandchild.
--obey-cancel: the child exits 0 on {"cmd": "cancel"}, leaving the grandchild behind.
The start event carries both pids. POSIX only (signals).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time

GRANDCHILD = """
import signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
sys.stdout.write("ready\\n")
sys.stdout.flush()
time.sleep(120)
"""


def emit(type_: str, **fields: object) -> None:
    print(json.dumps({"v": 1, "type": type_, **fields}), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child-ignores-term", action="store_true")
    ap.add_argument("--new-session", action="store_true")
    ap.add_argument("--hold-pipes", action="store_true")
    ap.add_argument("--obey-cancel", action="store_true")
    a = ap.parse_args()
    if a.child_ignores_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    gc = subprocess.Popen(
        [sys.executable, "-c", GRANDCHILD],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=None if a.hold_pipes else subprocess.DEVNULL,
        start_new_session=a.new_session,
    )
    assert gc.stdout is not None
    if gc.stdout.readline().strip() != b"ready":  # SIGTERM is ignored from here on
        return 9
    emit("start", pid=os.getpid(), grandchild=gc.pid)
    if a.obey_cancel:
        for line in sys.stdin:
            if json.loads(line).get("cmd") == "cancel":
                emit("log", message="child exiting, grandchild left behind")
                return 0
    time.sleep(120)
    return 0


if __name__ == "__main__":
    sys.exit(main())
