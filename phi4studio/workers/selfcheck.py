"""A worker that exercises the job machinery for real (selftest, `bench ui`, contract tests).

    phi4studio --worker selfcheck --steps 20 --interval 0.05
    phi4studio --worker selfcheck --rate 200 --duration 10          # 200 progress events/s
    phi4studio --worker selfcheck --steps 5 --fail-at 3             # error event, exit 1
    phi4studio --worker selfcheck --crash-at 2                      # dies without a word, exit 3
    phi4studio --worker selfcheck --ignore-cancel --steps 100000    # must be terminated
    phi4studio --worker selfcheck --garbage --steps 3               # invalid JSON and binary noise
    phi4studio --worker selfcheck --flood 200000                    # a burst of log lines

On `{"cmd": "cancel"}` it writes a checkpoint line and exits 0, as training does.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from phi4studio.core.jobs.protocol import CommandReader, Emitter


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="phi4studio --worker selfcheck")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--interval", type=float, default=0.02)
    ap.add_argument("--rate", type=float, default=0.0, help="events per second (with --duration)")
    ap.add_argument("--duration", type=float, default=0.0)
    ap.add_argument("--fail-at", type=int, default=-1)
    ap.add_argument("--crash-at", type=int, default=-1)
    ap.add_argument("--ignore-cancel", action="store_true")
    ap.add_argument("--garbage", action="store_true")
    ap.add_argument("--flood", type=int, default=0)
    ap.add_argument("--stderr", default="", help="text to write on stderr first")
    a = ap.parse_args(argv)

    emit = Emitter()
    commands = CommandReader().start()
    if a.stderr:
        print(a.stderr, file=sys.stderr, flush=True)
    steps = a.steps
    interval = a.interval
    if a.rate > 0 and a.duration > 0:
        steps = int(a.rate * a.duration)
        interval = 1.0 / a.rate
    emit("start", message=f"self-check: {steps} steps", total=steps, pid=os.getpid())
    for i in range(a.flood):
        print(f"flood line {i} " + "x" * 40)
    t0 = time.monotonic()
    for step in range(1, steps + 1):
        if commands.cancelled.is_set() and not a.ignore_cancel:
            emit("checkpoint", step=step - 1, message="saved state before stopping")
            emit("log", message=f"cancelled at step {step - 1}")
            return 0
        if step == a.crash_at:
            sys.stderr.write(f"simulated crash at step {step}\n")
            sys.stderr.flush()
            os._exit(3)
        if step == a.fail_at:
            emit("error", message=f"simulated failure at step {step}")
            return 1
        if a.garbage:
            print("{not json at all")
            print('{"type": "progress", "v": 99}')
            sys.stdout.buffer.write(b"\xff\xfe binary \x00 noise\n")
            sys.stdout.flush()
        elapsed = time.monotonic() - t0
        eta = (steps - step) * interval
        emit("progress", step=step, total=steps, loss=1.0 / step, eta_s=round(eta, 3),
             elapsed_s=round(elapsed, 3))
        # keep a steady rate: sleep to the next tick rather than a fixed interval
        target = t0 + step * interval
        delay = target - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    emit("result", data={"steps": steps, "seconds": round(time.monotonic() - t0, 3)})
    emit("done")
    return 0
