"""Connections nobody can hoard: a per-client cap and a deadline for a request's headers.

uvicorn closes a keep-alive connection that idles after a response, but not one that never
finishes its first request: 1,100 half-sent requests from one address used up the process's
1,024 files and every new connection, the owner's included, timed out. uvicorn offers no
header timeout and no per-client limit (``limit_concurrency`` is global, so one client could
still take it all), so its HTTP/1.1 protocol is extended here, through its documented
``http=`` protocol-class setting:

- a client (an IP address, an IPv6 /64: :func:`firmware.auth.throttle.client_key`) may hold
  :data:`MAX_CONNECTIONS_PER_CLIENT` connections; one more is closed at once;
- a connection must complete a request's headers within :data:`HEADER_TIMEOUT_S` of
  connecting, or of its previous response; else it is closed.

A phone needs a handful of connections (the page, the live view's stream and events, the
API calls), so the cap leaves ample room. A WebSocket, once upgraded, no longer counts here.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from firmware.auth.throttle import client_key

log = logging.getLogger(__name__)
MAX_CONNECTIONS_PER_CLIENT = 32
HEADER_TIMEOUT_S = 10.0


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the per-client cap and the header deadline."""

    #: Open connections by client key, for the whole server (one event loop: no lock).
    open_by_client: collections.Counter[str] = collections.Counter()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._client_key: str | None = None
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        key = client_key(self.client[0] if self.client else None)
        self._client_key = key
        self.open_by_client[key] += 1
        if self.open_by_client[key] > MAX_CONNECTIONS_PER_CLIENT:
            if self.open_by_client[key] == MAX_CONNECTIONS_PER_CLIENT + 1:
                log.warning("%s holds %d connections: refusing more", key,
                            MAX_CONNECTIONS_PER_CLIENT)
            transport.abort()
            return
        self._arm()

    def _arm(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(HEADER_TIMEOUT_S, self._too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _in_request(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _too_slow(self) -> None:
        self._header_deadline = None
        if not self._in_request() and not self.transport.is_closing():
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_request():
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm()  # the next request's headers, on a kept-alive connection

    def handle_websocket_upgrade(self, event: Any) -> None:
        self._disarm()
        self._release()
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._release()
        super().connection_lost(exc)

    def _release(self) -> None:
        key, self._client_key = self._client_key, None
        if key is not None:
            self.open_by_client[key] -= 1
            if self.open_by_client[key] <= 0:
                del self.open_by_client[key]
