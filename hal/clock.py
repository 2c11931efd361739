"""Time as the camera sees it, injectable so tests run faster than real time.

The virtual sensor paces frames with ``clock.wait``; a :class:`SimulatedClock` makes that sleep
advance simulated time at once, so a 30 s exposure takes no wall time in a test.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic_ns(self) -> int: ...

    def sleep(self, seconds: float) -> None: ...

    def wait(self, event: threading.Event, seconds: float) -> bool: ...


class RealClock:
    """The machine's monotonic clock."""

    def monotonic_ns(self) -> int:
        return time.monotonic_ns()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Sleep up to ``seconds`` or until ``event`` is set; True if it was set."""
        return event.wait(max(0.0, seconds))


class SimulatedClock:
    """A clock whose ``sleep`` advances time immediately instead of waiting.

    ``pace_s`` caps a real pause taken on each sleep, so a camera loop running on simulated
    time delivers frames at about its real rate without spinning a CPU core, while a long
    exposure still costs no wall time.

    >>> clock = SimulatedClock()
    >>> clock.sleep(2.5)
    >>> clock.monotonic_ns()
    2500000000
    """

    def __init__(self, start_ns: int = 0, *, pace_s: float = 0.0) -> None:
        self._now_ns = start_ns
        self._pace_s = pace_s
        self._lock = threading.Lock()

    def monotonic_ns(self) -> int:
        with self._lock:
            return self._now_ns

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        if self._pace_s > 0 and seconds > 0:
            time.sleep(min(seconds, self._pace_s))

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Like :meth:`sleep`, but a set ``event`` ends the real pause (time still advances)."""
        if event.is_set():
            return True
        self.advance(seconds)
        if self._pace_s > 0 and seconds > 0:
            return event.wait(min(seconds, self._pace_s))
        return event.is_set()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now_ns += max(0, round(seconds * 1e9))
