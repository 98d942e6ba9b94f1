"""`python -m phi4studio`: the app; `--worker NAME` runs a worker (also in the frozen build)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) >= 2 and args[0] == "--worker":
        from phi4studio.workers import run_worker

        return run_worker(args[1], args[2:])
    from phi4studio.cli import main as cli_main

    return cli_main(args)


if __name__ == "__main__":
    sys.exit(main())
