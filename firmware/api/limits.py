"""Request bodies of bounded size, before anything reads them.

Every request the camera takes is small JSON (a password, a control, a drive mode, a lens):
nothing is uploaded. So a body is read whole here, up to a limit, and handed on; a larger one
is answered 413 at once, by its Content-Length when it states one, else as soon as it grows
past the limit, and never reaches the app. The routes anyone may call before logging in get a
smaller limit still. Without this a 16 MiB body to ``/api/login`` was read whole and echoed in
the 422 (two at once: +818 MiB).

uvicorn bounds the headers (``h11_max_incomplete_event_size``) but not the body, and Starlette
has no body limit, so this is a small ASGI middleware of our own.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from firmware.auth.middleware import PUBLIC_API

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

#: Any route: the largest body the UI sends (a lens with its notes) is under 2 KiB.
BODY_LIMIT_BYTES = 64 * 1024
#: The routes open before login: a password (1024 characters of up to 6 bytes each as JSON
#: escapes) and a setup code.
PUBLIC_BODY_LIMIT_BYTES = 8 * 1024
#: How long a body may take to arrive, all of it: past this a slow sender is answered 408
#: (its connection's header deadline no longer applies once the headers are in).
BODY_TIMEOUT_S = 10.0
#: Requests whose bodies nobody reads: passed on as they are.
NO_BODY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyLimitMiddleware:
    def __init__(self, app: Callable[..., Awaitable[None]], *,
                 limit_bytes: int = BODY_LIMIT_BYTES,
                 public_limit_bytes: int = PUBLIC_BODY_LIMIT_BYTES) -> None:
        self.app = app
        self.limit_bytes = limit_bytes
        self.public_limit_bytes = public_limit_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in NO_BODY_METHODS:
            await self.app(scope, receive, send)
            return
        limit = (self.public_limit_bytes if scope.get("path") in PUBLIC_API
                 else self.limit_bytes)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _too_large(send, limit)
            return
        body = bytearray()
        deadline = asyncio.get_running_loop().time() + BODY_TIMEOUT_S
        while True:
            try:
                message = await asyncio.wait_for(
                    receive(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except TimeoutError:
                await _answer(send, 408, f"request body too slow: all of it within "
                                         f"{BODY_TIMEOUT_S:.0f} s")
                return
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await _too_large(send, limit)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # after the body: the disconnect, when it comes

        await self.app(scope, replay, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Send, limit: int) -> None:
    await _answer(send, 413, f"request too large: at most {limit} bytes")


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
