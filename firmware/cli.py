"""The ``mrig`` command line."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("mrig: not wired yet", file=sys.stderr)
    return 2
