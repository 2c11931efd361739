"""The one place a camera backend is chosen (``--camera auto|mock|picamera2``).

``auto`` uses picamera2 when it imports and finds a camera, else the mock, and logs which and why.
Every consumer still accepts an injected :class:`~hal.camera.Camera` instead.
"""

from __future__ import annotations

import logging
from typing import Literal

from hal import exc
from hal.camera import Camera

log = logging.getLogger(__name__)

CameraChoice = Literal["auto", "mock", "picamera2"]
CHOICES: tuple[str, ...] = ("auto", "mock", "picamera2")


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
