"""Tell systemd how the service is doing: the ``sd_notify`` datagram protocol, in the standard library.

``mrig.service`` is ``Type=notify`` with ``WatchdogSec=``, so systemd waits for ``READY=1``
before it counts the service as started, and restarts it when ``WATCHDOG=1`` pings stop.
systemd passes the socket in ``$NOTIFY_SOCKET``: a filesystem path, or ``@name`` for a socket in
the abstract namespace. Outside systemd the variable is absent and every call here does nothing,
so ``mrig serve`` behaves the same from a terminal.

Reference: systemd's ``sd_notify(3)`` manual (message format and socket address rules).

Example, in the server's lifespan::

    sdnotify.notify("READY=1")
    sdnotify.notify("STATUS=camera open, serving on :8000")
    sdnotify.notify("WATCHDOG=1")      # every watchdog_period_s() seconds
"""

from __future__ import annotations

import os
import socket


def _address(env: str) -> str | None:
    if env.startswith("@"):
        return "\0" + env[1:]
    if env.startswith("/"):
        return env
    return None  # "vsock:..." and other transports are for VMs, not for a Pi service


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``"READY=1"``, ``"WATCHDOG=1"``, ``"STATUS=..."``) to systemd.

    Several assignments may be sent at once, separated by newlines. Returns True when the
    message was sent, False when there is no systemd socket (not started by systemd) or systemd
    is not listening on it; the service keeps running either way.
    """
    address = _address(os.environ.get("NOTIFY_SOCKET", ""))
    if address is None:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True


def watchdog_period_s() -> float | None:
    """How often to send ``WATCHDOG=1``: half the unit's ``WatchdogSec=``, as systemd advises.

    None when the watchdog is off or is meant for another process (``$WATCHDOG_PID``).
    """
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 2e6
