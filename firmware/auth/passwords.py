"""The password, stored as a scrypt hash (RFC 7914, :func:`hashlib.scrypt` from the standard
library) and compared in constant time.

scrypt is memory-hard, so guessing on a GPU costs what it costs on the Pi; the default cost
(N = 2**15, r = 8, p = 1: 32 MiB and roughly a tenth of a second per guess on a Pi 4) follows
the interactive-login parameters of Percival's paper, "Stronger key derivation via sequential
memory-hard functions" (2009). The parameters are stored beside the hash, so a stronger default
later still verifies older files.

The file is ``<data_dir>/auth/password.json`` (folder 0700, file 0600), written atomically:
a crash leaves the old password or the new one, never a torn file.

Example::

    store = PasswordStore(Path("data/auth"))
    store.set("correct horse battery staple")
    assert store.verify("correct horse battery staple")
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import threading
from pathlib import Path

from firmware.storage import atomic_write

PASSWORD_MIN_CHARS = 8
PASSWORD_MAX_CHARS = 1024
"""Long enough for any passphrase, short enough that hashing it is never a denial of service."""


@dataclasses.dataclass(frozen=True)
class ScryptCost:
    """scrypt's work factors: ``n`` (CPU/memory, a power of two), ``r`` (block size), ``p``."""

    n: int = 2**15
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if not (2 <= self.n <= 2**20 and self.n & (self.n - 1) == 0):
            raise ValueError("scrypt n must be a power of two between 2 and 2**20")
        if not (1 <= self.r <= 32 and 1 <= self.p <= 16):
            raise ValueError("scrypt r must be 1..32 and p 1..16")

    @property
    def memory_bytes(self) -> int:
        return 128 * self.r * self.n


DEFAULT_COST = ScryptCost()


def check_new_password(password: str) -> str:
    """``password`` if it is acceptable as a new password; ValueError saying why otherwise."""
    if not PASSWORD_MIN_CHARS <= len(password) <= PASSWORD_MAX_CHARS:
        raise ValueError(
            f"the password must have {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters"
        )
    if not password.strip():
        raise ValueError("the password must not be only spaces")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise ValueError("the password must not contain control characters (tabs, line breaks)")
    return password


#: Password hashes computed at once in the whole process: each takes 32 MiB at the default
#: cost, so requests beyond these wait their turn instead of adding memory (a 1 GB Pi
#: hashing forty at once would be killed for memory).
HASHES_AT_ONCE = 2
_hashing = threading.BoundedSemaphore(HASHES_AT_ONCE)


def hash_password(password: str, salt: bytes, cost: ScryptCost) -> bytes:
    with _hashing:
        return hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=cost.n, r=cost.r, p=cost.p,
            maxmem=2 * cost.memory_bytes + 1024 * 1024, dklen=32,
        )


class PasswordStore:
    """The one user's password in ``folder``. Thread-safe; the file is the only state."""

    FILE_NAME = "password.json"

    def __init__(self, folder: Path, *, cost: ScryptCost = DEFAULT_COST) -> None:
        self.folder = Path(folder)
        self.path = self.folder / self.FILE_NAME
        self.cost = cost
        self._lock = threading.Lock()
        self._cached: tuple[tuple[int, int, int], str] | None = None

    def is_set(self) -> bool:
        return self.path.is_file()

    def set(self, password: str) -> None:
        """Store a new password (checked with :func:`check_new_password`), replacing any old one.

        Every session made under the old password ends (see :meth:`fingerprint`)."""
        check_new_password(password)
        salt = secrets.token_bytes(16)
        record = {
            "scheme": "scrypt",
            "n": self.cost.n,
            "r": self.cost.r,
            "p": self.cost.p,
            "salt": base64.b64encode(salt).decode(),
            "hash": base64.b64encode(hash_password(password, salt, self.cost)).decode(),
            "set_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        with self._lock:
            self._write(json.dumps(record, indent=1).encode())
            self._cached = None

    def verify(self, password: str) -> bool:
        """Whether ``password`` is the stored one (False when none is set). Constant-time compare."""
        record = self._read()
        if record is None or len(password) > PASSWORD_MAX_CHARS:
            return False
        cost, salt, expected = record
        return hmac.compare_digest(hash_password(password, salt, cost), expected)

    def fingerprint(self) -> str | None:
        """A short id of the stored hash that changes with every :meth:`set` (also one made by
        ``mrig set-password`` while the server runs), so sessions made under an older password
        can be told apart. None when no password is set. Costs one ``stat`` when unchanged."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        cached = self._cached
        if cached is not None and cached[0] == key:
            return cached[1]
        record = self._read()
        if record is None:
            return None
        _, salt, digest = record
        fp = hashlib.sha256(salt + digest).hexdigest()[:32]
        self._cached = (key, fp)
        return fp

    # --- file ----------------------------------------------------------------------------

    def _read(self) -> tuple[ScryptCost, bytes, bytes] | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise OSError(f"{self.path}: unreadable password file ({e}); "
                          "set a new one with `mrig set-password`") from e
        if data.get("scheme") != "scrypt":
            raise OSError(f"{self.path}: unknown password scheme {data.get('scheme')!r}")
        cost = ScryptCost(int(data["n"]), int(data["r"]), int(data["p"]))
        return cost, base64.b64decode(data["salt"]), base64.b64decode(data["hash"])

    def _write(self, data: bytes) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic_write(self.path, data, mode=0o600)
