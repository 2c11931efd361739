"""The one place a camera is chosen (``--camera auto|virtual|picamera2``).

Every choice is the picamera2 backend; what differs is the libcamera under it:

- ``picamera2``: the real libcamera (a Pi with the HQ camera), or :class:`CameraNotFound`;
- ``virtual``: the virtual libcamera of :mod:`hal.virtual` over a simulated rig, on any Linux
  machine (never on top of a real libcamera already loaded);
- ``auto``: the real camera when libcamera lists an IMX477, else the virtual one; the log
  says which and why.

Every consumer still accepts an injected :class:`~hal.camera.Camera` instead.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, get_args

from hal import exc, imx477
from hal.camera import Camera, Controls, PreviewFrame, RawFrame, SensorInfo, SensorMode

log = logging.getLogger(__name__)

CameraChoice = Literal["auto", "virtual", "picamera2"]
CHOICES: tuple[str, ...] = get_args(CameraChoice)


def make_camera(choice: CameraChoice = "auto", *, rig: Any = None) -> Camera:
    """A new, unopened camera. ``rig`` is the simulated rig for ``virtual`` (a new one if
    None); a virtual camera made again over the same rig sees the same lens and light."""
    if choice not in CHOICES:
        raise ValueError(f"camera must be one of {CHOICES}, not {choice!r}")
    if choice == "virtual" or rig is not None:
        return _virtual(rig)
    from hal import picamera2_backend

    if _virtual_loaded():
        if choice == "picamera2":
            raise exc.CameraNotFound("this process runs the virtual libcamera")
        return _virtual(None)
    found = picamera2_backend.detect()
    if found.index is not None:
        log.info("camera: the HQ camera through picamera2 (%s)", ", ".join(found.found))
        return picamera2_backend.Picamera2Camera(found.index)
    if choice == "picamera2" or found.libcamera_loaded:
        # A real camera stack without an HQ camera (a Pi with another sensor, say): say so
        # rather than run the virtual camera on top of the real libcamera.
        raise exc.CameraNotFound(f"picamera2 backend unavailable: {found.reason}")
    log.info("camera: the virtual HQ camera, because %s", found.reason)
    return _virtual(None)


def _virtual_loaded() -> bool:
    import sys

    from hal.virtual import SITE

    module = sys.modules.get("libcamera")
    return module is not None and str(getattr(module, "__file__", "")).startswith(str(SITE))


def _virtual(rig: Any) -> Camera:
    from hal import virtual
    from hal.picamera2_backend import Picamera2Camera

    try:
        rig = virtual.install(rig or (virtual.installed() if _virtual_loaded() else None))
    except virtual.RealLibcameraLoaded as error:
        raise exc.CameraNotFound(str(error)) from error
    return Picamera2Camera(rig=rig)


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

    def capture_still(self, timeout_s: float | None = None, **override: Any) -> RawFrame:
        raise exc.CameraNotRunning(self.reason)
