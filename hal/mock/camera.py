"""A simulated Raspberry Pi HQ camera (IMX477) behind the :class:`~hal.camera.Camera` interface.

It renders the test board of :mod:`hal.mock.scene` through :class:`~hal.mock.optics.MockLens`
onto a sensor with the IMX477's modes, Bayer order, black level, noise and exposure limits, and
plays the Pi's IPA and ISP for the live view (:mod:`hal.mock.ipa`). Frames are paced by an
injectable clock, and faults can be scripted (:class:`MockFaults`), so the service's recovery
paths can be tested without hardware.

Example::

    with MockCamera(clock=SimulatedClock()) as cam:
        cam.configure(preview_mode(cam.sensor), (640, 480))
        cam.start()
        frame = cam.next_frame()
"""

from __future__ import annotations

import dataclasses
import functools
import threading

import numpy as np
from scipy import ndimage

from hal import exc, imx477
from hal.camera import (
    BayerOrder,
    Camera,
    Controls,
    FrameMetadata,
    PreviewFrame,
    RawFrame,
    SensorInfo,
    SensorMode,
    bayer_slices,
    preview_mode,
)
from hal.clock import Clock, RealClock
from hal.mock import ipa, sensor
from hal.mock.optics import MockLens
from hal.mock.scene import radiance
from isp.tuning import Tuning, default_tuning

MODE_SWITCH_US = 500_000
"""Time from asking for a mode switch to the first frame of the new mode. On a Pi 5 with the HQ
camera the first frame after ``switch_mode`` arrives 500-700 ms later, which the picamera2
maintainers call inherent in the camera stack (raspberrypi/picamera2 issue #1062)."""


@dataclasses.dataclass
class MockFaults:
    """Faults to inject, in the spirit of OctoPrint's virtual printer.

    Counters count down as faults fire; flags stay until cleared.
    """

    frame_timeouts: int = 0
    """The next N preview frames hang for the caller's timeout, then raise CameraTimeout."""
    still_timeouts: int = 0
    """The next N stills hang, then raise CameraTimeout."""
    disconnected: bool = False
    """Every call raises CameraDisconnected (and open fails) until cleared."""
    oom_on_configure: int = 0
    """The next N configure calls raise CameraOutOfMemory."""
    busy_on_open: int = 0
    """The next N open calls raise CameraBusy."""
    slow_frame_s: float = 0.0
    """Extra delay added to every frame."""


@dataclasses.dataclass(frozen=True)
class MockScene:
    """The light on the test board."""

    lux: float = 800.0
    colour_temperature: float = 5000.0


class MockCamera(Camera):
    """The simulated HQ camera. See the module docstring."""

    backend = "mock"
    concurrent_stills = True

    def __init__(
        self,
        *,
        bayer_order: BayerOrder = "BGGR",
        lens: MockLens | None = None,
        scene: MockScene | None = None,
        clock: Clock | None = None,
        seed: int | None = None,
        tuning: Tuning | None = None,
    ) -> None:
        self._sensor = imx477.sensor_info(bayer_order)
        self._lens = lens or MockLens()
        self._scene = scene or MockScene()
        self._clock = clock or RealClock()
        self._rng = np.random.default_rng(seed)
        self._noise = sensor.NoiseBank(self._rng)
        # Stills may be rendered in another thread while the live view runs.
        self._still_rng = np.random.default_rng(None if seed is None else seed + 1)
        self._tuning = tuning or default_tuning()
        self._profile = ipa.exposure_profile(self._tuning)
        self._y_target = ipa.y_target(self._tuning)
        self._lut = ipa.gamma_lut(self._tuning)
        self.faults = MockFaults()
        self._lock = threading.RLock()
        self._open = False
        self._running = False
        self._mode: SensorMode = preview_mode(self._sensor)
        self._configured = False
        self._preview_size = (640, 480)
        self._controls = Controls()
        self._sequence = 0
        self._next_frame_ns = 0
        self._frame_in_progress_ns = (0, 0)  # (exposure start, readout end) of the live frame
        # The control loops' state, as the IPA keeps it between frames.
        self._ae_total = 10_000.0
        self._awb_ct = self._scene.colour_temperature

    # --- static description -------------------------------------------------------------

    @property
    def sensor(self) -> SensorInfo:
        return self._sensor

    def describe(self) -> dict[str, object]:
        return {
            "backend": self.backend,
            "lens": dataclasses.asdict(self._lens),
            "scene": dataclasses.asdict(self._scene),
        }

    # --- lifetime ------------------------------------------------------------------------

    def open(self) -> None:
        with self._lock:
            if self.faults.disconnected:
                raise exc.CameraDisconnected("mock camera: not connected")
            if self.faults.busy_on_open > 0:
                self.faults.busy_on_open -= 1
                raise exc.CameraBusy("mock camera: in use by another process")
            self._open = True

    def close(self) -> None:
        with self._lock:
            self._running = False
            self._open = False

    def configure(self, mode: SensorMode, preview_size: tuple[int, int]) -> None:
        with self._lock:
            self._check_open()
            if mode not in self._sensor.modes:
                raise ValueError(f"{mode.name} is not a mode of this sensor")
            w, h = preview_size
            if w < 2 or h < 2 or w % 2 or h % 2:
                raise ValueError("preview size must be even and at least 2×2")
            if self.faults.oom_on_configure > 0:
                self.faults.oom_on_configure -= 1
                raise exc.CameraOutOfMemory("mock camera: cannot allocate buffers")
            self._mode = mode
            self._preview_size = (w, h)
            self._configured = True

    def start(self) -> None:
        with self._lock:
            self._check_open()
            if not self._configured:
                raise exc.CameraNotRunning("configure the camera before starting it")
            self._running = True
            self._next_frame_ns = self._clock.monotonic_ns()

    def stop(self) -> None:
        with self._lock:
            self._running = False

    # --- controls, lens and light --------------------------------------------------------

    @property
    def controls(self) -> Controls:
        return self._controls

    def set_controls(self, controls: Controls) -> None:
        lo, hi = self._sensor.exposure_time_us_range
        glo, ghi = self._sensor.analogue_gain_range
        # The driver clamps as the kernel does; the API has rejected out-of-range values already.
        clamped = controls.replace(
            exposure_time_us=int(min(max(controls.exposure_time_us, lo), hi)),
            analogue_gain=float(min(max(controls.analogue_gain, glo), ghi)),
        )
        with self._lock:
            if clamped.ae_enable and not self._controls.ae_enable:
                self._ae_total = float(clamped.exposure_time_us * clamped.analogue_gain)
            self._controls = clamped

    @property
    def lens(self) -> MockLens:
        return self._lens

    def set_lens(self, **rings: float) -> MockLens:
        """Turn the lens rings (``focus_distance_m``, ``f_number``); raises ValueError out of range."""
        with self._lock:
            self._lens = self._lens.replace(**rings)
            return self._lens

    @property
    def scene(self) -> MockScene:
        return self._scene

    def set_scene(self, **light: float) -> None:
        with self._lock:
            self._scene = dataclasses.replace(self._scene, **light)

    # --- frames --------------------------------------------------------------------------

    def next_frame(self, timeout_s: float = 2.0) -> PreviewFrame:
        with self._lock:
            self._check_running()
            if self.faults.frame_timeouts > 0:
                self.faults.frame_timeouts -= 1
                hang = True
            else:
                hang = False
            mode, size, controls, lens, scene = (
                self._mode, self._preview_size, self._controls, self._lens, self._scene
            )
            exposure_us, gain = self._exposure_for(controls, mode)
            colour_gains, ct = self._colour_for(controls)
            duration_us = self._frame_duration_us(mode, exposure_us, controls)
        if hang:
            self._clock.sleep(timeout_s)
            raise exc.CameraTimeout(f"mock camera: no frame within {timeout_s:g} s")
        self._wait_for_frame(duration_us)
        crop = controls.scaler_crop or mode.crop
        base = _render_camera_rgb(
            crop, size, lens, scene.colour_temperature, self._sensor.pixel_size_um, self._tuning
        )
        e_per_unit = sensor.electrons_per_unit(scene.lux, exposure_us, lens.f_number)
        black = self._sensor.black_level(mode.bit_depth)
        dn = sensor.expose(base * np.float32(e_per_unit), gain, mode.bit_depth, black, self._noise)
        metadata = self._metadata(exposure_us, gain, colour_gains, ct, duration_us, crop, scene)
        raw = RawFrame(
            data=_mosaic(dn, mode.bayer_order),
            bayer_order=mode.bayer_order,
            black_level=black,
            white_level=mode.white_level,
            bit_depth=mode.bit_depth,
            metadata=metadata,
        )
        rgb = ipa.render_preview(
            dn, black, mode.white_level, colour_gains, self._tuning.ccm(ct), self._lut
        )
        self._run_control_loops(dn, black, mode.white_level, exposure_us * gain, controls)
        return PreviewFrame(rgb=rgb, raw=raw, metadata=metadata)

    def capture_still(
        self,
        timeout_s: float | None = None,
        *,
        exposure_time_us: int | None = None,
        analogue_gain: float | None = None,
    ) -> RawFrame:
        with self._lock:
            self._check_running()
            hang = self.faults.still_timeouts > 0
            if hang:
                self.faults.still_timeouts -= 1
            mode = self._sensor.full_resolution_mode
            controls, lens, scene = self._controls, self._lens, self._scene
            if exposure_time_us is not None or analogue_gain is not None:
                controls = controls.replace(
                    ae_enable=False,
                    exposure_time_us=int(exposure_time_us or controls.exposure_time_us),
                    analogue_gain=float(analogue_gain or controls.analogue_gain),
                )
            exposure_us, gain = self._exposure_for(controls, mode)
            colour_gains, ct = self._colour_for(controls)
            duration_us = self._frame_duration_us(mode, exposure_us, controls)
            zero_lag = self._mode == mode
        if hang:
            self._clock.sleep(timeout_s if timeout_s is not None else exposure_us * 1e-6 + 1.0)
            raise exc.CameraTimeout("mock camera: still capture did not complete")
        if zero_lag:
            exposure_start_ns = self._share_frame(duration_us)
        else:
            self._clock.sleep(MODE_SWITCH_US * 1e-6)
            exposure_start_ns = self._clock.monotonic_ns()  # the still's SensorTimestamp
            self._clock.sleep(duration_us * 1e-6)
        data = _render_bayer_still(
            mode, lens, scene, exposure_us, gain, self._sensor, self._tuning, self._still_rng
        )
        if not zero_lag:
            self._clock.sleep(MODE_SWITCH_US * 1e-6)
            with self._lock:
                self._next_frame_ns = self._clock.monotonic_ns()
        metadata = self._metadata(
            exposure_us, gain, colour_gains, ct, duration_us, mode.crop, scene,
            timestamp_ns=exposure_start_ns,
        )
        return RawFrame(
            data=data,
            bayer_order=mode.bayer_order,
            black_level=self._sensor.black_level(mode.bit_depth),
            white_level=mode.white_level,
            bit_depth=mode.bit_depth,
            metadata=metadata,
        )

    # --- internals -----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.faults.disconnected:
            raise exc.CameraDisconnected("mock camera: disconnected")
        if not self._open:
            raise exc.CameraNotRunning("camera is not open")

    def _check_running(self) -> None:
        self._check_open()
        if not self._running:
            raise exc.CameraNotRunning("camera is not started")

    def _exposure_for(self, controls: Controls, mode: SensorMode) -> tuple[int, float]:
        if not controls.ae_enable:
            return controls.exposure_time_us, controls.analogue_gain
        max_shutter = self._profile.shutter_us[-1]
        if controls.frame_duration_limits_us:
            max_shutter = min(max_shutter, controls.frame_duration_limits_us[1])
        if controls.exposure_priority == "shutter":  # AE may only change the gain
            glo, ghi = self._sensor.analogue_gain_range
            t = controls.exposure_time_us
            return t, min(max(self._ae_total / t, glo), ghi)
        if controls.exposure_priority == "iso":  # AE may only change the exposure time
            lo = self._sensor.exposure_time_us_range[0]
            g = controls.analogue_gain
            return round(min(max(self._ae_total / g, lo), max_shutter)), g
        return self._profile.split(self._ae_total, max_shutter)

    def _colour_for(self, controls: Controls) -> tuple[tuple[float, float], int]:
        if controls.awb_enable:
            return self._tuning.colour_gains(self._awb_ct), round(self._awb_ct)
        gains = controls.colour_gains
        return gains, round(self._tuning.colour_temperature(gains))

    def _frame_duration_us(self, mode: SensorMode, exposure_us: int, c: Controls) -> int:
        duration = max(1e6 / mode.max_fps, exposure_us + imx477.FRAME_OVERHEAD_US)
        if c.frame_duration_limits_us:
            lo, hi = c.frame_duration_limits_us
            duration = min(max(duration, lo), max(hi, exposure_us + imx477.FRAME_OVERHEAD_US))
        return round(duration)

    def _wait_for_frame(self, duration_us: int) -> None:
        now = self._clock.monotonic_ns()
        with self._lock:
            due = max(self._next_frame_ns, now)
            self._next_frame_ns = due + duration_us * 1000
            self._frame_in_progress_ns = (due, self._next_frame_ns)
        self._clock.sleep((due - now) / 1e9 + duration_us * 1e-6 + self.faults.slow_frame_s)

    def _share_frame(self, duration_us: int) -> int:
        """Zero shutter lag: the still is the live-view frame being exposed now (both come from
        one full-resolution readout), or the next one if none is. Returns its exposure start."""
        now = self._clock.monotonic_ns()
        with self._lock:
            start, end = self._frame_in_progress_ns
            if not start <= now < end:
                start = max(self._next_frame_ns, now)
                end = start + duration_us * 1000
                self._next_frame_ns = end
                self._frame_in_progress_ns = (start, end)
        self._clock.sleep((end - now) / 1e9)
        return start

    def _metadata(
        self, exposure_us, gain, colour_gains, ct, duration_us, crop, scene, timestamp_ns=None
    ) -> FrameMetadata:
        with self._lock:
            self._sequence += 1
            sequence = self._sequence
        return FrameMetadata(
            sequence=sequence,
            sensor_timestamp_ns=self._clock.monotonic_ns() if timestamp_ns is None else timestamp_ns,
            exposure_time_us=int(exposure_us),
            analogue_gain=float(gain),
            colour_gains=(float(colour_gains[0]), float(colour_gains[1])),
            colour_temperature=int(ct),
            frame_duration_us=int(duration_us),
            lux=float(scene.lux),
            sensor_temperature_c=40.0,
            scaler_crop=tuple(crop),
        )

    def _run_control_loops(
        self, dn: np.ndarray, black: int, white: int, total: float, controls: Controls
    ) -> None:
        stats = (np.moveaxis(dn[:, ::8, ::8], 0, -1).astype(np.float32) - black) / (white - black)
        if controls.ae_enable:
            weights = ipa.metering_weights(stats.shape[:2], controls.metering)
            metered = float((stats[..., 1] * weights).sum())
            target = self._y_target * 2.0**controls.ev
            limits = (
                float(self._sensor.exposure_time_us_range[0]),
                self._profile.shutter_us[-1] * self._profile.gain[-1],
            )
            with self._lock:
                self._ae_total = ipa.ae_update(total, metered, target, limits)
        if controls.awb_enable:
            unclipped = stats[(stats < 0.95).all(axis=-1)]
            if len(unclipped):
                ct_range = ipa.awb_mode_range(self._tuning, controls.awb_mode)
                estimate = ipa.awb_estimate(self._tuning, unclipped.mean(axis=0), ct_range)
                with self._lock:
                    self._awb_ct += 0.5 * (estimate - self._awb_ct)


def _mosaic(planes: np.ndarray, order: str) -> np.ndarray:
    """Keep one colour per pixel of R, G, B planes (3×H×W), as a Bayer sensor records it."""
    out = np.empty(planes.shape[1:], dtype=planes.dtype)
    for colour in ("R", "G1", "G2", "B"):
        rows, cols = bayer_slices(order, colour)
        out[rows, cols] = planes["RGB".index(colour[0])][rows, cols]
    return out


def _sensor_to_board(lens: MockLens, px: np.ndarray, py: np.ndarray, pitch_mm: float):
    """Full-resolution pixel coordinates to board millimetres and sensor millimetres."""
    xs = (px - imx477.ACTIVE_ARRAY[0] / 2) * pitch_mm
    ys = (py - imx477.ACTIVE_ARRAY[1] / 2) * pitch_mm
    m = lens.magnification
    return xs / m, ys / m, xs, ys


@functools.lru_cache(maxsize=8)
def _render_camera_rgb(
    crop: tuple[int, int, int, int],
    size: tuple[int, int],
    lens: MockLens,
    colour_temperature: float,
    pixel_size_um: float,
    tuning: Tuning,
) -> np.ndarray:
    """Noise-free raw R, G, B planes (3×H×W) per unit exposure for a preview of ``crop``.

    Sampled 2×2 per output pixel against aliasing, blurred by the lens, vignetted. Cached,
    since it changes only when a ring, the crop or the light changes.
    """
    x0, y0, cw, ch = crop
    w, h = size
    ss = 2
    px = x0 + (np.arange(w * ss, dtype=np.float32) + 0.5) * (cw / (w * ss))
    py = y0 + (np.arange(h * ss, dtype=np.float32) + 0.5) * (ch / (h * ss))
    pitch_mm = pixel_size_um * 1e-3
    bx, by, xs, ys = _sensor_to_board(lens, px[None, :], py[:, None], pitch_mm)
    bx, by = np.broadcast_arrays(bx, by)
    rgb = radiance(bx, by).reshape(h, ss, w, ss, 3).mean(axis=(1, 3))
    response = sensor.camera_response(
        tuning.neutral_rb(colour_temperature), tuning.ccm(colour_temperature)
    )
    cam = rgb @ response.T
    sigma = lens.blur_sigma_px(pitch_mm) * (w / cw)
    if sigma > 0.3:
        ndimage.gaussian_filter(cam, sigma=(sigma, sigma, 0), output=cam, mode="nearest")
    centre_x = x0 + (np.arange(w, dtype=np.float32) + 0.5) * (cw / w)
    centre_y = y0 + (np.arange(h, dtype=np.float32) + 0.5) * (ch / h)
    _, _, xs, ys = _sensor_to_board(lens, centre_x[None, :], centre_y[:, None], pitch_mm)
    cam *= lens.vignetting(xs, ys)[..., None]
    planes = np.ascontiguousarray(np.moveaxis(cam, -1, 0))
    planes.setflags(write=False)
    return planes


def _render_bayer_still(
    mode: SensorMode,
    lens: MockLens,
    scene: MockScene,
    exposure_us: int,
    gain: float,
    info: SensorInfo,
    tuning: Tuning,
    rng: np.random.Generator,
) -> np.ndarray:
    """A full-resolution Bayer raw: each site samples only its own colour of the blurred scene."""
    x0, y0, w, h = mode.crop
    pitch_mm = info.pixel_size_um * 1e-3
    ct = scene.colour_temperature
    response = sensor.camera_response(tuning.neutral_rb(ct), tuning.ccm(ct))
    e_per_unit = sensor.electrons_per_unit(scene.lux, exposure_us, lens.f_number)
    sigma_sites = lens.blur_sigma_px(pitch_mm) / 2  # each colour plane has half the pitch
    mean_e = np.empty((h, w), dtype=np.float32)
    for colour in ("R", "G1", "G2", "B"):
        rows, cols = bayer_slices(mode.bayer_order, colour)
        py = y0 + np.arange(h, dtype=np.float32)[rows] + 0.5
        px = x0 + np.arange(w, dtype=np.float32)[cols] + 0.5
        bx, by, xs, ys = _sensor_to_board(lens, px[None, :], py[:, None], pitch_mm)
        bx, by = np.broadcast_arrays(bx, by)
        channel = "RGB".index(colour[0])
        plane = radiance(bx, by) @ response[channel]
        if sigma_sites > 0.3:
            ndimage.gaussian_filter(plane, sigma=sigma_sites, output=plane, mode="nearest")
        plane *= lens.vignetting(xs, ys) * np.float32(e_per_unit)
        mean_e[rows, cols] = plane
    black = info.black_level(mode.bit_depth)
    return sensor.expose(mean_e, gain, mode.bit_depth, black, rng)
