"""The phone web UI: ``/`` serves the app shell, ``/static/`` its modules, styles and icons.

The files live in ``firmware/web`` (package data, no build step). Every page is served with a
Content-Security-Policy that allows only this origin, so the UI can make no outside request
even by mistake: the camera is often its own Wi-Fi hotspot with no internet.

Two read-only helpers for the UI:

- ``GET /api/ui/kelvin``: for the white-balance dial, the red and blue colour gains that make
  grey neutral at each colour temperature, from the same libcamera tuning the camera uses (the
  API takes manual white balance as ``colour_gains``).
- ``GET /api/ui/storage``: space left on the card for photos (free space minus the reserve the
  camera keeps) and about how many more captures fit, from the size of the latest ones.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from firmware.api.deps import SettingsDep
from firmware.encoder import DIALS
from isp.tuning import default_tuning

#: Where the UI's files are, inside the installed package.
WEB_DIR = Path(str(resources.files("firmware") / "web"))

CSP = "; ".join((
    "default-src 'self'",
    "img-src 'self' blob: data:",
    "media-src 'self' blob:",
    "connect-src 'self'",
    "style-src 'self'",
    "script-src 'self'",
    "manifest-src 'self'",
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
))
SHELL_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
#: Kelvin steps of the white-balance dial.
KELVIN_STEP = 100

router = APIRouter(tags=["web UI"])
shell = APIRouter(include_in_schema=False)


@shell.get("/")
def index() -> FileResponse:
    """The app shell (a single page; the rest is loaded from ``/static``)."""
    return FileResponse(WEB_DIR / "index.html", media_type="text/html", headers=SHELL_HEADERS)


@shell.get("/manifest.webmanifest")
def manifest() -> FileResponse:
    """Served at the root so the installed app's scope is the whole UI."""
    return FileResponse(
        WEB_DIR / "manifest.webmanifest",
        media_type="application/manifest+json",
        headers={"Cache-Control": "no-cache"},
    )


@router.get("/ui/kelvin")
def kelvin_table(settings: SettingsDep) -> dict:
    """Colour gains ``[red, blue]`` for each colour temperature of the white-balance dial."""
    tuning = default_tuning(settings.camera.tuning)
    lo, hi = tuning.ct_range
    first = int(-(-lo // KELVIN_STEP) * KELVIN_STEP)
    rows = []
    for k in range(first, int(hi) + 1, KELVIN_STEP):
        red, blue = tuning.colour_gains(k)
        rows.append({"kelvin": k, "colour_gains": [round(red, 4), round(blue, 4)]})
    # The colour temperatures each white-balance preset searches (the tuning's rpi.awb
    # modes), so the dial can name them: "Tungsten 3000–3500 K".
    modes = tuning.algorithm("rpi.awb").get("modes", {})
    ranges = {name: [int(m["lo"]), int(m["hi"])] for name, m in modes.items()}
    return {"tuning": settings.camera.tuning, "steps": rows, "awb_modes": ranges}


class OpenDial(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dial: str | None = Field(None, max_length=32, description="The dial open on the phone, "
                             "or null; the rig's encoder turns shutter, iso or ev")


@router.put("/ui/dial")
def put_open_dial(body: OpenDial, request: Request) -> dict:
    """Which dial the phone has open: the rig's rotary encoder turns that one (shutter, ISO or
    EV); any other, or none, and it turns EV (automatic modes) or the shutter (manual)."""
    encoder = getattr(request.app.state, "encoder", None)
    if encoder is None:  # the camera is not started yet
        raise HTTPException(503, "the camera is starting")
    encoder.focused = body.dial if body.dial in DIALS else None
    return {"dial": body.dial, "encoder_turns": encoder.target()}


@router.get("/ui/storage")
def storage(request: Request) -> dict:
    """``free_bytes`` for photos (after the reserve), ``photos`` on the card, ``shots_left``
    (the store's one estimate: :meth:`firmware.storage.PhotoStore.usage`)."""
    capture = getattr(request.app.state, "capture", None)
    if capture is None:
        raise HTTPException(404, "this camera has no photo storage")
    store = capture.store
    usage = store.usage()
    return {
        "free_bytes": max(0, usage["free_bytes"] - usage["reserve_bytes"]),
        "photos": store.list(offset=0, limit=1).total,
        "bytes_per_shot": usage["bytes_per_shot"],
        "shots_left": usage["shots_left"],
    }


class _StaticFiles(StaticFiles):
    """Static files that must be revalidated, so an updated camera never serves a stale UI,
    under the shell's own policy: ``/static/index.html`` is the whole UI too, and must not
    be framed or load anything from elsewhere either."""

    def file_response(self, *args, **kwargs):
        response = super().file_response(*args, **kwargs)
        response.headers.update(SHELL_HEADERS)
        return response


def install(app: FastAPI) -> None:
    """Serve the UI: the shell at ``/`` and its files under ``/static``."""
    app.include_router(shell)
    app.mount("/static", _StaticFiles(directory=WEB_DIR), name="static")
