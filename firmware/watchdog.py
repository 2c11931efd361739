"""The systemd watchdog: ``WATCHDOG=1`` while the service is healthy, silence when it is not.

``mrig.service`` has ``WatchdogSec=``; systemd kills and restarts the service when the pings
stop. Pings come from a task on the server's event loop, so a blocked loop stops them by itself.
They also stop, on purpose, when the camera cannot be recovered in-process:

* the camera failed to reopen ``max_failures`` times in a row (a wedged driver often needs a
  fresh process: libcamera keeps state per process), or
* the camera thread died, or has made no progress for longer than any legitimate wait (a frame
  timeout plus the longest back-off, or the running still capture's own deadline: a 300 s
  exposure is not a hang).

When the camera recovers before systemd acts, pings resume. Uses :mod:`firmware.sdnotify`.

Example, in the app's lifespan::

    period = sdnotify.watchdog_period_s()
    if period:
        task = asyncio.create_task(Watchdog(service, period).run())
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from firmware import sdnotify
from firmware.service import CameraService

log = logging.getLogger(__name__)

MAX_FAILURES = 6
"""Failed reopens in a row before giving up (about 30 s with the default 0.5..8 s back-off)."""


class Watchdog:
    """Pings systemd every ``period_s`` while :meth:`problem` finds nothing wrong."""

    def __init__(
        self,
        service: CameraService,
        period_s: float,
        *,
        max_failures: int = MAX_FAILURES,
        notify: Callable[[str], bool] = sdnotify.notify,
    ) -> None:
        self.service = service
        self.period_s = period_s
        self.max_failures = max_failures
        self._notify = notify
        self.pings = 0
        self.withheld: str | None = None

    def problem(self) -> str | None:
        """Why the service should be restarted, or None while it is fine (or still recovering)."""
        service = self.service
        if service.consecutive_failures >= self.max_failures:
            return (f"camera failed {service.consecutive_failures} times in a row "
                    f"({service.status['reason']})")
        if not service.loop_alive:
            return "camera thread died"
        if service.stalled:
            return "camera thread stuck"
        return None

    def tick(self) -> bool:
        """Ping if healthy; on the first unhealthy tick, say why in ``STATUS=``. Returns whether
        it pinged."""
        problem = self.problem()
        if problem is None:
            if self.withheld is not None:
                log.info("camera recovered; watchdog pings resume")
                self._notify("STATUS=camera recovered")
                self.withheld = None
            self.pings += 1
            return self._notify("WATCHDOG=1")
        if self.withheld is None:
            log.error("%s; stopping watchdog pings so systemd restarts the service", problem)
            self._notify(f"STATUS={problem}; waiting for the watchdog to restart the service")
            self.withheld = problem
        return False

    async def run(self) -> None:
        """Tick every ``period_s`` until cancelled."""
        while True:
            self.tick()
            await asyncio.sleep(self.period_s)
