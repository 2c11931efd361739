"""The ``mrig`` command line: one subcommand per module in :mod:`firmware.commands`."""

from __future__ import annotations

import argparse
import importlib
import sys

#: Subcommand modules, in the order ``mrig --help`` lists them.
COMMANDS = ("serve", "selftest", "develop", "set_password")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mrig", description="Raspberry Pi HQ camera firmware")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"firmware.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:  # Ctrl-C: a line, not a traceback; no command leaves partial files
        print(f"mrig {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
