"""Hardware abstraction: the :class:`~hal.camera.Camera` interface, its backends and GPIO."""

from hal.camera import (
    Camera,
    Controls,
    FrameMetadata,
    PreviewFrame,
    RawFrame,
    SensorInfo,
    SensorMode,
)

__all__ = [
    "Camera",
    "Controls",
    "FrameMetadata",
    "PreviewFrame",
    "RawFrame",
    "SensorInfo",
    "SensorMode",
]
