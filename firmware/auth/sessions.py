"""Login sessions: a random cookie token, its CSRF token, and two expiries.

The store keeps a hash of each token, not the token. With a ``path`` the sessions are kept in
that file too (0600, in the password's 0700 folder): a restart (a crash, an update, the
watchdog) does not log the owner out. The file holds the tokens' hashes, which open nothing,
and the CSRF tokens, which are no use without the cookie. Times are stored on the wall
clock and taken back onto the monotonic clock at load. The file is written when a session
starts or ends and at a clean stop (:meth:`SessionStore.save`), not at every request: after a
crash a session's idle time counts from its last save.
A session remembers the password it was made under (:meth:`PasswordStore.fingerprint`), so a
password change ends every other session, even one made by ``mrig set-password`` from a shell.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from firmware.storage import atomic_write

log = logging.getLogger(__name__)

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
    client: str = ""
    """The address it logged in from."""
    device: str = ""
    """What logged in, in words ("Chrome on Android"): from its User-Agent, which is not kept."""

    def expires_in_s(self, now_s: float) -> float:
        return max(0.0, min(self.created_s + LIFETIME_S, self.last_seen_s + IDLE_S) - now_s)

    @property
    def public_id(self) -> str:
        """A name for the session that the sessions list shows and ends it by; derived from
        the token's hash, so it opens nothing."""
        return hashlib.sha256(f"session-id:{self.key}".encode()).hexdigest()[:16]


#: Browsers and systems a User-Agent names, most specific first (Edge and Chrome both say
#: "Chrome"; every iPhone browser says "Safari").
_BROWSERS = (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("FxiOS", "Firefox"), ("CriOS", "Chrome"),
             ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (("iPhone", "iPhone"), ("iPad", "iPad"), ("Android", "Android"),
            ("Mac OS X", "Mac"), ("Windows", "Windows"), ("CrOS", "ChromeOS"), ("Linux", "Linux"))


def describe_device(user_agent: str | None) -> str:
    """ "Chrome on Android", "Safari on iPhone", or "a browser" when nothing is recognised.

    >>> describe_device("Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 "
    ...                 "(KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36")
    'Chrome on Android'
    """
    ua = (user_agent or "")[:512]
    browser = next((name for mark, name in _BROWSERS if mark in ua), "a browser")
    system = next((name for mark, name in _SYSTEMS if mark in ua), None)
    if not ua:
        return "a program (no browser named)"
    return f"{browser} on {system}" if system else browser


def _key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class SessionStore:
    """Sessions by cookie token. ``clock`` returns seconds (monotonic); tests inject their own."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, *,
                 idle_s: float = IDLE_S, lifetime_s: float = LIFETIME_S,
                 limit: int = MAX_SESSIONS, path: Path | None = None,
                 wall_clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._wall = wall_clock
        self._idle_s = idle_s
        self._lifetime_s = lifetime_s
        self._limit = limit
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()
        self.path = path
        if path is not None:
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            records = json.loads(path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            log.warning("%s: unreadable sessions (%s); everyone logs in again", path, e)
            return
        wall = self._wall()
        offset = self._clock() - wall  # wall time -> this clock
        for r in records if isinstance(records, list) else []:
            try:
                # A Pi without a clock may boot behind: a time "in the future" is taken as
                # now, never later, so a session cannot outlive its idle time and lifetime.
                created = min(float(r["created"]), wall)
                last_seen = min(float(r["last_seen"]), wall)
                session = Session(str(r["key"]), str(r["csrf"]), str(r["password"]),
                                  created + offset, last_seen + offset,
                                  str(r.get("client", ""))[:64], str(r.get("device", ""))[:64])
            except (KeyError, TypeError, ValueError):
                continue
            self._sessions[session.key] = session

    def save(self) -> None:
        """Write the sessions to :attr:`path` (if any)."""
        if self.path is None:
            return
        with self._save_lock:  # snapshot to file in one go: an older snapshot never wins
            self._save()

    def _save(self) -> None:
        offset = self._wall() - self._clock()
        with self._lock:
            records = [{"key": s.key, "csrf": s.csrf_token, "password": s.password_fingerprint,
                        "created": round(s.created_s + offset, 3),
                        "last_seen": round(s.last_seen_s + offset, 3),
                        "client": s.client, "device": s.device}
                       for s in self._sessions.values()]
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            atomic_write(self.path, json.dumps(records).encode(), mode=0o600)
        except OSError as e:  # a full or read-only card: sessions stay in memory
            log.warning("%s: cannot keep the sessions (%s); forgetting the kept ones", self.path, e)
            with contextlib.suppress(OSError):  # never a session that ended, after a restart
                self.path.unlink()

    def __len__(self) -> int:
        return len(self._sessions)

    def create(self, password_fingerprint: str, *, client: str | None = None,
               device: str = "") -> tuple[str, Session]:
        """A new session, saying where it logged in from and with what (for the sessions
        list); returns the cookie token (shown once) and the session."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        session = Session(_key(token), secrets.token_urlsafe(32), password_fingerprint, now, now,
                          (client or "")[:64], device[:64])
        with self._lock:
            self._sessions[session.key] = session
            while len(self._sessions) > self._limit:  # the least recently used goes first
                self._sessions.popitem(last=False)
        self.save()
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

    def live(self, password_fingerprint: str | None) -> list[tuple[Session, float]]:
        """The sessions still valid, newest use first, with the seconds each has left."""
        now = self._clock()
        with self._lock:
            sessions = [s for s in self._sessions.values()
                        if s.password_fingerprint == password_fingerprint
                        and s.expires_in_s(now) > 0]
        sessions.sort(key=lambda s: s.last_seen_s, reverse=True)
        return [(s, s.expires_in_s(now)) for s in sessions]

    def alive(self, session: Session) -> bool:
        """Whether ``session`` is still on (not logged out, ended from another device, ended by
        a password change, or expired): long streams check it now and then."""
        with self._lock:
            if self._sessions.get(session.key) is not session:
                return False
        return session.expires_in_s(self._clock()) > 0

    def by_public_id(self, public_id: str) -> Session | None:
        with self._lock:
            return next((s for s in self._sessions.values() if s.public_id == public_id), None)

    def wall_time(self, monotonic_s: float) -> float:
        """A session time as Unix time."""
        return monotonic_s - self._clock() + self._wall()

    def end(self, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session.key, None)
        self.save()

    def end_all_except(self, keep: Session | None, password_fingerprint: str | None) -> int:
        """End every session but ``keep`` (which moves to the new password); returns how many."""
        with self._lock:
            ended = [k for k in self._sessions if keep is None or k != keep.key]
            for k in ended:
                del self._sessions[k]
            if keep is not None and keep.key in self._sessions and password_fingerprint:
                keep.password_fingerprint = password_fingerprint
        self.save()
        return len(ended)
