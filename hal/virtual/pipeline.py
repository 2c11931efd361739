"""The Raspberry Pi pipeline handler, IPA and ISP for a virtual HQ camera.

One :class:`Pipeline` is one camera as libcamera's ``rpi`` pipeline handler presents it
(``src/libcamera/pipeline/rpi/common/pipeline_base.cpp`` with ``vc4/vc4.cpp`` or
``pisp/pisp.cpp``): stream configurations are generated and validated by its rules, buffers
are the application's (picamera2 allocates them), requests are completed on a thread of
its own and announced through the camera manager's eventfd. Behind it:

- the sensor (:mod:`hal.virtual.driver`, :mod:`hal.virtual.sensor`): exposure in whole lines,
  gain in register codes, frame length from the exposure and FrameDurationLimits, values
  written to the sensor taking effect EXPOSURE_DELAY/GAIN_DELAY frames later;
- the IPA: AGC/AWB from statistics of the raw over the whole field (never the ScalerCrop),
  with the tuning's exposure profile, metering modes and CT curve (:mod:`hal.virtual.ipa`);
- the ISP: the processed streams at their sizes and formats, cropped by ScalerCrop. The raw
  stream is never cropped.

Frame timing: frame ``k``'s exposure ends at its start-of-frame time ``SOF_k`` (its
``SensorTimestamp``) and began ``ExposureTime`` earlier; ``SOF_k = SOF_{k-1} + FrameDuration_k``;
the request completes when the frame has been read out. Time is the rig's clock. Every rule
is cited in ``hal/virtual/SOURCES.md``.
"""

from __future__ import annotations

import dataclasses
import errno
import logging
import mmap
import os
import threading
from collections import deque
from typing import Any

import numpy as np

from hal import imx477
from hal.virtual import driver, formats, ipa
from hal.virtual.driver import ModeSpec
from hal.virtual.rig import ExtraCamera, VirtualRig
from hal.virtual.sensor import Exposure, VirtualSensor
from isp.tuning import default_tuning

log = logging.getLogger(__name__)

#: Stride alignment of Unicam/CFE raw lines and of ISP output lines, bytes.
RAW_ALIGN = {"vc4": 32, "pisp": 64}
OUTPUT_ALIGN = {"vc4": 32, "pisp": 64}
#: The largest output the ISP scales to, and the smallest.
MAX_OUTPUT = (4096, 4096)
MIN_OUTPUT = (64, 64)
#: The ISP cannot enlarge a crop more than 16 times, nor crop below 32 × 32 pixels.
MAX_UPSCALE = 16
ISP_MIN_CROP = 32
#: Control-loop speeds: the fraction of the way to the new target each frame, after the first
#: frames (libcamera agc_channel.cpp "speed" 0.2 and "startup_frames" 10; awb.cpp "speed" 0.05;
#: the IMX477 tuning sets neither).
AGC_SPEED = 0.2
AWB_SPEED = 0.05
AGC_STARTUP_FRAMES = 10
#: Internal buffers the pipeline allocates itself (ISP statistics, embedded data, and the
#: raw frames when the application asks for no raw stream).
INTERNAL_RAW_BUFFERS = 4
STATS_BYTES = 64 * 1024


def _lib():
    import libcamera  # the virtual one: this module only runs under hal.virtual.install

    return libcamera


@dataclasses.dataclass
class SensorSettings:
    """What is written to the sensor for a frame (the line length is HBLANK plus the width)."""

    exposure_lines: int
    gain_code: int
    frame_lines: int
    line_length_px: int = 0

    def line_ns(self, mode: ModeSpec) -> float:
        """One line's time: this line length (stretched for long exposures), else the mode's."""
        return (self.line_length_px or mode.line_length_px) * 1e9 / driver.PIXEL_RATE_HZ


class DelayedControls:
    """``DelayedControls`` (pipeline/rpi/common/delayed_controls.cpp). Each control has its
    sensor delay (IMX477: exposure and gain 2 frames, vertical blanking 3), and each is
    written that many frames before the frame it is meant for, VBLANK first ("priority
    write") so the frame is long enough before a longer exposure arrives. So a set of values
    queued after frame ``n`` takes effect together in frame ``n + max(delays)``."""

    def __init__(self, initial: SensorSettings) -> None:
        self._writes: deque[tuple[int, SensorSettings]] = deque(maxlen=16)
        self._writes.append((-100, initial))
        self.delay = max(driver.EXPOSURE_DELAY, driver.GAIN_DELAY, driver.VBLANK_DELAY)

    def write(self, after_frame: int, settings: SensorSettings) -> None:
        self._writes.append((after_frame, settings))

    def reset(self, settings: SensorSettings) -> None:
        self._writes.clear()
        self._writes.append((-100, settings))

    def get(self, frame: int) -> SensorSettings:
        chosen = self._writes[0][1]
        for written, values in self._writes:
            if written + self.delay <= frame:
                chosen = values
        # The sensor never exposes longer than its frame allows (imx477.c clamps the
        # exposure control to frame length - IMX477_EXPOSURE_OFFSET).
        longest = chosen.frame_lines - driver.EXPOSURE_OFFSET_LINES
        return dataclasses.replace(chosen, exposure_lines=min(chosen.exposure_lines, longest))


@dataclasses.dataclass
class UserControls:
    """What the application asked for, as the IPA keeps it between requests."""

    exposure_manual: bool = False
    exposure_time_us: int = 0
    gain_manual: bool = False
    analogue_gain: float = 0.0
    ev: float = 0.0
    metering: int = 0
    awb_enable: bool = True
    awb_mode: int = 0
    colour_gains: tuple[float, float] | None = None
    scaler_crop: tuple[int, int, int, int] | None = None
    frame_duration_limits_us: tuple[int, int] | None = None


_AWB_MODES = ("auto", "incandescent", "tungsten", "fluorescent", "indoor", "daylight",
              "cloudy", "auto")
_METERING = ("centre", "spot", "matrix", "matrix")


class Pipeline:
    """The HQ camera on the rig's Pi. See the module docstring."""

    model = "imx477"

    def __init__(self, rig: VirtualRig) -> None:
        self.rig = rig
        self.camera_id = "/base/soc/i2c0mux/i2c@1/imx477@1a"
        self._tuning = default_tuning(rig.platform)
        self._sensor = VirtualSensor(self._tuning, rig.seed)
        self._profile = ipa.exposure_profile(self._tuning)
        self._y_target = ipa.y_target(self._tuning)
        self._lock = threading.RLock()
        self._acquired = False
        self._config: Any = None
        self._mode: ModeSpec = driver.MODES[-1]
        self._raw_name: formats.RawName | None = None
        self._streams: list[Any] = []
        self._internal_bytes = 0
        self._queue: deque[Any] = deque()
        self._maps: dict[int, mmap.mmap] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._running = False
        self._user = UserControls()
        self._ae_total = 10_000.0
        self._awb_ct = rig.light.colour_temperature
        self._sequence = 0
        full = driver.MODES[-1]
        self._delayed = DelayedControls(
            SensorSettings(350, 0, full.frame_length_min, full.line_length_px))
        self._frontend_failed = False
        self._first_start = True
        self.manager: Any = None
        self._hflip, self._vflip = True, True
        self._order = "BGGR"
        self.frames_delivered = 0
        self.frames_dropped = 0

    # --- what the camera is ----------------------------------------------------------------

    def properties(self) -> dict[Any, Any]:
        lc = _lib()
        p = lc.properties
        return {
            p.Model: self.model,
            p.PixelArraySize: lc.Size(*driver.PIXEL_ARRAY_SIZE),
            p.PixelArrayActiveAreas: [lc.Rectangle(*driver.ACTIVE_AREA)],
            p.UnitCellSize: lc.Size(*driver.UNIT_CELL_NM),
            p.draft.ColorFilterArrangement: p.draft.ColorFilterArrangementEnum.RGGB,
            p.Rotation: 180,
            p.Location: 2,
            p.ScalerCropMaximum: lc.Rectangle(*self._mode.crop),
            p.SensorSensitivity: 1.0,
            p.SystemDevices: [20749, 20737, 20738, 20739],
        }

    def control_info(self) -> dict[Any, Any]:
        """The controls and their ranges for the configured mode (ipa_base.cpp
        ``IpaBase::configure`` fills the mode-dependent ones)."""
        lc = _lib()
        c = lc.controls
        m = self._mode
        info = lc.ControlInfo
        full = lc.Rectangle(*m.crop)
        return {
            c.AeEnable: info(False, True, True),
            c.ExposureTimeMode: info(0, 1, 0),
            c.ExposureTime: info(m.min_exposure_us, m.max_exposure_us, 20_000),
            c.AnalogueGainMode: info(0, 1, 0),
            c.AnalogueGain: info(1.0, float(driver.MAX_ANALOGUE_GAIN), 1.0),
            c.AeMeteringMode: info(0, 3, 0),
            c.AeConstraintMode: info(0, 3, 0),
            c.AeExposureMode: info(0, 3, 0),
            c.ExposureValue: info(-8.0, 8.0, 0.0),
            c.Brightness: info(-1.0, 1.0, 0.0),
            c.Contrast: info(0.0, 32.0, 1.0),
            c.Sharpness: info(0.0, 16.0, 1.0),
            c.Saturation: info(0.0, 32.0, 1.0),
            c.AwbEnable: info(False, True, None),
            c.AwbMode: info(0, 7, 0),
            c.ColourGains: info(0.0, 32.0, None),
            c.ColourTemperature: info(100, 100_000, None),
            c.ScalerCrop: info(lc.Rectangle(m.crop[0], m.crop[1],
                                            *(v * m.binning for v in self._min_isp_crop())),
                               full, lc.Rectangle(*self._crop(None, m))),
            c.FrameDurationLimits: info(m.min_frame_duration_us, m.max_frame_duration_us,
                                        m.min_frame_duration_us),
            c.draft.NoiseReductionMode: info(0, 4, 0),
        }

    # --- lifetime -----------------------------------------------------------------------

    def acquire(self) -> None:
        faults = self.rig.faults
        with self._lock:
            if faults.disconnected:
                raise _failed("acquire camera", errno.ENODEV)
            if faults.busy_on_acquire > 0:
                faults.busy_on_acquire -= 1
                raise _failed("acquire camera", errno.EBUSY)
            if self._acquired:
                raise _failed("acquire camera", errno.EBUSY)
            self._acquired = True

    def release(self) -> None:
        with self._lock:
            if self._running:  # Camera::release refuses a running camera (camera.cpp)
                raise _failed("release camera", errno.EBUSY)
            self._acquired = False
            self._free_internal()
            self._unmap_all()

    # --- configuration ------------------------------------------------------------------

    def generate_configuration(self, camera: Any, roles: list[Any]) -> Any:
        lc = _lib()
        native = driver.MODES[-1]
        raw_formats = {}
        for mode in driver.MODES:
            name = f"SRGGB{mode.bit_depth}_CSI2P"
            raw_formats.setdefault(name, []).append(mode.size)
        configs = []
        for role in roles:
            if role == lc.StreamRole.Raw:
                cfg = lc.StreamConfiguration(
                    role, lc.Size(*native.size), lc.PixelFormat(f"SBGGR{native.bit_depth}_CSI2P"),
                    2, lc.StreamFormats(raw_formats), lc.ColorSpace.Raw())
            else:
                size = {lc.StreamRole.StillCapture: native.size,
                        lc.StreamRole.VideoRecording: (1920, 1080)}.get(role, (800, 600))
                count = 1 if role == lc.StreamRole.StillCapture else 4
                cfg = lc.StreamConfiguration(
                    role, lc.Size(*size), lc.PixelFormat("YUV420"), count,
                    lc.StreamFormats({f: [MAX_OUTPUT] for f in formats.PROCESSED_BYTES}),
                    lc.ColorSpace.Sycc())
            configs.append(cfg)
        return lc.CameraConfiguration(camera, configs)

    def _choose_mode(self, config: Any) -> ModeSpec:
        """``RPiCameraData::findBestMode``-like: the sensor configuration when given, else the
        raw stream's size and depth, else the largest output."""
        lc = _lib()
        sensor = config.sensor_config
        if sensor is not None and sensor.output_size.width:
            want = (sensor.output_size.width, sensor.output_size.height)
            bits = sensor.bit_depth
        else:
            raw = [c for c in config if c.role == lc.StreamRole.Raw]
            if raw:
                want = (raw[0].size.width, raw[0].size.height)
                name = formats.RawName.parse(str(raw[0].pixel_format))
                bits = name.bits if name and name.packing != "PISP_COMP1" else 12
            else:
                big = max(config, key=lambda c: c.size.width * c.size.height)
                want, bits = (big.size.width, big.size.height), 12

        def score(mode: ModeSpec) -> float:
            def axis(desired: float, actual: float) -> float:
                d = desired - actual
                return -d / 4 if d < 0 else d * 2

            s = axis(want[0], mode.size[0]) + axis(want[1], mode.size[1])
            s += 1500 * axis(want[0] / want[1], mode.size[0] / mode.size[1])
            s += 500 * abs(bits - mode.bit_depth)
            return s

        exact = driver.mode_for(want, bits)
        return exact or min(driver.MODES, key=score)

    def validate(self, config: Any) -> Any:
        lc = _lib()
        status = lc.CameraConfiguration.Status
        adjusted = False
        orientation = config.orientation
        if orientation not in (lc.Orientation.Rotate0, lc.Orientation.Rotate180,
                               lc.Orientation.Rotate0Mirror, lc.Orientation.Rotate180Mirror):
            config.orientation = lc.Orientation.Rotate0  # no transpose in the sensor
            adjusted = True
        mode = self._choose_mode(config)
        hflip, vflip = self._flips(config.orientation)
        order = formats.flipped_order("RGGB", hflip, vflip)
        platform = self.rig.platform
        outputs = 0
        for cfg in config:
            if cfg.role == lc.StreamRole.Raw:
                asked = formats.RawName.parse(str(cfg.pixel_format))
                packed = asked is None or asked.packing is not None
                if platform == "pisp":
                    name = (formats.RawName(order, 16, "PISP_COMP1") if packed
                            else formats.RawName(order, 16, None))
                else:
                    name = formats.RawName(order, mode.bit_depth, "CSI2P" if packed else None)
                if str(name) != str(cfg.pixel_format) or (cfg.size.width, cfg.size.height) != mode.size:
                    adjusted = True
                cfg.pixel_format = lc.PixelFormat(str(name))
                cfg.size = lc.Size(*mode.size)
                line = formats.raw_line_bytes(name, mode.size[0])
                stride = formats.align(line, RAW_ALIGN[platform])
                if cfg.stride != stride:
                    cfg.stride = stride
                cfg.frame_size = stride * mode.size[1]
                cfg.color_space = lc.ColorSpace.Raw()
                continue
            outputs += 1
            fmt = str(cfg.pixel_format)
            if fmt not in formats.PROCESSED_BYTES:
                cfg.pixel_format = lc.PixelFormat("YUV420")
                fmt = "YUV420"
                adjusted = True
            w = min(max(cfg.size.width, MIN_OUTPUT[0]), MAX_OUTPUT[0]) & ~1
            h = min(max(cfg.size.height, MIN_OUTPUT[1]), MAX_OUTPUT[1]) & ~1
            if (w, h) != (cfg.size.width, cfg.size.height):
                cfg.size = lc.Size(w, h)
                adjusted = True
            stride = formats.processed_stride(fmt, w, OUTPUT_ALIGN[platform])
            if platform == "vc4" and formats.PROCESSED_BYTES[fmt] == 3:
                stride = formats.align(w, 32) * 3  # bcm2835-isp get_bytesperline, 24-bit
            if fmt == "YUV420":
                stride = formats.align(w, OUTPUT_ALIGN[platform] * 2)
            cfg.stride = stride
            cfg.frame_size = formats.processed_frame_size(fmt, stride, h)
        if outputs > 2:
            return status.Invalid
        sensor = lc.SensorConfiguration()
        sensor.bit_depth = mode.bit_depth
        sensor.output_size = lc.Size(*mode.size)
        sensor.analog_crop = lc.Rectangle(*mode.crop)
        if config.sensor_config is not None and (
            config.sensor_config.output_size != sensor.output_size
            or config.sensor_config.bit_depth != sensor.bit_depth
        ):
            adjusted = True
        config.sensor_config = sensor
        return status.Adjusted if adjusted else status.Valid

    @staticmethod
    def _flips(orientation: Any) -> tuple[bool, bool]:
        """The HQ module is mounted upside down (properties::Rotation 180): to deliver
        Rotate0 the sensor reads with both flips on."""
        lc = _lib()
        o = lc.Orientation
        return {
            o.Rotate0: (True, True),
            o.Rotate180: (False, False),
            o.Rotate0Mirror: (False, True),
            o.Rotate180Mirror: (True, False),
        }[orientation]

    def configure(self, config: Any) -> int:
        lc = _lib()
        with self._lock:
            if self._running:
                return -errno.EBUSY
            if not self._acquired:
                return -errno.EACCES
            if self.rig.faults.disconnected:
                return -errno.ENODEV
            if config.validate() == lc.CameraConfiguration.Status.Invalid:
                return -errno.EINVAL
            from hal.virtual import dma

            dma.release_unused()
            self._free_internal()
            self._unmap_all()
            faults = self.rig.faults
            mode = driver.mode_for((config.sensor_config.output_size.width,
                                    config.sensor_config.output_size.height),
                                   config.sensor_config.bit_depth)
            if mode is None:
                return -errno.EINVAL
            if faults.enomem_on_configure > 0:
                faults.enomem_on_configure -= 1
                return -errno.ENOMEM
            self._mode = mode
            self._config = config
            self._streams = []
            for cfg in config:
                stream = lc.Stream(cfg)
                cfg.stream = stream
                self._streams.append(stream)
            raw = [c for c in config if c.role == lc.StreamRole.Raw]
            self._raw_name = formats.RawName.parse(str(raw[0].pixel_format)) if raw else None
            self._hflip, self._vflip = self._flips(config.orientation)
            self._order = formats.flipped_order("RGGB", self._hflip, self._vflip)
            self._user.scaler_crop = None
            self._delayed.reset(self._settings_for(self._exposure_and_gain(), mode))
            return 0

    def _free_internal(self) -> None:
        if self._internal_bytes:
            self.rig.cma_free(self._internal_bytes)
            self._internal_bytes = 0

    # --- running ------------------------------------------------------------------------

    def queue_request(self, request: Any) -> None:
        with self._lock:
            if not self._running:
                raise RuntimeError("Failed to queue request: camera not running")
            for stream in request.buffers:
                if stream not in self._streams:
                    raise RuntimeError("Failed to queue request: unknown stream")
            self._queue.append(request)

    def start(self, controls: dict[Any, Any]) -> None:
        with self._lock:
            if self._config is None:
                raise RuntimeError("Failed to start camera: not configured")
            if self._running:
                return
            if self.rig.faults.disconnected:
                raise _failed("start camera", errno.ENODEV)
            # The pipeline's own buffers come from CMA at start (pipeline_base.cpp
            # prepareBuffers): statistics, embedded data, and raw frames when the application
            # takes no raw stream.
            lc = _lib()
            internal = STATS_BYTES * 4
            if not any(c.role == lc.StreamRole.Raw for c in self._config):
                internal += INTERNAL_RAW_BUFFERS * self._mode.size[0] * self._mode.size[1] * 2
            if not self.rig.cma_allocate(internal):
                raise _failed("start camera", errno.ENOMEM)
            self._internal_bytes = internal
            # The virtual sensor renders the scene for this mode before streaming (seconds for
            # 12 MP on a slow machine), so the first frames come at the mode's rate.
            self._sensor.prepare(self._mode, self.rig.lens, self.rig.light.colour_temperature,
                                 self._order)
            self._apply_controls(controls)
            self._delayed.reset(self._settings_for(self._exposure_and_gain(), self._mode))
            self._startup_frames = driver.STARTUP_FRAMES if self._first_start else 0
            self._first_start = False
            self._running = True
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="virtual-sensor", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._lock:
            thread = self._thread
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        with self._lock:
            self._running = False
            self._thread = None
            self._cancel_queued()
            self._frontend_failed = False
            self._free_internal()

    def _cancel_queued(self) -> None:
        lc = _lib()
        while self._queue:
            request = self._queue.popleft()
            request.status = lc.Request.Status.Cancelled
            for buffer in request.buffers.values():
                buffer.metadata.status = lc.FrameMetadata.Status.Cancelled
            self._manager().complete(request)

    def _manager(self) -> Any:
        """The camera manager that lists this camera (set when it is made)."""
        return self.manager

    # --- the frame loop -----------------------------------------------------------------

    def _run(self) -> None:
        clock = self.rig.clock
        self._sequence = 0
        sof_ns = clock.monotonic_ns() + round(driver.START_LATENCY_S * 1e9)
        while not self._stop.is_set():
            mode = self._mode
            settings = self._delayed.get(self._sequence)
            duration_ns = round(settings.frame_lines * settings.line_ns(mode))
            sof_ns += duration_ns
            readout_ns = round(mode.size[1] * mode.line_time_ns)
            due_ns = sof_ns + readout_ns + round(self.rig.faults.slow_frames_s * 1e9)
            if not self._wait_until(due_ns):
                break
            late_ns = clock.monotonic_ns() - due_ns
            try:
                self._frame(settings, sof_ns, duration_ns)
            except Exception:  # a bug here must not look like a hung camera
                log.exception("virtual sensor: frame %d failed", self._sequence)
            # A slow machine renders below the nominal rate; the timestamps say so.
            if late_ns > 0:
                sof_ns += late_ns
            self._sequence += 1

    def _wait_until(self, due_ns: int) -> bool:
        clock = self.rig.clock
        while not self._stop.is_set():
            left = (due_ns - clock.monotonic_ns()) / 1e9
            if left <= 0:
                return True
            wait = getattr(clock, "wait", None)
            if wait is not None:
                wait(self._stop, left)
            else:
                self._stop.wait(min(left, 0.05))
        return False

    def _frame(self, settings: SensorSettings, sof_ns: int, duration_ns: int) -> None:
        lc = _lib()
        mode = self._mode
        faults = self.rig.faults
        exposure_us = settings.exposure_lines * settings.line_ns(mode) / 1000
        gain = driver.gain_of_code(settings.gain_code)
        lens, light = self.rig.lens, self.rig.light
        e = Exposure(exposure_us, gain, light.lux, light.colour_temperature,
                     self.rig.sensor_temperature_c)
        with self._lock:
            if faults.disconnected:
                return
            if faults.frontend_timeout:
                faults.frontend_timeout = False
                self._frontend_failed = True
            if self._frontend_failed:
                self._cancel_queued()
                return
            request = self._queue.popleft() if self._queue else None
            if request is not None:
                self._apply_controls(request.controls)
            user = dataclasses.replace(self._user)
        if request is None:
            self.frames_dropped += 1
            # The IPA still sees the frame (the pipeline keeps internal raw buffers).
            stats = self._raw_stats_only(mode, lens, e)
            self._run_ipa(stats, exposure_us * gain, user)
            return
        crop = self._crop(user.scaler_crop, mode)
        raw_dn = None
        for stream, buffer in request.buffers.items():
            cfg = stream.configuration
            view = self._map(buffer)
            if cfg.role == lc.StreamRole.Raw:
                raw_dn = self._write_raw(view, cfg, mode, lens, e)
        if raw_dn is None:
            raw_dn = self._render_raw(mode, lens, e)
        stats = _stats(raw_dn, self._order, mode)
        colour_gains, ct = self._colour(user)
        for stream, buffer in request.buffers.items():
            cfg = stream.configuration
            if cfg.role != lc.StreamRole.Raw:
                rgb = self._sensor.processed_rgb(crop, (cfg.size.width, cfg.size.height), lens,
                                                 e, colour_gains, ct, 12)
                if self._hflip is False and self._vflip is False:
                    rgb = rgb[::-1, ::-1]
                formats.write_processed(self._map(buffer), str(cfg.pixel_format), cfg.stride,
                                        np.ascontiguousarray(rgb))
        lux = self._lux(stats, exposure_us, gain)
        self._run_ipa(stats, exposure_us * gain, user)
        status = (lc.FrameMetadata.Status.Startup if self._sequence < self._startup_frames
                  else lc.FrameMetadata.Status.Success)
        c = lc.controls
        request.metadata = {
            c.SensorTimestamp: sof_ns,
            c.ExposureTime: int(exposure_us),
            c.AnalogueGain: float(gain),
            c.DigitalGain: 1.0,
            c.ColourGains: [float(colour_gains[0]), float(colour_gains[1])],
            c.ColourTemperature: int(ct),
            c.Lux: float(lux),
            c.FrameDuration: int(duration_ns // 1000),
            c.SensorBlackLevels: [driver.BLACK_LEVEL_12BIT << 4] * 4,
            c.SensorTemperature: float(self.rig.sensor_temperature_c),
            c.FocusFoM: _focus_fom(raw_dn),
            c.ScalerCrop: lc.Rectangle(*crop),
            c.ColourCorrectionMatrix: [float(v) for v in self._tuning.ccm(ct).ravel()],
        }
        request.sequence = self._sequence
        for buffer in request.buffers.values():
            buffer.metadata.status = status
            buffer.metadata.sequence = self._sequence
            buffer.metadata.timestamp = sof_ns
        request.status = lc.Request.Status.Complete
        self.frames_delivered += 1
        self._manager().complete(request)

    # --- sensor, ISP and IPA pieces -------------------------------------------------------

    def _write_raw(self, view: np.ndarray, cfg: Any, mode: ModeSpec, lens: Any, e: Exposure):
        name = self._raw_name or formats.RawName(self._order, mode.bit_depth, None)
        if name.packing is None and name.bits == mode.bit_depth:
            pixels = formats.unpacked_view(view, name, cfg.stride, mode.size)
            self._sensor.read_out(mode, lens, e, self._order, pixels)
            return pixels
        dn = self._render_raw(mode, lens, e)
        formats.write_raw(view, name, cfg.stride, dn, mode.bit_depth)
        return dn

    def _render_raw(self, mode: ModeSpec, lens: Any, e: Exposure) -> np.ndarray:
        dn = np.empty((mode.size[1], mode.size[0]), dtype=np.uint16)
        self._sensor.read_out(mode, lens, e, self._order, dn)
        return dn

    def _raw_stats_only(self, mode: ModeSpec, lens: Any, e: Exposure) -> np.ndarray:
        mean, _ = self._sensor.mean_and_sigma(mode, lens, e, self._order)
        return _stats(mean, self._order, mode)

    def _map(self, buffer: Any) -> np.ndarray:
        plane = buffer.planes[0]
        mapping = self._maps.get(plane.fd)
        if mapping is None or mapping.closed:
            mapping = mmap.mmap(plane.fd, plane.length, mmap.MAP_SHARED,
                                mmap.PROT_READ | mmap.PROT_WRITE)
            self._maps[plane.fd] = mapping
        return np.frombuffer(mapping, dtype=np.uint8, count=plane.length, offset=plane.offset)

    def _unmap_all(self) -> None:
        maps, self._maps = self._maps, {}
        for mapping in maps.values():
            try:
                mapping.close()
            except BufferError:  # a view still refers to it; it goes with the view
                pass

    def _output_size(self) -> tuple[int, int]:
        lc = _lib()
        outputs = [c for c in (self._config or []) if c.role != lc.StreamRole.Raw]
        return (outputs[0].size.width, outputs[0].size.height) if outputs else (640, 480)

    def _min_isp_crop(self) -> tuple[int, int]:
        """The smallest crop the ISP scales from, in the mode's pixels: (output - 1) / input
        must stay below 16, and never under 32 × 32 (pisp.cpp platformConfigure)."""
        w, h = self._output_size()
        return max(ISP_MIN_CROP, (w - 1) // MAX_UPSCALE + 2), max(ISP_MIN_CROP, (h - 1) // MAX_UPSCALE + 2)

    def _crop(self, asked: tuple[int, int, int, int] | None, mode: ModeSpec):
        """The ScalerCrop the ISP applies, in sensor array coordinates, as
        ``CameraData::applyScalerCrop`` makes it (pipeline_base.cpp:1313-1363): the asked
        rectangle in the mode's pixels, grown to the ISP's smallest crop (enlarged to the
        asked aspect ratio) around the same centre, and kept inside the mode. With none asked,
        the mode's field cut to the output's aspect ratio, centred (vc4.cpp, pisp.cpp)."""
        x0, y0, _, _ = mode.crop
        b = mode.binning
        mw, mh = mode.size
        if asked is None:
            ow, oh = self._output_size()
            w, h = (mw, round(mw * oh / ow)) if mw * oh <= mh * ow else (round(mh * ow / oh), mh)
            cx, cy = mw / 2, mh / 2
        else:
            x, y, aw, ah = asked
            ix, iy, w, h = (x - x0) / b, (y - y0) / b, max(aw / b, 1), max(ah / b, 1)
            cx, cy = ix + w / 2, iy + h / 2
            min_w, min_h = self._min_isp_crop()
            if min_w / min_h < w / h:  # Size::expandedToAspectRatio
                min_h = min_w * h / w
            else:
                min_w = min_h * w / h
            w, h = max(w, min_w), max(h, min_h)
        w, h = min(round(w), mw), min(round(h), mh)
        ix = min(max(round(cx - w / 2), 0), mw - w)
        iy = min(max(round(cy - h / 2), 0), mh - h)
        return (x0 + ix * b, y0 + iy * b, w * b, h * b)

    def _apply_controls(self, controls: dict[Any, Any]) -> None:
        u = self._user
        by_name = {control.name: value for control, value in controls.items()}
        if "AeEnable" in by_name:
            # Camera::patchControlList (camera.cpp:1287-1305): AeEnable becomes the two mode
            # controls, only where the list does not set them itself.
            mode = 0 if by_name["AeEnable"] else 1
            by_name.setdefault("ExposureTimeMode", mode)
            by_name.setdefault("AnalogueGainMode", mode)
        for name, value in by_name.items():
            if name == "ExposureTimeMode":
                u.exposure_manual = int(value) == 1
            elif name == "ExposureTime":
                u.exposure_time_us = int(value)
            elif name == "AnalogueGainMode":
                u.gain_manual = int(value) == 1
            elif name == "AnalogueGain":
                u.analogue_gain = float(value)
            elif name == "ExposureValue":
                u.ev = float(value)
            elif name == "AeMeteringMode":
                u.metering = int(value)
            elif name == "AwbEnable":
                u.awb_enable = bool(value)
            elif name == "AwbMode":
                u.awb_mode = int(value)
            elif name == "ColourGains":
                u.colour_gains = (float(value[0]), float(value[1]))
            elif name == "ScalerCrop":
                u.scaler_crop = (value.x, value.y, value.width, value.height)
            elif name == "FrameDurationLimits":
                u.frame_duration_limits_us = (int(value[0]), int(value[1]))

    def _limits(self) -> tuple[int, int]:
        return self._mode.clamp_limits(self._user.frame_duration_limits_us)

    def _exposure_and_gain(self) -> tuple[float, float]:
        """The exposure and gain the IPA asks the sensor for now."""
        u = self._user
        _, max_frame = self._limits()
        max_shutter = min(self._profile.shutter_us[-1], max_frame)
        exposure, gain = self._profile.split(self._ae_total, max_shutter)
        if u.exposure_manual and u.exposure_time_us:
            exposure = u.exposure_time_us
            if not u.gain_manual:
                gain = min(max(self._ae_total / exposure, 1.0), driver.MAX_ANALOGUE_GAIN)
        if u.gain_manual and u.analogue_gain:
            gain = u.analogue_gain
            if not u.exposure_manual:
                exposure = min(max(self._ae_total / gain, self._mode.min_exposure_us),
                               max_shutter)
        return float(exposure), float(gain)

    def _settings_for(self, exposure_gain: tuple[float, float], mode: ModeSpec) -> SensorSettings:
        exposure, gain = exposure_gain
        lines, frame_lines, line_px = mode.timing(exposure, self._limits())
        return SensorSettings(lines, driver.gain_code(gain), frame_lines, line_px)

    def _run_ipa(self, stats: np.ndarray, total: float, user: UserControls) -> None:
        """AGC and AWB on this frame's statistics; the result is written to the sensor."""
        if not (user.exposure_manual and user.gain_manual):
            weights = ipa.metering_weights(stats.shape[:2], _METERING[user.metering])
            metered = float((stats[..., 1] * weights).sum())
            target = self._y_target * 2.0**user.ev
            limits = (float(self._mode.min_exposure_us),
                      self._profile.shutter_us[-1] * driver.MAX_ANALOGUE_GAIN)
            # libcamera's AGC filters its target at speed 0.2 a frame, at full speed for the
            # first 10 frames after a start (agc_channel.cpp filterExposure, startup_frames).
            speed = 1.0 if self._sequence < AGC_STARTUP_FRAMES else AGC_SPEED
            self._ae_total = ipa.ae_update(total, metered, target, limits, speed)
        if user.awb_enable or user.colour_gains is None:
            unclipped = stats[(stats < 0.95).all(axis=-1)]
            if len(unclipped):
                mode_name = _AWB_MODES[user.awb_mode]
                ct_range = ipa.awb_mode_range(self._tuning, mode_name)
                estimate = ipa.awb_estimate(self._tuning, unclipped.mean(axis=0), ct_range)
                speed = 1.0 if self._sequence < AGC_STARTUP_FRAMES else AWB_SPEED
                self._awb_ct += speed * (estimate - self._awb_ct)
        with self._lock:
            settings = self._settings_for(self._exposure_and_gain(), self._mode)
            self._delayed.write(self._sequence, settings)

    def _colour(self, user: UserControls) -> tuple[tuple[float, float], float]:
        if user.awb_enable or user.colour_gains is None:
            return self._tuning.colour_gains(self._awb_ct), self._awb_ct
        gains = user.colour_gains
        return gains, self._tuning.colour_temperature(gains)

    def _lux(self, stats: np.ndarray, exposure_us: float, gain: float) -> float:
        """rpi.lux: the reference lux scaled by exposure and the frame's mean level."""
        ref = self._tuning.algorithm("rpi.lux")
        y = float(stats[..., 1].mean())
        ref_y = float(ref["reference_Y"]) / 65536.0
        exposure_ratio = (float(ref["reference_shutter_speed"]) * float(ref["reference_gain"])
                          / max(exposure_us * gain, 1e-6))
        return float(ref["reference_lux"]) * exposure_ratio * (y / max(ref_y, 1e-9))


def _failed(action: str, code: int) -> RuntimeError:
    """The error the Python bindings raise for a failed call: libcamera's ``-errno`` becomes a
    ``std::system_error``, which pybind11 turns into a RuntimeError carrying its text and no
    errno attribute (src/py/libcamera/py_main.cpp)."""
    return RuntimeError(f"Failed to {action}: {os.strerror(code)}")


def _stats(raw: np.ndarray, order: str, mode: ModeSpec) -> np.ndarray:
    """The ISP's statistics grid: mean R, G, B of 2×2 Bayer cells, every 16th cell, as
    fractions of the range above black (what AGC/AWB read), shape (rows, cols, 3)."""
    black = driver.BLACK_LEVEL_12BIT >> (12 - mode.bit_depth)
    white = (1 << mode.bit_depth) - 1
    step = max(2, (mode.size[0] // 128) & ~1)
    cells = raw[: raw.shape[0] // step * step: step, : raw.shape[1] // step * step: step]
    planes = {}
    for colour, (dy, dx) in zip(order, ((0, 0), (0, 1), (1, 0), (1, 1)), strict=True):
        block = raw[dy::step, dx::step][: cells.shape[0], : cells.shape[1]].astype(np.float32)
        planes.setdefault(colour, []).append(block)
    r = planes["R"][0]
    g = (planes["G"][0] + planes["G"][1]) / 2
    b = planes["B"][0]
    out = np.stack([r, g, b], axis=-1)
    out -= black
    out /= white - black
    return np.clip(out, 0.0, 1.0)


def _focus_fom(raw: np.ndarray) -> int:
    """The ISP's focus figure of merit: mean absolute green Laplacian in the central 1/16."""
    h, w = raw.shape
    centre = raw[h * 3 // 8: h * 5 // 8: 2, w * 3 // 8: w * 5 // 8: 2].astype(np.float32)
    lap = np.abs(4 * centre[1:-1, 1:-1] - centre[:-2, 1:-1] - centre[2:, 1:-1]
                 - centre[1:-1, :-2] - centre[1:-1, 2:])
    return int(lap.mean() * 16)


class ForeignCamera:
    """A camera the manager lists that is not an HQ camera (a USB webcam): it can be listed
    and acquired, but has no raw stream (picamera2's ``_is_rpi_camera`` is then False)."""

    def __init__(self, rig: VirtualRig, extra: ExtraCamera) -> None:
        self.rig = rig
        self.model = extra.model
        self.camera_id = extra.camera_id
        self._acquired = False

    def properties(self) -> dict[Any, Any]:
        lc = _lib()
        p = lc.properties
        return {p.Model: self.model, p.PixelArraySize: lc.Size(1280, 720), p.Location: 2}

    def control_info(self) -> dict[Any, Any]:
        lc = _lib()
        return {lc.controls.AeEnable: lc.ControlInfo(False, True, True)}

    def acquire(self) -> None:
        if self._acquired:
            raise RuntimeError("Failed to acquire camera: Device or resource busy")
        self._acquired = True

    def release(self) -> None:
        self._acquired = False

    def generate_configuration(self, camera: Any, roles: list[Any]) -> Any:
        lc = _lib()
        configs = [lc.StreamConfiguration(role, lc.Size(1280, 720), lc.PixelFormat("MJPEG"), 4,
                                          lc.StreamFormats({"MJPEG": [(1280, 720)]}), None)
                   for role in roles if role != lc.StreamRole.Raw]
        return lc.CameraConfiguration(camera, configs)

    def validate(self, config: Any) -> Any:
        return _lib().CameraConfiguration.Status.Invalid

    def configure(self, config: Any) -> int:
        return -errno.EINVAL

    def queue_request(self, request: Any) -> None:
        raise RuntimeError("not configured")

    def start(self, controls: dict[Any, Any]) -> None:
        raise RuntimeError("not configured")

    def stop(self) -> None:
        pass


__all__ = ["ForeignCamera", "Pipeline", "imx477"]
