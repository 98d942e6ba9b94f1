"""One 5 MiB line without a newline until its end, then a result event: nothing may be lost."""

from __future__ import annotations

import json
import sys

SIZE = 5 * 1024 * 1024

if __name__ == "__main__":
    out = sys.stdout.buffer
    for i in range(5):  # digits, so every split piece can be checked
        out.write(str(i).encode() * (SIZE // 5))
    out.write(b"\n")
    out.write(json.dumps({"v": 1, "type": "result", "data": {"size": SIZE}}).encode() + b"\n")
    out.flush()
