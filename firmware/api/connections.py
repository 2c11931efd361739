"""Connections nobody can hoard: a per-client cap and a deadline for a request's headers.

uvicorn closes a keep-alive connection that idles after a response, but not one that never
finishes its first request: 1,100 half-sent requests from one address used up the process's
1,024 files and every new connection, the owner's included, timed out. uvicorn offers no
header timeout and no per-client limit (``limit_concurrency`` is global, so one client could
still take it all), so its HTTP/1.1 protocol is extended here, through its documented
``http=`` protocol-class setting:

- a client (an IP address, an IPv6 /64: :func:`firmware.auth.throttle.client_key`) may hold
  :data:`MAX_CONNECTIONS_PER_CLIENT` connections; one more is closed at once (a /64 is one
  client because one device may pick any address in its /64, so counting addresses would not
  stop it); the trusted reverse proxies, which carry everyone's connections, are not capped;
- a connection must complete a request's headers within :data:`HEADER_TIMEOUT_S` of
  connecting, or of its previous response; else it is closed.

A phone needs a handful of connections (the page, the live view's stream and events, the
API calls), so the cap leaves ample room. A WebSocket, once upgraded, no longer counts here.

With HTTPS, uvicorn's own TLS (its ``ssl_*`` settings) would hand a connection to the protocol
only after the TLS handshake, which asyncio waits 60 s for: idle sockets that never say hello
would escape both the cap and the deadline. So :func:`protocol_factory` puts TLS in front
itself, with :class:`GuardedTLSProtocol`: asyncio's TLS protocol (``asyncio.sslproto``, the
one ``loop.create_server(ssl=...)`` uses) counted per client from the moment of connecting and
given :data:`HEADER_TIMEOUT_S` for the handshake.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import ssl
from asyncio import sslproto
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

from firmware.auth.throttle import client_key

log = logging.getLogger(__name__)
MAX_CONNECTIONS_PER_CLIENT = 32
HEADER_TIMEOUT_S = 10.0
#: TLS connections at once for the whole server, from every client: each holds about 80 KiB
#: (its TLS buffers), so the cap bounds them at about 80 MiB, whatever the number of addresses
#: one machine on the network takes.
MAX_TLS_CONNECTIONS = 1024


#: Open connections by client key, for the whole server (one event loop: no lock).
open_by_client: collections.Counter[str] = collections.Counter()
_warned: set[str] = set()


def _admit(transport: asyncio.BaseTransport, uncapped: frozenset[str]) -> str | None:
    """Count a new connection against its client; its key, or None when it is one too many.
    Addresses in ``uncapped`` (the trusted reverse proxies, which carry everyone's
    connections and limit them themselves) are counted but never refused."""
    peer = transport.get_extra_info("peername")
    key = client_key(peer[0] if peer else None)
    open_by_client[key] += 1
    if open_by_client[key] <= MAX_CONNECTIONS_PER_CLIENT or (peer and peer[0] in uncapped):
        return key
    if key not in _warned:  # once until the client has let every connection go
        _warned.add(key)
        log.warning("%s holds %d connections: refusing more", key, MAX_CONNECTIONS_PER_CLIENT)
    _release(key)
    return None


def _release(key: str | None) -> None:
    if key is not None:
        open_by_client[key] -= 1
        if open_by_client[key] <= 0:
            del open_by_client[key]
            _warned.discard(key)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the per-client cap and the header deadline."""

    def __init__(self, *args: Any, uncapped: frozenset[str] = frozenset(),
                 counted: bool = False, **kwargs: Any) -> None:
        """``counted``: the connection is counted already (by :class:`GuardedTLSProtocol`)."""
        super().__init__(*args, **kwargs)
        self.counted = counted
        self._uncapped = uncapped
        self._client_key: str | None = None
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.counted:
            self._client_key = _admit(transport, self._uncapped)
            if self._client_key is None:
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
        _release(key)


class GuardedTLSProtocol(sslproto.SSLProtocol):
    """TLS in front of :class:`GuardedH11Protocol`: the connection counts against its client
    (and :data:`MAX_TLS_CONNECTIONS`) from the TCP accept, the handshake must finish within
    :data:`HEADER_TIMEOUT_S`, and so must the goodbye (asyncio waits 30 s for a client's
    close_notify)."""

    #: asyncio's read buffer per connection is 256 KiB (sslproto.py ``max_size``): 32 KiB
    #: serves the camera's small requests as well and costs an eighth.
    max_size = 32 * 1024
    open_count = 0

    def __init__(self, loop: asyncio.AbstractEventLoop, app_protocol: asyncio.Protocol,
                 context: ssl.SSLContext, uncapped: frozenset[str] = frozenset()) -> None:
        super().__init__(loop, app_protocol, context, None, server_side=True,
                         ssl_handshake_timeout=HEADER_TIMEOUT_S,
                         ssl_shutdown_timeout=HEADER_TIMEOUT_S)
        self._uncapped = uncapped
        self._client_key: str | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if GuardedTLSProtocol.open_count >= MAX_TLS_CONNECTIONS:
            self._client_key = None
        else:
            self._client_key = _admit(transport, self._uncapped)
        if self._client_key is None:
            self._refused = True
            transport.abort()
            return
        GuardedTLSProtocol.open_count += 1
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        key, self._client_key = self._client_key, None
        if self._refused:
            # It never started TLS or its HTTP protocol: nothing to tell them, and its unused
            # app transport is marked closed so that it does not warn when collected.
            if self._app_transport is not None:
                self._app_transport._closed = True
            return
        GuardedTLSProtocol.open_count -= 1
        _release(key)
        super().connection_lost(exc)


def protocol_factory(
    tls: ssl.SSLContext | None, trusted_proxies: tuple[str, ...] = (),
) -> Callable[..., asyncio.Protocol]:
    """What ``uvicorn.Config(http=...)`` takes: a guarded HTTP/1.1 protocol per connection,
    behind guarded TLS when ``tls`` is given (and uvicorn's own ``ssl_*`` left unset).
    ``trusted_proxies`` are not capped (see :func:`_admit`)."""
    uncapped = frozenset(trusted_proxies)

    def make(**uvicorn_kwargs: Any) -> asyncio.Protocol:
        http = GuardedH11Protocol(uncapped=uncapped, counted=tls is not None, **uvicorn_kwargs)
        if tls is None:
            return http
        return GuardedTLSProtocol(asyncio.get_running_loop(), http, tls, uncapped)

    return make
