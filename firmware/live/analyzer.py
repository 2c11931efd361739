"""Run the live-view analysis off the camera thread, on the newest frame only, when wanted.

The camera thread hands each published frame to :meth:`LiveAnalyzer._on_frame`, which only
keeps a reference to it (a frame still waiting is replaced, so a busy analyzer drops frames
instead of queueing them and never delays the camera). One worker thread analyses the newest
frame and publishes a :class:`~firmware.live.analysis.LiveSnapshot`; readers wait for it like
MJPEG viewers wait for frames.

The work is done only on demand: while an events stream is open, or for a few seconds after
``GET /api/live``. With nobody looking, the Pi does no analysis at all.

Example::

    with LiveAnalyzer(service.broadcast) as live:
        live.touch()                       # someone is looking
        snapshot = live.latest
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from firmware.broadcast import Broadcast, LiveFrame
from firmware.exc import MrigError
from firmware.latest import Latest
from firmware.live.analysis import AnalysisOptions, LiveSnapshot, analyse

log = logging.getLogger(__name__)

DEMAND_HOLD_S = 5.0
"""How long one ``GET /api/live`` keeps the analysis running (a polling UI keeps it alive)."""
MAX_EVENT_STREAMS = 16


class TooManyEventStreams(MrigError):
    """Every events stream slot is taken (503)."""


class LiveAnalyzer:
    """Analyses the newest live-view frame in its own thread; a context manager.

    ``clock`` (seconds, monotonic) only decides how long demand lasts; tests may replace
    :attr:`clock` to end the demand without waiting.
    """

    def __init__(
        self,
        broadcast: Broadcast,
        *,
        demand_hold_s: float = DEMAND_HOLD_S,
        max_event_streams: int = MAX_EVENT_STREAMS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._broadcast = broadcast
        self._hold_s = demand_hold_s
        self.clock = clock
        self.max_event_streams = max_event_streams
        self._options = AnalysisOptions()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._pending: LiveFrame | None = None
        self._latest: Latest[LiveSnapshot] = Latest()
        self._event_streams = 0
        self._demand_until = -math.inf
        self.analysed = 0
        self.dropped = 0
        self.errors = 0

    # --- lifetime ------------------------------------------------------------------------

    def __enter__(self) -> LiveAnalyzer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._unsubscribe = self._broadcast.subscribe(self._on_frame, on_wake=self.wake_all)
        self._thread = threading.Thread(target=self._run, name="live-analysis", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.wake_all()

    # --- demand --------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether frames are being analysed (an events stream is open or a GET was recent)."""
        return self._event_streams > 0 or self.clock() < self._demand_until

    def touch(self) -> bool:
        """Someone looked: keep analysing for ``demand_hold_s``. Returns whether it already was."""
        was_active = self.active
        self._demand_until = self.clock() + self._hold_s
        return was_active

    def open_event_stream(self) -> Callable[[], None]:
        """Take an events-stream slot (analysis runs while any is held) and return the function
        that gives it back (safe to call more than once); raises :class:`TooManyEventStreams`
        when all are taken."""
        with self._lock:
            if self._event_streams >= self.max_event_streams:
                raise TooManyEventStreams(
                    f"too many live event streams (at most {self.max_event_streams}); close one"
                )
            self._event_streams += 1
        released = threading.Event()

        def release() -> None:
            with self._lock:
                if not released.is_set():
                    released.set()
                    self._event_streams -= 1

        return release

    @property
    def event_streams(self) -> int:
        return self._event_streams

    # --- options and results -------------------------------------------------------------

    @property
    def options(self) -> AnalysisOptions:
        return self._options

    def set_options(self, options: AnalysisOptions) -> AnalysisOptions:
        """Use ``options`` from the next analysed frame."""
        self._options = options
        return options

    @property
    def latest(self) -> LiveSnapshot | None:
        return self._latest.value

    @property
    def status(self) -> dict[str, object]:
        latest = self._latest.value
        return {
            "active": self.active,
            "event_streams": self._event_streams,
            "analysed": self.analysed,
            "dropped": self.dropped,
            "errors": self.errors,
            "last_sequence": latest.sequence if latest else None,
            "last_cost_ms": dict(latest.cost_ms) if latest else None,
        }

    async def next_after(self, sequence: int, timeout_s: float) -> LiveSnapshot | None:
        """The newest snapshot of a frame after ``sequence``; None on timeout or wake-up."""
        return await self._latest.next_after(sequence, timeout_s)

    def wake_all(self) -> None:
        """Wake every waiter without a snapshot (the camera stopped or faulted)."""
        self._latest.wake_all()

    # --- the worker ----------------------------------------------------------------------

    def _on_frame(self, live: LiveFrame) -> None:
        """Called in the camera thread for every frame: keep the newest, wake the worker."""
        if not self.active:
            return
        with self._lock:
            if self._pending is not None:
                self.dropped += 1
            self._pending = live
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            with self._lock:
                live, self._pending = self._pending, None
            if live is None or self._stop.is_set():
                continue
            try:
                snapshot = analyse(live.frame, self._options)
            except Exception:  # noqa: BLE001 - one bad frame must not end the live view
                self.errors += 1
                log.exception("live analysis failed on frame %d", live.sequence)
                continue
            self.analysed += 1
            self._publish(snapshot)

    def _publish(self, snapshot: LiveSnapshot) -> None:
        self._latest.publish(snapshot)
