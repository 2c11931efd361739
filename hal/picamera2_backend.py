"""The HQ camera on a Raspberry Pi, driven through picamera2 (libcamera).

``picamera2`` is imported inside :meth:`Picamera2Camera.open` only: importing it loads
libcamera, which exists on a Pi alone, so this module imports on any machine and a missing
library becomes :class:`hal.exc.CameraNotFound`.

What the backend asks picamera2 for, and why:

- a preview configuration with ``main`` in ``RGB888`` at the preview size and a ``raw`` stream
  at the sensor mode's size in an *unpacked* Bayer format (``SBGGR12``, not
  ``SBGGR12_CSI2P``), so the raw is a plain uint16 array without unpacking;
- a still configuration with an unpacked raw stream at full resolution, taken with
  ``switch_mode_and_capture_request`` so the live view resumes afterwards.

The Bayer order is read from the raw stream libcamera actually configured (the HQ module is
mounted rotated, so the IMX477's RGGB reaches us as BGGR), never assumed. picamera2's
``RGB888`` is B, G, R in memory (its ``request.py`` hands ``RGB888`` to PIL as mode ``"BGR"``),
so the preview is reversed to R, G, B. A Pi 5 delivers unpacked raw as 16-bit
(``SBGGR16``) with the sensor's bits at the top; such data is shifted down to the sensor's
bit depth, so :class:`~hal.camera.RawFrame` values are always sensor DN.

Every completed request is released by a context manager, including when copying it out fails.

Naming convention the contract test (``tests/test_picamera2_contract.py``) relies on: the
``Picamera2`` object is only ever reached as ``self._picam2`` or ``picam2``, a completed request
is always named ``request``, an entry of ``Picamera2.sensor_modes`` is always named ``entry``
and a stream configuration dict ``stream``. The test reads this file with ``ast`` and checks
each attribute, keyword and key used on them against picamera2's real source.

Example (on a Pi)::

    with Picamera2Camera() as cam:
        cam.configure(preview_mode(cam.sensor), (1280, 960))
        cam.start()
        frame = cam.next_frame()
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import logging
import re
import threading
from collections.abc import Iterator
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
    if isinstance(error, MemoryError) or code == errno.ENOMEM or "allocate" in low:
        return exc.CameraOutOfMemory(text)
    if code == errno.EBUSY or "busy" in low:
        return exc.CameraBusy(text)
    if code in (errno.ENODEV, errno.ENXIO, errno.EIO, errno.EPIPE) or any(
        s in low for s in ("no such device", "disconnected", "input/output error")
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


@contextlib.contextmanager
def _captured(picam2: Any, wait: float | bool) -> Iterator[Any]:
    """The next completed request, released on leaving the block whatever happens."""
    if hasattr(picam2, "captured_request"):
        with picam2.captured_request(wait=wait) as request:
            yield request
    else:  # picamera2 releases older than the context manager
        request = picam2.capture_request(wait=wait)
        try:
            yield request
        finally:
            request.release()


def _libcamera_enums() -> Any:
    from libcamera import controls as libcamera_controls  # Pi only, like picamera2

    return libcamera_controls


def detect() -> str | None:
    """None when picamera2 imports and lists a camera; otherwise why this backend cannot run."""
    try:
        import picamera2
    except ImportError as error:  # also libcamera missing: picamera2 imports it first
        return f"picamera2 does not import ({error})"
    try:
        cameras = picamera2.Picamera2.global_camera_info()
    except Exception as error:  # libcamera's camera manager can fail in many ways
        return f"libcamera cannot list cameras ({error})"
    return None if cameras else "no camera attached"


class Picamera2Camera(Camera):
    """The Raspberry Pi HQ camera (IMX477) through picamera2.

    Parameters
    ----------
    camera_num
        libcamera's index of the camera (0 for the only or first CSI camera).

    With AE on, the camera picks exposure and gain; ``scaler_crop=None`` leaves picamera2's
    own crop (the whole field at the preview's aspect ratio) in place. A ``None``
    ``frame_duration_limits_us`` lets the frame last from the mode's fastest frame to the
    longest exposure, so a manual exposure is never cut short by the frame rate.
    """

    backend = "picamera2"

    def __init__(self, camera_num: int = 0) -> None:
        self._camera_num = camera_num
        self._picam2: Any = None
        self._sensor = imx477.sensor_info()
        self._controls = Controls()
        self._mode: SensorMode | None = None
        self._still_config: dict[str, Any] | None = None
        self._running = False
        self._sequence = 0
        self._lock = threading.RLock()

    # -- sensor description -------------------------------------------------------------

    @property
    def sensor(self) -> SensorInfo:
        return self._sensor

    def _read_sensor(self) -> SensorInfo:
        """The sensor as libcamera lists it: modes, pixel array, limits, Bayer order."""
        base = imx477.sensor_info()
        modes = []
        for entry in self._picam2.sensor_modes:
            fmt = RawFormat.parse(str(entry["format"]))
            modes.append(
                SensorMode(
                    size=tuple(entry["size"]),
                    bit_depth=int(entry["bit_depth"]),
                    bayer_order=fmt.bayer_order,
                    max_fps=float(entry["fps"]),
                    crop=tuple(entry["crop_limits"]),
                    binning=max(1, round(entry["crop_limits"][2] / entry["size"][0])),
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
                (int(exposure[0]), int(exposure[1])) if exposure else base.exposure_time_us_range
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
            with _errors("opening the camera"):
                self._picam2 = picamera2.Picamera2(self._camera_num)
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
            self._still_config = None
            if picam2 is None:
                return
            try:
                picam2.close()
            except Exception as error:  # the camera may already be gone; nothing left to free
                log.warning("closing picamera2 failed: %s", error)

    def _camera(self) -> Any:
        if self._picam2 is None:
            raise exc.CameraNotRunning("the camera is not open")
        return self._picam2

    def configure(self, mode: SensorMode, preview_size: tuple[int, int]) -> None:
        """Set the live-view mode; a running camera is stopped, reconfigured and restarted."""
        with self._lock:
            picam2 = self._camera()
            was_running = self._running
            if was_running:
                self.stop()
            self._mode = self._still_config = None  # until this configuration succeeds
            entry = self._sensor_mode_entry(mode)
            full = self._sensor_mode_entry(self._sensor.full_resolution_mode)
            with _errors(f"configuring {mode.name}"):
                preview_config = picam2.create_preview_configuration(
                    main={"format": "RGB888", "size": tuple(preview_size)},
                    raw={"format": str(entry["unpacked"]), "size": tuple(entry["size"])},
                    sensor={"output_size": tuple(entry["size"]), "bit_depth": entry["bit_depth"]},
                    controls=self._libcamera_controls(self._controls, mode),
                )
                still_config = picam2.create_still_configuration(
                    main={"format": "RGB888", "size": tuple(preview_size)},
                    raw={"format": str(full["unpacked"]), "size": tuple(full["size"])},
                    sensor={"output_size": tuple(full["size"]), "bit_depth": full["bit_depth"]},
                )
                picam2.configure(preview_config)
                stream = picam2.camera_configuration()["raw"]
            order = RawFormat.parse(stream["format"]).bayer_order
            self._still_config = still_config
            self._sensor = dataclasses.replace(
                self._sensor,
                modes=tuple(dataclasses.replace(m, bayer_order=order) for m in self._sensor.modes),
            )
            self._mode = next(
                m for m in self._sensor.modes if m.size == mode.size and m.bit_depth == mode.bit_depth
            )
            if was_running:
                self.start()

    def start(self) -> None:
        with self._lock:
            picam2 = self._camera()
            if self._mode is None:
                raise exc.CameraNotRunning("configure() the camera before start()")
            with _errors("starting the camera"):
                picam2.start()
            self._running = True

    def stop(self) -> None:
        with self._lock:
            if self._picam2 is None:
                self._running = False
                return
            with _errors("stopping the camera"):
                self._picam2.stop()
            self._running = False

    # -- controls -----------------------------------------------------------------------

    @property
    def controls(self) -> Controls:
        return self._controls

    def set_controls(self, controls: Controls) -> None:
        picam2 = self._camera()
        with _errors("setting controls"):
            picam2.set_controls(self._libcamera_controls(controls, self._mode))
        self._controls = controls

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
        elif self._controls.scaler_crop is not None and mode is not None:
            out["ScalerCrop"] = tuple(mode.crop)  # back to the whole field of the mode
        if c.frame_duration_limits_us is not None:
            out["FrameDurationLimits"] = tuple(int(v) for v in c.frame_duration_limits_us)
        elif mode is not None:
            # As fast as the mode runs, as slow as the longest exposure needs.
            longest = available.get("FrameDurationLimits", (0, self._sensor.exposure_time_us_range[1]))
            out["FrameDurationLimits"] = (round(1e6 / mode.max_fps), int(longest[1]))
        return {k: v for k, v in out.items() if k in available}

    # -- frames -------------------------------------------------------------------------

    def next_frame(self, timeout_s: float = 2.0) -> PreviewFrame:
        with self._lock:
            picam2 = self._camera()
            if not self._running:
                raise exc.CameraNotRunning("start() the camera before asking for frames")
            try:
                with _errors("waiting for a preview frame"), _captured(picam2, timeout_s) as request:
                    rgb = request.make_array("main")[..., ::-1]  # RGB888 is B, G, R in memory
                    raw = self._raw_frame(request)
            except exc.CameraTimeout:
                self._flush()
                raise
            return PreviewFrame(np.ascontiguousarray(rgb), raw, raw.metadata)

    def capture_still(self, timeout_s: float | None = None) -> RawFrame:
        with self._lock:
            picam2 = self._camera()
            if self._still_config is None or not self._running:
                raise exc.CameraNotRunning("configure() and start() the camera before a still")
            if timeout_s is None:
                timeout_s = self._still_timeout_s()
            config = dict(self._still_config)
            config["controls"] = {
                **self._still_config["controls"],
                **self._libcamera_controls(self._controls, self._sensor.full_resolution_mode),
            }
            try:
                with _errors("capturing a still"):
                    request = picam2.switch_mode_and_capture_request(config, wait=timeout_s)
                    try:
                        raw = self._raw_frame(request)
                    finally:
                        request.release()
            except exc.CameraTimeout:
                self._flush()
                raise
            # Back in the preview mode picamera2 reapplies the controls it was configured with.
            with _errors("restoring controls after a still"):
                picam2.set_controls(self._libcamera_controls(self._controls, self._mode))
            return raw

    def _still_timeout_s(self) -> float:
        """A mode switch, a few frames to settle and the exposure itself, with margin."""
        exposure_s = 1.0 if self._controls.ae_enable else self._controls.exposure_time_us / 1e6
        return 5.0 + 4 * exposure_s

    def _flush(self) -> None:
        """After a timeout picamera2 still holds the job; drop it so the camera can be closed."""
        with contextlib.suppress(Exception):
            self._picam2.cancel_all_and_flush()

    def _raw_frame(self, request: Any) -> RawFrame:
        """The raw stream of ``request`` as sensor DN, with the request's metadata."""
        stream = request.config["raw"]
        fmt = RawFormat.parse(stream["format"])
        if fmt.packing is not None:
            raise exc.CameraError(f"raw stream is {stream['format']}, not an unpacked format")
        width, height = stream["size"]
        buffer = request.make_array("raw")  # uint8 (height, stride): rows padded to the stride
        data = buffer.view("<u2").reshape(height, -1)[:, :width]
        sensor = request.config.get("sensor") or {}
        bit_depth = int(sensor.get("bit_depth") or fmt.bit_depth)
        if fmt.bit_depth > bit_depth:  # Pi 5: 16-bit container, the sensor's bits at the top
            data = data >> (fmt.bit_depth - bit_depth)
        data = data.astype(np.uint16, copy=False)
        md = request.get_metadata()
        levels = md.get("SensorBlackLevels")
        black_16 = round(sum(levels) / len(levels)) if levels else self._sensor.black_level_16bit
        return RawFrame(
            data=data,
            bayer_order=fmt.bayer_order,
            black_level=black_16 >> (16 - bit_depth),
            white_level=(1 << bit_depth) - 1,
            bit_depth=bit_depth,
            metadata=self._metadata(md),
        )

    def _metadata(self, md: dict[str, Any]) -> FrameMetadata:
        self._sequence += 1
        gains = md.get("ColourGains", self._controls.colour_gains)
        crop = md.get("ScalerCrop")
        lux = md.get("Lux")
        temperature = md.get("SensorTemperature")
        return FrameMetadata(
            sequence=self._sequence,
            sensor_timestamp_ns=int(md.get("SensorTimestamp", 0)),
            exposure_time_us=int(md.get("ExposureTime", self._controls.exposure_time_us)),
            analogue_gain=float(md.get("AnalogueGain", self._controls.analogue_gain)),
            colour_gains=(float(gains[0]), float(gains[1])),
            colour_temperature=int(md.get("ColourTemperature", 0)),
            frame_duration_us=int(md.get("FrameDuration", 0)),
            lux=None if lux is None else float(lux),
            sensor_temperature_c=None if temperature is None else float(temperature),
            scaler_crop=None if crop is None else tuple(int(v) for v in crop),
        )

    # -- description --------------------------------------------------------------------

    def describe(self) -> dict[str, object]:
        info: dict[str, object] = {"backend": self.backend}
        if self._picam2 is None:
            return info
        props = self._picam2.camera_properties
        info["properties"] = {k: _plain(v) for k, v in props.items()}
        info["model"] = _plain(props.get("Model"))
        info["pixel_array_size"] = _plain(props.get("PixelArraySize"))
        if self._mode is not None:
            info["raw_format"] = self._picam2.camera_configuration()["raw"]["format"]
            info["mode"] = self._mode.name
        return info


def _plain(value: Any) -> Any:
    """A camera property as JSON can carry it (libcamera enums become their names)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)
