"""Login throttling: at most ``limit`` failed attempts per client in a sliding window, and at
most ``overall_limit`` for all clients together.

An attempt is counted *before* its password is hashed (:meth:`FailureThrottle.attempt`), and
forgiven when it succeeds: forty wrong passwords sent at once from one client cost five hashes,
not forty (each scrypt hash takes 32 MiB and a fifth of a second of a Pi's core). Only
failures stay counted, so a live view that reconnects in a loop, or a page that polls, never
trips it. A client is its IP address; IPv6 clients by their /64, since one device can take any
address in its network's /64. The table is bounded, so a flood of addresses cannot grow it
without limit; the overall cap bounds what many addresses together can make the camera hash.
"""

from __future__ import annotations

import collections
import contextlib
import ipaddress
import threading
import time
from collections.abc import Callable

from firmware.auth.exc import TooManyAttempts

LIMIT = 5
WINDOW_S = 60.0
MAX_CLIENTS = 4096
#: Failed attempts per window from all clients together (six clients' worth).
OVERALL_LIMIT = 30


def client_key(address: str | None) -> str:
    """The throttling key of a peer address: the address, or its /64 for IPv6."""
    if not address:
        return "?"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


class FailureThrottle:
    """Counts failures per client; :meth:`check` raises :class:`TooManyAttempts` when over."""

    def __init__(self, limit: int = LIMIT, window_s: float = WINDOW_S, *,
                 clock: Callable[[], float] = time.monotonic,
                 max_clients: int = MAX_CLIENTS, overall_limit: int = OVERALL_LIMIT) -> None:
        self.limit = limit
        self.window_s = window_s
        self.overall_limit = overall_limit
        self._clock = clock
        self._max_clients = max_clients
        self._failures: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )
        self._overall: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def attempt(self, address: str | None) -> None:
        """Count an attempt before it is checked (it stays counted unless :meth:`succeeded`);
        :class:`TooManyAttempts` when the client, or everyone together, is over."""
        key = client_key(address)
        now = self._clock()
        with self._lock:
            times = self._client_allowed(key, now)
            while self._overall and self._overall[0] <= now - self.window_s:
                self._overall.popleft()
            # The overall cap stops clients that have failed already: one with no recent
            # failure (the owner) always gets its try, however many others are guessing.
            if times is not None and len(self._overall) >= self.overall_limit:
                raise TooManyAttempts(self._overall[0] + self.window_s - now)
            self._record(key, now)

    def check(self, address: str | None) -> None:
        """Raise :class:`TooManyAttempts` if the client has used up its failures."""
        with self._lock:
            self._client_allowed(client_key(address), self._clock())

    def _client_allowed(self, key: str, now: float) -> collections.deque[float] | None:
        """The client's recent failures; :class:`TooManyAttempts` if it has used them up
        (lock held)."""
        times = self._recent(key, now)
        if times is not None and len(times) >= self.limit:
            raise TooManyAttempts(times[0] + self.window_s - now)
        return times

    def failed(self, address: str | None) -> None:
        """Count a failure that was not counted by :meth:`attempt`."""
        key = client_key(address)
        now = self._clock()
        with self._lock:
            self._recent(key, now)
            self._record(key, now)

    def _record(self, key: str, now: float) -> None:
        times = self._failures.get(key)
        if times is None:
            times = self._failures[key] = collections.deque(maxlen=self.limit)
        times.append(now)
        self._overall.append(now)
        self._failures.move_to_end(key)
        while len(self._failures) > self._max_clients:
            self._failures.popitem(last=False)

    def succeeded(self, address: str | None) -> None:
        """The client got in: its failures are forgiven (and this attempt's overall count)."""
        with self._lock:
            times = self._failures.pop(client_key(address), None)
            if times and self._overall:
                with contextlib.suppress(ValueError):
                    self._overall.remove(times[-1])

    def _recent(self, key: str, now: float) -> collections.deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times
