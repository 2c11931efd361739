"""The Host allow-list against DNS rebinding, and the same-origin test for ``Origin``.

A web page on ``evil.example`` can point its own name at the camera's address (DNS rebinding)
and talk to the camera as same-origin; its requests then carry ``Host: evil.example``. So only
names the camera is really reached by are accepted: IP literals (IPv4, and IPv6 in brackets,
with or without a port or zone), ``localhost``, ``<hostname>.local`` and the configured names.
Starlette's ``TrustedHostMiddleware`` splits ``[::1]:8000`` at the first colon, so this is parsed
here (RFC 9110 §7.2 and RFC 3986 §3.2.2 host syntax; RFC 6874 for ``%25`` zones).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def split_host(value: str) -> tuple[str, int | None] | None:
    """``(host, port)`` of a Host header value, the host lower-cased (IPv6 without brackets);
    None when it is not a valid ``host[:port]``."""
    if not value or len(value) > 300 or any(c.isspace() or c in "/\\@?#," for c in value):
        return None
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1:]
        if not _is_ipv6(host):
            return None
    else:
        host, sep, port_text = value.partition(":")
        rest = sep + port_text
        if ":" in port_text:  # an unbracketed IPv6 literal is not a valid Host
            return None
    if rest == "":
        return host.lower(), None
    if not (rest.startswith(":") and rest[1:].isdigit() and rest[1:].isascii()):
        return None
    port = int(rest[1:])
    if not 0 < port < 65536:
        return None
    return host.lower(), port


def _is_ipv6(text: str) -> bool:
    address = text.replace("%25", "%", 1)
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return True


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


class HostAllowList:
    """Which ``Host`` values the camera answers to. ``names`` are the configured host names."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(n.lower().rstrip(".") for n in names if n)

    @classmethod
    def for_server(cls, hostname: str, allowed_hosts: Iterable[str] = ()) -> HostAllowList:
        """localhost, ``<hostname>.local`` (the configured and the machine's), and ``allowed_hosts``."""
        names = {"localhost", f"{hostname}.local", *allowed_hosts}
        machine = socket.gethostname().split(".", 1)[0]
        if machine:
            names.add(f"{machine}.local")
        return cls(names)

    def allows(self, host_header: str | None) -> bool:
        parsed = split_host(host_header or "")
        if parsed is None:
            return False
        host, _ = parsed
        if _is_ipv6(host) or _is_ipv4(host):
            return True
        name = host[:-1] if host.endswith(".") else host
        return name in self.names


def same_origin(origin: str, host_header: str, scheme: str) -> bool:
    """Whether the ``Origin`` header names the server the request was sent to (scheme, host and
    port, RFC 6454). ``null`` and anything unparsable are foreign."""
    scheme_part, sep, authority = origin.partition("://")
    if not sep or scheme_part.lower() not in DEFAULT_PORTS:
        return False
    theirs = split_host(authority)
    ours = split_host(host_header)
    if theirs is None or ours is None:
        return False
    request_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    if scheme_part.lower() != request_scheme:
        return False
    default = DEFAULT_PORTS[request_scheme]
    return (theirs[0], theirs[1] or default) == (ours[0], ours[1] or default)
