"""Spot metering where the photographer tapped, in the automatic modes.

libcamera's AGC meters its spot at the centre of the frame only (the tuning's "spot" weights:
``rpi.agc`` ``metering_modes``); it has no control for where. So with spot metering on and
the tapped point elsewhere, this loop reads the light meter at that point
(:mod:`firmware.live.meter`, whose spot follows the tap) and shifts the AGC's exposure value
until the tapped spot sits where the photographer's compensation asks: a slow outer loop
around libcamera's own (which moves a fifth of the way each frame), a step at most every
:data:`PERIOD_S`, a part of the error each time. The shift is part of the camera's controls
(:attr:`firmware.service.CameraService.camera_controls`), never of the photographer's ``ev``.

It runs only while it is needed (spot metering, automatic exposure, no hold), and keeps the
analysis running meanwhile (a camera looked at from nowhere still meters).
"""

from __future__ import annotations

import logging
import threading

from firmware.service import CameraService

log = logging.getLogger(__name__)

PERIOD_S = 0.5
#: The part of the remaining error corrected each step (libcamera's AGC settles in between).
GAIN = 0.6
#: Errors smaller than this are left alone (a twelfth of a stop: the meter's own wobble).
DEADBAND_EV = 1 / 12
LIMIT_EV = 6.0


class SpotMetering:
    """A thread: while spot metering runs in an automatic mode, keep the tapped spot metered."""

    def __init__(self, service: CameraService) -> None:
        self.service = service
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spot-metering", daemon=True)
        self._last_sequence = -1

    def __enter__(self) -> SpotMetering:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def needed(self) -> bool:
        c = self.service.controls
        return (c.ae_enable and c.metering == "spot" and c.exposure_priority != "iso"
                and not any(exposure for exposure, _ in self.service.holds.values()))

    def step(self) -> float | None:
        """One correction from the newest analysed frame; the new shift, or None if nothing
        was done (not needed, no fresh frame, or close enough)."""
        service = self.service
        if not self.needed():
            if service.spot_offset_ev:
                service.set_spot_offset(0.0)
            return None
        live = service.live
        live.touch()
        snapshot = live.latest
        if snapshot is None or snapshot.sequence <= self._last_sequence:
            return None
        self._last_sequence = snapshot.sequence
        error = snapshot.meter_ev["spot"] - service.controls.ev
        if abs(error) < DEADBAND_EV:
            return None
        shift = max(-LIMIT_EV, min(LIMIT_EV, service.spot_offset_ev - GAIN * error))
        service.set_spot_offset(shift)
        return shift

    def _run(self) -> None:
        while not self._stop.wait(PERIOD_S):
            try:
                self.step()
            except Exception:  # noqa: BLE001 - metering must never take the camera down
                log.exception("spot metering step failed")
