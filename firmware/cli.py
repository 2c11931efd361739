"""The ``mrig`` command line: one subcommand per module in :mod:`firmware.commands`."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# numpy's OpenBLAS starts a thread per CPU for its first matrix product, and those threads spin
# waiting for more work for a while after each one: CPU time the pipeline's own workers need
# (measured: 0.05 to 0.1 s of CPU in a 12 MP `mrig develop`). mrig's matrices are 3 x 3, which
# one thread does. Set before anything imports numpy; the camera server's develop process
# inherits it.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

#: Subcommand modules, in the order ``mrig --help`` lists them.
COMMANDS = ("serve", "selftest", "develop", "set_password")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; given the arguments, only the subcommand they name is imported when they
    name one (``mrig develop`` then skips the camera server's imports, some 5-10 ms of every
    run), every subcommand otherwise (``mrig --help`` lists them all)."""
    parser = argparse.ArgumentParser(prog="mrig", description="Raspberry Pi HQ camera firmware")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    named = [n for n in COMMANDS if argv and argv[0] == n.replace("_", "-")]
    for name in named or COMMANDS:
        importlib.import_module(f"firmware.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C: a line, not a traceback; no command leaves partial files
        print(f"mrig {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
