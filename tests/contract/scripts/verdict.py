"""Exits with a given code after optional protocol events and stderr lines.

    python verdict.py --exit N [--result] [--error MSG] [--stderr-lines K] [--log TEXT]
"""

from __future__ import annotations

import argparse
import json
import sys


def emit(type_: str, **fields: object) -> None:
    print(json.dumps({"v": 1, "type": type_, **fields}), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--exit", type=int, required=True)
    ap.add_argument("--result", action="store_true")
    ap.add_argument("--error", default="")
    ap.add_argument("--stderr-lines", type=int, default=0)
    ap.add_argument("--log", default="")
    a = ap.parse_args()
    if a.log:
        print(a.log, flush=True)
    for i in range(a.stderr_lines):
        print(f"stderr line {i}", file=sys.stderr, flush=True)
    if a.error:
        emit("error", message=a.error)
    if a.result:
        emit("result", data={"answer": 42})
    return a.exit


if __name__ == "__main__":
    sys.exit(main())
