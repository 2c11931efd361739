"""Live-view figures (histograms, clipping, ETTR, focus), their push channel, and magnify.

``GET /api/live`` and the server-sent events of ``GET /api/live/events`` carry the same JSON,
serialised once per analysed frame whatever the number of readers. See
``firmware/live/README.md`` for the fields and what the browser draws from them.
"""

from __future__ import annotations

import json
import weakref
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import Response, StreamingResponse

from firmware.api.deps import SecurityDep, ServiceDep, SessionDep
from firmware.live.analyzer import TooManyEventStreams
from firmware.live.magnify import magnify_crop, magnify_state
from firmware.live.schema import (
    LiveBody,
    LiveOptions,
    LiveOptionsPatch,
    MagnifyRequest,
    MagnifyState,
)

router = APIRouter(tags=["live view"])

WAIT_S = 5.0
"""How long a request waits for an analysed frame before answering 503."""
KEEPALIVE_S = 15.0
"""An events stream sends a comment line after this long without a frame (proxies, phones)."""
HEALTH_CHECK_S = 1.0
"""Longest an events stream goes without checking the camera (a fault also wakes it at once)."""
RETRY_MS = 2000
"""The reconnection delay an ``EventSource`` is told to use."""

IncludeMap = Annotated[
    bool, Query(alias="map", description="Include the raw exposure map (about 12 kB)")
]


@router.get("/live", response_model=LiveBody)
async def get_live(
    service: ServiceDep,
    include_map: IncludeMap = True,
    after: Annotated[
        int | None, Query(ge=-1, description="Wait for a frame with a higher sequence")
    ] = None,
) -> Response:
    """The analysis of the newest frame. Polling keeps the analysis running; with ``after``
    the answer waits (up to 5 s) for a frame newer than that sequence."""
    service.require_healthy()
    live = service.live
    was_active = live.touch()
    snapshot = live.latest
    if after is not None:
        snapshot = await live.next_after(after, WAIT_S)
    elif snapshot is None or not was_active:  # idle until now: analyse a current frame
        snapshot = await live.next_after(snapshot.sequence if snapshot else -1, WAIT_S)
    if snapshot is None:
        service.require_healthy()
        raise HTTPException(503, f"no analysed frame within {WAIT_S:g} s", {"Retry-After": "1"})
    return Response(
        snapshot.json(include_map=include_map),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/live/events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def live_events(service: ServiceDep, session: SessionDep, security: SecurityDep,
                      include_map: IncludeMap = True) -> StreamingResponse:
    """Server-sent events: ``event: live`` with the ``GET /api/live`` JSON for every analysed
    frame (frames are dropped for a slow reader). When the camera faults the stream sends
    ``event: end`` with the camera's state and closes; reconnect once ``/api/status`` says
    ``running``."""
    service.require_healthy()
    live = service.live
    try:
        release = live.open_event_stream()
    except TooManyEventStreams as e:
        raise HTTPException(503, str(e)) from e

    async def events():
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            sequence = -1
            quiet_s = 0.0
            while service.healthy:
                if not security.sessions.alive(session):
                    return  # logged out meanwhile: no more figures for this client
                snapshot = await live.next_after(sequence, HEALTH_CHECK_S)
                if snapshot is None:
                    quiet_s += HEALTH_CHECK_S
                    if quiet_s >= KEEPALIVE_S:
                        quiet_s = 0.0
                        yield b": keep-alive\n\n"
                    continue
                quiet_s = 0.0
                sequence = snapshot.sequence
                yield (
                    b"id: %d\nevent: live\ndata: " % sequence
                    + snapshot.json(include_map=include_map)
                    + b"\n\n"
                )
            state = {k: service.status[k] for k in ("state", "reason")}
            yield f"event: end\ndata: {json.dumps(state)}\n\n".encode()
        finally:
            release()

    body = events()
    # A generator that never started (client gone before the first chunk) skips its finally.
    weakref.finalize(body, release)
    return StreamingResponse(
        body,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get("/live/options")
def get_live_options(service: ServiceDep) -> LiveOptions:
    return LiveOptions.of(service.live.options)


@router.patch("/live/options")
def patch_live_options(patch: LiveOptionsPatch, service: ServiceDep) -> LiveOptions:
    """Move the focus-meter patch or change the ETTR highlight allowance; applies from the
    next analysed frame."""
    live = service.live
    return LiveOptions.of(live.set_options(patch.apply_to(live.options)))


def _magnify_state(service) -> MagnifyState:
    field = service.sensor_mode.crop
    crop = service.controls.scaler_crop
    factor, x, y = magnify_state(field, crop)
    return MagnifyState(factor=factor, x=x, y=y, scaler_crop=crop, field=field,
                        sensor_mode=service.sensor_mode.name)


@router.get("/magnify")
def get_magnify(service: ServiceDep) -> MagnifyState:
    return _magnify_state(service)


@router.put("/magnify")
def put_magnify(request: MagnifyRequest, service: ServiceDep) -> MagnifyState:
    """Punch in 2×, 5× or 10× around a point of the frame (the sensor's own pixels, through
    ``ScalerCrop``), or 1× for the whole field; applies from the next frame or two."""
    service.require_healthy()
    crop = magnify_crop(service.sensor_mode.crop, request.factor, request.x, request.y)
    # Exposure and white balance stay as metered on the whole frame while punched in (held
    # before the crop reaches a frame): the photo taken at 5x matches the scene.
    service.set_hold("magnify", exposure=crop is not None, white_balance=crop is not None)
    service.set_magnified(crop is not None)
    service.set_controls(service.controls.replace(scaler_crop=crop))
    return _magnify_state(service)


@router.delete("/magnify")
def delete_magnify(service: ServiceDep) -> MagnifyState:
    """Back to the whole field."""
    service.require_healthy()
    service.unmagnify()
    return _magnify_state(service)
