"""The camera's security state in one object: password, sessions, throttle, setup, Host list.

The routes in ``firmware/api/routes/auth.py`` and :class:`~firmware.auth.middleware.SecurityMiddleware`
only call this; it has no HTTP in it, so it is tested directly as well.
"""

from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Callable
from pathlib import Path

from firmware.auth.exc import (
    NotAuthenticated,
    PasswordAlreadySet,
    PasswordNotSet,
    SetupRejected,
    WrongPassword,
)
from firmware.auth.hosts import HostAllowList
from firmware.auth.passwords import DEFAULT_COST, PasswordStore, ScryptCost, check_new_password
from firmware.auth.sessions import Session, SessionStore
from firmware.auth.setup import ButtonGate, SetupCode
from firmware.auth.throttle import FailureThrottle
from firmware.storage import remove_unfinished_writes

log = logging.getLogger("firmware.auth")


class Security:
    """Everything the login, setup and guard code needs. ``folder`` keeps the password file."""

    def __init__(
        self,
        folder: Path,
        hosts: HostAllowList,
        *,
        cost: ScryptCost = DEFAULT_COST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # A power cut mid-save leaves a hidden temporary file beside the password, the
        # sessions or the setup code: gone before they are read.
        remove_unfinished_writes(Path(folder))
        self._data_dir = Path(folder).parent  # what `mrig set-password --data-dir` takes
        self.passwords = PasswordStore(folder, cost=cost)
        self.sessions = SessionStore(clock, path=Path(folder) / "sessions.json")
        self.throttle = FailureThrottle(clock=clock)
        self.setup_code = SetupCode(Path(folder) / "setup-code")
        self.button = ButtonGate(clock)
        self.hosts = hosts
        self._clock = clock

    @property
    def password_set(self) -> bool:
        return self.passwords.is_set()

    def announce_setup(self, where: str = "the camera's address") -> str | None:
        """At start with no password: issue the one-time setup code and log it (the journal on
        the Pi) in a frame, so it stands out as the last thing the start prints. Returns the
        code, or None when a password is set."""
        if self.password_set:
            return None
        code = self.setup_code.issue()
        lines = [
            "First start: no password is set yet.",
            f"Open {where} in a browser and enter the setup code",
            "",
            f"    setup code {code}",
            "",
            "then choose your password.",
        ]
        if self.button.available:
            lines.append("Or hold the camera's shutter button for 3 s when the page asks.")
        lines.append(f"Or, on this machine: mrig set-password --data-dir {shlex.quote(str(self._data_dir))}")
        width = max(len(line) for line in lines)
        frame = "+" + "-" * (width + 4) + "+"
        log.warning("\n".join(["", frame, *(f"|  {line:<{width}}  |" for line in lines), frame]))
        return code

    def session_for(self, token: str | None) -> Session | None:
        return self.sessions.get(token, self.passwords.fingerprint())

    def expires_in_s(self, session: Session) -> float:
        return session.expires_in_s(self._clock())

    # --- what the routes do --------------------------------------------------------------

    def login(self, password: str, client: str | None, *,
              device: str = "") -> tuple[str, Session]:
        """A new session for the right password; throttled per client and overall, the
        attempt counted before the password is hashed."""
        fingerprint = self.passwords.fingerprint()
        if fingerprint is None:
            raise PasswordNotSet("no password is set yet; open the setup page")
        self.throttle.attempt(client)
        if not self.passwords.verify(password):
            raise NotAuthenticated("wrong password")
        self.throttle.succeeded(client)
        return self.sessions.create(fingerprint, client=client, device=device)

    def setup(self, password: str, client: str | None, *, device: str = "",
              setup_code: str | None = None,
              button_claim: str | None = None) -> tuple[str, Session]:
        """Set the first password, proven by the setup code or a confirmed button claim; logs in.

        The proof is taken (consumed) before the password is hashed, under a lock: of several
        requests with the right code at once, one sets the password and the others are
        refused. A password that cannot be stored gives the code back."""
        if self.password_set:
            raise PasswordAlreadySet("a password is already set; log in instead")
        check_new_password(password)  # before the proof is used up
        self.throttle.attempt(client)
        code = self.setup_code.take(setup_code) if setup_code is not None else None
        if code is None and not (button_claim is not None and self.button.take(button_claim)):
            if self.password_set:
                raise PasswordAlreadySet("a password is already set; log in instead")
            raise SetupRejected(
                "wrong setup code (see the server log) or shutter button not held"
            )
        try:
            self.passwords.set(password)
        except BaseException:
            if code is not None:
                self.setup_code.restore(code)
            raise
        self.throttle.succeeded(client)
        self.setup_code.consume()
        self.button.consume()
        self.sessions.end_all_except(None, None)
        log.info("password set up; setup code retired")
        return self.sessions.create(self.passwords.fingerprint() or "", client=client,
                                    device=device)

    def change_password(self, session: Session, current: str, new: str,
                        client: str | None) -> int:
        """Replace the password; every other session ends. Returns how many ended."""
        self.throttle.attempt(client)
        if not self.passwords.verify(current):
            raise WrongPassword("the current password is wrong")
        self.throttle.succeeded(client)
        self.passwords.set(new)
        ended = self.sessions.end_all_except(session, self.passwords.fingerprint())
        log.info("password changed; %d other session(s) ended", ended)
        return ended

    def logout(self, session: Session) -> None:
        self.sessions.end(session)
