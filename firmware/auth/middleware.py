"""One ASGI middleware guarding every route, present and future, HTTP and WebSocket.

In order, for every request:

1. ``Host`` not on the allow-list -> 400 (DNS rebinding), on every path.
2. ``Origin`` present and not this server -> 403 (cross-site requests, WebSocket hijacking).
3. Public paths pass: the login and setup endpoints, and GET/HEAD of the UI's static files
   (a route that is a :class:`~starlette.staticfiles.StaticFiles` mount, or a UI page path).
4. No valid session cookie -> 401.
5. A state-changing method (anything but GET, HEAD, OPTIONS) without the session's
   ``X-CSRF-Token`` -> 403.

The session is put in ``scope["mrig.session"]`` for the routes. A route added later by
``app.include_router`` is guarded without doing anything: public is an explicit, short list.
Denied WebSocket upgrades get the HTTP status where the server supports the ASGI
``websocket.http.response`` extension, a close (1008) before accept otherwise.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterable

from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.routing import BaseRoute, Match, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from firmware.auth.hosts import same_origin
from firmware.auth.security import Security
from firmware.auth.sessions import COOKIE_NAME, CSRF_HEADER

SCOPE_KEY = "mrig.session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_API = frozenset({"/api/login", "/api/setup", "/api/setup/button", "/api/setup/button/status",
                        "/api/session"})
"""Answer without a session. Logout, password change and everything else need one."""
UI_PAGES = frozenset({
    "/", "/index.html", "/login", "/setup", "/manifest.webmanifest", "/manifest.json",
    "/favicon.ico", "/sw.js", "/service-worker.js", "/robots.txt",
})
"""Paths of the UI shell that may be served by a route rather than a static mount (GET only)."""


class SecurityMiddleware:
    """See the module docstring. ``routes`` returns the app's routes (to find static mounts)."""

    def __init__(self, app: ASGIApp, *, security: Security,
                 routes: Callable[[], Iterable[BaseRoute]]) -> None:
        self.app = app
        self.security = security
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host")
        if len(headers.getlist("host")) != 1 or not self.security.hosts.allows(host):
            await _deny(scope, receive, send, 400, "host not allowed: use the camera's address")
            return
        origin = headers.get("origin")
        if origin is not None and not same_origin(origin, host or "", scope.get("scheme", "")):
            await _deny(scope, receive, send, 403, "cross-site request refused")
            return
        if self._public(scope):
            await self.app(scope, receive, send)
            return
        token = cookie_parser(headers.get("cookie", "")).get(COOKIE_NAME)
        session = self.security.session_for(token)
        if session is None:
            await _deny(scope, receive, send, 401, "not logged in")
            return
        if kind == "http" and scope["method"] not in SAFE_METHODS:
            sent = headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                await _deny(scope, receive, send, 403,
                            f"missing or wrong {CSRF_HEADER} header (log in again)")
                return
        scope[SCOPE_KEY] = session
        await self.app(scope, receive, send)

    def _public(self, scope: Scope) -> bool:
        path: str = scope["path"]
        if scope["type"] != "http":
            return False
        if path in PUBLIC_API:
            return True
        if scope["method"] not in ("GET", "HEAD") or path == "/api" or path.startswith("/api/"):
            return False
        if path in UI_PAGES:
            return True
        for route in self.routes():
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return isinstance(route, Mount) and isinstance(route.app, StaticFiles)
        return False


async def _deny(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"cache-control", b"no-store")]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return
    message = await receive()  # websocket.connect
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": detail[:100]})
