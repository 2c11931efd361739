"""First start: proving you hold the camera before choosing its password.

There is no default password. Until one is set, the setup page asks for either

* the **setup code** the server prints to its log (``journalctl -u mrig``) at start, a one-time
  code of 10 characters from an alphabet without look-alikes (50 bits; guessing it is hopeless
  at five tries a minute), or
* a **3-second press of the shutter button** while the page waits: the page claims the button
  (:meth:`ButtonGate.arm`, one device at a time), the button's "held" hook calls
  :meth:`ButtonGate.held`, and the page then sets the password with its claim.

Both prove physical access (the journal needs a shell on the Pi). Both are consumed by a
successful setup.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path

from firmware.auth.exc import SetupBusy
from firmware.storage import atomic_write

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""32 symbols: no 0/O or 1/I, so a code read off a terminal is typed right."""
CODE_CHARS = 10
BUTTON_HOLD_S = 3.0
BUTTON_WINDOW_S = 120.0


def normalise_code(text: str) -> str:
    return "".join(c for c in text.upper() if c not in " -")


class SetupCode:
    """The one-time code printed at start while no password is set.

    With a ``path`` (0600, beside the password) the code is kept until a password is set: a
    service restarted meanwhile (a missing camera restarts it every minute or so) prints the
    same code again, so the one the owner has just read from the log still works."""

    def __init__(self, path: Path | None = None) -> None:
        self._code: str | None = None
        self._lock = threading.Lock()
        self.path = path

    @property
    def active(self) -> bool:
        return self._code is not None

    def issue(self) -> str:
        """The code (the kept one, else a fresh one), formatted ``ABCDE-FGHJK`` for the log."""
        kept = None
        if self.path is not None:
            with contextlib.suppress(OSError, UnicodeDecodeError):
                kept = self.path.read_text().strip()
        if kept and len(kept) == CODE_CHARS and all(c in ALPHABET for c in kept):
            self._code = kept
        else:
            self._code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARS))
            if self.path is not None:
                with contextlib.suppress(OSError):  # unkept, it is only new at each start
                    self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                    atomic_write(self.path, self._code.encode(), mode=0o600)
        return f"{self._code[:5]}-{self._code[5:]}"

    def matches(self, text: str) -> bool:
        code = self._code
        if code is None or len(text) > 64:
            return False
        return hmac.compare_digest(normalise_code(text).encode(), code.encode())

    def take(self, text: str) -> str | None:
        """The code, consumed, if ``text`` is it (one caller wins, however many try at once);
        :meth:`restore` puts it back if the password could not be stored."""
        with self._lock:
            if not self.matches(text):
                return None
            code, self._code = self._code, None
            return code

    def restore(self, code: str) -> None:
        with self._lock:
            if self._code is None:
                self._code = code

    def consume(self) -> None:
        self._code = None
        if self.path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()


class ButtonGate:
    """Setup by holding the shutter button; one waiting device at a time.

    Wire it to the GPIO button's held hook (gpiozero ``Button(pin, hold_time=3).when_held``)::

        gate = app.state.security.button
        button.when_held = gate.attach()
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 window_s: float = BUTTON_WINDOW_S) -> None:
        self._clock = clock
        self._window_s = window_s
        self._lock = threading.RLock()  # take() calls confirmed()
        self._available = False
        self._claim: str | None = None
        self._deadline = 0.0
        self._pressed = False

    @property
    def available(self) -> bool:
        return self._available

    def attach(self) -> Callable[[], None]:
        """Mark the button as present; returns the callback for its 3-second "held" hook."""
        self._available = True
        return self.held

    def status(self) -> str:
        """``unavailable``, ``idle``, ``waiting`` (a device waits for the press) or ``pressed``."""
        with self._lock:
            if not self._available:
                return "unavailable"
            self._expire()
            if self._claim is None:
                return "idle"
            return "pressed" if self._pressed else "waiting"

    def arm(self) -> tuple[str, float]:
        """Start waiting for the press; returns the claim (kept by the page that asked: only
        it can use the press, and it follows its own claim with :meth:`claim_status`) and its
        lifetime.

        While one device waits, another is refused: the waiting claim can never be swapped
        for someone else's under the owner's thumb. The owner's page, refused, says that
        another device is waiting and the button must not be pressed (the setup code works)."""
        with self._lock:
            self._expire()
            if self._claim is not None:
                raise SetupBusy("another device is already waiting for the shutter button: do "
                                "not press it; use the setup code from the camera's log")
            self._claim = secrets.token_urlsafe(24)
            self._deadline = self._clock() + self._window_s
            self._pressed = False
            return self._claim, self._window_s

    def held(self) -> None:
        """The button was held for 3 s (called from the GPIO thread)."""
        with self._lock:
            self._expire()
            if self._claim is not None:
                self._pressed = True

    def confirmed(self, claim: str) -> bool:
        """Whether ``claim`` is the armed claim and the button was held."""
        with self._lock:
            self._expire()
            return (
                self._claim is not None
                and self._pressed
                and hmac.compare_digest(claim.encode(), self._claim.encode())
            )

    def claim_status(self, claim: str) -> str:
        """This claim's state: ``waiting``, ``pressed``, or ``ended`` (expired, used, or never
        this device's): what its page shows, never another device's state."""
        with self._lock:
            self._expire()
            if self._claim is None or not hmac.compare_digest(claim.encode(), self._claim.encode()):
                return "ended"
            return "pressed" if self._pressed else "waiting"

    def take(self, claim: str) -> bool:
        """Whether ``claim`` is confirmed, consuming it (one caller wins)."""
        with self._lock:
            if not self.confirmed(claim):
                return False
            self._claim, self._pressed = None, False
            return True

    def consume(self) -> None:
        with self._lock:
            self._claim = None
            self._pressed = False

    def _expire(self) -> None:
        if self._claim is not None and self._clock() >= self._deadline:
            self._claim = None
            self._pressed = False
