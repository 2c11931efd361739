"""The one place a camera backend is chosen (``--camera auto|mock|picamera2``).

``auto`` uses picamera2 when it imports and finds a camera, else the mock, and logs which and why.
Every consumer still accepts an injected :class:`~hal.camera.Camera` instead.
"""

from __future__ import annotations

import logging
from typing import Literal, get_args

from hal import exc, imx477
from hal.camera import Camera, Controls, PreviewFrame, RawFrame, SensorInfo, SensorMode

log = logging.getLogger(__name__)

CameraChoice = Literal["auto", "mock", "picamera2"]
CHOICES: tuple[str, ...] = get_args(CameraChoice)


def make_camera(choice: CameraChoice = "auto") -> Camera:
    """A new, unopened camera of the chosen backend."""
    if choice not in CHOICES:
        raise ValueError(f"camera must be one of {CHOICES}, not {choice!r}")
    if choice == "mock":
        return _mock()
    from hal import picamera2_backend

    if choice == "picamera2":
        reason = picamera2_backend.detect()
        if reason:
            raise exc.CameraNotFound(f"picamera2 backend unavailable: {reason}")
        return picamera2_backend.Picamera2Camera()
    reason = picamera2_backend.detect()
    if reason is None:
        log.info("camera: picamera2 (found a camera)")
        return picamera2_backend.Picamera2Camera()
    log.warning("camera: mock IMX477, because picamera2 is unavailable (%s)", reason)
    return _mock()


def _mock() -> Camera:
    from hal.mock.camera import MockCamera

    return MockCamera()


def make_camera_or_placeholder(choice: CameraChoice = "auto") -> Camera:
    """Like :func:`make_camera`, but a camera that cannot be made (no camera on the ribbon,
    picamera2 broken) becomes an :class:`UnavailableCamera`, so the service stays up, says why
    and tries again, rather than the process dying at boot."""
    try:
        return make_camera(choice)
    except exc.CameraError as error:
        log.warning("camera: %s unavailable (%s); will retry", choice, error)
        return UnavailableCamera(choice, str(error))


class UnavailableCamera(Camera):
    """Stands in for a camera that could not be made: describes the HQ camera, and opening it
    raises :class:`~hal.exc.CameraNotFound` with the reason."""

    def __init__(self, backend: str, reason: str) -> None:
        self.backend = backend
        self.reason = reason

    @property
    def sensor(self) -> SensorInfo:
        return imx477.sensor_info()

    def open(self) -> None:
        raise exc.CameraNotFound(self.reason)

    def close(self) -> None:
        pass

    def configure(self, mode: SensorMode, preview_size: tuple[int, int]) -> None:
        raise exc.CameraNotRunning(self.reason)

    def start(self) -> None:
        raise exc.CameraNotRunning(self.reason)

    def stop(self) -> None:
        pass

    def set_controls(self, controls: Controls) -> None:
        raise exc.CameraNotRunning(self.reason)

    @property
    def controls(self) -> Controls:
        return Controls()

    def next_frame(self, timeout_s: float = 2.0) -> PreviewFrame:
        raise exc.CameraNotRunning(self.reason)

    def capture_still(self, timeout_s: float | None = None) -> RawFrame:
        raise exc.CameraNotRunning(self.reason)
