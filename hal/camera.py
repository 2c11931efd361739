"""The camera interface every backend implements, and the data it hands out.

``firmware/`` talks to a sensor only through :class:`Camera`; it never imports picamera2.
The backend (picamera2, over the real libcamera or the virtual one) turns these calls into sensor work.

Units are in the names: ``exposure_time_us`` is microseconds, ``pixel_size_um`` micrometres.
Raw values are digital numbers (DN) at the sensor's own bit depth, not scaled to 16 bits.
"""

from __future__ import annotations

import abc
import dataclasses
import threading
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

BayerOrder = Literal["RGGB", "BGGR", "GRBG", "GBRG"]
BAYER_ORDERS: tuple[str, ...] = ("RGGB", "BGGR", "GRBG", "GBRG")

AwbMode = Literal[
    "auto", "incandescent", "tungsten", "fluorescent", "indoor", "daylight", "cloudy"
]
AWB_MODES: tuple[str, ...] = (
    "auto", "incandescent", "tungsten", "fluorescent", "indoor", "daylight", "cloudy"
)
MeteringMode = Literal["centre", "spot", "matrix"]
ExposurePriority = Literal["auto", "shutter", "iso"]
EXPOSURE_PRIORITIES: tuple[str, ...] = ("auto", "shutter", "iso")
METERING_MODES: tuple[str, ...] = ("centre", "spot", "matrix")


@dataclasses.dataclass(frozen=True)
class SensorMode:
    """One readout mode of the sensor, as the driver lists it.

    ``crop`` is the part of the active array the mode reads, ``(x, y, width, height)`` in
    full-resolution pixels; ``binning`` is how many sensor pixels one output pixel sums along
    each axis.
    """

    size: tuple[int, int]
    bit_depth: int
    bayer_order: BayerOrder
    max_fps: float
    crop: tuple[int, int, int, int]
    binning: int = 1

    @property
    def name(self) -> str:
        return f"{self.size[0]}x{self.size[1]}"

    @property
    def white_level(self) -> int:
        return (1 << self.bit_depth) - 1


@dataclasses.dataclass(frozen=True)
class SensorInfo:
    """What a photographer (and the DNG writer) needs to know about the sensor."""

    model: str
    pixel_size_um: float
    active_array: tuple[int, int]
    modes: tuple[SensorMode, ...]
    black_level_16bit: int
    """Black level on a 16-bit scale, as libcamera tuning files give it."""
    exposure_time_us_range: tuple[int, int]
    analogue_gain_range: tuple[float, float]

    def black_level(self, bit_depth: int) -> int:
        return self.black_level_16bit >> (16 - bit_depth)

    @property
    def sensor_size_mm(self) -> tuple[float, float]:
        w, h = self.active_array
        return (w * self.pixel_size_um / 1000, h * self.pixel_size_um / 1000)

    def mode(self, name: str) -> SensorMode:
        for m in self.modes:
            if m.name == name:
                return m
        raise KeyError(name)

    @property
    def full_resolution_mode(self) -> SensorMode:
        """The largest mode; between modes of one size, the deepest (12-bit over 10-bit)."""
        return max(self.modes, key=lambda m: (m.size[0] * m.size[1], m.bit_depth))


@dataclasses.dataclass(frozen=True)
class Controls:
    """The settings a photographer changes between frames.

    With ``ae_enable`` the camera chooses exposure time and gain itself (metering, aiming at
    ``ev`` stops over mid-grey); without it ``exposure_time_us`` and ``analogue_gain`` are used
    as they are. ``exposure_priority`` says what automatic exposure may change: both
    (``"auto"``: program, or aperture priority with the aperture on an M lens's ring), only the
    gain while ``exposure_time_us`` is held (``"shutter"`` priority), or only the exposure
    time while ``analogue_gain`` is held (``"iso"`` priority). libcamera calls these
    ``ExposureTimeMode``/``AnalogueGainMode`` auto or manual. Likewise ``awb_enable`` picks colour gains from ``awb_mode``'s colour
    temperature range, and without it ``colour_gains`` (red, blue) apply as given.
    ``scaler_crop`` is the sensor window shown in the preview, ``(x, y, w, h)`` in
    full-resolution pixels, or ``None`` for the whole frame.
    """

    ae_enable: bool = True
    exposure_time_us: int = 10_000
    analogue_gain: float = 1.0
    exposure_priority: ExposurePriority = "auto"
    ev: float = 0.0
    metering: MeteringMode = "centre"
    awb_enable: bool = True
    awb_mode: AwbMode = "auto"
    colour_gains: tuple[float, float] = (2.0, 1.6)
    scaler_crop: tuple[int, int, int, int] | None = None
    frame_duration_limits_us: tuple[int, int] | None = None

    def replace(self, **changes: object) -> Controls:
        return dataclasses.replace(self, **changes)

    @property
    def exposure_time_is_auto(self) -> bool:
        return self.ae_enable and self.exposure_priority != "shutter"

    @property
    def analogue_gain_is_auto(self) -> bool:
        return self.ae_enable and self.exposure_priority != "iso"


@dataclasses.dataclass(frozen=True)
class FrameMetadata:
    """What the sensor and its control loops report for one frame."""

    sequence: int
    sensor_timestamp_ns: int
    exposure_time_us: int
    analogue_gain: float
    colour_gains: tuple[float, float]
    colour_temperature: int
    frame_duration_us: int
    lux: float | None = None
    sensor_temperature_c: float | None = None
    scaler_crop: tuple[int, int, int, int] | None = None
    digital_gain: float = 1.0
    focus_fom: int | None = None
    sensor_sequence: int | None = None
    """The frame's own number as libcamera counts it since the camera started (a gap is a
    dropped frame); ``sequence`` counts the frames this backend handed out."""
    shutter_lag_ms: float | None = None
    """For a still: its exposure start minus the shutter press, from its SensorTimestamp
    (negative when the frame already exposing at the press was used)."""
    exposure_start_unix_ns: int | None = None
    """For a still: when its exposure began on the wall clock (its SensorTimestamp, minus the
    exposure time, carried over from the camera's clock), for the files' capture time."""

    @property
    def iso(self) -> int:
        """ISO as the Pi's camera stack states it: 100 × analogue gain."""
        return round(100 * self.analogue_gain)


@dataclasses.dataclass(frozen=True, eq=False)
class RawFrame:
    """Bayer data straight off the sensor, before any processing.

    ``data`` is uint16, shape (height, width), unpacked, values in
    ``[0, white_level]`` with ``black_level`` added by the sensor.
    ``bayer_order`` names the colours of the top-left 2×2 block as read by the stream
    (the HQ camera through libcamera is BGGR because the module is mounted rotated).
    """

    data: np.ndarray
    bayer_order: BayerOrder
    black_level: int
    white_level: int
    bit_depth: int
    metadata: FrameMetadata
    picture: np.ndarray | None = None
    """The camera ISP's own rendering of the same frame (uint8 RGB at the live view's size),
    when the backend has it: the DNG's preview and the gallery's first thumbnail, before
    mrig's ISP has developed the JPEG."""

    def __post_init__(self) -> None:
        if self.data.dtype != np.uint16 or self.data.ndim != 2:
            raise ValueError("RawFrame.data must be a 2-D uint16 array")
        if self.bayer_order not in BAYER_ORDERS:
            raise ValueError(f"bayer_order must be one of {BAYER_ORDERS}, not {self.bayer_order!r}")

    def channel(self, colour: str) -> np.ndarray:
        """Views of one Bayer channel: ``"R"``, ``"B"``, ``"G1"`` or ``"G2"`` (half resolution)."""
        return self.data[bayer_slices(self.bayer_order, colour)]


def _channel_offset(order: str, colour: str) -> tuple[int, int]:
    positions = [(0, 0), (0, 1), (1, 0), (1, 1)]
    labels = []
    greens = 0
    for c in order:
        if c == "G":
            greens += 1
            labels.append(f"G{greens}")
        else:
            labels.append(c)
    return positions[labels.index(colour)]


def bayer_slices(order: str, colour: str) -> tuple[slice, slice]:
    """Row and column slices picking one Bayer channel (``"R"``, ``"G1"``, ``"G2"``, ``"B"``)."""
    row, col = _channel_offset(order, colour)
    return (slice(row, None, 2), slice(col, None, 2))


@dataclasses.dataclass(frozen=True, eq=False)
class PreviewFrame:
    """One live-view frame: processed RGB for the screen plus the raw it came from.

    ``rgb`` is uint8 (height, width, 3) sRGB. ``raw`` is the sensor's Bayer data for the same
    exposure, possibly at lower resolution than the sensor mode (it feeds histograms and
    meters, which do not need every pixel).
    """

    rgb: np.ndarray
    raw: RawFrame
    metadata: FrameMetadata


class Camera(abc.ABC):
    """A sensor with its control loops, opened for the lifetime of a ``with`` block.

    A backend must implement:

    - :attr:`sensor`: the static description, available before :meth:`open`.
    - :meth:`open` and :meth:`close`: claim and release the hardware. ``close`` is safe to
      call twice and after a failure.
    - :meth:`configure`: choose the sensor mode for the live view and the preview size.
    - :meth:`start` and :meth:`stop`: run or halt frame delivery.
    - :meth:`set_controls` and :attr:`controls`: change settings, applied from the next
      frame the backend can (a real sensor needs one or two frames).
    - :meth:`next_frame`: block until the next preview frame and return it.
    - :meth:`capture_still`: a full-resolution raw still; switches the sensor to the
      full-resolution mode and back, so the live view resumes afterwards. When the live view
      already runs in the full-resolution mode, no switch is needed: the still is the frame
      being exposed (zero shutter lag). Setting its ``cancel`` event aborts the exposure
      (:class:`hal.exc.StillCancelled`).

    A backend may implement :meth:`capture_burst`: consecutive frames of a full-resolution
    live view, for bursts at the sensor's rate and brackets (the base raises
    :class:`NotImplementedError`; callers then take stills one at a time).

    A backend may override :meth:`describe` to add facts for ``/api/camera``.

    Errors are raised as :mod:`hal.exc` types: :class:`hal.exc.CameraTimeout`,
    :class:`hal.exc.CameraDisconnected`, :class:`hal.exc.CameraOutOfMemory`, ...
    """

    #: Short name of the backend, e.g. ``"picamera2"``.
    backend: str = ""

    #: True when :meth:`capture_still` may run while another thread waits in
    #: :meth:`next_frame`. Callers otherwise serialise the two, and a still waits for the
    #: live-view frame in progress.
    concurrent_stills: bool = False

    @property
    @abc.abstractmethod
    def sensor(self) -> SensorInfo: ...

    @abc.abstractmethod
    def open(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def configure(self, mode: SensorMode, preview_size: tuple[int, int]) -> None: ...

    @abc.abstractmethod
    def start(self) -> None: ...

    @abc.abstractmethod
    def stop(self) -> None: ...

    @abc.abstractmethod
    def set_controls(self, controls: Controls) -> None: ...

    @property
    @abc.abstractmethod
    def controls(self) -> Controls: ...

    @abc.abstractmethod
    def next_frame(self, timeout_s: float = 2.0) -> PreviewFrame: ...

    @abc.abstractmethod
    def capture_still(
        self,
        timeout_s: float | None = None,
        *,
        exposure_time_us: int | None = None,
        analogue_gain: float | None = None,
        cancel: threading.Event | None = None,
    ) -> RawFrame:
        """A full-resolution raw still; ``exposure_time_us``/``analogue_gain`` fix the
        exposure for this still only (auto exposure off), never the user's controls."""

    def capture_burst(
        self,
        count: int,
        on_frame: Callable[[RawFrame], None],
        *,
        exposures: list[tuple[int, float]] | None = None,
        cancel: threading.Event | None = None,
        timeout_s: float = 5.0,
    ) -> int:
        """``count`` consecutive frames to ``on_frame`` (``exposures``: one exposure time and
        gain each, a bracket); returns how many were delivered before ``cancel``."""
        raise NotImplementedError(f"{self.backend or 'this camera'} takes no bursts")

    def describe(self) -> dict[str, object]:
        return {"backend": self.backend}

    def __enter__(self) -> Camera:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def preview_mode(sensor: SensorInfo) -> SensorMode:
    """The mode the live view uses by default: the fastest full-field binned mode."""
    full = sensor.full_resolution_mode
    candidates: Sequence[SensorMode] = [
        m for m in sensor.modes if m.crop == full.crop and m is not full
    ]
    return max(candidates, key=lambda m: m.max_fps) if candidates else full
