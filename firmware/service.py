"""The camera service: owns the camera for the app's lifetime and keeps the live view running.

One thread pulls preview frames and publishes them (:mod:`firmware.broadcast`). Stills are
serialised with the live view on one lock, so a capture waits at most one frame. A camera
fault does not take the process down: the service closes the camera, says why in
:attr:`CameraService.status`, and reopens it with exponential backoff while the API answers
503 "camera recovering". Controls set by the user are kept and re-applied after a reopen.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable

from firmware.broadcast import Broadcast
from firmware.exc import CameraUnavailable
from firmware.live.analyzer import LiveAnalyzer
from hal import exc as hal_exc
from hal.camera import Camera, Controls, RawFrame, SensorMode, preview_mode

log = logging.getLogger(__name__)

CameraFactory = Callable[[], Camera]


class CameraService:
    """Runs a :class:`~hal.camera.Camera`; use as a context manager (the FastAPI lifespan does).

    ``camera`` is either an instance (reused across reopens) or a factory that makes a new one
    each time the camera is (re)opened.
    """

    def __init__(
        self,
        camera: Camera | CameraFactory,
        preview_size: tuple[int, int] = (1024, 768),
        *,
        mode: SensorMode | None = None,
        frame_timeout_s: float = 2.0,
        backoff_s: tuple[float, float] = (0.5, 8.0),
        zero_shutter_lag: bool = False,
    ) -> None:
        self._factory: CameraFactory = camera if callable(camera) and not isinstance(
            camera, Camera
        ) else (lambda: camera)  # type: ignore[assignment,return-value]
        self._camera: Camera | None = None
        self._template = self._factory()
        self._preview_size = preview_size
        self._mode = mode
        self._zero_shutter_lag = zero_shutter_lag
        self._magnified = False
        self._frame_timeout_s = frame_timeout_s
        self._backoff = backoff_s
        self._controls = Controls()
        self._holds: dict[str, tuple[bool, bool]] = {}
        self.controls_lock = threading.RLock()
        """Held while the controls change: a read-modify-write (a route, the encoder) takes it
        so that two changes at once never lose one."""
        self._held_exposure: tuple[int, float] | None = None
        self._held_gains: tuple[float, float] | None = None
        self.spot_offset_ev = 0.0
        """Added to the AGC's exposure value to meter the tapped spot (firmware/spot_metering.py)."""
        self.broadcast = Broadcast()
        self.live = LiveAnalyzer(self.broadcast)
        """Histograms, ETTR and focus of the newest frame, computed while someone looks."""
        self._camera_lock = threading.RLock()
        self._still_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = "stopped"
        self._reason: str | None = None
        self._failures = 0
        self._frame_times: collections.deque[int] = collections.deque(maxlen=30)
        self.frames = 0
        self.stills = 0
        self.recoveries = 0
        self._started_at = time.monotonic()
        self._beat = time.monotonic()
        self._still_deadline = 0.0

    # --- lifetime ------------------------------------------------------------------------

    def __enter__(self) -> CameraService:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self._stop.clear()
        self._state = "starting"
        self._thread = threading.Thread(target=self._run, name="camera-loop", daemon=True)
        self._thread.start()
        self.live.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._frame_timeout_s + 5)
            self._thread = None
        with self._camera_lock:
            self._close_camera()
        self._state = "stopped"
        self.broadcast.wake_all()
        self.live.stop()

    # --- what the API reads --------------------------------------------------------------

    @property
    def camera(self) -> Camera:
        """The camera object (for its static description and backend-specific extras)."""
        return self._camera or self._template

    @property
    def healthy(self) -> bool:
        return self._state == "running"

    @property
    def status(self) -> dict[str, object]:
        fps = 0.0
        if len(self._frame_times) > 1:
            span = self._frame_times[-1] - self._frame_times[0]
            fps = (len(self._frame_times) - 1) * 1e9 / span if span > 0 else 0.0
        return {
            "state": self._state,
            "reason": self._reason,
            "backend": self.camera.backend,
            "frames": self.frames,
            "stills": self.stills,
            "recoveries": self.recoveries,
            "fps": round(fps, 2),
            "uptime_s": round(time.monotonic() - self._started_at, 1),
        }

    def require_healthy(self) -> None:
        if not self.healthy:
            raise CameraUnavailable(self._reason or f"camera {self._state}")

    @property
    def controls(self) -> Controls:
        return self._controls

    @property
    def sensor_mode(self) -> SensorMode:
        """The sensor mode the live view runs in (its ``crop`` is the unmagnified field)."""
        return self._mode or self._live_view_mode(self.camera)

    def set_controls(self, controls: Controls) -> Controls:
        """Apply controls now (from the next frame) and keep them for later reopens.

        A lock (AEL, AWB lock) ends when what it holds is then set by hand: a shutter or ISO
        (or manual exposure, or another priority) for AEL, gains or a preset for the AWB lock,
        from the phone, the encoder or anywhere."""
        with self.controls_lock:
            before = self._controls
            self._controls = controls
            exposure_fields = ("ae_enable", "exposure_time_us", "analogue_gain",
                               "exposure_priority")
            if "ae_lock" in self._holds and any(
                    getattr(before, f) != getattr(controls, f) for f in exposure_fields):
                self._holds.pop("ae_lock")
                self._release_unheld()
            if "awb_lock" in self._holds and any(
                    getattr(before, f) != getattr(controls, f)
                    for f in ("awb_enable", "awb_mode", "colour_gains")):
                self._holds.pop("awb_lock")
                self._release_unheld()
            self._apply()
        return controls

    def _release_unheld(self) -> None:
        if not any(e for e, _ in self._holds.values()):
            self._held_exposure = None
        if not any(w for _, w in self._holds.values()):
            self._held_gains = None

    def _apply(self) -> None:
        """Give the camera :attr:`camera_controls` (the photographer's, with any hold or spot
        shift), leaving the photographer's controls as they are."""
        camera = self._camera
        if camera is not None and self.healthy:
            try:
                camera.set_controls(self.camera_controls)
            except hal_exc.CameraError as e:
                self._fault(e)
                raise CameraUnavailable(str(e)) from e

    def unmagnify(self) -> None:
        """Back to the whole field: no crop, the fast live-view mode again, the punch-in's
        hold on exposure and white balance released."""
        self.set_controls(self._controls.replace(scaler_crop=None))
        self.set_magnified(False)
        self.set_hold("magnify")

    # --- holds: automatic exposure and white balance kept where they are -------------------

    #: Why exposure or white balance may be held: the photographer's AE lock (AEL) and AWB
    #: lock, and a punch-in (magnify). While punched in, what AE and AWB see is not what the
    #: photo will be: on a Pi 5 the statistics are the whole frame's (pisp.cpp
    #: setStatsAndDebin), but on a Pi 4 the ScalerCrop is the ISP's input crop (vc4.cpp
    #: platformSetIspCrop) and what its closed firmware meters then is not documented; either
    #: way, focusing on a bright patch should not move the exposure of the whole picture.
    HOLD_REASONS = ("ae_lock", "awb_lock", "magnify")

    def set_hold(self, reason: str, *, exposure: bool = False, white_balance: bool = False) -> None:
        """Hold (or, with both False, release) the exposure and/or white balance that AE and
        AWB chose for the latest frame, for ``reason``; kept until every reason is released.
        Manual exposure or white balance are not affected: they hold by themselves."""
        if reason not in self.HOLD_REASONS:
            raise ValueError(f"unknown hold {reason!r}")
        with self.controls_lock:
            if exposure or white_balance:
                self._holds[reason] = (exposure, white_balance)
            else:
                self._holds.pop(reason, None)
            latest = self.broadcast.latest
            m = latest.frame.metadata if latest else None
            c = self._controls
            self._release_unheld()
            if self._held_exposure is None and any(e for e, _ in self._holds.values()):
                self._held_exposure = ((m.exposure_time_us, m.analogue_gain) if m else
                                       (c.exposure_time_us, c.analogue_gain))
            if self._held_gains is None and any(w for _, w in self._holds.values()):
                self._held_gains = tuple(m.colour_gains) if m else c.colour_gains
            self._apply()

    @property
    def holds(self) -> dict[str, tuple[bool, bool]]:
        """Reason -> (exposure held, white balance held)."""
        with self.controls_lock:
            return dict(self._holds)

    @property
    def camera_controls(self) -> Controls:
        """What the camera is given: the photographer's controls, with AE or AWB replaced by
        their held values while a hold is on (see :meth:`set_hold`)."""
        c = self._controls
        if self._held_exposure is not None and c.ae_enable:
            us, gain = self._held_exposure
            c = c.replace(ae_enable=False, exposure_time_us=us, analogue_gain=gain)
        if self._held_gains is not None and c.awb_enable:
            c = c.replace(awb_enable=False, colour_gains=self._held_gains)
        if self.spot_offset_ev and c.ae_enable:
            c = c.replace(ev=max(-8.0, min(8.0, c.ev + self.spot_offset_ev)))
        return c

    def set_spot_offset(self, shift_ev: float) -> None:
        """Shift the AGC's exposure value by ``shift_ev`` so the tapped spot meters as asked."""
        with self.controls_lock:
            self.spot_offset_ev = shift_ev
            self._apply()

    def capture_still(
        self,
        *,
        exposure_time_us: int | None = None,
        analogue_gain: float | None = None,
        cancel: threading.Event | None = None,
    ) -> RawFrame:
        """A full-resolution raw still.

        Stills are taken one at a time. With zero shutter lag on a backend that allows it, the
        still is the frame being exposed and the live view keeps running; otherwise it is taken
        between two live-view frames (the live view waits on the camera lock meanwhile, which
        the watchdog allows for: see :attr:`stalled`).
        """
        self.require_healthy()
        override = {k: v for k, v in (("exposure_time_us", exposure_time_us),
                                      ("analogue_gain", analogue_gain)) if v is not None}
        longest_us = max(self.camera_controls.exposure_time_us, exposure_time_us or 0)
        timeout = longest_us * 1e-6 + self._frame_timeout_s + 5.0
        with self._still_lock:
            camera = self._camera
            shared = self._zero_shutter_lag and camera is not None and camera.concurrent_stills
            self._still_deadline = time.monotonic() + timeout + self._frame_timeout_s
            try:
                with contextlib.nullcontext() if shared else self._camera_lock:
                    camera = self._camera
                    if camera is None:
                        raise CameraUnavailable(self._reason or "camera not open")
                    try:
                        raw = camera.capture_still(timeout_s=timeout, cancel=cancel, **override)
                    except hal_exc.CameraError as e:
                        self._fault(e)
                        raise CameraUnavailable(str(e)) from e
            finally:
                self._still_deadline = 0.0
        self.stills += 1
        return raw

    @property
    def can_burst(self) -> bool:
        """Whether bursts and brackets run as consecutive frames of the live view (zero
        shutter lag on a backend that has it), rather than a still at a time."""
        camera = self._camera
        return (self._zero_shutter_lag and camera is not None
                and type(camera).capture_burst is not Camera.capture_burst
                and bool(getattr(camera, "zero_shutter_lag", False)))

    def capture_burst(
        self,
        count: int,
        on_frame: Callable[[RawFrame], None],
        *,
        exposures: list[tuple[int, float]] | None = None,
        cancel: threading.Event | None = None,
    ) -> int:
        """``count`` consecutive full-resolution frames (a burst at the sensor's rate, or a
        bracket of ``exposures``), each passed to ``on_frame`` as it arrives. Only where
        :attr:`can_burst`."""
        self.require_healthy()
        longest_us = max([self.camera_controls.exposure_time_us,
                          *(us for us, _ in exposures or [])])
        timeout = longest_us * 1e-6 + self._frame_timeout_s + 5.0
        with self._still_lock:
            camera = self._camera
            if camera is None:
                raise CameraUnavailable(self._reason or "camera not open")
            self._still_deadline = time.monotonic() + count * timeout + self._frame_timeout_s
            try:
                done = camera.capture_burst(count, on_frame, exposures=exposures, cancel=cancel,
                                            timeout_s=timeout)
            except hal_exc.CameraError as e:
                self._fault(e)
                raise CameraUnavailable(str(e)) from e
            finally:
                self._still_deadline = 0.0
        self.stills += done
        return done

    def _live_view_mode(self, camera: Camera) -> SensorMode:
        """Full resolution for zero shutter lag or a punch-in (10 fps on the HQ camera), else
        the fast binned mode."""
        sensor = camera.sensor
        full = self._zero_shutter_lag or self._magnified
        return sensor.full_resolution_mode if full else preview_mode(sensor)

    def set_magnified(self, magnified: bool) -> SensorMode:
        """While magnified the live view reads the full-resolution mode, so a punch-in shows
        the sensor's own pixels (the fast mode averages 2×2 of them); at 1× it goes back to the
        fast mode. Both modes see the same field, so crops stay valid. Returns the mode."""
        with self._camera_lock:
            before = self.sensor_mode
            self._magnified = magnified
            mode = self.sensor_mode
            camera = self._camera
            if camera is None or mode == before:
                return mode
            try:
                camera.stop()
                camera.configure(mode, self._preview_size)
                camera.set_controls(self.camera_controls)
                camera.start()
            except hal_exc.CameraError as e:
                self._fault(e)
                raise CameraUnavailable(str(e)) from e
        return mode

    # --- the loop ------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            self._beat = time.monotonic()
            try:
                opened = self._camera is not None or self._try_open()
            except Exception as e:  # noqa: BLE001 - the camera thread must never die silently
                log.exception("camera open: unexpected error")
                self._failures += 1
                self._state = "recovering"
                self._reason = f"camera error ({type(e).__name__}: {e})"
                opened = False
            if not opened:
                self._wait_backoff()
                continue
            try:
                with self._camera_lock:
                    camera = self._camera
                    if camera is None:
                        continue
                    frame = camera.next_frame(timeout_s=self._frame_budget_s())
            except hal_exc.CameraError as e:
                self._fault(e)
                self._wait_backoff()
                continue
            except Exception as e:  # noqa: BLE001 - the camera thread must never die silently
                log.exception("camera loop: unexpected error")
                self._fault(hal_exc.CameraError(f"{type(e).__name__}: {e}"))
                self._wait_backoff()
                continue
            self._failures = 0
            self.frames += 1
            self._frame_times.append(time.monotonic_ns())
            self.broadcast.publish(frame)
            # Let a waiting still capture take the lock before the next frame.
            time.sleep(0)

    def _try_open(self) -> bool:
        with self._camera_lock:
            try:
                camera = self._factory()
                camera.open()
                try:
                    mode = self._mode or self._live_view_mode(camera)
                    camera.configure(mode, self._preview_size)
                    camera.set_controls(self.camera_controls)
                    camera.start()
                except BaseException:
                    camera.close()
                    raise
            except (hal_exc.CameraError, ValueError) as e:
                # ValueError: a configuration the camera refuses (a bad preview size, say).
                error = e if isinstance(e, hal_exc.CameraError) else hal_exc.CameraError(str(e))
                self._failures += 1
                self._state = "recovering"
                self._reason = f"{error.summary} ({error})"
                log.warning("camera open failed (%s); retrying", self._reason)
                return False
            self._camera = camera
            if self._state == "recovering":
                self.recoveries += 1
                log.info("camera recovered")
            self._state = "running"
            self._reason = None
            return True

    def _fault(self, error: hal_exc.CameraError) -> None:
        with self._camera_lock:
            self._failures += 1
            self._state = "recovering"
            self._reason = f"{error.summary} ({error})"
            log.warning("camera fault: %s; reopening", self._reason)
            self._close_camera()
        self.broadcast.wake_all()

    def _close_camera(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            try:
                camera.stop()
            except Exception:  # noqa: BLE001 - closing after a fault must not raise
                log.debug("stop after fault failed", exc_info=True)
            camera.close()

    def _wait_backoff(self) -> None:
        first, cap = self._backoff
        delay = min(cap, first * 2 ** max(0, self._failures - 1))
        self._stop.wait(delay)

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def _frame_budget_s(self) -> float:
        """How long a live-view frame may take: the timeout, plus a manual exposure's length
        (a frame exposed for 300 s arrives after 300 s and is not a hang)."""
        c = self.camera_controls
        return self._frame_timeout_s + (0.0 if c.ae_enable else c.exposure_time_us * 1e-6)

    @property
    def loop_alive(self) -> bool:
        """Whether the camera thread is running (False before start and after stop)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def stalled(self) -> bool:
        """The camera loop has made no progress for longer than any legitimate wait: a frame
        timeout plus the longest back-off, or the deadline of the still being taken (so a long
        exposure is not a hang). The watchdog stops pinging then."""
        now = time.monotonic()
        limit = self._frame_budget_s() + self._backoff[1] + 5.0
        return now - self._beat > limit and now > self._still_deadline
