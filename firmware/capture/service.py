"""The capture side of the app: photo storage, lens registry and drive modes around the camera.

:class:`Capturer` is the :class:`~firmware.capture.drive.Shooter` the drive modes use: it takes
a raw still through the :class:`~firmware.service.CameraService` (with exposure overrides for
bracketing and long exposures), develops the JPEG with :func:`isp.develop`, writes the DNG,
adds EXIF with the mounted lens, and saves everything atomically in the
:class:`~firmware.storage.PhotoStore`.

:class:`CaptureService` holds the store, the lenses, the capturer and the
:class:`~firmware.capture.drive.DriveRunner` for the app's lifetime (a context manager: closing
it cancels a running job). The shutter button calls :meth:`CaptureService.press_shutter`,
which is the same single capture as the phone's Capture button.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import simplejpeg

from firmware.capture.dng import encode_dng
from firmware.capture.drive import DriveRunner, FileFormat, SingleRequest
from firmware.capture.exif import exif_app1, insert_app1
from firmware.capture.shot import ShotInfo
from firmware.lenses import LensRegistry
from firmware.storage import PhotoStore
from hal.camera import RawFrame
from hal.clock import Clock, RealClock
from isp.tuning import Tuning, default_tuning

log = logging.getLogger(__name__)
Developer = Callable[[RawFrame, Tuning], np.ndarray]
JPEG_QUALITY = 92


def isp_develop(raw: RawFrame, tuning: Tuning) -> np.ndarray:
    """The JPEG's image: :func:`isp.develop` with the frame's white balance."""
    from isp.render import develop

    return develop(raw, tuning=tuning)


class Capturer:
    """Takes, develops and saves stills for the drive modes (implements ``Shooter``).

    ``camera`` is the :class:`~firmware.service.CameraService` (anything with ``controls``,
    ``set_controls``, ``capture_still`` and ``broadcast.latest``). ``develop`` turns a raw
    frame into the JPEG's uint8 RGB; tests may pass a cheaper one.
    """

    def __init__(
        self,
        camera: Any,
        store: PhotoStore,
        lenses: LensRegistry,
        tuning: Tuning,
        *,
        develop: Developer = isp_develop,
        now: Callable[[], dt.datetime] = dt.datetime.now,
        jpeg_quality: int = JPEG_QUALITY,
    ) -> None:
        self.camera = camera
        self.store = store
        self.lenses = lenses
        self.tuning = tuning
        self.develop = develop
        self._now = now
        self.jpeg_quality = jpeg_quality
        self._lock = threading.Lock()

    def metered_exposure(self) -> tuple[int, float]:
        """Exposure time and gain of the latest live-view frame (what auto exposure chose), or
        the controls' manual values before the first frame."""
        latest = self.camera.broadcast.latest
        if latest is not None:
            m = latest.frame.metadata
            return int(m.exposure_time_us), float(m.analogue_gain)
        c = self.camera.controls
        return int(c.exposure_time_us), float(c.analogue_gain)

    def capture_raw(
        self, exposure_time_us: int | None, analogue_gain: float | None, cancel: threading.Event
    ) -> RawFrame:
        """One full-resolution still; an override turns auto exposure off for this frame only
        (the camera applies it to the still and never to the user's controls, so a control
        changed meanwhile survives). ``cancel`` is not acted on here: a cancelled frame is
        discarded by the runner."""
        if exposure_time_us is None and analogue_gain is None:
            return self.camera.capture_still()
        metered_us, metered_gain = self.metered_exposure()
        return self.camera.capture_still(
            exposure_time_us=int(exposure_time_us or metered_us),
            analogue_gain=float(analogue_gain or metered_gain),
        )

    def encode(self, raw: RawFrame, file_format: FileFormat) -> tuple[dict[str, bytes], ShotInfo]:
        """The files for a still: ``{"dng": …, "jpg": …}`` as asked, and the shot's info."""
        shot = ShotInfo(raw.metadata, self._now(), self.lenses.lens_tags())
        parts: dict[str, bytes] = {}
        rgb = None
        if file_format in ("jpeg", "both"):
            rgb = self.develop(raw, self.tuning)
            jpeg = simplejpeg.encode_jpeg(
                np.ascontiguousarray(rgb), quality=self.jpeg_quality, colorspace="RGB"
            )
            parts["jpg"] = insert_app1(jpeg, exif_app1(shot, rgb))
        if file_format in ("dng", "both"):
            parts["dng"] = encode_dng(raw, shot, self.tuning, preview_rgb=rgb)
        return parts, shot

    def save(self, raw: RawFrame, file_format: FileFormat) -> list[str]:
        parts, shot = self.encode(raw, file_format)
        return self.store.save(parts, shot.as_dict())


class CaptureService:
    """Store, lenses, capturer and drive runner for the app's lifetime."""

    def __init__(
        self,
        camera: Any,
        store: PhotoStore,
        lenses: LensRegistry,
        *,
        tuning: Tuning | None = None,
        clock: Clock | None = None,
        develop: Developer = isp_develop,
    ) -> None:
        self.store = store
        self.lenses = lenses
        self.capturer = Capturer(camera, store, lenses, tuning or default_tuning(), develop=develop)
        self.drive = DriveRunner(self.capturer, clock=clock or RealClock())

    @classmethod
    def from_settings(cls, settings: Any, camera: Any, **kwargs: Any) -> CaptureService:
        """Photos in ``<data_dir>/photos``, lenses in ``<data_dir>/lenses.json``, the tuning
        chosen by ``camera.tuning``."""
        kwargs.setdefault("tuning", default_tuning(settings.camera.tuning))
        return cls(
            camera,
            PhotoStore.from_settings(settings),
            LensRegistry.from_settings(settings),
            **kwargs,
        )

    def __enter__(self) -> CaptureService:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.drive.close()

    def press_shutter(self) -> list[str]:
        """The hardware shutter button: one still, both formats, like the phone's button."""
        job = self.drive.run(SingleRequest(format="both"), raise_errors=True)
        log.info("shutter button: saved %s", ", ".join(job.files))
        return job.files
