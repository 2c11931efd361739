"""The HQ camera through picamera2: the only camera backend the app knows.

On a Pi, picamera2 and libcamera are apt's; anywhere else ``--camera virtual`` runs the same
code over the virtual libcamera (:mod:`hal.virtual`). ``picamera2`` is imported inside this
module's functions only, so the project imports on any machine.

What the backend asks picamera2 for, and why:

- a live-view configuration with ``main`` in ``BGR888`` at the preview size (R, G, B in
  memory: picamera2 hands ``BGR888`` to PIL as mode "RGB", so it is copied as it is) and a ``raw``
  stream at the sensor mode's size, *unpacked* (``SBGGR12``, not ``SBGGR12_CSI2P``), so the
  raw is plain 16-bit words; on a Pi 5 unpacked raw is ``SBGGR16`` with the sensor's bits at
  the top, shifted down here, so :class:`~hal.camera.RawFrame` values are always sensor DN;
- **zero shutter lag** when the live view runs in the full-resolution mode: the still is the
  frame of the running configuration whose exposure is nearest the press (picamera2 keeps the
  newest completed frame, so it may be one that ended just before), chosen by its
  SensorTimestamp through ``capture_request(flush=...)``;
- otherwise a mode switch with ``switch_mode_capture_request_and_stop``, the request
  released before the live view is configured again, so the still's and the live view's
  buffers are never allocated at once (picamera2's docstring on
  ``switch_mode_and_capture_request`` warns that doing so fragments CMA);
- FrameDurationLimits as wide as the mode allows, so libcamera never cuts a long exposure
  short (its IPA clamps a manual exposure to the maximum frame duration: ipa_base.cpp).

Live frames are not copied whole: the ``main`` picture is copied, and of the raw only the
part the ScalerCrop shows (the ISP crops the processed streams, never the raw), decimated to
at most :data:`ANALYSIS_RAW_WIDTH` sites, so memory per live frame is bounded whatever the mode.

Waits for frames happen in short slices without the lock, so stop, close and a still can
interrupt them; the budget follows the frame actually being exposed (its FrameDuration and
any longer exposure still in flight). One lock orders configure, stills and set_controls; a
still's exposure override applies to that still only and never to the user's controls.

Naming convention the contract test (``tests/test_picamera2_contract.py``) relies on: the
``Picamera2`` object is only ever reached as ``self._picam2`` or ``picam2``, a completed request
is always named ``request``, an entry of ``Picamera2.sensor_modes`` is always named ``entry``
and a stream configuration dict ``stream``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import CancelledError, InvalidStateError
from typing import Any

import numpy as np

from hal import exc, imx477
from hal.camera import (
    Camera,
    Controls,
    FrameMetadata,
    PreviewFrame,
    RawFrame,
    SensorInfo,
    SensorMode,
)
from hal.clock import Clock, RealClock

log = logging.getLogger(__name__)

_RAW_FORMAT = re.compile(r"^S?(RGGB|BGGR|GRBG|GBRG)(\d*)(?:_(\w+))?$")
_AWB_ENUM = {
    "auto": "Auto",
    "incandescent": "Incandescent",
    "tungsten": "Tungsten",
    "fluorescent": "Fluorescent",
    "indoor": "Indoor",
    "daylight": "Daylight",
    "cloudy": "Cloudy",
}
_METERING_ENUM = {"centre": "CentreWeighted", "spot": "Spot", "matrix": "Matrix"}
#: Widest raw the live analysis gets, in sites: a 4056-wide raw is decimated 4 × (by 2×2 Bayer
#: cells), about 1.5 MB a frame; a magnified crop is usually smaller and kept whole.
ANALYSIS_RAW_WIDTH = 1024
#: libcamera's start before the first frame (picamera2 issue #1062: 500-700 ms to the first
#: frame after a mode switch), and the startup frames the IPA flags after a first start.
STARTUP_ALLOWANCE_S = 2.0
STARTUP_FRAMES = 7
#: A real-time backstop on every wait, beyond the budget on the camera's clock (which, on a
#: simulated clock, only moves while the virtual sensor runs).
REAL_TIME_BACKSTOP_S = 10.0
#: How long one slice of a frame wait is, in real seconds.
WAIT_SLICE_S = 0.05
#: Frames a control set now may take to show in a frame: it rides on the next request picamera2
#: queues, behind the ones already queued (buffer_count 4 in the live view), then takes the
#: sensor's delays (libcamera camera_sensor_properties.cpp: imx477 exposure and gain 2, vblank
#: 3), plus the frame exposing meanwhile. Measured on the virtual camera: 8 frames.
CONTROL_LATENCY_FRAMES = 9
#: Jobs a burst keeps queued ahead of the frame it is reading (see ``_burst``).
BURST_JOBS_AHEAD = 2


class _Restarted(exc.HalError):
    """A wait's job was cancelled by a deliberate restart (see ``_abort_exposure``)."""


@dataclasses.dataclass(frozen=True)
class RawFormat:
    """A libcamera raw pixel format name taken apart: ``"SBGGR12"`` is BGGR, 12 bit, unpacked."""

    bayer_order: str
    bit_depth: int
    packing: str | None

    @classmethod
    def parse(cls, name: str) -> RawFormat:
        m = _RAW_FORMAT.match(str(name))
        if m is None or not (m.group(2) or m.group(3)):
            raise exc.CameraError(f"raw stream format {name!r} is not a Bayer format")
        # The Pi 5's compressed "BGGR_PISP_COMP1" decompresses to 16 bits.
        return cls(m.group(1), int(m.group(2) or 16), m.group(3))

    @property
    def unpacked(self) -> str:
        return f"S{self.bayer_order}{self.bit_depth}"


def _mapped_error(error: BaseException, action: str) -> exc.CameraError:
    """The :mod:`hal.exc` error for an exception raised by picamera2 or libcamera."""
    text = f"{action}: {error}"
    cause = error.__cause__
    while cause is not None:  # picamera2 wraps libcamera's errors in RuntimeError(...) from e
        text += f": {cause}"
        cause = cause.__cause__
    low = text.lower()
    code = getattr(error, "errno", None)
    if isinstance(error, TimeoutError):
        return exc.CameraTimeout(text)
    if isinstance(error, MemoryError) or code == errno.ENOMEM or any(
        s in low for s in ("allocate", "cannot allocate memory", "out of memory")
    ):
        return exc.CameraOutOfMemory(text)
    if code == errno.EBUSY or "busy" in low:
        return exc.CameraBusy(text)
    if code in (errno.ENODEV, errno.ENXIO, errno.EIO, errno.EPIPE, errno.EREMOTEIO) or any(
        s in low for s in ("no such device", "disconnected", "input/output error",
                           "remote i/o error")
    ):
        return exc.CameraDisconnected(text)
    if "no camera" in low or "camera(s) not found" in low:
        return exc.CameraNotFound(text)
    return exc.CameraError(text)


@contextlib.contextmanager
def _errors(action: str) -> Iterator[None]:
    """Re-raise anything but our own errors as the matching :mod:`hal.exc` type."""
    try:
        yield
    except exc.HalError:
        raise
    except Exception as error:
        raise _mapped_error(error, action) from error


def _libcamera_enums() -> Any:
    from libcamera import controls as libcamera_controls  # the real one, or hal.virtual's

    return libcamera_controls


@dataclasses.dataclass(frozen=True)
class Detection:
    """What :func:`detect` found: the HQ camera's index for ``Picamera2(index)``, or why not."""

    index: int | None
    reason: str | None
    found: tuple[str, ...] = ()
    libcamera_loaded: bool = True
    """picamera2 and a libcamera imported: a camera stack exists here, HQ camera or not."""


def detect() -> Detection:
    """Find the HQ camera (model ``imx477``) among the cameras libcamera lists.

    ``Picamera2(n)`` opens the n-th entry of ``global_camera_info()`` (sorted, USB cameras
    last), so the index returned is into that list."""
    try:
        import picamera2
    except ImportError as error:  # also libcamera missing: picamera2 imports it first
        return Detection(None, f"picamera2 does not import ({error})", libcamera_loaded=False)
    try:
        cameras = picamera2.Picamera2.global_camera_info()
    except Exception as error:  # libcamera's camera manager can fail in many ways
        return Detection(None, f"libcamera cannot list cameras ({error})")
    found = tuple(f"{info.get('Model', '?')} ({info.get('Id', '?')})" for info in cameras)
    for index, info in enumerate(cameras):
        if str(info.get("Model", "")).lower() == imx477.MODEL:
            return Detection(index, None, found)
    if not cameras:
        return Detection(None, "no camera attached", found)
    return Detection(None, f"no HQ camera (imx477); libcamera lists: {', '.join(found)}", found)


class Picamera2Camera(Camera):
    """The Raspberry Pi HQ camera (IMX477) through picamera2.

    Parameters
    ----------
    camera_num
        Index into ``Picamera2.global_camera_info()``; ``None`` finds the HQ camera.
    clock
        The clock of the camera's SensorTimestamps (the machine's monotonic clock on a Pi,
        the virtual rig's in tests), used for the press time and for wait deadlines.
    rig
        The :class:`hal.virtual.VirtualRig` when running over the virtual libcamera: its lens
        rings and light are what ``/api/mock/*`` turn. ``None`` on a real camera.
    """

    backend = "picamera2"
    concurrent_stills = True

    def __init__(self, camera_num: int | None = None, *, clock: Clock | None = None,
                 rig: Any = None) -> None:
        self._camera_num = camera_num
        self.rig = rig
        self._clock: Clock = clock or (rig.clock if rig is not None else RealClock())
        self._picam2: Any = None
        self._sensor = imx477.sensor_info()
        self._controls = Controls()
        self._mode: SensorMode | None = None
        self._preview_size = (1024, 768)
        self._running = False
        self._lock = threading.RLock()
        self._still_done = threading.Condition(self._lock)
        self._still_active = False
        #: A burst or bracket takes every frame: the live view waits for it (its jobs would
        #: take frames in between, and its wait would time out behind a long burst).
        self._burst_active = False
        self._generation = 0
        #: Deliberate restarts (a cancelled exposure): a live-view wait cancelled by one asks
        #: for a new frame instead of reporting a fault.
        self._restarts = 0
        self._last_duration_us = 0
        self._last_metadata: dict[str, Any] = {}
        self._in_flight: deque[tuple[int, int]] = deque(maxlen=8)
        self._frames_seen = 0
        self._starting = False
        self.last_shutter_lag_ms: float | None = None
        #: Thread CPU time of the last live frame's steps, ms: taking the request from picamera2
        #: and giving it back, copying the picture, copying the analysed part of the raw.
        self.live_cost_ms: dict[str, float] = {}
        self._copy_cost_ms: dict[str, float] = {}

    # -- sensor description -------------------------------------------------------------

    @property
    def sensor(self) -> SensorInfo:
        return self._sensor

    @property
    def libcamera(self) -> str:
        """``"virtual"`` over :mod:`hal.virtual`, else the real libcamera's version."""
        if self.rig is not None:
            return "virtual"
        try:
            import libcamera

            return str(getattr(libcamera, "__version__", None) or "real")
        except ImportError:
            return "unavailable"

    def _read_sensor(self) -> SensorInfo:
        """The sensor as libcamera lists it: modes, pixel array, limits, Bayer order."""
        base = imx477.sensor_info()
        modes = []
        for entry in self._picam2.sensor_modes:
            fmt = RawFormat.parse(str(entry["format"]))
            crop = tuple(entry["crop_limits"])
            modes.append(
                SensorMode(
                    size=tuple(entry["size"]),
                    bit_depth=int(entry["bit_depth"]),
                    bayer_order=fmt.bayer_order,
                    max_fps=float(entry["fps"]),
                    crop=crop,
                    binning=max(1, round(crop[2] / entry["size"][0])),
                )
            )
        modes.sort(key=lambda m: (m.size[0] * m.size[1], m.bit_depth))
        props = self._picam2.camera_properties
        limits = self._picam2.camera_controls
        cell = props.get("UnitCellSize")
        exposure = limits.get("ExposureTime")
        gain = limits.get("AnalogueGain")
        return dataclasses.replace(
            base,
            model=str(props.get("Model", base.model)),
            pixel_size_um=cell[0] / 1000 if cell else base.pixel_size_um,
            active_array=tuple(props.get("PixelArraySize", base.active_array)),
            modes=tuple(modes) or base.modes,
            exposure_time_us_range=(
                (int(exposure[0]), min(int(exposure[1]), base.exposure_time_us_range[1]))
                if exposure else base.exposure_time_us_range
            ),
            analogue_gain_range=(float(gain[0]), float(gain[1])) if gain else base.analogue_gain_range,
        )

    def _sensor_mode_entry(self, mode: SensorMode) -> dict[str, Any]:
        for entry in self._picam2.sensor_modes:
            if tuple(entry["size"]) == tuple(mode.size) and int(entry["bit_depth"]) == mode.bit_depth:
                return entry
        raise exc.CameraError(f"the camera has no {mode.name} {mode.bit_depth}-bit mode")

    # -- lifetime -----------------------------------------------------------------------

    def open(self) -> None:
        with self._lock:
            if self._picam2 is not None:
                return
            try:
                import picamera2
            except ImportError as error:  # also libcamera missing: picamera2 imports it first
                raise exc.CameraNotFound(f"picamera2 is not usable here: {error}") from error
            if self.rig is not None:  # the virtual libcamera lists this rig's cameras
                from hal import virtual

                virtual.install(self.rig)
            index = self._camera_num
            if index is None:
                found = detect()
                if found.index is None:
                    raise exc.CameraNotFound(found.reason or "no HQ camera")
                index = found.index
            with _errors("opening the camera"):
                self._picam2 = picamera2.Picamera2(index)
            try:
                with _errors("reading the sensor modes"):
                    self._sensor = self._read_sensor()
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        with self._lock:
            picam2, self._picam2 = self._picam2, None
            self._running = False
            self._mode = None
            self._generation += 1
            if picam2 is None:
                return
            with contextlib.suppress(Exception):
                picam2.cancel_all_and_flush()
            try:
                picam2.close()
            except Exception as error:  # the camera may already be gone; nothing left to free
                log.warning("closing picamera2 failed: %s", error)

    def _camera(self) -> Any:
        if self._picam2 is None:
            raise exc.CameraNotRunning("the camera is not open")
        return self._picam2

    def _preview_config(self, mode: SensorMode) -> dict[str, Any]:
        picam2 = self._camera()
        entry = self._sensor_mode_entry(mode)
        return picam2.create_preview_configuration(
            main={"format": "BGR888", "size": tuple(self._preview_size)},
            raw={"format": str(entry["unpacked"]), "size": tuple(entry["size"])},
            sensor={"output_size": tuple(entry["size"]), "bit_depth": entry["bit_depth"]},
            controls=self._libcamera_controls(self._controls, mode),
        )

    def configure(self, mode: SensorMode, preview_size: tuple[int, int]) -> None:
        """Set the live-view mode; a running camera is stopped, reconfigured and restarted."""
        w, h = preview_size
        if w < 64 or h < 64 or w % 2 or h % 2:
            raise ValueError(f"preview size must be even and at least 64×64, not {w}×{h}")
        with self._lock:
            while self._still_active:
                self._still_done.wait()
            picam2 = self._camera()
            was_running = self._running
            if was_running:
                self._stop_locked()
            self._mode = None  # until this configuration succeeds
            self._preview_size = (w, h)
            with _errors(f"configuring {mode.name}"):
                picam2.configure(self._preview_config(mode))
                stream = picam2.camera_configuration()["raw"]
            order = RawFormat.parse(stream["format"]).bayer_order
            self._sensor = dataclasses.replace(
                self._sensor,
                modes=tuple(dataclasses.replace(m, bayer_order=order) for m in self._sensor.modes),
            )
            self._mode = next(
                m for m in self._sensor.modes if m.size == mode.size and m.bit_depth == mode.bit_depth
            )
            if was_running:
                self._start_locked()

    def start(self) -> None:
        with self._lock:
            self._start_locked()

    def _start_locked(self) -> None:
        picam2 = self._camera()
        if self._mode is None:
            raise exc.CameraNotRunning("configure() the camera before start()")
        with _errors("starting the camera"):
            picam2.start()
        self._running = True
        self._starting = True

    def stop(self) -> None:
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        self._running = False
        self._generation += 1
        self._still_done.notify_all()
        if self._picam2 is None:
            return
        with contextlib.suppress(Exception):
            self._picam2.cancel_all_and_flush()
        with _errors("stopping the camera"):
            self._picam2.stop()

    @property
    def zero_shutter_lag(self) -> bool:
        """True when the live view runs in the full-resolution mode: a still is a live frame."""
        return self._mode is not None and self._mode == self._sensor.full_resolution_mode

    # -- controls -----------------------------------------------------------------------

    @property
    def controls(self) -> Controls:
        return self._controls

    def set_controls(self, controls: Controls) -> None:
        with self._lock:
            picam2 = self._camera()
            self._controls = controls
            self._note_in_flight(controls)
            if self._still_active:
                return  # the still restores the newest controls when it ends
            with _errors("setting controls"):
                picam2.set_controls(self._libcamera_controls(controls, self._mode))

    def _note_in_flight(self, controls: Controls) -> None:
        if not controls.exposure_time_is_auto:
            self._in_flight.append((self._frames_seen, int(controls.exposure_time_us)))

    def _libcamera_controls(self, c: Controls, mode: SensorMode | None) -> dict[str, Any]:
        """Our :class:`Controls` as libcamera controls, leaving out any the camera lacks.

        With AE on, ``ExposureTime`` and ``AnalogueGain`` are sent as 0, which picamera2 turns
        into ``ExposureTimeMode``/``AnalogueGainMode`` auto (see its ``CompletedRequest.release``);
        in shutter or ISO priority the held one is sent as its value, so AE varies only the other.
        """
        enums = _libcamera_enums()
        available = self._picam2.camera_controls
        out: dict[str, Any] = {
            "AeEnable": c.ae_enable,
            "ExposureTime": 0 if c.exposure_time_is_auto else int(c.exposure_time_us),
            "AnalogueGain": 0.0 if c.analogue_gain_is_auto else float(c.analogue_gain),
            "ExposureValue": float(c.ev),
            "AeMeteringMode": getattr(enums.AeMeteringModeEnum, _METERING_ENUM[c.metering]),
            "AwbEnable": c.awb_enable,
        }
        if c.awb_enable:
            out["AwbMode"] = getattr(enums.AwbModeEnum, _AWB_ENUM[c.awb_mode])
        else:
            out["ColourGains"] = (float(c.colour_gains[0]), float(c.colour_gains[1]))
        if c.scaler_crop is not None:
            out["ScalerCrop"] = tuple(int(v) for v in c.scaler_crop)
        elif mode is not None:
            out["ScalerCrop"] = tuple(mode.crop)  # the whole field of the mode
        if c.frame_duration_limits_us is not None:
            out["FrameDurationLimits"] = tuple(int(v) for v in c.frame_duration_limits_us)
        elif mode is not None:
            # As fast as the mode runs, as slow as the longest exposure needs: libcamera clamps.
            longest = available.get("FrameDurationLimits", (0, self._sensor.exposure_time_us_range[1]))
            out["FrameDurationLimits"] = (round(1e6 / mode.max_fps), int(longest[1]))
        return {k: v for k, v in out.items() if k in available}

    # -- waiting for frames ---------------------------------------------------------------

    def _budget_ns(self, timeout_s: float) -> int:
        """Timeout plus the longest frame that may be in flight: the last one's duration, or
        a longer manual exposure set in the last few frames (controls reach the sensor
        frames later, and the frame already exposing keeps its length)."""
        longest = self._last_duration_us
        for frame, exposure_us in self._in_flight:
            if self._frames_seen - frame <= CONTROL_LATENCY_FRAMES:
                longest = max(longest, exposure_us)
        if self._starting and self._mode is not None:
            # libcamera's start, then the frames the IPA marks as startup frames (the IMX477's
            # AGC and AWB: 7 on a first start), which picamera2 drops: see SOURCES.md.
            longest += round(STARTUP_ALLOWANCE_S * 1e6 + STARTUP_FRAMES * 1e6 / self._mode.max_fps)
        return round((timeout_s + longest * 1e-6) * 1e9)

    def _wait(self, job: Any, timeout_s: float, generation: int, what: str,
              extra_ns: int = 0, cancel: threading.Event | None = None,
              restarts: int | None = None) -> Any:
        """The job's result, waiting in short slices; interrupted by stop/close, and by
        ``cancel`` (:class:`~hal.exc.StillCancelled`). The budget is taken again at every
        slice, so a longer exposure set meanwhile extends it. ``restarts`` is the restart
        count when the job was made (read under the lock with it)."""
        started = self._clock.monotonic_ns()
        real_started = time.monotonic()
        restarts = self._restarts if restarts is None else restarts
        while True:
            try:
                return job.get_result(timeout=WAIT_SLICE_S)
            except TimeoutError:
                pass
            except CancelledError as error:
                if restarts != self._restarts and generation == self._generation:
                    raise _Restarted from error
                raise exc.CameraNotRunning(f"{what}: the camera was stopped") from error
            if cancel is not None and cancel.is_set():
                # The job stays queued: cancel_all_and_flush, which the caller runs next,
                # cancels and removes it with the others (a job cancelled here would stay
                # in picamera2's list, and that flush would stop at it).
                raise exc.StillCancelled(f"{what}: cancelled")
            if generation != self._generation:
                _abandon(job)
                raise exc.CameraNotRunning(f"{what}: the camera was stopped")
            budget_ns = self._budget_ns(timeout_s) + extra_ns
            late = self._clock.monotonic_ns() - started > budget_ns
            backstop = time.monotonic() - real_started > budget_ns / 1e9 + REAL_TIME_BACKSTOP_S
            if late or backstop:
                with contextlib.suppress(Exception):
                    self._picam2.cancel_all_and_flush()
                _abandon(job)
                raise exc.CameraTimeout(f"{what}: no frame within {budget_ns / 1e9:.1f} s")

    def _request_job(self, flush: int | None = None) -> Any:
        picam2 = self._camera()
        with _errors("asking for a frame"):
            return picam2.capture_request(wait=False, flush=flush)

    # -- frames -------------------------------------------------------------------------

    def next_frame(self, timeout_s: float = 2.0) -> PreviewFrame:
        t0 = time.thread_time_ns()
        with self._lock:
            while True:
                if not self._running:
                    raise exc.CameraNotRunning("start() the camera before asking for frames")
                if not self._burst_active:
                    break
                self._still_done.wait()
            generation = self._generation
            job, restarts = self._request_job(), self._restarts
        while True:
            try:
                with _errors("waiting for a preview frame"):
                    request = self._wait(job, timeout_s, generation, "live view",
                                         restarts=restarts)
                break
            except _Restarted:  # a cancelled exposure restarted the camera: the next frame
                with self._lock:
                    job, restarts = self._request_job(), self._restarts
        t1 = time.thread_time_ns()
        try:
            with _errors("reading a preview frame"):
                frame, t2 = self._preview(request)
        finally:
            request.release()
        t3 = time.thread_time_ns()
        self.live_cost_ms = {"request": (t1 - t0 + t3 - t2) / 1e6, "picture": 0.0, "raw": 0.0,
                             **self._copy_cost_ms}
        return frame

    def _preview(self, request: Any) -> tuple[PreviewFrame, int]:
        """The ``main`` picture and a bounded part of the raw, copied out of the buffers (and
        the thread CPU clock when done, for :attr:`live_cost_ms`)."""
        from picamera2.request import MappedArray

        md = request.get_metadata()
        metadata = self._metadata(md, _frame_sequence(request))
        t0 = time.thread_time_ns()
        with MappedArray(request, "main", write=False) as mapped:
            rgb = mapped.array.copy()  # BGR888 is R, G, B in memory; never a view of the buffer
        t1 = time.thread_time_ns()
        raw = self._raw_frame(request, md, metadata, analysis=True)
        t2 = time.thread_time_ns()
        self._copy_cost_ms = {"picture": (t1 - t0) / 1e6, "raw": (t2 - t1) / 1e6}
        return PreviewFrame(rgb, raw, metadata), t2

    def capture_still(
        self,
        timeout_s: float | None = None,
        *,
        exposure_time_us: int | None = None,
        analogue_gain: float | None = None,
        cancel: threading.Event | None = None,
    ) -> RawFrame:
        """A full-resolution raw still; the exposure override (if any) is for this still only.

        With zero shutter lag the still is the live frame being exposed at the press (or the
        next one); ``last_shutter_lag_ms`` says when its exposure began relative to the press
        (negative: before it). Setting ``cancel`` while the still is exposed stops the camera,
        discards the frame and starts the live view again (:class:`~hal.exc.StillCancelled`):
        a 10-minute exposure ends at once, not when the sensor is done."""
        with self._lock:
            while self._still_active:
                self._still_done.wait()
            self._camera()
            if not self._running or self._mode is None:
                raise exc.CameraNotRunning("configure() and start() the camera before a still")
            press_ns, unix_press_ns = self._clock.monotonic_ns(), time.time_ns()
            controls = self._controls
            override = exposure_time_us is not None or analogue_gain is not None
            if override:
                controls = controls.replace(
                    ae_enable=False,
                    exposure_time_us=int(exposure_time_us or self._metered()[0]),
                    analogue_gain=float(analogue_gain or self._metered()[1]),
                )
            exposure_s = controls.exposure_time_us * 1e-6 if not controls.ae_enable else 0.2
            if timeout_s is None:
                timeout_s = 5.0 + 2 * exposure_s
            self._still_active = True
            generation = self._generation
            zsl = self.zero_shutter_lag
        try:
            if zsl:
                raw = self._still_from_live(controls, override, press_ns, timeout_s, generation,
                                            cancel)
            else:
                raw = self._still_by_mode_switch(controls, timeout_s, generation, cancel)
        except exc.StillCancelled:
            if zsl:
                self._abort_exposure(generation)
            raise
        except exc.CameraTimeout:
            with contextlib.suppress(Exception):
                self._picam2.cancel_all_and_flush()
            raise
        finally:
            with self._lock:
                self._still_active = False
                self._still_done.notify_all()
                self._restore_controls()
        return self._with_lag(raw, press_ns, unix_press_ns)

    def _with_lag(self, raw: RawFrame, asked_ns: int, unix_asked_ns: int) -> RawFrame:
        """The still with its shutter lag and wall-clock start (see FrameMetadata). The wall
        clock is read once, at the press (``unix_asked_ns``), and the frame's time carried
        over from its SensorTimestamp: the frames of a burst are exactly their frame times
        apart, whatever the wall clock does meanwhile (NTP steps, or the simulated clock)."""
        start_ns = raw.metadata.sensor_timestamp_ns - raw.metadata.exposure_time_us * 1000
        self.last_shutter_lag_ms = (start_ns - asked_ns) / 1e6
        unix_ns = unix_asked_ns + (start_ns - asked_ns)
        return dataclasses.replace(raw, metadata=dataclasses.replace(
            raw.metadata, shutter_lag_ms=self.last_shutter_lag_ms, exposure_start_unix_ns=unix_ns))

    def _abort_exposure(self, generation: int) -> None:
        """Stop the camera in the middle of an exposure and start it again with the user's
        controls: libcamera's stop() cancels the requests in flight (their buffers come back
        with FrameMetadata status FrameCancelled, which picamera2 drops), so the frame being
        exposed is discarded. The live view's wait, cancelled by this, asks for a new frame."""
        with self._lock:
            if generation != self._generation or not self._running or self._picam2 is None:
                return
            picam2 = self._picam2
            self._restarts += 1
            self._in_flight.clear()
            with _errors("stopping a cancelled exposure"):
                picam2.cancel_all_and_flush()
                picam2.stop()
                picam2.set_controls(self._libcamera_controls(self._controls, self._mode))
                picam2.start()
            self._last_duration_us = 0
            self._starting = True  # libcamera's start before the next frame

    def capture_burst(
        self,
        count: int,
        on_frame: Any,
        *,
        exposures: list[tuple[int, float]] | None = None,
        cancel: threading.Event | None = None,
        timeout_s: float = 5.0,
    ) -> int:
        """Consecutive full-resolution frames of the running zero-shutter-lag live view, each
        handed to ``on_frame(raw)`` as it is copied out (the first is the frame nearest the
        call, as for a still). With ``exposures`` (a bracket: exposure time and gain per
        frame) each setting goes on the next request as soon as the previous one is queued,
        so the bracket takes about ``count`` frames plus libcamera's control delay instead of
        the delay for every frame; frames are matched to settings by their metadata, in the
        order given. Returns the frames delivered (fewer if ``cancel`` was set)."""
        with self._lock:
            while self._still_active:
                self._still_done.wait()
            if not self._running or self._mode is None or not self.zero_shutter_lag:
                raise exc.CameraNotRunning("a burst needs the full-resolution live view running")
            press_ns, unix_press_ns = self._clock.monotonic_ns(), time.time_ns()
            self._still_active = self._burst_active = True
            generation = self._generation
        delivered = 0

        def deliver(raw: RawFrame) -> None:
            nonlocal delivered
            on_frame(self._with_lag(raw, press_ns, unix_press_ns))
            delivered += 1

        jobs: deque[Any] = deque()  # our picamera2 jobs not yet read
        try:
            if exposures is None:
                self._burst(count, deliver, timeout_s, generation, cancel, jobs)
            else:
                self._bracket(exposures, deliver, timeout_s, generation, cancel, jobs)
        except BaseException as error:
            # Cancelled, or stopped by anything else (on_frame raised, a timeout): jobs still
            # queued would each take a frame and hold it forever (picamera2 does not unschedule
            # a cancelled job), so flush them all and start the live view again; a job that
            # already took a frame gives it back.
            self._abort_exposure(generation)
            for job in jobs:
                _release_if_finished(job)
            if not isinstance(error, exc.StillCancelled):
                raise
        finally:
            with self._lock:
                self._still_active = self._burst_active = False
                self._still_done.notify_all()
                self._restore_controls()
        return delivered

    def _nearest_flush(self) -> int:
        """The ``flush`` timestamp that picks the frame whose exposure is nearest now."""
        exposure_us = int(self._last_metadata.get("ExposureTime", 0))
        period_us = int(self._last_metadata.get("FrameDuration", 0)) or exposure_us
        # The frame whose exposure is nearest the press: the first whose exposure began
        # no earlier than half a frame period (plus half an exposure) before it. That is
        # the frame exposing at the press, or the one that ended just before it (picamera2
        # keeps the newest completed frame), or the next. picamera2's wait_for_timestamp_
        # compares SensorTimestamp - ExposureTime with this.
        return self._clock.monotonic_ns() - (period_us + exposure_us) * 500

    def _burst(self, count: int, deliver: Any, timeout_s: float, generation: int,
               cancel: threading.Event | None, jobs: deque[Any]) -> None:
        """Consecutive frames. The live view is held back meanwhile, so picamera2 hands each
        of our jobs the next completed request in turn (capture_request_ pops
        completed_requests); two jobs stay queued ahead, so no frame completes without one
        waiting for it, and no more than two requests are held while ``deliver`` waits (a
        full buffer): the camera keeps its other buffers."""
        with self._lock, _errors("starting a burst"):
            jobs.append(self._request_job(flush=self._nearest_flush()))
            queued = 1
            while queued < min(count, BURST_JOBS_AHEAD):
                jobs.append(self._request_job())
                queued += 1
        for _ in range(count):
            with _errors("capturing a burst"):
                request = self._wait(jobs[0], timeout_s, generation, "burst", cancel=cancel)
                jobs.popleft()
                try:
                    raw = self._still(request)
                finally:
                    request.release()
            deliver(raw)
            if queued < count:
                with self._lock, _errors("capturing a burst"):
                    jobs.append(self._request_job())
                queued += 1

    def _matches(self, md: dict[str, Any], want_us: int, want_gain: float) -> bool:
        line_us = 1e6 / self._mode.max_fps / max(1, self._mode.size[1])
        return (abs(md.get("ExposureTime", 0) - want_us) <= max(2 * line_us, 0.01 * want_us)
                and abs(md.get("AnalogueGain", 0) - want_gain) <= 0.02 * want_gain)

    def _set_exposure(self, exposure_us: int, gain: float) -> None:
        controls = self._controls.replace(ae_enable=False, exposure_time_us=int(exposure_us),
                                          analogue_gain=float(gain))
        with self._lock, _errors("setting a bracketed exposure"):
            self._picam2.set_controls(self._libcamera_controls(controls, self._mode))
        self._in_flight.append((self._frames_seen, int(exposure_us)))

    def _bracket(self, exposures: list[tuple[int, float]], deliver: Any, timeout_s: float,
                 generation: int, cancel: threading.Event | None, jobs: deque[Any]) -> None:
        count = len(exposures)
        got: list[RawFrame | None] = [None] * count
        emitted = 0
        self._set_exposure(*exposures[0])
        flush = self._clock.monotonic_ns()
        next_set, frames, last_found = 1, 0, 0
        limit = count + CONTROL_LATENCY_FRAMES * (count + 1) + 6
        while emitted < count:
            if frames > limit:
                raise exc.CameraError("the bracket's exposures did not reach the sensor")
            jobs.append(self._request_job(flush=flush if frames == 0 else None))
            with _errors("capturing a bracket"):
                request = self._wait(jobs[0], timeout_s, generation, "bracket", cancel=cancel)
                jobs.popleft()
                try:
                    md = request.get_metadata()
                    i = next((k for k in range(emitted, count)
                              if got[k] is None and self._matches(md, *exposures[k])), None)
                    if i is not None:
                        got[i], last_found = self._still(request, md), frames
                finally:
                    request.release()
            frames += 1
            if next_set < count:  # one setting per frame: each rides on its own request
                self._set_exposure(*exposures[next_set])
                next_set += 1
            elif frames - last_found > CONTROL_LATENCY_FRAMES:  # a setting was merged away
                missing = next(k for k in range(count) if got[k] is None)
                self._set_exposure(*exposures[missing])
                last_found = frames
            while emitted < count and got[emitted] is not None:
                raw, got[emitted] = got[emitted], None
                deliver(raw)
                emitted += 1

    def _metered(self) -> tuple[int, float]:
        md = self._last_metadata
        return int(md.get("ExposureTime", self._controls.exposure_time_us)), float(
            md.get("AnalogueGain", self._controls.analogue_gain))

    def _restore_controls(self) -> None:
        """The newest user controls back on the live view (set while the still was taken, too)."""
        if self._picam2 is None or not self._running:
            return
        with contextlib.suppress(exc.CameraError), _errors("restoring controls after a still"):
            self._picam2.set_controls(self._libcamera_controls(self._controls, self._mode))

    def _still_from_live(self, controls: Controls, override: bool, press_ns: int,
                         timeout_s: float, generation: int,
                         cancel: threading.Event | None) -> RawFrame:
        """Zero shutter lag: a frame of the running full-resolution configuration."""
        if not override:
            job = self._request_job(flush=self._nearest_flush())
            with _errors("capturing a still"):
                request = self._wait(job, timeout_s, generation, "still", cancel=cancel)
            try:
                return self._still(request)
            finally:
                request.release()
        with self._lock, _errors("setting the still's exposure"):
            self._picam2.set_controls(self._libcamera_controls(controls, self._mode))
            set_ns = self._clock.monotonic_ns()
        self._in_flight.append((self._frames_seen, controls.exposure_time_us))
        want_us, want_gain = controls.exposure_time_us, controls.analogue_gain
        for _ in range(CONTROL_LATENCY_FRAMES + 6):
            job = self._request_job(flush=set_ns)
            with _errors("capturing a still"):
                request = self._wait(job, timeout_s, generation, "still", cancel=cancel)
            try:
                md = request.get_metadata()
                if self._matches(md, want_us, want_gain):
                    return self._still(request, md)
            finally:
                request.release()
        raise exc.CameraError("the still's exposure did not reach the sensor")

    def _still_by_mode_switch(self, controls: Controls, timeout_s: float,
                              generation: int, cancel: threading.Event | None) -> RawFrame:
        picam2 = self._camera()
        full = self._sensor.full_resolution_mode
        entry = self._sensor_mode_entry(full)
        with _errors("switching to the still mode"):
            config = picam2.create_still_configuration(
                main={"format": "BGR888", "size": tuple(self._preview_size)},
                raw={"format": str(entry["unpacked"]), "size": tuple(entry["size"])},
                sensor={"output_size": tuple(entry["size"]), "bit_depth": entry["bit_depth"]},
                controls=self._libcamera_controls(controls, full),
            )
            job = picam2.switch_mode_capture_request_and_stop(config, wait=False)
        try:
            with _errors("capturing a still"):
                # The mode switch (stop, configure, start) comes before the frame.
                request = self._wait(job, timeout_s, generation, "still", extra_ns=round(2e9),
                                     cancel=cancel)
            try:
                raw = self._still(request)
            finally:
                request.release()
        except exc.StillCancelled:
            with _errors("cancelling a still"):  # the still mode's frame is still exposing
                picam2.cancel_all_and_flush()
            raise
        finally:
            with self._lock, _errors("restarting the live view"):
                # Not when stop() or close() came meanwhile: they own the camera now.
                if generation == self._generation and self._running and self._mode is not None:
                    picam2.stop()
                    picam2.configure(self._preview_config(self._mode))
                    picam2.start()
                elif self._picam2 is not None:
                    picam2.stop()  # switch_mode_capture_request_and_stop may have restarted it
        return raw

    def _still(self, request: Any, md: dict[str, Any] | None = None) -> RawFrame:
        """A still from ``request``: the whole raw, and the ISP's picture of the same frame."""
        from picamera2.request import MappedArray

        md = md if md is not None else request.get_metadata()
        raw = self._raw_frame(request, md, self._metadata(md, _frame_sequence(request)))
        with MappedArray(request, "main", write=False) as mapped:
            picture = mapped.array.copy()
        return dataclasses.replace(raw, picture=picture)

    def _raw_frame(self, request: Any, md: dict[str, Any], metadata: FrameMetadata | None = None,
                   *, analysis: bool = False) -> RawFrame:
        """The raw stream of ``request`` as sensor DN. For the live analysis only the part the
        ScalerCrop shows, decimated to :data:`ANALYSIS_RAW_WIDTH`; for a still all of it."""
        from picamera2.request import MappedArray

        stream = request.config["raw"]
        fmt = RawFormat.parse(stream["format"])
        if fmt.packing is not None:
            raise exc.CameraError(f"raw stream is {stream['format']}, not an unpacked format")
        width, height = stream["size"]
        sensor = request.config.get("sensor") or {}
        bit_depth = int(sensor.get("bit_depth") or fmt.bit_depth)
        with MappedArray(request, "raw", reshape=False, write=False) as mapped:
            words = np.asarray(mapped.array).view("<u2").reshape(height, -1)[:, :width]
            if analysis:
                window = self._analysis_window(md.get("ScalerCrop"), (width, height))
                words = words[window[:2]] if len(window) == 2 else _decimated(words, *window)
            data = words.copy()
        if fmt.bit_depth > bit_depth:  # Pi 5: 16-bit container, the sensor's bits at the top
            data >>= fmt.bit_depth - bit_depth
        levels = md.get("SensorBlackLevels")
        black_16 = round(sum(levels) / len(levels)) if levels else self._sensor.black_level_16bit
        return RawFrame(
            data=data,
            bayer_order=fmt.bayer_order,
            black_level=black_16 >> (16 - bit_depth),
            white_level=(1 << bit_depth) - 1,
            bit_depth=bit_depth,
            metadata=metadata or self._metadata(md),
        )

    def _analysis_window(self, crop: Any, size: tuple[int, int]) -> tuple:
        """Raw rows and columns under the ScalerCrop (full-array coordinates, the mode's crop
        and binning undone), in whole Bayer cells, every n-th cell beyond the width limit."""
        width, height = size
        mode = self._mode
        x0 = y0 = 0
        c0, r0, c1, r1 = 0, 0, width, height
        if crop is not None and mode is not None:
            mx, my, mw, mh = mode.crop
            b = mode.binning
            x, y, w, h = (int(v) for v in crop)
            c0, c1 = (x - mx) // b, (x + w - mx) // b
            r0, r1 = (y - my) // b, (y + h - my) // b
            c0, r0 = max(0, c0) & ~1, max(0, r0) & ~1
            c1, r1 = min(width, c1), min(height, r1)
        del x0, y0
        cells = max(1, (c1 - c0) // 2)
        step = max(1, -(-2 * cells // ANALYSIS_RAW_WIDTH))
        if step == 1:
            return slice(r0, r1), slice(c0, c1)
        # Whole 2×2 cells, one in every `step` along each axis (see _decimated).
        return (r0, r1), (c0, c1), step

    def _metadata(self, md: dict[str, Any], sensor_sequence: int | None = None) -> FrameMetadata:
        self._frames_seen += 1
        self._starting = False
        self._last_metadata = md
        self._last_duration_us = int(md.get("FrameDuration", 0))
        gains = md.get("ColourGains", self._controls.colour_gains)
        crop = md.get("ScalerCrop")
        lux = md.get("Lux")
        temperature = md.get("SensorTemperature")
        return FrameMetadata(
            sequence=self._frames_seen,
            sensor_timestamp_ns=int(md.get("SensorTimestamp", 0)),
            exposure_time_us=int(md.get("ExposureTime", self._controls.exposure_time_us)),
            analogue_gain=float(md.get("AnalogueGain", self._controls.analogue_gain)),
            colour_gains=(float(gains[0]), float(gains[1])),
            colour_temperature=int(md.get("ColourTemperature", 0)),
            frame_duration_us=int(md.get("FrameDuration", 0)),
            lux=None if lux is None else float(lux),
            sensor_temperature_c=None if temperature is None else float(temperature),
            scaler_crop=None if crop is None else tuple(int(v) for v in crop),
            digital_gain=float(md.get("DigitalGain", 1.0)),
            focus_fom=None if md.get("FocusFoM") is None else int(md["FocusFoM"]),
            sensor_sequence=sensor_sequence,
        )

    # -- description --------------------------------------------------------------------

    def describe(self) -> dict[str, object]:
        info: dict[str, object] = {"backend": self.backend, "libcamera": self.libcamera}
        if self.rig is not None:
            info["lens"] = dataclasses.asdict(self.rig.lens)
            info["scene"] = dataclasses.asdict(self.rig.light)
        if self._picam2 is None:
            return info
        props = self._picam2.camera_properties
        info["properties"] = {k: _plain(v) for k, v in props.items()}
        info["model"] = _plain(props.get("Model"))
        info["pixel_array_size"] = _plain(props.get("PixelArraySize"))
        if self._mode is not None:
            info["raw_format"] = self._picam2.camera_configuration()["raw"]["format"]
            info["mode"] = self._mode.name
            info["zero_shutter_lag"] = self.zero_shutter_lag
        return info


def _abandon(job: Any) -> None:
    """Give up on a picamera2 job. One that finished meanwhile holds a completed request,
    which goes back to the camera (else its buffers stay taken until the camera closes)."""
    try:
        job.cancel()
        return
    except InvalidStateError:  # it finished first
        log.debug("abandoned job had finished; releasing its request")
    with contextlib.suppress(Exception):
        result = job.get_result(timeout=0)
        if hasattr(result, "release"):
            result.release()


def _release_if_finished(job: Any) -> None:
    """Give back the frame a job took, if it finished with one (after a flush)."""
    with contextlib.suppress(Exception):
        result = job.get_result(timeout=0)
        if hasattr(result, "release"):
            result.release()


def _frame_sequence(request: Any) -> int | None:
    """The frame's sequence number from its buffers' metadata (libcamera FrameMetadata), as
    picamera2 reads their status in ``process_requests``."""
    try:
        return int(next(iter(request.request.buffers.values())).metadata.sequence)
    except (AttributeError, StopIteration, TypeError, ValueError):
        return None


def _decimated(words: np.ndarray, rows: tuple[int, int], cols: tuple[int, int],
               step: int) -> np.ndarray:
    """Every ``step``-th 2×2 Bayer cell of a window, as a strided view (no gather): the
    rows and columns become (cells, 2) axes and the cell axes are sliced."""
    r0, r1 = rows
    c0, c1 = cols
    h, w = (r1 - r0) // 2 * 2, (c1 - c0) // 2 * 2
    window = words[r0:r0 + h, c0:c0 + w]
    cells = window.reshape(h // 2, 2, w // 2, 2)[::step, :, ::step, :]
    return cells.reshape(cells.shape[0] * 2, cells.shape[2] * 2)


def _plain(value: Any) -> Any:
    """A camera property as JSON can carry it (libcamera enums become their names)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)
