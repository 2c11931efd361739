"""Errors raised at the hardware boundary.

Each specific error also inherits the built-in it resembles, so callers that only know
Python's vocabulary (``TimeoutError``, ``MemoryError``) still catch it. The web layer maps
every :class:`CameraError` to 503 "camera recovering" in one handler.
"""


class HalError(Exception):
    """Root of every error raised by ``hal``."""


class CameraError(HalError):
    """The camera could not do what was asked; the service should recover it."""

    #: What happened, in a photographer's words (the API's 503 says this, then the detail).
    summary = "camera error"


class CameraTimeout(CameraError, TimeoutError):
    """A frame or still did not arrive in time (the sensor or its driver hung)."""

    summary = "camera timed out"


class CameraDisconnected(CameraError, ConnectionError):
    """The camera went away (ribbon cable, power, driver reset)."""

    summary = "camera disconnected"


class CameraOutOfMemory(CameraError, MemoryError):
    """Buffers for the requested configuration could not be allocated (CMA exhausted)."""

    summary = "not enough memory for the camera"


class CameraBusy(CameraError):
    """Another process holds the camera."""

    summary = "camera in use by another program"


class CameraNotFound(CameraError):
    """No camera of the requested kind is attached or importable."""

    summary = "no camera found"


class CameraNotRunning(CameraError):
    """A frame was asked for while the camera is closed or stopped."""

    summary = "camera not running"


class StillCancelled(HalError):
    """The photographer cancelled a still while it was being exposed: the frame is discarded
    and the live view runs again (not a fault)."""


class GpioError(HalError):
    """A GPIO device could not be set up (pin in use, no pin factory)."""
