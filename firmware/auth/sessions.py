"""Login sessions: a random cookie token, its CSRF token, and two expiries.

Sessions live in memory only: a restart (a crash, an update, the watchdog) logs everyone out,
and nothing secret is left on the card. The store keeps a hash of each token, not the token.
A session remembers the password it was made under (:meth:`PasswordStore.fingerprint`), so a
password change ends every other session, even one made by ``mrig set-password`` from a shell.
"""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

COOKIE_NAME = "mrig_session"
CSRF_HEADER = "X-CSRF-Token"
IDLE_S = 7 * 86400
"""A session unused for a week ends."""
LIFETIME_S = 30 * 86400
"""Every session ends a month after login, however busy (the cookie's Max-Age)."""
MAX_SESSIONS = 64


@dataclasses.dataclass
class Session:
    key: str
    csrf_token: str
    password_fingerprint: str
    created_s: float
    last_seen_s: float

    def expires_in_s(self, now_s: float) -> float:
        return max(0.0, min(self.created_s + LIFETIME_S, self.last_seen_s + IDLE_S) - now_s)


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class SessionStore:
    """Sessions by cookie token. ``clock`` returns seconds (monotonic); tests inject their own."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *,
                 idle_s: float = IDLE_S, lifetime_s: float = LIFETIME_S,
                 limit: int = MAX_SESSIONS) -> None:
        self._clock = clock
        self._idle_s = idle_s
        self._lifetime_s = lifetime_s
        self._limit = limit
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, password_fingerprint: str) -> tuple[str, Session]:
        """A new session; returns the cookie token (shown once) and the session."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(_key(token), secrets.token_urlsafe(32), password_fingerprint, now, now)
        with self._lock:
            self._sessions[session.key] = session
            while len(self._sessions) > self._limit:  # the least recently used goes first
                self._sessions.popitem(last=False)
        return token, session

    def get(self, token: str | None, password_fingerprint: str | None) -> Session | None:
        """The live session for ``token``, touched; None (and forgotten) when expired or made
        under another password."""
        if not token or password_fingerprint is None or len(token) > 256:
            return None
        key = _key(token)
        now = self._clock()
        with self._lock:
            session = self._sessions.get(key)
            if session is None:
                return None
            if (
                now - session.created_s >= self._lifetime_s
                or now - session.last_seen_s >= self._idle_s
                or session.password_fingerprint != password_fingerprint
            ):
                del self._sessions[key]
                return None
            session.last_seen_s = now
            self._sessions.move_to_end(key)
            return session

    def end(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.key, None)

    def end_all_except(self, keep: Session | None, password_fingerprint: str | None) -> int:
        """End every session but ``keep`` (which moves to the new password); returns how many."""
        with self._lock:
            ended = [k for k in self._sessions if keep is None or k != keep.key]
            for k in ended:
                del self._sessions[k]
            if keep is not None and keep.key in self._sessions and password_fingerprint:
                keep.password_fingerprint = password_fingerprint
            return len(ended)
