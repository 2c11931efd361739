"""The live view as multipart MJPEG: one encode per frame, whatever the number of viewers."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from firmware.api.deps import SecurityDep, ServiceDep, SessionDep, StreamSlotsDep

router = APIRouter(tags=["live view"])
BOUNDARY = "mrigframe"


class StreamSlots:
    """A cap on concurrent streams, so viewers cannot exhaust the Pi."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0
        self._lock = threading.Lock()

    def acquire(self) -> bool:
        with self._lock:
            if self.active >= self.limit:
                return False
            self.active += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.active -= 1

    def release_once(self) -> Callable[[], None]:
        """A function giving back one acquired slot, however many times it is called."""
        done = threading.Event()

        def release() -> None:
            with self._lock:
                if not done.is_set():
                    done.set()
                    self.active -= 1

        return release


@router.get(
    "/stream.mjpg",
    response_class=StreamingResponse,
    responses={200: {"content": {f"multipart/x-mixed-replace; boundary={BOUNDARY}": {}}}},
)
async def stream(service: ServiceDep, slots: StreamSlotsDep, session: SessionDep,
                 security: SecurityDep) -> StreamingResponse:
    """Live view; ends when the camera faults so the client reconnects once it is back, and
    when its session ends (logged out from another device, a password change)."""
    service.require_healthy()
    if not slots.acquire():
        raise HTTPException(503, f"too many live views (at most {slots.limit}); close one")
    release = slots.release_once()

    async def frames():
        try:
            sequence = -1
            while True:
                # A fault sets the state, then wakes the waiters: one that was encoding or
                # sending then sees the state here, or the wake-up count below.
                wakes = service.broadcast.wakes
                if not service.healthy or not security.sessions.alive(session):
                    return
                live = await service.broadcast.next_after(sequence, timeout_s=5.0, wakes=wakes)
                if live is None:
                    continue
                sequence = live.sequence
                jpeg = await run_in_threadpool(live.jpeg)
                yield (
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                    f"Content-Length: {len(jpeg)}\r\nX-Frame-Sequence: {sequence}\r\n\r\n"
                ).encode() + jpeg + b"\r\n"
        finally:
            release()

    body = frames()
    # A generator that never started (client gone before the first chunk) skips its finally.
    weakref.finalize(body, release)
    return StreamingResponse(
        body,
        media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        headers={"Cache-Control": "no-store"},
    )


@router.get("/snapshot.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}})
async def snapshot(service: ServiceDep) -> Response:
    """The latest live-view frame as one JPEG."""
    service.require_healthy()
    live = await service.broadcast.next_after(-1, timeout_s=5.0)
    if live is None:
        raise HTTPException(503, "camera recovering: no frame yet")
    jpeg = await run_in_threadpool(live.jpeg)
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
