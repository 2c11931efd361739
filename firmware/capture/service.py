"""The capture side of the app: photo storage, lens registry, shot pipeline and drive modes.

:class:`Capturer` is the :class:`~firmware.capture.drive.Shooter` the drive modes use: it takes
raw stills and bursts through the :class:`~firmware.service.CameraService` (with exposure
overrides for bracketing and long exposures) and hands each frame, with the mounted lens, to
the :class:`~firmware.capture.pipeline.ShotPipeline`, which writes its DNG and develops its
JPEG in the background.

:class:`CaptureService` holds the store, the lenses, the pipeline and the
:class:`~firmware.capture.drive.DriveRunner` for the app's lifetime (a context manager: closing
it cancels a running job and drains the pipeline). The shutter button calls
:meth:`CaptureService.press_shutter`, which is the same single capture as the phone's button.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware.capture.drive import DriveRunner, FileFormat, SingleRequest
from firmware.capture.pipeline import Shot, ShotPipeline
from firmware.lenses import LensRegistry
from firmware.storage import PhotoStore
from hal.camera import RawFrame
from hal.clock import Clock, RealClock
from isp.tuning import Tuning, default_tuning

log = logging.getLogger(__name__)
#: How long a graceful stop waits for JPEGs still developing (the rest develop at next start);
#: the systemd unit's TimeoutStopSec leaves room for it.
DRAIN_S = 60.0


class Capturer:
    """Takes stills and bursts for the drive modes and keeps them (implements ``Shooter``).

    ``camera`` is the :class:`~firmware.service.CameraService` (anything with ``controls``,
    ``capture_still``, ``broadcast.latest``, and for bursts ``can_burst`` and
    ``capture_burst``).
    """

    def __init__(self, camera: Any, pipeline: ShotPipeline, lenses: LensRegistry) -> None:
        self.camera = camera
        self.pipeline = pipeline
        self.lenses = lenses

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
        changed meanwhile survives). Setting ``cancel`` aborts the exposure."""
        if exposure_time_us is None and analogue_gain is None:
            return self.camera.capture_still(cancel=cancel)
        metered_us, metered_gain = self.metered_exposure()
        return self.camera.capture_still(
            exposure_time_us=int(exposure_time_us or metered_us),
            analogue_gain=float(analogue_gain or metered_gain),
            cancel=cancel,
        )

    @property
    def can_burst(self) -> bool:
        return bool(getattr(self.camera, "can_burst", False))

    def capture_burst(
        self, count: int, exposures: list[tuple[int, float]] | None, cancel: threading.Event,
        on_frame: Callable[[RawFrame], None],
    ) -> int:
        return self.camera.capture_burst(count, on_frame, exposures=exposures, cancel=cancel)

    def keep(self, raw: RawFrame, file_format: FileFormat, *, wait_for_room: bool,
             cancel: threading.Event) -> Shot:
        return self.pipeline.submit(raw, file_format, self.lenses.lens_tags(),
                                    wait_for_room=wait_for_room, cancel=cancel)


class CaptureService:
    """Store, lenses, pipeline and drive runner for the app's lifetime.

    ``developer`` makes JPEGs from DNGs (default: a
    :class:`~firmware.capture.developer.DevelopProcess`, started on the first JPEG).
    """

    def __init__(
        self,
        camera: Any,
        store: PhotoStore,
        lenses: LensRegistry,
        *,
        tuning: Tuning | None = None,
        clock: Clock | None = None,
        developer: Any = None,
        buffer_frames: int | None = None,
        tuning_target: str = "vc4",
    ) -> None:
        from firmware.capture.develop import DevelopOptions
        from firmware.capture.developer import DevelopProcess

        self.store = store
        self.lenses = lenses
        tuning = tuning or default_tuning(tuning_target)
        if developer is None:
            # The develop process loads the same tuning: the default one by its target, any
            # other by its absolute path (the process may not share our working folder).
            custom = None if tuning is default_tuning(tuning_target) else Path(tuning.path).resolve()
            developer = DevelopProcess(DevelopOptions(tuning=custom, tuning_target=tuning_target))
        self.pipeline = ShotPipeline(store, tuning, developer, buffer_frames=buffer_frames)
        self.capturer = Capturer(camera, self.pipeline, lenses)
        self.drive = DriveRunner(self.capturer, clock=clock or RealClock())

    @classmethod
    def from_settings(cls, settings: Any, camera: Any, **kwargs: Any) -> CaptureService:
        """Photos in ``<data_dir>/photos``, lenses in ``<data_dir>/lenses.json``, the tuning
        chosen by ``camera.tuning``."""
        kwargs.setdefault("tuning_target", settings.camera.tuning)
        kwargs.setdefault("buffer_frames", settings.storage.buffer_frames or None)
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

    def close(self, drain_s: float = DRAIN_S) -> None:
        """Cancel a running drive mode, write every buffered raw, develop what fits in
        ``drain_s``; the rest stays spooled and develops at the next start."""
        self.drive.close()
        self.pipeline.close(drain_s)
        self.store.close()

    def press_shutter(self) -> list[str]:
        """The hardware shutter button: one still, both formats, like the phone's button."""
        job = self.drive.run(SingleRequest(format="both"), raise_errors=True)
        log.info("shutter button: saved %s", ", ".join(job.files))
        return job.files
