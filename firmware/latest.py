"""The newest of a stream of values, and async waiters for a newer one, woken from any thread.

The camera thread publishes frames and the analysis thread publishes snapshots; request
handlers on the event loop wait for "the newest one after the one I last sent". A waiter never
sees an older value than it asked past, and a slow one simply gets the newest when it asks.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Generic, Protocol, TypeVar


class Sequenced(Protocol):
    @property
    def sequence(self) -> int: ...


T = TypeVar("T", bound=Sequenced)


class Latest(Generic[T]):
    """Holds the newest value; :meth:`next_after` waits for one past a sequence number."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: T | None = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]] = []
        #: How many times :meth:`wake_all` has run: a waiter that was busy (not parked) when
        #: it ran passes the count it saw, and is not left to wait out its timeout.
        self.wakes = 0

    @property
    def value(self) -> T | None:
        return self._value

    def publish(self, value: T) -> None:
        """Make ``value`` the newest and wake every waiter (callable from any thread)."""
        with self._lock:
            self._value = value
            waiters, self._waiters = self._waiters, []
        _wake(waiters, value)

    def wake_all(self) -> None:
        """Wake every waiter with nothing (the source stopped or faulted)."""
        with self._lock:
            waiters, self._waiters = self._waiters, []
            self.wakes += 1
        _wake(waiters, None)

    async def next_after(self, sequence: int, timeout_s: float,
                         wakes: int | None = None) -> T | None:
        """The newest value with a sequence above ``sequence``; None on timeout or wake-up,
        including a wake-up since the caller read :attr:`wakes` (``wakes``)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            with self._lock:
                value = self._value
                if value is not None and value.sequence > sequence:
                    return value
                if wakes is not None and wakes != self.wakes:
                    return None
                future: asyncio.Future = loop.create_future()
                self._waiters.append((loop, future))
            try:
                woken = await asyncio.wait_for(future, max(0.0, deadline - loop.time()))
            except TimeoutError:
                return None
            finally:
                with self._lock:
                    if (loop, future) in self._waiters:
                        self._waiters.remove((loop, future))
            if woken is None:
                return None


def _wake(waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future]], value: object) -> None:
    for loop, future in waiters:
        loop.call_soon_threadsafe(_resolve, future, value)


def _resolve(future: asyncio.Future, value: object) -> None:
    if not future.done():
        future.set_result(value)
