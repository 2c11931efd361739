"""Login throttling: at most ``limit`` failed attempts per client in a sliding window.

Only failures count (a wrong password or setup code), so a live view that reconnects in a loop,
or a page that polls, never trips it. A client is its IP address; IPv6 clients by their /64,
since one device can take any address in its network's /64. The table is bounded, so a flood
of addresses cannot grow it without limit.
"""

from __future__ import annotations

import collections
import ipaddress
import threading
import time
from collections.abc import Callable

from firmware.auth.exc import TooManyAttempts

LIMIT = 5
WINDOW_S = 60.0
MAX_CLIENTS = 4096


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
                 max_clients: int = MAX_CLIENTS) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._max_clients = max_clients
        self._failures: collections.OrderedDict[str, collections.deque[float]] = (
            collections.OrderedDict()
        )
        self._lock = threading.Lock()

    def check(self, address: str | None) -> None:
        """Raise :class:`TooManyAttempts` if the client has used up its failures."""
        key = client_key(address)
        now = self._clock()
        with self._lock:
            times = self._recent(key, now)
            if times is not None and len(times) >= self.limit:
                raise TooManyAttempts(times[0] + self.window_s - now)

    def failed(self, address: str | None) -> None:
        key = client_key(address)
        now = self._clock()
        with self._lock:
            times = self._recent(key, now)
            if times is None:
                times = self._failures[key] = collections.deque(maxlen=self.limit)
            times.append(now)
            self._failures.move_to_end(key)
            while len(self._failures) > self._max_clients:
                self._failures.popitem(last=False)

    def succeeded(self, address: str | None) -> None:
        with self._lock:
            self._failures.pop(client_key(address), None)

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
