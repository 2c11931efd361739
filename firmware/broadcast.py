"""Hand the newest live-view frame to any number of viewers, encoding it at most once.

The camera thread publishes each frame; every viewer waits for a frame newer than the one it
last sent. A slow viewer simply gets the newest frame when it is ready again (frames in
between are dropped for it alone), so it never holds up the camera or the other viewers.
The JPEG for a frame is made on first demand and shared, so eight viewers cost one encode.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import simplejpeg

from firmware.latest import Latest
from hal.camera import PreviewFrame

JPEG_QUALITY = 80


class LiveFrame:
    """A published preview frame and its lazily made, shared JPEG."""

    __slots__ = ("frame", "_jpeg", "_lock")

    def __init__(self, frame: PreviewFrame) -> None:
        self.frame = frame
        self._jpeg: bytes | None = None
        self._lock = threading.Lock()

    @property
    def sequence(self) -> int:
        return self.frame.metadata.sequence

    def jpeg(self) -> bytes:
        with self._lock:
            if self._jpeg is None:
                self._jpeg = simplejpeg.encode_jpeg(
                    self.frame.rgb, quality=JPEG_QUALITY, colorspace="RGB", colorsubsampling="420"
                )
            return self._jpeg


class Broadcast:
    """The latest :class:`LiveFrame`, with async waiters woken from the camera thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: Latest[LiveFrame] = Latest()
        self._listeners: list[Callable[[LiveFrame], None]] = []
        self._wake_listeners: list[Callable[[], None]] = []

    @property
    def latest(self) -> LiveFrame | None:
        return self._latest.value

    def subscribe(
        self,
        listener: Callable[[LiveFrame], None],
        on_wake: Callable[[], None] | None = None,
    ) -> Callable[[], None]:
        """Call ``listener`` in the camera thread for every frame (and ``on_wake``, if given,
        whenever :meth:`wake_all` runs); returns an unsubscribe function.
        Listeners must be quick (hand work to another thread)."""
        with self._lock:
            self._listeners.append(listener)
            if on_wake is not None:
                self._wake_listeners.append(on_wake)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
                if on_wake is not None and on_wake in self._wake_listeners:
                    self._wake_listeners.remove(on_wake)

        return unsubscribe

    def publish(self, frame: PreviewFrame) -> LiveFrame:
        live = LiveFrame(frame)
        self._latest.publish(live)
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(live)
        return live

    def wake_all(self) -> None:
        """Wake every waiter without a frame (the camera stopped or faulted)."""
        self._latest.wake_all()
        with self._lock:
            wake_listeners = list(self._wake_listeners)
        for on_wake in wake_listeners:
            on_wake()

    @property
    def wakes(self) -> int:
        """Wake-ups so far (see :meth:`firmware.latest.Latest.next_after`)."""
        return self._latest.wakes

    async def next_after(self, sequence: int, timeout_s: float,
                         wakes: int | None = None) -> LiveFrame | None:
        """The newest frame with a sequence above ``sequence``; None on timeout or wake-up
        (one since ``wakes`` was read included)."""
        return await self._latest.next_after(sequence, timeout_s, wakes)
