"""Drive modes: self-timer, burst, bracketing, intervalometer, long exposure, dark frames.

A request (:data:`DriveRequest`) becomes a plan of frames, each "not before" some time from
the job's start and with optional exposure overrides; a :class:`DriveRunner` works through the
plan on its own thread, so an intervalometer keeps going when the phone disconnects, and
reports progress through :class:`Job`. Time comes from an injected clock
(:class:`hal.clock.Clock`), so tests run hours of intervals in no wall time.

The camera side is the :class:`Shooter` protocol, which the capture service implements:

- ``capture_raw(exposure_time_us, analogue_gain, cancel)`` takes one full-resolution raw
  still. ``None`` for both means "as metered" (auto exposure); otherwise both are fixed for
  that frame (manual exposure). Setting ``cancel`` aborts an exposure in progress
  (:class:`hal.exc.StillCancelled`): the frame is discarded.
- ``capture_burst(count, exposures, cancel, on_frame)`` takes consecutive frames of the live
  view (a burst at the sensor's rate, or a bracket of ``exposures``) where ``can_burst``.
- ``keep(raw, file_format, wait_for_room, cancel)`` puts a frame in the shot pipeline's buffer
  (:mod:`firmware.capture.pipeline`) and returns its :class:`~firmware.capture.pipeline.Shot`,
  saved on the card soon after; a single press that finds the buffer full is refused, a
  drive mode waits for room.
- ``metered_exposure()`` returns the current auto-exposure ``(exposure_time_us, gain)``,
  the centre of an exposure bracket.

Capturing and keeping are separate so the runner can subtract a dark frame in between. A job
is done when its frames are on the card as DNGs (their JPEGs develop afterwards).

Single shots do not hold the runner: presses in quick succession each take their frame and
wait only for their own DNG; a drive mode (anything with more than one frame, or a timer)
runs one at a time, and a press during it is refused with :class:`DriveBusy`.

Dark-frame subtraction: the user shoots a ``"dark"`` job with the lens cap on at the same
exposure time and gain as the long exposure; the runner keeps that raw in memory (it is not
a photo and is not saved) and a ``"long"`` job with ``subtract_dark`` subtracts it pixel by
pixel before saving, which removes hot pixels and amp glow. The black level is kept:
``out = light − dark + dark_black_level``, clipped to ``[0, white_level]``.
"""

from __future__ import annotations

import dataclasses
import secrets
import threading
from collections.abc import Callable
from typing import Annotated, Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from firmware.exc import BufferFull, CardTimeout, DarkFrameUnusable, DriveBusy, JobNotFound
from hal import imx477
from hal.camera import RawFrame
from hal.exc import StillCancelled

FileFormat = Literal["jpeg", "dng", "both"]
JobState = Literal["pending", "running", "done", "cancelled", "failed"]
MAX_EXPOSURE_S = imx477.EXPOSURE_TIME_US_RANGE[1] / 1e6
MIN_EXPOSURE_S = imx477.EXPOSURE_TIME_US_RANGE[0] / 1e6
GAIN_RANGE = imx477.ANALOGUE_GAIN_RANGE
#: A dark frame matches a light frame if exposure times differ by less than this fraction.
DARK_EXPOSURE_TOLERANCE = 0.05
#: How long a frame may wait for the card: far beyond a slow card's 25 MB write (2 s).
WRITE_TIMEOUT_S = 120.0


class Clock(Protocol):
    """Monotonic time and sleep (:class:`hal.clock.RealClock` or ``SimulatedClock``)."""

    def monotonic_ns(self) -> int: ...

    def sleep(self, seconds: float) -> None: ...


class Shooter(Protocol):
    """What the drive modes need from the camera service (see the module docstring)."""

    can_burst: bool

    def capture_raw(
        self, exposure_time_us: int | None, analogue_gain: float | None, cancel: threading.Event
    ) -> RawFrame: ...

    def capture_burst(
        self, count: int, exposures: list[tuple[int, float]] | None, cancel: threading.Event,
        on_frame: Callable[[RawFrame], None],
    ) -> int: ...

    def keep(self, raw: RawFrame, file_format: FileFormat, *, wait_for_room: bool,
             cancel: threading.Event) -> Any: ...

    def metered_exposure(self) -> tuple[int, float]: ...


# -- requests ---------------------------------------------------------------------------


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    format: FileFormat = "both"
    self_timer_s: Literal[0, 2, 10] = 0
    """Delay before the first frame."""


class SingleRequest(_Request):
    mode: Literal["single"] = "single"


class BurstRequest(_Request):
    mode: Literal["burst"] = "burst"
    frames: int = Field(3, ge=2, le=100)


class BracketRequest(_Request):
    """Exposure bracketing by shutter time around the metered exposure, gain held."""

    mode: Literal["bracket"] = "bracket"
    frames: Literal[3, 5, 7] = 3
    ev_step: float = Field(1.0, ge=0.3, le=3.0)


class IntervalRequest(_Request):
    mode: Literal["interval"] = "interval"
    interval_s: float = Field(10.0, ge=1.0, le=86_400.0)
    count: int = Field(10, ge=1, le=100_000)


class LongExposureRequest(_Request):
    mode: Literal["long"] = "long"
    exposure_time_s: float = Field(ge=MIN_EXPOSURE_S, le=MAX_EXPOSURE_S)
    analogue_gain: float = Field(1.0, ge=GAIN_RANGE[0], le=GAIN_RANGE[1])
    subtract_dark: bool = False


class DarkFrameRequest(_Request):
    """A frame with the lens cap on, kept in memory for later long exposures (not saved)."""

    mode: Literal["dark"] = "dark"
    exposure_time_s: float = Field(ge=MIN_EXPOSURE_S, le=MAX_EXPOSURE_S)
    analogue_gain: float = Field(1.0, ge=GAIN_RANGE[0], le=GAIN_RANGE[1])


def _mode_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("mode", "single"))
    return str(getattr(value, "mode", "single"))


#: The body of ``POST /api/capture``: ``mode`` picks the drive mode (default ``"single"``).
DriveRequest = Annotated[
    Annotated[SingleRequest, Tag("single")]
    | Annotated[BurstRequest, Tag("burst")]
    | Annotated[BracketRequest, Tag("bracket")]
    | Annotated[IntervalRequest, Tag("interval")]
    | Annotated[LongExposureRequest, Tag("long")]
    | Annotated[DarkFrameRequest, Tag("dark")],
    Discriminator(_mode_of),
]


# -- plans ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PlannedFrame:
    """One frame: taken no earlier than ``at_s`` after the job starts (and, for intervals,
    no earlier than ``spacing_s`` after the previous frame started)."""

    at_s: float
    exposure_time_us: int | None = None
    analogue_gain: float | None = None
    spacing_s: float = 0.0


def bracket_exposures_us(
    base_us: int, frames: int, ev_step: float, exposure_range_us: tuple[int, int]
) -> list[int]:
    """Shutter times of a bracket: metered first, then −1, +1, −2, +2 … steps of ``ev_step``
    stops, each clamped to the sensor's range.

    >>> bracket_exposures_us(8000, 3, 1.0, (114, 653_950_000))
    [8000, 4000, 16000]
    """
    lo, hi = exposure_range_us
    order = [0]
    for k in range(1, frames // 2 + 1):
        order += [-k, k]
    return [int(min(max(round(base_us * 2 ** (k * ev_step)), lo), hi)) for k in order[:frames]]


def plan(
    request: Any, metered: tuple[int, float], exposure_range_us: tuple[int, int]
) -> list[PlannedFrame]:
    """The frames a request asks for."""
    t = float(request.self_timer_s)
    match request.mode:
        case "single":
            return [PlannedFrame(t)]
        case "burst":
            return [PlannedFrame(t) for _ in range(request.frames)]
        case "bracket":
            base_us, gain = metered
            times = bracket_exposures_us(base_us, request.frames, request.ev_step, exposure_range_us)
            return [PlannedFrame(t, us, gain) for us in times]
        case "interval":
            return [
                PlannedFrame(t + k * request.interval_s, spacing_s=request.interval_s)
                for k in range(request.count)
            ]
        case "long" | "dark":
            us = round(request.exposure_time_s * 1e6)
            us = min(max(us, exposure_range_us[0]), exposure_range_us[1])
            return [PlannedFrame(t, us, request.analogue_gain)]
    raise ValueError(f"unknown drive mode {request.mode!r}")


# -- dark frames ------------------------------------------------------------------------


def subtract_dark(light: RawFrame, dark: RawFrame) -> RawFrame:
    """``light − dark + dark.black_level``, clipped to the light frame's range: removes the
    dark signal (hot pixels, amp glow) and keeps the black level for the ISP and the DNG."""
    if light.data.shape != dark.data.shape or light.bayer_order != dark.bayer_order:
        raise DarkFrameUnusable(
            f"dark frame is {dark.data.shape[1]}x{dark.data.shape[0]} {dark.bayer_order}, the "
            f"photo {light.data.shape[1]}x{light.data.shape[0]} {light.bayer_order}"
        )
    out = light.data.astype(np.int32) - dark.data.astype(np.int32) + dark.black_level
    data = np.clip(out, 0, light.white_level).astype(np.uint16)
    return dataclasses.replace(light, data=data)


def check_dark(dark: RawFrame | None, exposure_time_us: int, analogue_gain: float) -> RawFrame:
    """The dark frame if it suits a light frame of this exposure and gain."""
    if dark is None:
        raise DarkFrameUnusable("no dark frame: shoot one with the lens cap on first (mode 'dark')")
    m = dark.metadata
    if abs(m.exposure_time_us - exposure_time_us) > DARK_EXPOSURE_TOLERANCE * exposure_time_us or (
        abs(m.analogue_gain - analogue_gain) > 0.05 * analogue_gain
    ):
        raise DarkFrameUnusable(
            f"the dark frame was shot at {m.exposure_time_us / 1e6:g} s, gain "
            f"{m.analogue_gain:g}; this exposure is {exposure_time_us / 1e6:g} s, gain "
            f"{analogue_gain:g}: shoot a matching dark frame"
        )
    return dark


# -- jobs -------------------------------------------------------------------------------


@dataclasses.dataclass
class Job:
    """One drive-mode run. ``progress`` (0..1) counts finished frames plus the elapsed part of
    the frame being exposed, so a 10-minute exposure moves smoothly."""

    id: str
    kind: str
    frames_total: int
    state: JobState = "pending"
    frames_done: int = 0
    """Frames taken (in the buffer or on the card)."""
    shots: list[Any] = dataclasses.field(default_factory=list, repr=False)
    """The :class:`~firmware.capture.pipeline.Shot` of each frame kept, in order."""
    shutter_lag_ms: list[float] = dataclasses.field(default_factory=list)
    """Per frame: its exposure start minus the moment it was asked for (the press, for a single
    shot), from the frame's SensorTimestamp; negative when the frame exposing at the press was
    taken (zero shutter lag)."""
    error: str | None = None
    phase: Literal["waiting", "exposing", "saving", "idle"] = "idle"
    next_frame_at_ns: int | None = None
    frame_started_ns: int | None = None
    frame_expected_ns: int = 0
    cancel_event: threading.Event = dataclasses.field(default_factory=threading.Event, repr=False)
    exception: Exception | None = dataclasses.field(default=None, repr=False)

    @property
    def finished(self) -> bool:
        return self.state in ("done", "cancelled", "failed")

    @property
    def saved_shots(self) -> list[Any]:
        return [s for s in self.shots if s.saved.is_set() and s.error is None]

    @property
    def files(self) -> list[str]:
        """The photo names of the frames on the card (a JPEG among them may still develop)."""
        return [name for shot in self.saved_shots for name in shot.files]

    def progress(self, now_ns: int) -> float:
        if self.state == "done":
            return 1.0
        part = 0.0
        if self.phase == "exposing" and self.frame_started_ns is not None and self.frame_expected_ns:
            part = min(max((now_ns - self.frame_started_ns) / self.frame_expected_ns, 0.0), 0.99)
        return min((self.frames_done + part) / self.frames_total, 1.0)

    def as_dict(self, now_ns: int) -> dict[str, Any]:
        waiting = left = None
        if self.phase == "waiting" and self.next_frame_at_ns is not None:
            waiting = max(0.0, (self.next_frame_at_ns - now_ns) / 1e9)
        if self.phase == "exposing" and self.frame_started_ns is not None:
            left = max(0.0, (self.frame_started_ns + self.frame_expected_ns - now_ns) / 1e9)
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "progress": round(self.progress(now_ns), 4),
            "phase": self.phase,
            "frames_done": self.frames_done,
            "frames_saved": len(self.saved_shots),
            "shutter_lag_ms": [round(v, 1) for v in self.shutter_lag_ms],
            "frames_total": self.frames_total,
            "next_frame_in_s": waiting,
            "exposure_left_s": None if left is None else round(left, 1),
            "files": list(self.files),
            "error": self.error,
        }


class DriveRunner:
    """Runs one drive-mode job at a time on a background thread; keeps the last jobs.

    Use as a context manager (or call :meth:`close`) so a running job is cancelled and its
    thread joined when the service stops::

        with DriveRunner(service, clock=RealClock()) as drive:
            job = drive.submit(IntervalRequest(interval_s=30, count=120))
    """

    def __init__(
        self,
        shooter: Shooter,
        *,
        clock: Clock,
        exposure_range_us: tuple[int, int] = imx477.EXPOSURE_TIME_US_RANGE,
        poll_s: float = 0.2,
        history: int = 20,
        on_change: Callable[[Job], None] | None = None,
    ) -> None:
        self._shooter = shooter
        self._clock = clock
        self._range = exposure_range_us
        self._poll_s = poll_s
        self._history = history
        self._on_change = on_change
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._active: Job | None = None  # the drive mode running (single presses are not)
        #: Held from a frame's capture to its place in the buffer: two quick presses reach
        #: the card (and get their names) in the order their frames were taken.
        self._in_order = threading.Lock()
        self._thread: threading.Thread | None = None
        self.dark_frame: RawFrame | None = None

    def __enter__(self) -> DriveRunner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- public ---------------------------------------------------------------------------

    def prepare(self, request: Any) -> tuple[Job, list[PlannedFrame]]:
        """Validate a request and make its job (pending) without running it; raises
        :class:`DriveBusy` if a job is running, :class:`DarkFrameUnusable` for a long
        exposure asking for a dark frame that does not match."""
        plan_frames = plan(request, self._shooter.metered_exposure(), self._range)
        if request.mode == "long" and request.subtract_dark:
            first = plan_frames[0]
            check_dark(self.dark_frame, first.exposure_time_us or 0, first.analogue_gain or 1.0)
        with self._lock:
            if self._active is not None and not self._active.finished:
                raise DriveBusy(_busy_message(self._active))
            job = Job(id=secrets.token_hex(6), kind=request.mode, frames_total=len(plan_frames))
            if not _is_press(request):
                self._active = job
            self._jobs[job.id] = job
            while len(self._jobs) > self._history:
                oldest = next(iter(self._jobs))
                if self._jobs[oldest] is job:
                    break
                del self._jobs[oldest]
        return job, plan_frames

    def run(self, request: Any, *, raise_errors: bool = False) -> Job:
        """Run a request to the end on the calling thread (a single shot from the API, or
        tests). With ``raise_errors`` a failure is raised after the job is marked failed
        (so the API can answer 507 for a full card)."""
        job, frames = self.prepare(request)
        self._execute(job, frames, request)
        if raise_errors and job.exception is not None:
            raise job.exception
        return job

    def submit(self, request: Any) -> Job:
        """Start a request on a background thread and return its job at once."""
        job, frames = self.prepare(request)
        thread = threading.Thread(
            target=self._execute, args=(job, frames, request), name=f"drive-{job.id}", daemon=True
        )
        self._thread = thread
        thread.start()
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            try:
                return self._jobs[job_id]
            except KeyError:
                raise JobNotFound(f"no job with id {job_id!r}") from None

    def jobs(self) -> list[Job]:
        """Known jobs, newest first."""
        with self._lock:
            return list(reversed(self._jobs.values()))

    @property
    def active(self) -> Job | None:
        with self._lock:
            return self._active if self._active and not self._active.finished else None

    def cancel(self, job_id: str) -> Job:
        """Ask a job to stop: waits end at once, an exposure in progress is aborted by the
        shooter if it can (else discarded when it ends). Cancelling a finished job is a no-op."""
        job = self.get(job_id)
        job.cancel_event.set()
        return job

    def wait(self, timeout_s: float | None = None) -> None:
        """Join the background thread of the last submitted job."""
        if self._thread is not None:
            self._thread.join(timeout_s)

    def close(self) -> None:
        """Cancel the running job and wait for its thread."""
        active = self.active
        if active is not None:
            active.cancel_event.set()
        self.wait()

    def now_ns(self) -> int:
        return self._clock.monotonic_ns()

    # -- engine ---------------------------------------------------------------------------

    def _changed(self, job: Job) -> None:
        if self._on_change is not None:
            self._on_change(job)

    def _wait_until(self, job: Job, deadline_ns: int) -> bool:
        """Sleep in short steps until ``deadline_ns``; False if cancelled meanwhile."""
        job.phase, job.next_frame_at_ns = "waiting", deadline_ns
        while True:
            if job.cancel_event.is_set():
                return False
            remaining = (deadline_ns - self._clock.monotonic_ns()) / 1e9
            if remaining <= 0:
                return True
            self._clock.sleep(min(remaining, self._poll_s))

    def _execute(self, job: Job, frames: list[PlannedFrame], request: Any) -> None:
        job.state = "running"
        self._changed(job)
        try:
            burst = request.mode in ("burst", "bracket") and self._shooter.can_burst
            try:
                if burst:
                    self._burst(job, frames, request)
                else:
                    self._frame_by_frame(job, frames, request)
            except _Stopped:
                pass
            finally:
                with self._lock:  # its frames are taken: the shutter is free again
                    if self._active is job:
                        self._active = None
            self._wait_saved(job)
            job.state = "cancelled" if job.cancel_event.is_set() else "done"
        except Exception as e:  # noqa: BLE001 - any failure ends the job and is reported
            job.state, job.error, job.exception = "failed", str(e) or type(e).__name__, e
        finally:
            job.phase = "idle"
            self._changed(job)

    def _frame_by_frame(self, job: Job, frames: list[PlannedFrame], request: Any) -> None:
        start = self._clock.monotonic_ns()
        previous: int | None = None
        for frame in frames:
            due = start + round(frame.at_s * 1e9)
            if previous is not None and frame.spacing_s:
                due = max(due, previous + round(frame.spacing_s * 1e9))
            if not self._wait_until(job, due):
                return
            if frame.spacing_s and job.shots:
                # An interval's frames are seconds apart: the last one is on the card before
                # the next is taken, so a full card stops a timelapse at once.
                job.shots[-1].saved.wait(WRITE_TIMEOUT_S)
            _raise_if_unsaved(job)
            previous = self._clock.monotonic_ns()
            expected_us = frame.exposure_time_us or self._shooter.metered_exposure()[0]
            job.phase, job.frame_started_ns = "exposing", previous
            job.frame_expected_ns = expected_us * 1000
            self._changed(job)
            with self._in_order:
                try:
                    raw = self._shooter.capture_raw(
                        frame.exposure_time_us, frame.analogue_gain, job.cancel_event
                    )
                except StillCancelled:
                    return
                if job.cancel_event.is_set():
                    return  # a backend that could not abort: the frame is discarded
                self._keep(job, raw, request)

    def _burst(self, job: Job, frames: list[PlannedFrame], request: Any) -> None:
        """Consecutive frames of the live view, into the buffer as they come."""
        start = self._clock.monotonic_ns()
        if not self._wait_until(job, start + round(frames[0].at_s * 1e9)):
            return
        exposures = None
        if request.mode == "bracket":
            exposures = [(f.exposure_time_us or 0, f.analogue_gain or 1.0) for f in frames]
        job.phase, job.frame_started_ns = "exposing", self._clock.monotonic_ns()
        job.frame_expected_ns = sum(
            f.exposure_time_us or self._shooter.metered_exposure()[0] for f in frames) * 1000
        self._changed(job)
        with self._in_order:
            self._shooter.capture_burst(len(frames), exposures, job.cancel_event,
                                        lambda raw: self._keep(job, raw, request))

    def _keep(self, job: Job, raw: RawFrame, request: Any) -> None:
        """A frame taken: into the buffer (a dark frame: kept for later, not saved). A drive
        mode waits for room in the buffer; cancelled meanwhile, it stops (:class:`_Stopped`);
        one of its frames could not be written (a full card): it stops with that error."""
        if raw.metadata.shutter_lag_ms is not None:
            job.shutter_lag_ms.append(raw.metadata.shutter_lag_ms)
        job.phase = "saving"
        if request.mode == "dark":
            self.dark_frame = raw
        else:
            if request.mode == "long" and request.subtract_dark:
                dark = check_dark(
                    self.dark_frame, raw.metadata.exposure_time_us, raw.metadata.analogue_gain
                )
                raw = subtract_dark(raw, dark)
            _raise_if_unsaved(job)
            try:
                job.shots.append(self._shooter.keep(
                    raw, request.format, wait_for_room=not _is_press(request),
                    cancel=job.cancel_event))
            except BufferFull:
                if job.cancel_event.is_set():
                    raise _Stopped from None
                raise
        job.frames_done += 1
        self._changed(job)

    def _wait_saved(self, job: Job) -> None:
        """Until every frame taken is on the card; the first one that could not be written
        (a full card) fails the job, the ones before it stay."""
        job.phase = "saving"
        self._changed(job)
        for shot in job.shots:
            if not shot.saved.wait(WRITE_TIMEOUT_S):
                raise CardTimeout(f"the card did not take the photo in {WRITE_TIMEOUT_S:.0f} s")
            self._changed(job)
        _raise_if_unsaved(job)


class _Stopped(Exception):
    """A drive mode cancelled while it waited for room in the buffer."""


def _raise_if_unsaved(job: Job) -> None:
    """The error of the first of the job's shots that could not be written (a full card)."""
    for shot in job.shots:
        if shot.saved.is_set() and shot.error is not None:
            raise shot.error


def _is_press(request: Any) -> bool:
    """A single shot without self-timer: the shutter pressed, not a drive mode."""
    return request.mode == "single" and request.self_timer_s == 0


def _busy_message(job: Job) -> str:
    what = {"single": "the self-timer", "burst": "a burst", "bracket": "a bracket",
            "interval": "the interval timer", "long": "a long exposure",
            "dark": "a dark frame"}.get(job.kind, job.kind)
    return (f"{what} is running ({job.frames_done} of {job.frames_total} taken): wait for it "
            f"or cancel it first (job {job.id})")
