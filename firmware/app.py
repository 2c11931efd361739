"""The web app: wires the routers, the error handler and the camera service's lifetime.

No work happens at import; :func:`create_app` builds everything from settings, and tests pass
their own camera (the virtual camera on a simulated clock, say).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI

from firmware import sdnotify
from firmware.api import errors
from firmware.api.deps import get_session
from firmware.api.limits import BodyLimitMiddleware
from firmware.api.routes import auth as auth_routes
from firmware.api.routes import (
    capture,
    controls,
    docs,
    lenses,
    live,
    mock,
    photos,
    status,
    stream,
    ui,
)
from firmware.api.routes.mock import mount_on_mock
from firmware.api.routes.stream import StreamSlots
from firmware.auth.hosts import HostAllowList
from firmware.auth.middleware import SecurityMiddleware
from firmware.auth.security import Security
from firmware.capture.service import CaptureService
from firmware.config import Settings
from firmware.encoder import EncoderDial
from firmware.rig_io import rig_io
from firmware.service import CameraFactory, CameraService
from firmware.spot_metering import SpotMetering
from firmware.watchdog import Watchdog
from hal.camera import Camera
from hal.health import SysfsHealth
from hal.select import make_camera, make_camera_or_placeholder
from hal.ups import open_ups

log = logging.getLogger(__name__)
VERSION = "0.1.0"


def create_app(
    settings: Settings | None = None,
    camera: Camera | CameraFactory | None = None,
    *,
    service_options: dict | None = None,
    security: Security | None = None,
) -> FastAPI:
    """The ASGI app. ``camera`` overrides ``settings.camera.backend`` (an instance or factory);
    ``security`` replaces the one made from settings (password in ``<data_dir>/auth``)."""
    settings = settings or Settings()
    if security is None:
        security = Security(
            Path(settings.storage.data_dir) / "auth",
            HostAllowList.for_server(settings.server.hostname, settings.server.allowed_hosts),
        )
    if camera is None:
        camera = _camera_source(settings.camera.backend)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        preview = (settings.camera.preview_width, settings.camera.preview_height)
        with contextlib.ExitStack() as stack:
            service = stack.enter_context(
                CameraService(
                    camera, preview, zero_shutter_lag=settings.camera.zero_shutter_lag,
                    **(service_options or {}),
                )
            )
            app.state.service = service
            stack.callback(security.sessions.save)  # their idle times, for the next start
            # What the hardware shutter button does; the capture module replaces it with the
            # same action as the phone's Capture button.
            app.state.capture = stack.enter_context(CaptureService.from_settings(settings, service))
            app.state.capture.lenses.on_mount(lambda lens: mount_on_mock(service.camera, lens))
            app.state.press_shutter = app.state.capture.press_shutter
            app.state.shutter = stack.enter_context(
                rig_io(settings.gpio, lambda: app.state.press_shutter())
            )
            _wire_setup_button(app.state.shutter, security)
            stack.enter_context(SpotMetering(service))  # spot metering at the tapped point
            # The rig's rotary encoder turns the dial the phone has open.
            app.state.encoder = EncoderDial(service)
            dial = getattr(getattr(app.state.shutter, "io", None), "dial", None)
            if dial is not None:
                dial.when_turned = app.state.encoder.turn
            log.info("serving %s camera", service.camera.backend)
            async with _systemd(app, service, security):
                yield

    app = FastAPI(
        title="mrig",
        version=VERSION,
        summary="Raspberry Pi HQ camera with M-mount lenses, driven from a phone",
        lifespan=lifespan,
        docs_url=None,  # served from the camera's own files: firmware/api/routes/docs.py
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.security = security
    app.state.stream_slots = StreamSlots(settings.server.max_streams)
    # The Pi's power and heat (the virtual rig has its own).
    power = settings.power
    app.state.health = SysfsHealth(battery=open_ups(power.ups, power.ups_i2c_address,
                                                    power.ups_cells, power.ups_i2c_bus))
    errors.install(app)

    # Bodies are bounded (413 unread), inside the Host/Origin/session/CSRF guard that every
    # route, present and future, sits behind: so a client without a session gets its 401
    # before a byte of its body is read, and only the public routes' small limit applies to
    # it. The API router checks the session again, and documents the guard's answers.
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(SecurityMiddleware, security=security, routes=lambda: app.router.routes)
    app.include_router(auth_routes.router, prefix="/api")
    api = APIRouter(prefix="/api", dependencies=[Depends(get_session)], responses=GUARD_ANSWERS)
    for area in (status, controls, stream, live, mock, capture, lenses, photos, ui):
        api.include_router(area.router)
    app.include_router(api)
    docs.install(app)  # before the UI's /static mount, which would take /static/docs
    ui.install(app)
    return app


GUARD_ANSWERS: dict = {
    400: {"description": "Host not allowed (DNS rebinding defence)"},
    401: {"description": "Not logged in"},
    403: {"description": "Cross-site request, or missing X-CSRF-Token"},
    503: {"description": "Camera recovering (the reason is in the detail)"},
}


def _wire_setup_button(shutter: object, security: Security) -> None:
    """Let a 3-second hold of the GPIO shutter button confirm first-time setup."""
    button = getattr(getattr(shutter, "io", None), "shutter", None)
    if button is not None:
        button.when_held = security.button.attach()


#: How long READY=1 waits for the camera's first frame; without one by then the service is
#: ready anyway (the page says why the camera is not there) rather than failing to start.
CAMERA_READY_S = 30.0


@contextlib.asynccontextmanager
async def _systemd(app: FastAPI, service: CameraService, security: Security):
    """The setup code once the socket listens, ``READY=1`` once the camera streams too (see
    :func:`_announce`), ``WATCHDOG=1`` pings while it is healthy (see
    :mod:`firmware.watchdog`), ``STOPPING=1`` on the way out."""
    period = sdnotify.watchdog_period_s()
    task = asyncio.create_task(_announce(app, service, security, period))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sdnotify.notify("STOPPING=1")


async def _announce(app: FastAPI, service: CameraService, security: Security,
                    period: float | None) -> None:
    """Once uvicorn's socket listens (``app.state.server.started``; the lifespan runs before
    it binds): the setup code, if no password is set, so that it is the last thing the start
    prints; READY=1 when the camera has sent a frame too, or after :data:`CAMERA_READY_S`;
    then the watchdog's pings."""
    server = getattr(app.state, "server", None)
    while server is not None and not server.started:
        await asyncio.sleep(0.05)
    security.announce_setup(_address(app.state.settings.server))
    deadline = asyncio.get_running_loop().time() + CAMERA_READY_S
    while not (service.healthy and service.frames > 0):
        if asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.05)
    sdnotify.notify(f"READY=1\nSTATUS=serving, camera {service.status['state']}")
    if period:
        await Watchdog(service, period).run()


def _address(server) -> str:
    """Where a person opens the UI: this machine when serving only on loopback; else the
    camera's mDNS name on the Pi (the installer names it after the Pi), or this machine's
    network address where it goes by another name (``make run HOST=0.0.0.0`` on a laptop)."""
    loopback = server.host in ("127.0.0.1", "localhost", "::1")
    if loopback:
        host = server.host
    elif socket.gethostname().split(".")[0] == server.hostname:
        host = f"{server.hostname}.local"
    else:
        host = _network_address() or f"{server.hostname}.local"
    host = f"[{host}]" if ":" in host else host
    return f"{server.scheme}://{host}:{server.port}/"


def _network_address() -> str | None:
    """This machine's address on its network: the one the kernel would send from (a UDP
    "connect" picks a route and sends nothing); None without a network."""
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737): never answered, never sent to
        address = s.getsockname()[0]
        return None if address.startswith("127.") or address == "0.0.0.0" else address  # noqa: S104
    return None


def _camera_source(choice: str) -> Camera | CameraFactory:
    """A fresh backend object at every (re)open; a virtual camera's rig (its lens rings and
    light) is kept across reopens, as a real rig would be."""
    first = make_camera_or_placeholder(choice)
    rig = getattr(first, "rig", None)
    objects = iter([first])

    def camera() -> Camera:
        again = next(objects, None)
        if again is not None:
            return again
        if rig is not None:
            return make_camera("virtual", rig=rig)
        return make_camera_or_placeholder(choice)

    return camera
