"""The shot pipeline: the press is answered when the raw is safe, the JPEG develops later.

A camera's shutter never waits for development. Here a shot goes through three stages, each
on its own thread, in press order:

1. **The buffer** (RAM): the raw frame as the camera delivered it. Its size is bounded by the
   Pi's memory (:func:`buffer_frames_for`); a single press that finds it full is refused
   (:class:`~firmware.exc.BufferFull`, "buffer full"), never dropped, and a burst waits for
   room, as a camera slows down when its buffer fills.
2. **The card**: the writer makes the DNG (its preview is the camera ISP's picture of the same
   frame) and saves it with :meth:`~firmware.storage.PhotoStore.save_shot`: a spool marker
   first when a JPEG is wanted, then the sidecar and the DNG, all fsync-ed. Only then is the
   press acknowledged (:meth:`Shot.wait_saved`); from here a crash loses nothing.
3. **The develop**: the JPEG is made from the DNG on the card by the develop process
   (:mod:`firmware.capture.developer`, ``mrig develop``'s code) and saved; the marker goes.
   Shots still marked at start (a crash, a power cut) are developed then. A develop that
   fails (the process killed for memory, a full card) is tried again later, less and less
   often (:data:`RETRY_S`), and the reason is in :meth:`ShotPipeline.status`.

A graceful stop (:meth:`ShotPipeline.close`) writes every buffered raw and develops what it
can in the time given; what is left is developed at the next start.

Memory budget (:func:`buffer_frames_for`): a full-resolution raw is 24.7 MB (4056 × 3040 ×
2 bytes) plus the ISP's picture; the buffer gets half of what remains after 512 MiB kept for
the system, the server and the develop process: 7 raws on a 1 GB Pi (MemTotal about 910
MiB with the default CMA), 63 on a 4 GB Pi, at most 64.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

from firmware.capture.dng import encode_dng
from firmware.capture.shot import LensTags, ShotInfo
from firmware.exc import BufferFull, ShuttingDown, StorageFull
from firmware.storage import PhotoStore
from hal.camera import RawFrame
from isp.tuning import Tuning

log = logging.getLogger(__name__)
FileFormat = Literal["jpeg", "dng", "both"]
MIB = 1024 * 1024
#: Kept for the system, the server and the develop process before the buffer gets any.
RESERVED_BYTES = 512 * MIB
#: One full-resolution raw in the buffer: 4056 × 3040 16-bit samples and a 1024 × 768 picture.
FRAME_BYTES = 4056 * 3040 * 2 + 1024 * 768 * 3
MAX_BUFFER_FRAMES = 64
#: Waits before a failed develop is tried again: 5 s, doubling, at most 5 minutes.
RETRY_S = (5.0, 300.0)


def buffer_frames_for(mem_total_bytes: int, frame_bytes: int = FRAME_BYTES) -> int:
    """How many raws the buffer holds on a machine with ``mem_total_bytes`` of RAM: half of
    what is left after :data:`RESERVED_BYTES`, at least 2, at most :data:`MAX_BUFFER_FRAMES`.

    >>> buffer_frames_for(910 * MIB), buffer_frames_for(3796 * MIB)
    (7, 63)
    """
    room = max(0, mem_total_bytes - RESERVED_BYTES) // 2
    return max(2, min(MAX_BUFFER_FRAMES, room // frame_bytes))


def jpeg_size_estimate(pixels: int) -> int:
    """Room kept on the card for a JPEG still to develop: 0.75 bytes a pixel, above what
    quality 92 at 4:4:4 makes of a detailed 12 MP frame (about 0.5), so the card never fills
    between a DNG and its JPEG."""
    return pixels * 3 // 4


def mem_total_bytes() -> int:
    """MemTotal from /proc/meminfo (what the kernel can use: RAM less firmware and CMA
    reservations), or 1 GiB where it cannot be read."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    return 1024 * MIB


@dataclasses.dataclass(eq=False)
class Shot:
    """One frame on its way to the card. ``files`` are the photo names it gets (its JPEG's
    among them before the JPEG exists); ``error`` is set if it could not be saved."""

    raw: RawFrame | None
    file_format: FileFormat
    info: ShotInfo
    stem: str | None = None
    files: list[str] = dataclasses.field(default_factory=list)
    error: Exception | None = None
    saved: threading.Event = dataclasses.field(default_factory=threading.Event, repr=False)

    def wait_saved(self, timeout_s: float | None = None) -> list[str]:
        """Block until the DNG is on the card; its files, or the error that kept it off."""
        if not self.saved.wait(timeout_s):
            raise TimeoutError("the shot was not written in time")
        if self.error is not None:
            raise self.error
        return self.files


class ShotPipeline:
    """The buffer, the writer and the developer for the app's lifetime (see the module
    docstring). ``developer`` is a :class:`~firmware.capture.developer.DevelopProcess`
    (anything with ``develop(path) -> bytes`` and ``close()``)."""

    def __init__(
        self,
        store: PhotoStore,
        tuning: Tuning,
        developer: Any,
        *,
        buffer_frames: int | None = None,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.store = store
        self.tuning = tuning
        self.developer = developer
        self.buffer_frames = buffer_frames or buffer_frames_for(mem_total_bytes())
        self._now = now or (lambda: dt.datetime.now().astimezone())
        self._lock = threading.Condition()
        self._buffer: collections.deque[Shot] = collections.deque()
        self._writing = 0
        self._to_develop: collections.deque[str] = collections.deque(store.pending())
        #: Failed develops: stem -> (when to try again, monotonic s; failures so far).
        self._retry: dict[str, tuple[float, int]] = {}
        self._developing: str | None = None
        self._closing = False
        self._stopped = False
        self.last_error: str | None = None
        self._writer = threading.Thread(target=self._write_loop, name="shot-writer", daemon=True)
        self._develop = threading.Thread(target=self._develop_loop, name="shot-develop",
                                         daemon=True)
        self._writer.start()
        self._develop.start()

    # -- the press --------------------------------------------------------------------------

    def shot_info(self, raw: RawFrame, lens: LensTags | None) -> ShotInfo:
        """The shot's time is when its exposure began, from the frame when the camera maps
        its timestamp, else now."""
        start = raw.metadata.exposure_start_unix_ns
        when = (dt.datetime.fromtimestamp(start / 1e9).astimezone() if start is not None
                else self._now())
        return ShotInfo(raw.metadata, when, lens)

    def submit(self, raw: RawFrame, file_format: FileFormat, lens: LensTags | None, *,
               wait_for_room: bool = False, cancel: threading.Event | None = None) -> Shot:
        """Put a frame in the buffer. Full: :class:`BufferFull`, or with ``wait_for_room``
        wait until the writer frees a place (``cancel`` ends the wait with BufferFull)."""
        shot = Shot(raw, file_format, self.shot_info(raw, lens))
        with self._lock:
            while len(self._buffer) + self._writing >= self.buffer_frames:
                if self._closing:
                    raise ShuttingDown("the camera is shutting down")
                if not wait_for_room or (cancel is not None and cancel.is_set()):
                    raise BufferFull(
                        f"buffer full: {self.buffer_frames} shots are still being written to "
                        "the card; the next one fits in a moment")
                self._lock.wait(0.1)
            if self._closing:
                raise ShuttingDown("the camera is shutting down")
            self._buffer.append(shot)
            self._lock.notify_all()
        return shot

    def status(self) -> dict[str, Any]:
        """What the phone shows: shots in the buffer, JPEGs still to develop."""
        with self._lock:
            return {
                "buffered": len(self._buffer) + self._writing,
                "buffer_frames": self.buffer_frames,
                "developing": len({*self._to_develop, *self._retry,
                                   *([self._developing] if self._developing else [])}),
                "error": self.last_error if self._retry else None,
            }

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until everything is written and developed, failed develops waiting for their
        next try aside (tests, benchmarks, a stop)."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._buffer or self._writing or self._to_develop or self._developing:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(min(remaining, 0.1))
        return True

    # -- the writer -------------------------------------------------------------------------

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                while not self._buffer and not self._stopped:
                    self._lock.wait()
                if not self._buffer:
                    return
                shot = self._buffer.popleft()
                self._writing += 1
            try:
                if shot.file_format != "dng":
                    # The develop process imports numpy and the ISP while the DNG is written.
                    with contextlib.suppress(Exception):
                        self.developer.start()
                self._write(shot)
            except BaseException as e:  # noqa: BLE001 - the writer must outlive any shot
                log.exception("writing a shot failed")
                shot.error = shot.error or e
            finally:
                with self._lock:
                    self._writing -= 1
                    if shot.error is None and shot.file_format != "dng":
                        self._to_develop.append(shot.stem or "")
                    self._lock.notify_all()
                shot.saved.set()

    def _write(self, shot: Shot) -> None:
        raw, shot.raw = shot.raw, None  # the buffer's memory goes with this shot
        try:
            if raw is None:
                raise ValueError("a shot without its frame")
            dng = encode_dng(raw, shot.info, self.tuning, preview_rgb=raw.picture)
            pixels = raw.data.size
            del raw
            shot.stem = self.store.new_stem(shot.info.captured_at)
            shot.files = self.store.save_shot(
                shot.stem, dng, shot.info.as_dict(),
                keep_dng=shot.file_format in ("dng", "both"),
                develop=shot.file_format in ("jpeg", "both"),
                jpeg_bytes=jpeg_size_estimate(pixels),
            )
        except StorageFull as e:
            shot.error = e
            self._refuse_buffered(e)

    def _refuse_buffered(self, error: Exception) -> None:
        """A full card: the shots behind this one cannot be written either; refuse them all
        now (nothing partial is left: save_shot removed this one's files)."""
        with self._lock:
            refused = list(self._buffer)
            self._buffer.clear()
            self._lock.notify_all()
        for shot in refused:
            shot.raw, shot.error = None, error
            shot.saved.set()

    # -- the developer ----------------------------------------------------------------------

    def _develop_loop(self) -> None:
        from firmware.capture.developer import DevelopFailed

        while True:
            with self._lock:
                while not self._to_develop and not self._stopped:
                    self._requeue_due()
                    self._lock.wait(self._next_retry_s())
                if not self._to_develop:
                    return
                stem = self._to_develop.popleft()
                self._developing = stem
            error = None
            try:
                dng = self.store.pending_dng(stem)
                if dng is not None:  # None: deleted meanwhile
                    self.store.save_developed(stem, self.developer.develop(dng))
            except (DevelopFailed, StorageFull, OSError) as e:
                error = e
                log.warning("developing %s failed: %s", stem, e)
            except Exception as e:  # noqa: BLE001 - one bad shot must not stop the others
                error = e
                log.exception("developing %s failed", stem)
            finally:
                with self._lock:
                    self._developing = None
                    if error is None:
                        self._retry.pop(stem, None)
                    else:
                        failures = self._retry.get(stem, (0.0, 0))[1] + 1
                        wait_s = min(RETRY_S[1], RETRY_S[0] * 2 ** (failures - 1))
                        self._retry[stem] = (time.monotonic() + wait_s, failures)
                        self.last_error = f"{stem}: {error}; trying again in {wait_s:.0f} s"
                    self._lock.notify_all()

    def _requeue_due(self) -> None:
        """Failed develops whose wait is over go back in the queue (lock held)."""
        now = time.monotonic()
        for stem, (due, _) in sorted(self._retry.items(), key=lambda kv: kv[1][0]):
            if due <= now and stem not in self._to_develop:
                self._to_develop.append(stem)

    def _next_retry_s(self) -> float | None:
        if not self._retry:
            return None
        return max(0.05, min(due for due, _ in self._retry.values()) - time.monotonic())

    # -- the end ----------------------------------------------------------------------------

    def close(self, drain_s: float = 60.0) -> None:
        """Refuse new shots, write every buffered one, develop what fits in ``drain_s``
        (the rest stays spooled for the next start), then end the threads and the process."""
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        deadline = time.monotonic() + drain_s
        with self._lock:
            while self._buffer or self._writing:  # acknowledged or not, a raw is not lost
                self._lock.wait(0.1)
        self.wait_idle(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._stopped = True
            self._to_develop.clear()
            self._lock.notify_all()
        self._writer.join()
        # The JPEG in hand, if the drain's time is up: the develop process is killed, the
        # shot stays spooled for the next start.
        self.developer.close(max(1.0, deadline - time.monotonic()))
        self._develop.join(10.0)
