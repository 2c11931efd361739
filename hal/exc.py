"""Errors raised at the hardware boundary.

Each specific error also inherits the built-in it resembles, so callers that only know
Python's vocabulary (``TimeoutError``, ``MemoryError``) still catch it. The web layer maps
every :class:`CameraError` to 503 "camera recovering" in one handler.
"""


class HalError(Exception):
    """Root of every error raised by ``hal``."""


class CameraError(HalError):
    """The camera could not do what was asked; the service should recover it."""


class CameraTimeout(CameraError, TimeoutError):
    """A frame or still did not arrive in time (the sensor or its driver hung)."""


class CameraDisconnected(CameraError, ConnectionError):
    """The camera went away (ribbon cable, power, driver reset)."""


class CameraOutOfMemory(CameraError, MemoryError):
    """Buffers for the requested configuration could not be allocated (CMA exhausted)."""


class CameraBusy(CameraError):
    """Another process holds the camera."""


class CameraNotFound(CameraError):
    """No camera of the requested kind is attached or importable."""


class CameraNotRunning(CameraError):
    """A frame was asked for while the camera is closed or stopped."""


class GpioError(HalError):
    """A GPIO device could not be set up (pin in use, no pin factory)."""
