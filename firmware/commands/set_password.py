"""``mrig set-password``: set the web UI's password, at a terminal or from standard input.

At a terminal it asks twice without showing what is typed; otherwise it reads one line (the
password; the line break is not part of it), for scripted installs. It stores its scrypt hash in
``<data-dir>/auth/password.json`` and ends every session of a running server (they were made
under the old password). Example::

    printf '%s\\n' "$PASSWORD" | sudo -u mrig mrig set-password --data-dir /var/lib/mrig
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("set-password", help="set the web UI password from standard input")
    p.add_argument("--data-dir", type=Path, required=True,
                   help="the service's data folder (/var/lib/mrig on the Pi)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from firmware.auth.passwords import PASSWORD_MAX_CHARS, PasswordStore, check_new_password

    if sys.stdin.isatty():
        # At a terminal: not shown as it is typed, and typed twice.
        import getpass

        try:
            password = getpass.getpass("New password: ")
            again = getpass.getpass("Repeat it: ")
        except (EOFError, KeyboardInterrupt):
            print("\nmrig set-password: nothing changed", file=sys.stderr)
            return 2
        if password != again:
            print("mrig set-password: the two passwords differ; nothing changed", file=sys.stderr)
            return 2
    else:
        line = sys.stdin.readline(PASSWORD_MAX_CHARS + 2)
        password = line.removesuffix("\n").removesuffix("\r")
        if not line:
            print("mrig set-password: no password on standard input", file=sys.stderr)
            return 2
    try:
        check_new_password(password)
    except ValueError as e:
        print(f"mrig set-password: {e}", file=sys.stderr)
        return 2
    store = PasswordStore(Path(args.data_dir) / "auth")
    try:
        store.set(password)
    except OSError as e:
        print(f"mrig set-password: cannot write {store.path}: {e}", file=sys.stderr)
        return 1
    print(f"password set in {store.path}; every existing session is logged out")
    return 0
