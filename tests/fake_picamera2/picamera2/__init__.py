"""A stand-in for picamera2 in tests, shaped like the real 0.3.38 API.

Only reachable when a test puts ``tests/fake_picamera2`` first on ``sys.path`` (see the
``fake`` fixture in ``tests/test_picamera2_backend.py``). Method names and keyword names match
picamera2's source; ``tests/test_picamera2_contract.py`` checks that, so the fake cannot drift
from the library it stands in for.

It behaves the way the real library does where the backend depends on it:

- ``sensor_modes`` lists the HQ camera's four modes with packed ``_CSI2P`` formats, as
  ``rpicam-hello --list-cameras`` shows them;
- ``configure`` fills in each stream's ``stride`` (rows padded to 64 bytes) and the ``sensor``
  entry, and on ``platform="pisp"`` (Pi 5) turns an unpacked raw request into 16-bit with the
  sensor's bits at the top;
- ``RGB888`` buffers hold B, G, R in memory; raw buffers come out of ``make_array`` as uint8
  rows of ``stride`` bytes;
- controls are checked against ``camera_controls``, reset to the configuration's ``controls``
  by ``configure`` (as the real ``configure_`` does), and a mode switch restores the preview
  configuration's controls;
- requests must be released exactly once; ``outstanding`` lists the ones that are not.

Faults are scripted on :data:`scenario` before the camera is opened or used.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import errno
from typing import Any

import numpy as np
from libcamera import controls as _enums

__all__ = ["CompletedRequest", "Picamera2", "Scenario", "SensorFormat", "instances", "scenario"]

#: Sensor DN of each Bayer site at 12 bits, before the black level (10-bit modes: divided by 4).
SITE_VALUES_12BIT = {"R": 900, "G1": 1800, "G2": 1900, "B": 2700}
_MODES = (  # size, bit depth, fps, crop limits: rpicam-hello --list-cameras on a Pi 4
    ((1332, 990), 10, 120.05, (696, 528, 2664, 1980)),
    ((2028, 1080), 12, 50.03, (0, 440, 4056, 2160)),
    ((2028, 1520), 12, 40.01, (0, 0, 4056, 3040)),
    ((4056, 3040), 12, 10.0, (0, 0, 4056, 3040)),
)
_BAYER = ("RGGB", "BGGR", "GRBG", "GBRG")


@dataclasses.dataclass
class Scenario:
    """How the fake camera behaves; tests change it before opening the camera."""

    platform: str = "vc4"
    #: Bayer order of the raw stream libcamera configures (HQ module mounted rotated: BGGR).
    bayer_order: str = "BGGR"
    #: Order in the formats ``sensor_modes`` lists; ``None``: the same as ``bayer_order``.
    listed_order: str | None = None
    black_levels_16bit: tuple[int, int, int, int] = (4096, 4096, 4096, 4096)
    missing_controls: tuple[str, ...] = ()
    open_error: BaseException | None = None
    configure_error: BaseException | None = None
    capture_error: BaseException | None = None
    make_array_error: BaseException | None = None
    close_error: BaseException | None = None


scenario = Scenario()
instances: list[Picamera2] = []


class SensorFormat:
    """picamera2's name for a sensor format, e.g. ``SBGGR12_CSI2P``."""

    def __init__(self, fmt_string: str) -> None:
        self.format = fmt_string

    def __str__(self) -> str:
        return self.format

    __repr__ = __str__


def _align(n: int, to: int = 64) -> int:
    return (n + to - 1) // to * to


def _bit_depth(fmt: str) -> int:
    if "PISP_COMP" in fmt:
        return 16
    return int("".join(c for c in fmt.split("_")[0] if c.isdigit()))


class CompletedRequest:
    """One frame's buffers and metadata, held until released."""

    def __init__(self, request: dict[str, Any], picam2: Picamera2) -> None:
        self.request = request
        self.picam2 = picam2
        self.config = copy.deepcopy(picam2.camera_config)
        self.ref_count = 1
        picam2.outstanding.append(self)

    def acquire(self) -> None:
        self.ref_count += 1

    def release(self) -> None:
        self.ref_count -= 1
        if self.ref_count < 0:
            raise RuntimeError("CompletedRequest: lock now has negative ref_count")
        if self.ref_count == 0:
            self.picam2.outstanding.remove(self)
            self.picam2.released += 1

    def get_metadata(self) -> dict[str, Any]:
        return dict(self.request["metadata"])

    def make_array(self, name: str) -> np.ndarray:
        if self.ref_count <= 0:
            raise RuntimeError("request already released")
        if scenario.make_array_error is not None:
            raise scenario.make_array_error
        config = self.config.get(name)
        if config is None:
            raise RuntimeError(f"Stream {name!r} is not defined")
        w, h = config["size"]
        buffer = self.request["buffers"][name].reshape(h, config["stride"])
        if config["format"] in ("RGB888", "BGR888"):
            buffer = buffer[:, : w * 3].reshape(h, w, 3)
        return np.ascontiguousarray(buffer)


class Picamera2:
    """The camera, with the subset of picamera2's methods the backend uses."""

    def __init__(self, camera_num=0, verbose_console=None, tuning=None, allocator=None):
        if scenario.open_error is not None:
            raise RuntimeError("Camera __init__ sequence did not complete.") from scenario.open_error
        self.camera_num = camera_num
        self.is_open = True
        self.started = False
        self.camera_config: dict[str, Any] = {}
        self.applied: dict[str, Any] = {}
        self.control_log: list[dict[str, Any]] = []
        self.requested: list[dict[str, Any]] = []  # every configuration passed to configure()
        self.outstanding: list[CompletedRequest] = []
        self.released = 0
        self.frames = 0
        self.cancelled = 0
        self.timestamp_ns = 1_000_000_000
        instances.append(self)

    # -- what the camera is -------------------------------------------------------------

    @property
    def sensor_modes(self) -> list[dict[str, Any]]:
        order = scenario.listed_order or scenario.bayer_order
        modes = []
        for size, bits, fps, crop in _MODES:
            fmt = SensorFormat(f"S{order}{bits}_CSI2P")
            modes.append(
                {
                    "format": fmt,
                    "unpacked": f"S{order}{bits}",
                    "bit_depth": bits,
                    "size": size,
                    "fps": fps,
                    "crop_limits": crop,
                    "exposure_limits": (114, 694_434_742, None),
                }
            )
        return modes

    @property
    def camera_properties(self) -> dict[str, Any]:
        if not self.is_open:
            return {}
        return {
            "Model": "imx477",
            "PixelArraySize": (4056, 3040),
            "PixelArrayActiveAreas": [(8, 16, 4056, 3040)],
            "UnitCellSize": (1550, 1550),
            "ColorFilterArrangement": 0,
            "Rotation": 180,
            "Location": 2,
        }

    @property
    def camera_controls(self) -> dict[str, tuple[Any, Any, Any]]:
        sensor = (self.camera_config or {}).get("sensor") or {"output_size": (4056, 3040)}
        mode = next(m for m in _MODES if m[0] == tuple(sensor["output_size"]))
        all_controls = {
            "AeEnable": (False, True, None),
            "ExposureTime": (114, 694_434_742, 20_000),
            "AnalogueGain": (1.0, 22.26, None),
            "ExposureValue": (-8.0, 8.0, 0.0),
            "AeMeteringMode": (0, 3, 0),
            "AwbEnable": (False, True, None),
            "AwbMode": (0, 7, 0),
            "ColourGains": (0.0, 32.0, None),
            "ScalerCrop": ((0, 0, 64, 64), mode[3], mode[3]),
            "FrameDurationLimits": (round(1e6 / mode[2]), 694_434_742, None),
            "NoiseReductionMode": (0, 4, 0),
        }
        return {k: v for k, v in all_controls.items() if k not in scenario.missing_controls}

    # -- configurations -----------------------------------------------------------------

    def _make_config(self, use_case, main, raw, controls, sensor, buffer_count, defaults):
        if not self.is_open:
            raise RuntimeError("Camera not opened")
        main = {"format": "XBGR8888", "size": (640, 480), "preserve_ar": True} | (main or {})
        raw = {"format": "SBGGR12_CSI2P", "size": main["size"]} | (raw or {})
        return {
            "use_case": use_case,
            "buffer_count": buffer_count,
            "queue": True,
            "main": main,
            "lores": None,
            "raw": raw,
            "controls": defaults | dict(controls or {}),
            "sensor": dict(sensor or {}),
        }

    def create_preview_configuration(
        self, main=None, lores=None, raw=None, transform=None, colour_space=None, buffer_count=4,
        controls=None, display="main", encode="main", queue=True, sensor=None, use_case="preview",
    ):
        defaults = {
            "NoiseReductionMode": _enums.draft.NoiseReductionModeEnum.Minimal,
            "FrameDurationLimits": (100, 83333),
        }
        return self._make_config(use_case, main, raw, controls, sensor, buffer_count, defaults)

    def create_still_configuration(
        self, main=None, lores=None, raw=None, transform=None, colour_space=None, buffer_count=1,
        controls=None, display=None, encode=None, queue=True, sensor=None, use_case="still",
    ):
        defaults = {
            "NoiseReductionMode": _enums.draft.NoiseReductionModeEnum.HighQuality,
            "FrameDurationLimits": (100, 1_000_000_000),
        }
        return self._make_config(use_case, main, raw, controls, sensor, buffer_count, defaults)

    def configure(self, camera_config=None) -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        if scenario.configure_error is not None:
            raise scenario.configure_error
        self.requested.append(copy.deepcopy(camera_config))
        config = copy.deepcopy(camera_config)
        bad = set(config["sensor"]) - {"bit_depth", "output_size"}
        if bad:
            raise RuntimeError(f"Unexpected keys {bad} in sensor configuration")
        raw = config["raw"]
        raw_bits = _bit_depth(raw["format"])
        size = tuple(config["sensor"].get("output_size") or raw["size"])
        mode = next((m for m in _MODES if m[0] == size), None)
        if mode is None or raw["format"].lstrip("S")[:4] not in _BAYER:
            raise RuntimeError(f"Invalid camera configuration: {config}")
        packed = "_" in raw["format"]
        if scenario.platform == "pisp":  # PiSP: packed -> compressed, unpacked -> 16 bits
            fmt = f"{scenario.bayer_order}_PISP_COMP1" if packed else f"S{scenario.bayer_order}16"
        else:
            fmt = f"S{scenario.bayer_order}{mode[1]}" + ("_CSI2P" if packed else "")
        bpp = 2 if not packed or scenario.platform == "pisp" else raw_bits / 8
        raw.update(format=fmt, size=mode[0], stride=_align(int(mode[0][0] * bpp)))
        main = config["main"]
        if main["format"] not in ("RGB888", "BGR888"):
            raise RuntimeError("the fake delivers RGB888 and BGR888 only")
        main.update(size=tuple(main["size"]), stride=_align(main["size"][0] * 3))
        for stream in (raw, main):
            stream["framesize"] = stream["stride"] * stream["size"][1]
        config["sensor"] = {"bit_depth": mode[1], "output_size": mode[0]}
        self.camera_config = config
        self.applied = dict(config["controls"])

    def camera_configuration(self) -> dict[str, Any]:
        return self.camera_config

    # -- running ------------------------------------------------------------------------

    def start(self, config=None, show_preview=False) -> None:
        if not self.camera_config:
            raise RuntimeError("Camera has not been configured")
        self.started = True

    def stop(self) -> None:
        self.started = False

    def close(self) -> None:
        if not self.is_open:
            return
        self.started = False
        self.is_open = False
        if scenario.close_error is not None:
            raise scenario.close_error

    def set_controls(self, controls) -> None:
        for name in controls:
            if name not in self.camera_controls:
                raise RuntimeError(f"Control {name} is not advertised by libcamera")
        self.control_log.append(dict(controls))
        self.applied.update(controls)

    def cancel_all_and_flush(self) -> None:
        self.cancelled += 1

    # -- frames -------------------------------------------------------------------------

    def _frame(self) -> CompletedRequest:
        if scenario.capture_error is not None:
            raise scenario.capture_error
        if not self.is_open:
            raise OSError(errno.ENODEV, "No such device")
        if not self.started:
            raise TimeoutError()  # the real job would wait for a frame that never comes
        self.frames += 1
        c = self.camera_config
        buffers = {"main": _main_buffer(c["main"]), "raw": _raw_buffer(c["raw"], c["sensor"])}
        return CompletedRequest({"buffers": buffers, "metadata": self._metadata()}, self)

    def _metadata(self) -> dict[str, Any]:
        a = self.applied
        manual_exposure = not a.get("AeEnable", True) and a.get("ExposureTime")
        exposure = int(a["ExposureTime"]) if manual_exposure else 8000
        gain = float(a["AnalogueGain"]) if manual_exposure and a.get("AnalogueGain") else 2.0
        awb = a.get("AwbEnable", True) or "ColourGains" not in a
        lo, hi = a.get("FrameDurationLimits", (100, 83333))
        duration = min(max(exposure + 2000, lo, round(1e6 / 120.05)), hi)
        self.timestamp_ns += duration * 1000
        crop = a.get("ScalerCrop") or self.camera_controls["ScalerCrop"][2]
        return {
            "SensorTimestamp": self.timestamp_ns,
            "ExposureTime": exposure,
            "AnalogueGain": gain,
            "ColourGains": (1.9, 1.7) if awb else tuple(a["ColourGains"]),
            "ColourTemperature": 5200 if awb else 4800,
            "FrameDuration": duration,
            "Lux": 400.5,
            "SensorTemperature": 38.0,
            "ScalerCrop": tuple(crop),
            "SensorBlackLevels": scenario.black_levels_16bit,
            "DigitalGain": 1.0,
        }

    def capture_request(self, wait=None, signal_function=None, flush=None) -> CompletedRequest:
        return self._frame()

    @contextlib.contextmanager
    def captured_request(self, wait=None, flush=None):
        request = self.capture_request(wait=wait, flush=flush)
        try:
            yield request
        finally:
            request.release()

    def switch_mode_and_capture_request(self, camera_config, wait=None, signal_function=None, delay=0):
        preview_config = self.camera_config
        self.started = False
        self.configure(camera_config)
        self.started = True
        try:
            return self._frame()
        finally:
            self.started = False
            self.configure(preview_config)  # resets the controls to the preview's, as the real one
            self.started = True


def _main_buffer(stream: dict[str, Any]) -> np.ndarray:
    """An RGB888 buffer: R rises left to right, B top to bottom, G is 128; B, G, R in memory."""
    w, h = stream["size"]
    buf = np.full((h, stream["stride"]), 0xEE, np.uint8)
    pixels = buf[:, : w * 3].reshape(h, w, 3)
    pixels[..., 0] = (np.arange(h) * 255 // max(h - 1, 1))[:, None]  # blue
    pixels[..., 1] = 128
    pixels[..., 2] = (np.arange(w) * 255 // max(w - 1, 1))[None, :]  # red
    return buf.ravel()


def _raw_buffer(stream: dict[str, Any], sensor: dict[str, Any]) -> np.ndarray:
    """A raw buffer: each Bayer site holds its ``SITE_VALUES_12BIT`` value plus the black level."""
    w, h = stream["size"]
    bits = sensor["bit_depth"]
    black = round(sum(scenario.black_levels_16bit) / 4) >> (16 - bits)
    order = scenario.bayer_order
    labels = []
    for c in order:
        labels.append(f"G{sum(x.startswith('G') for x in labels) + 1}" if c == "G" else c)
    tile = np.array(
        [SITE_VALUES_12BIT[label] >> (12 - bits) for label in labels], np.uint16
    ).reshape(2, 2) + black
    if _bit_depth(stream["format"]) == 16:
        tile <<= 16 - bits
    buf = np.full((h, stream["stride"]), 0xEE, np.uint8)
    buf[:, : w * 2] = np.tile(tile, (h // 2, w // 2)).astype("<u2").view(np.uint8)
    return buf.ravel()
