#!/usr/bin/env python3
"""Dataset store benchmark: 100k examples imported, opened, paged, filtered, searched, validated.

    .venv/bin/python benchmarks/bench_datasets.py [--n 100000] [--keep DIR]

Prints the timings (the code lives in phi4studio.core.datasets.bench).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from phi4studio.core.datasets.bench import main

if __name__ == "__main__":
    sys.exit(main())
