"""The types of libcamera's Python bindings, as picamera2 0.3.38 uses them.

Each class follows the binding of the same name in libcamera ``src/py/libcamera/``
(``py_main.cpp``: CameraManager, Camera, CameraConfiguration, StreamConfiguration,
StreamFormats, FrameBuffer, Request; ``py_geometry.cpp``: Size, Rectangle;
``py_transform.cpp``; ``py_color_space.cpp``; ``py_enums.cpp``; ``gen-py-controls.py``:
the ``controls``/``properties`` namespaces with their enums, prefixes dropped, so
``controls.AwbModeEnum.Daylight``). Only the surface picamera2 touches is here; the behaviour
behind ``Camera`` is :class:`hal.virtual.pipeline.Pipeline`. See ``hal/virtual/SOURCES.md``
for the source line each behaviour follows.
"""

from __future__ import annotations

import enum
import os
import threading
from typing import Any

__all__ = [
    "Camera",
    "CameraConfiguration",
    "CameraManager",
    "ColorSpace",
    "ControlId",
    "ControlInfo",
    "ControlType",
    "FrameBuffer",
    "FrameMetadata",
    "Orientation",
    "PixelFormat",
    "Rectangle",
    "Request",
    "SensorConfiguration",
    "Size",
    "Stream",
    "StreamConfiguration",
    "StreamFormats",
    "StreamRole",
    "Transform",
    "controls",
    "properties",
]


# --- geometry ------------------------------------------------------------------------------


class Size:
    def __init__(self, width: int = 0, height: int = 0) -> None:
        self.width = int(width)
        self.height = int(height)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Size) and (self.width, self.height) == (other.width, other.height)

    def __hash__(self) -> int:
        return hash((self.width, self.height))

    def __str__(self) -> str:
        return f"{self.width}x{self.height}"

    __repr__ = __str__


class Rectangle:
    def __init__(self, *args: Any) -> None:
        if len(args) == 1 and isinstance(args[0], Size):  # Rectangle(Size)
            args = (0, 0, args[0].width, args[0].height)
        x, y, width, height = (list(args) + [0, 0, 0, 0])[:4]
        self.x, self.y, self.width, self.height = int(x), int(y), int(width), int(height)

    @property
    def size(self) -> Size:
        return Size(self.width, self.height)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rectangle) and self._t() == other._t()

    def __hash__(self) -> int:
        return hash(self._t())

    def _t(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.width, self.height)

    def __str__(self) -> str:
        return f"({self.x}, {self.y})/{self.width}x{self.height}"

    __repr__ = __str__


class Transform:
    """hflip, vflip, transpose; picamera2 patches ``__eq__`` and ``__repr__`` on import."""

    def __init__(self, *args: Any, hflip: int = 0, vflip: int = 0, transpose: int = 0,
                 rotation: int = 0) -> None:
        if args and isinstance(args[0], Transform):
            hflip, vflip, transpose = args[0].hflip, args[0].vflip, args[0].transpose
        elif args:  # the binding's first positional argument is the rotation
            rotation = int(args[0])
        self.hflip, self.vflip, self.transpose = bool(hflip), bool(vflip), bool(transpose)
        if rotation % 360 == 180:
            self.hflip, self.vflip = not self.hflip, not self.vflip

    def __str__(self) -> str:
        parts = [n for n in ("hflip", "vflip", "transpose") if getattr(self, n)]
        return f"<libcamera.Transform '{'|'.join(parts) or 'identity'}'>"


class Orientation(enum.Enum):
    """EXIF orientation values, as libcamera's ``Orientation`` (``orientation.h``)."""

    Rotate0 = 1
    Rotate0Mirror = 2
    Rotate180 = 3
    Rotate180Mirror = 4
    Rotate90Mirror = 5
    Rotate270 = 6
    Rotate90 = 7
    Rotate270Mirror = 8


class ColorSpace:
    class Primaries(enum.Enum):
        Raw = 0
        Smpte170m = 1
        Rec709 = 2
        Rec2020 = 3

    class TransferFunction(enum.Enum):
        Linear = 0
        Srgb = 1
        Rec709 = 2

    class YcbcrEncoding(enum.Enum):
        Null = 0
        Rec601 = 1
        Rec709 = 2
        Rec2020 = 3

    class Range(enum.Enum):
        Full = 0
        Limited = 1

    def __init__(self, *args: Any) -> None:
        if len(args) == 1 and isinstance(args[0], ColorSpace):
            other = args[0]
            args = (other.primaries, other.transferFunction, other.ycbcrEncoding, other.range)
        self.primaries, self.transferFunction, self.ycbcrEncoding, self.range = args

    @classmethod
    def Raw(cls) -> ColorSpace:
        return cls(cls.Primaries.Raw, cls.TransferFunction.Linear, cls.YcbcrEncoding.Null,
                   cls.Range.Full)

    @classmethod
    def Srgb(cls) -> ColorSpace:
        return cls(cls.Primaries.Rec709, cls.TransferFunction.Srgb, cls.YcbcrEncoding.Null,
                   cls.Range.Full)

    @classmethod
    def Sycc(cls) -> ColorSpace:
        return cls(cls.Primaries.Rec709, cls.TransferFunction.Srgb, cls.YcbcrEncoding.Rec601,
                   cls.Range.Full)

    @classmethod
    def Smpte170m(cls) -> ColorSpace:
        return cls(cls.Primaries.Smpte170m, cls.TransferFunction.Rec709,
                   cls.YcbcrEncoding.Rec601, cls.Range.Limited)

    @classmethod
    def Rec709(cls) -> ColorSpace:
        return cls(cls.Primaries.Rec709, cls.TransferFunction.Rec709, cls.YcbcrEncoding.Rec709,
                   cls.Range.Limited)

    @classmethod
    def Rec2020(cls) -> ColorSpace:
        return cls(cls.Primaries.Rec2020, cls.TransferFunction.Rec709,
                   cls.YcbcrEncoding.Rec2020, cls.Range.Limited)

    def __str__(self) -> str:
        return (f"{self.primaries.name}/{self.transferFunction.name}/"
                f"{self.ycbcrEncoding.name}/{self.range.name}")


class PixelFormat:
    """A format by its libcamera name (``"SBGGR12_CSI2P"``, ``"RGB888"``)."""

    def __init__(self, name: Any = "") -> None:
        self._name = str(name)

    def __str__(self) -> str:
        return self._name

    __repr__ = __str__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PixelFormat) and other._name == self._name

    def __hash__(self) -> int:
        return hash(self._name)


class StreamRole(enum.Enum):
    Raw = 0
    StillCapture = 1
    VideoRecording = 2
    Viewfinder = 3


# --- controls and properties ----------------------------------------------------------------


class ControlType(enum.Enum):
    None_ = 0
    Bool = 1
    Byte = 2
    Unsigned16 = 3
    Unsigned32 = 4
    Integer32 = 5
    Integer64 = 6
    Float = 7
    String = 8
    Rectangle = 9
    Size = 10
    Point = 11


class ControlId:
    """A control's identity: dict key for controls, properties and metadata."""

    def __init__(self, numeric_id: int, name: str, control_type: ControlType,
                 vendor: str = "libcamera") -> None:
        self.id = numeric_id
        self.name = name
        self.type = control_type
        self.vendor = vendor

    def __hash__(self) -> int:
        return hash((self.vendor, self.id))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ControlId) and (other.vendor, other.id) == (self.vendor, self.id)

    def __repr__(self) -> str:
        return f"libcamera.ControlId({self.id}, {self.vendor}::{self.name})"


class ControlInfo:
    def __init__(self, minimum: Any, maximum: Any, default: Any = None,
                 values: list[Any] | None = None) -> None:
        self.min, self.max, self.default = minimum, maximum, default
        self.values = values or []

    def __repr__(self) -> str:
        return f"libcamera.ControlInfo([{self.min}..{self.max}]{'' if self.default is None else f' default {self.default}'})"


def _enum(name: str, **members: int) -> type[enum.IntEnum]:
    return enum.IntEnum(name, members)


def _namespace(name: str, ids: list[tuple[str, ControlType]], first_id: int,
               vendor: str, **extra: Any) -> type:
    attrs: dict[str, Any] = {}
    for offset, (control, kind) in enumerate(ids):
        attrs[control] = ControlId(first_id + offset, control, kind, vendor)
    attrs.update(extra)
    return type(name, (), attrs)


_T = ControlType
# Order and types: libcamera src/libcamera/control_ids_core.yaml (ids count from 1 there).
_CORE_CONTROLS = [
    ("AeEnable", _T.Bool), ("AeState", _T.Integer32), ("AeMeteringMode", _T.Integer32),
    ("AeConstraintMode", _T.Integer32), ("AeExposureMode", _T.Integer32),
    ("ExposureValue", _T.Float), ("ExposureTime", _T.Integer32),
    ("ExposureTimeMode", _T.Integer32), ("AnalogueGain", _T.Float),
    ("AnalogueGainMode", _T.Integer32), ("AeFlickerMode", _T.Integer32),
    ("AeFlickerPeriod", _T.Integer32), ("AeFlickerDetected", _T.Integer32),
    ("Brightness", _T.Float), ("Contrast", _T.Float), ("Lux", _T.Float), ("AwbEnable", _T.Bool),
    ("AwbMode", _T.Integer32), ("AwbLocked", _T.Bool), ("ColourGains", _T.Float),
    ("ColourTemperature", _T.Integer32), ("Saturation", _T.Float),
    ("SensorBlackLevels", _T.Integer32), ("Sharpness", _T.Float), ("FocusFoM", _T.Integer32),
    ("ColourCorrectionMatrix", _T.Float), ("ScalerCrop", _T.Rectangle),
    ("DigitalGain", _T.Float), ("FrameDuration", _T.Integer64),
    ("FrameDurationLimits", _T.Integer64), ("SensorTemperature", _T.Float),
    ("SensorTimestamp", _T.Integer64), ("AfMode", _T.Integer32), ("AfRange", _T.Integer32),
    ("AfSpeed", _T.Integer32), ("AfMetering", _T.Integer32), ("AfWindows", _T.Rectangle),
    ("AfTrigger", _T.Integer32), ("AfPause", _T.Integer32), ("LensPosition", _T.Float),
    ("AfState", _T.Integer32), ("AfPauseState", _T.Integer32), ("HdrMode", _T.Integer32),
    ("HdrChannel", _T.Integer32), ("Gamma", _T.Float),
]

controls = _namespace(
    "controls", _CORE_CONTROLS, 1, "libcamera",
    AeMeteringModeEnum=_enum("AeMeteringModeEnum", CentreWeighted=0, Spot=1, Matrix=2, Custom=3),
    AeConstraintModeEnum=_enum("AeConstraintModeEnum", Normal=0, Highlight=1, Shadows=2,
                               Custom=3),
    AeExposureModeEnum=_enum("AeExposureModeEnum", Normal=0, Short=1, Long=2, Custom=3),
    ExposureTimeModeEnum=_enum("ExposureTimeModeEnum", Auto=0, Manual=1),
    AnalogueGainModeEnum=_enum("AnalogueGainModeEnum", Auto=0, Manual=1),
    AwbModeEnum=_enum("AwbModeEnum", Auto=0, Incandescent=1, Tungsten=2, Fluorescent=3,
                      Indoor=4, Daylight=5, Cloudy=6, Custom=7),
    AfModeEnum=_enum("AfModeEnum", Manual=0, Auto=1, Continuous=2),
    AfTriggerEnum=_enum("AfTriggerEnum", Start=0, Cancel=1),
    AfStateEnum=_enum("AfStateEnum", Idle=0, Scanning=1, Focused=2, Failed=3),
    HdrModeEnum=_enum("HdrModeEnum", Off=0, MultiExposureUnmerged=1, MultiExposure=2,
                      SingleExposure=3, Night=4),
)
# control_ids_draft.yaml, numbered from 10001 as libcamera's draft range.
controls.draft = _namespace(
    "draft", [("NoiseReductionMode", _T.Integer32)], 10002, "draft",
    NoiseReductionModeEnum=_enum("NoiseReductionModeEnum", Off=0, Fast=1, HighQuality=2,
                                 Minimal=3, ZSL=4),
)
# control_ids_rpi.yaml (vendor "rpi").
controls.rpi = _namespace(
    "rpi", [("StatsOutputEnable", _T.Bool), ("ScalerCrops", _T.Rectangle)], 20001, "rpi",
)

# property_ids_core.yaml.
properties = _namespace(
    "properties",
    [("Location", _T.Integer32), ("Rotation", _T.Integer32), ("Model", _T.String),
     ("UnitCellSize", _T.Size), ("PixelArraySize", _T.Size),
     ("PixelArrayOpticalBlackRectangles", _T.Rectangle),
     ("PixelArrayActiveAreas", _T.Rectangle), ("ScalerCropMaximum", _T.Rectangle),
     ("SensorSensitivity", _T.Float), ("SystemDevices", _T.Integer64)],
    1, "libcamera",
    LocationEnum=_enum("LocationEnum", CameraLocationFront=0, CameraLocationBack=1,
                       CameraLocationExternal=2),
)
properties.draft = _namespace(
    "draft", [("ColorFilterArrangement", _T.Integer32)], 10001, "draft",
    ColorFilterArrangementEnum=_enum("ColorFilterArrangementEnum", RGGB=0, GRBG=1, GBRG=2,
                                     BGGR=3, RGB=4, MONO=5),
)


def control_by_name(name: str) -> ControlId:
    """The ControlId named ``name`` in the core, draft or rpi namespace."""
    for space in (controls, controls.draft, controls.rpi, properties, properties.draft):
        found = getattr(space, name, None)
        if isinstance(found, ControlId):
            return found
    raise KeyError(name)


# --- buffers and requests -----------------------------------------------------------------


class FrameMetadata:
    class Status(enum.Enum):
        Success = 0
        Error = 1
        Cancelled = 2
        Startup = 3

    def __init__(self) -> None:
        self.status = FrameMetadata.Status.Success
        self.sequence = 0
        self.timestamp = 0


class FrameBuffer:
    class Plane:
        def __init__(self) -> None:
            self.fd = -1
            self.offset = 0
            self.length = 0

    def __init__(self, planes: list[FrameBuffer.Plane], cookie: int = 0) -> None:
        self.planes = list(planes)
        self.cookie = cookie
        self.metadata = FrameMetadata()


class Stream:
    """One configured stream; ``configuration`` is its StreamConfiguration."""

    def __init__(self, configuration: StreamConfiguration) -> None:
        self.configuration = configuration


class StreamFormats:
    def __init__(self, sizes_by_format: dict[str, list[tuple[int, int]]]) -> None:
        self._sizes = sizes_by_format

    @property
    def pixel_formats(self) -> list[PixelFormat]:
        return [PixelFormat(name) for name in self._sizes]

    def sizes(self, pixel_format: PixelFormat) -> list[Size]:
        return [Size(*s) for s in self._sizes.get(str(pixel_format), [])]


class StreamConfiguration:
    def __init__(self, role: StreamRole, size: Size, pixel_format: PixelFormat,
                 buffer_count: int, formats: StreamFormats, color_space: ColorSpace | None) -> None:
        self.role = role
        self.size = size
        self.pixel_format = pixel_format
        self.buffer_count = buffer_count
        self.stride = 0
        self.frame_size = 0
        self.formats = formats
        self.color_space = color_space
        self.stream: Stream | None = None

    def __str__(self) -> str:
        return f"{self.size}-{self.pixel_format}"


class SensorConfiguration:
    def __init__(self) -> None:
        self.bit_depth = 0
        self.output_size = Size()
        self.analog_crop = Rectangle()


class CameraConfiguration:
    class Status(enum.Enum):
        Valid = 0
        Adjusted = 1
        Invalid = 2

    def __init__(self, camera: Camera, configs: list[StreamConfiguration]) -> None:
        self._camera = camera
        self._configs = configs
        self.orientation = Orientation.Rotate0
        self.sensor_config: SensorConfiguration | None = None

    def at(self, index: int) -> StreamConfiguration:
        return self._configs[index]

    def __iter__(self):
        return iter(self._configs)

    def __len__(self) -> int:
        return len(self._configs)

    @property
    def size(self) -> int:
        return len(self._configs)

    def validate(self) -> CameraConfiguration.Status:
        return self._camera._pipeline.validate(self)


class Request:
    class Status(enum.Enum):
        Pending = 0
        Complete = 1
        Cancelled = 2

    class ReuseFlag(enum.Enum):
        Default = 0
        ReuseBuffers = 1

    def __init__(self, camera: Camera, cookie: int) -> None:
        self._camera = camera
        self.cookie = cookie
        self.status = Request.Status.Pending
        self.sequence = 0
        self.buffers: dict[Stream, FrameBuffer] = {}
        self.metadata: dict[ControlId, Any] = {}
        self.controls: dict[ControlId, Any] = {}

    def add_buffer(self, stream: Stream, buffer: FrameBuffer) -> None:
        if stream in self.buffers:
            raise RuntimeError("Failed to add buffer")  # Request::addBuffer returns -EEXIST
        self.buffers[stream] = buffer

    def set_control(self, control: ControlId, value: Any) -> None:
        self.controls[control] = value

    def reuse(self, flags: Request.ReuseFlag = ReuseFlag.ReuseBuffers) -> None:
        """Back to Pending with its buffers, as ``Request::reuse(ReuseBuffers)``."""
        self.status = Request.Status.Pending
        self.metadata = {}
        self.controls = {}
        for buffer in self.buffers.values():
            buffer.metadata = FrameMetadata()

    def __repr__(self) -> str:
        return f"<libcamera.Request seq={self.sequence} status={self.status.name}>"


# --- camera and manager -------------------------------------------------------------------


class Camera:
    """A camera the manager lists; its work is done by a pipeline object of ``hal.virtual``."""

    def __init__(self, manager: CameraManager, pipeline: Any) -> None:
        self._manager = manager
        self._pipeline = pipeline

    @property
    def id(self) -> str:
        return self._pipeline.camera_id

    @property
    def properties(self) -> dict[ControlId, Any]:
        return self._pipeline.properties()

    @property
    def controls(self) -> dict[ControlId, ControlInfo]:
        return self._pipeline.control_info()

    def acquire(self) -> None:
        self._pipeline.acquire()


    def generate_configuration(self, roles: list[StreamRole]) -> CameraConfiguration | None:
        return self._pipeline.generate_configuration(self, list(roles))

    def configure(self, config: CameraConfiguration) -> None:
        """Raises on failure, as the binding turns ``Camera::configure``'s error into an
        exception (py_main.cpp)."""
        result = self._pipeline.configure(config)
        if result:
            raise RuntimeError(f"Failed to configure camera: {os.strerror(-result)}")

    def release(self) -> None:
        self._pipeline.release()

    def create_request(self, cookie: int = 0) -> Request:
        return Request(self, cookie)

    def queue_request(self, request: Request) -> None:
        self._pipeline.queue_request(request)

    def start(self, controls: dict[ControlId, Any] | None = None) -> None:
        self._pipeline.start(controls or {})

    def stop(self) -> None:
        self._pipeline.stop()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Camera) and other._pipeline is self._pipeline

    def __hash__(self) -> int:
        return id(self._pipeline)


class CameraManager:
    """The process's camera manager over the installed virtual rig (``hal.virtual.install``).

    Completed requests wait in a list and are announced on ``event_fd``, an eventfd that
    picamera2's camera-manager thread selects on and that ``get_ready_requests`` reads, as
    libcamera ``src/py/libcamera/py_camera_manager.cpp`` does.
    """

    _instance: CameraManager | None = None
    _instance_lock = threading.Lock()
    version = "v0.0.0+virtual"

    def __init__(self, rig: Any) -> None:
        self.rig = rig
        self.event_fd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
        self._ready: list[Request] = []
        self._lock = threading.Lock()
        self._cameras = [Camera(self, pipeline) for pipeline in rig.pipelines()]
        for pipeline in rig.pipelines():
            pipeline.manager = self  # where its completed requests go

    @classmethod
    def singleton(cls) -> CameraManager:
        from hal.virtual import rig as rig_module

        rig = rig_module.installed()
        with cls._instance_lock:
            if cls._instance is None or cls._instance.rig is not rig:
                old, cls._instance = cls._instance, cls(rig)
                if old is not None:  # hal.virtual.install only switches rigs with no camera open
                    os.close(old.event_fd)
            return cls._instance

    @property
    def cameras(self) -> list[Camera]:
        return list(self._cameras)

    def get(self, camera_id: str) -> Camera:
        for camera in self._cameras:
            if camera.id == camera_id:
                return camera
        raise RuntimeError(f"Failed to get camera {camera_id!r}")

    find = get

    def complete(self, request: Request) -> None:
        """Called by the pipeline when a request completes (or is cancelled)."""
        with self._lock:
            self._ready.append(request)
        os.eventfd_write(self.event_fd, 1)

    def get_ready_requests(self) -> list[Request]:
        with self._lock:
            try:
                os.eventfd_read(self.event_fd)
            except BlockingIOError:
                pass
            ready, self._ready = self._ready, []
        return ready
