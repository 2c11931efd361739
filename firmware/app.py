"""The web app: wires the routers, the error handler and the camera service's lifetime.

No work happens at import; :func:`create_app` builds everything from settings, and tests pass
their own camera (a :class:`~hal.mock.camera.MockCamera` with a simulated clock, say).
"""

from __future__ import annotations

import contextlib
import logging

from fastapi import APIRouter, FastAPI

from firmware.api import errors
from firmware.api.routes import capture, controls, lenses, live, mock, photos, status, stream
from firmware.api.routes.stream import StreamSlots
from firmware.capture.service import CaptureService
from firmware.config import Settings
from firmware.rig_io import rig_io
from firmware.service import CameraFactory, CameraService
from hal.camera import Camera
from hal.select import make_camera

log = logging.getLogger(__name__)
VERSION = "0.1.0"


def create_app(
    settings: Settings | None = None,
    camera: Camera | CameraFactory | None = None,
    *,
    service_options: dict | None = None,
) -> FastAPI:
    """The ASGI app. ``camera`` overrides ``settings.camera.backend`` (an instance or factory)."""
    settings = settings or Settings()
    if camera is None:
        choice = settings.camera.backend

        def camera() -> Camera:  # a fresh backend object at every (re)open
            return make_camera(choice)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        preview = (settings.camera.preview_width, settings.camera.preview_height)
        with contextlib.ExitStack() as stack:
            service = stack.enter_context(
                CameraService(camera, preview, **(service_options or {}))
            )
            app.state.service = service
            # What the hardware shutter button does; the capture module replaces it with the
            # same action as the phone's Capture button.
            app.state.capture = stack.enter_context(CaptureService.from_settings(settings, service))
            app.state.press_shutter = app.state.capture.press_shutter
            app.state.shutter = stack.enter_context(
                rig_io(settings.gpio, lambda: app.state.press_shutter())
            )
            log.info("serving %s camera", service.camera.backend)
            yield

    app = FastAPI(
        title="mrig",
        version=VERSION,
        summary="Raspberry Pi HQ camera with M-mount lenses, driven from a phone",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.stream_slots = StreamSlots(settings.server.max_streams)
    errors.install(app)
    capture.install_errors(app)

    api = APIRouter(prefix="/api")
    for area in (status, controls, stream, live, mock, capture, lenses, photos):
        api.include_router(area.router)
    app.include_router(api)
    return app
