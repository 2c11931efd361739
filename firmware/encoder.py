"""The rig's rotary encoder turns the dial the phone has open: shutter, ISO or EV, a third of
a stop per click, on the same scales as the phone's dials (``firmware/web/js/exposure.js``;
``tests/test_encoder.py`` checks the two agree). With no dial open it turns exposure
compensation in the automatic modes and the shutter in manual, as a camera's rear dial does.

A click clockwise moves the way the phone's dial moves to the right: a longer shutter time,
a higher ISO, more compensation.
"""

from __future__ import annotations

import logging
import math
import threading

from firmware.service import CameraService
from hal.imx477 import ANALOGUE_GAIN_RANGE, EXPOSURE_TIME_US_RANGE

log = logging.getLogger(__name__)

#: Nominal third-stop shutter speeds as cameras label them (1/8000 s ... 640 s), then the
#: sensor's longest exposure: the phone's SHUTTER_SPEEDS.
_FRACTIONS = (8000, 6400, 5000, 4000, 3200, 2500, 2000, 1600, 1250, 1000, 800, 640, 500,
              400, 320, 250, 200, 160, 125, 100, 80, 60, 50, 40, 30, 25, 20, 15, 13, 10, 8, 6,
              5, 4)
_SECONDS = (0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.3, 1.6, 2, 2.5, 3.2, 4, 5, 6, 8, 10, 13, 15, 20, 25,
            30, 40, 50, 60, 80, 100, 125, 160, 200, 250, 320, 400, 500, 640)
SHUTTER_SPEEDS_US = tuple(
    min(max(round(v), EXPOSURE_TIME_US_RANGE[0]), EXPOSURE_TIME_US_RANGE[1])
    for v in (*(1e6 / d for d in _FRACTIONS), *(s * 1e6 for s in _SECONDS),
              EXPOSURE_TIME_US_RANGE[1])
)
#: Third-stop ISOs, the sensor's top gain last: the phone's ISO_SPEEDS.
ISO_SPEEDS = (100, 125, 160, 200, 250, 320, 400, 500, 640, 800, 1000, 1250, 1600, 2000,
              round(ANALOGUE_GAIN_RANGE[1] * 100))
EV_STEP = 1 / 3
EV_LIMIT = 5.0
"""The phone's EV dial's range (exposure.js EV_STEPS)."""
DIALS = ("shutter", "iso", "ev")


def _nearest(values: tuple[float, ...], value: float) -> int:
    return min(range(len(values)), key=lambda i: abs(math.log(values[i] / max(value, 1e-9))))


class EncoderDial:
    """What a click of the encoder does to the camera's controls."""

    def __init__(self, service: CameraService) -> None:
        self.service = service
        self.focused: str | None = None
        """The dial open on the phone (``PUT /api/ui/dial``), or None."""
        self._lock = threading.Lock()

    def target(self) -> str:
        if self.focused in DIALS:
            return self.focused
        return "ev" if self.service.controls.ae_enable else "shutter"

    def turn(self, clicks: int) -> None:
        with self._lock, self.service.controls_lock:
            dial = self.target()
            c = self.service.controls
            latest = self.service.broadcast.latest
            actual = latest.frame.metadata if latest else None
            if dial == "ev":
                if not c.ae_enable:
                    return  # compensation means nothing in manual
                ev = round((c.ev + clicks * EV_STEP) * 3) / 3
                self.service.set_controls(c.replace(ev=max(-EV_LIMIT, min(EV_LIMIT, ev))))
            elif dial == "shutter":
                now = c.exposure_time_us
                if c.ae_enable and c.exposure_priority != "shutter" and actual:
                    now = actual.exposure_time_us
                i = _nearest(SHUTTER_SPEEDS_US, now) + clicks
                us = SHUTTER_SPEEDS_US[max(0, min(len(SHUTTER_SPEEDS_US) - 1, i))]
                # As on the phone: in M the shutter is simply set; elsewhere turning it means
                # shutter priority.
                self.service.set_controls(c.replace(exposure_time_us=us) if not c.ae_enable
                                          else c.replace(exposure_time_us=us, ae_enable=True,
                                                         exposure_priority="shutter"))
            else:  # iso: like the phone's ISO dial, it takes the camera to manual
                gain = actual.analogue_gain if c.ae_enable and actual else c.analogue_gain
                us = actual.exposure_time_us if c.ae_enable and actual else c.exposure_time_us
                i = _nearest(ISO_SPEEDS, gain * 100) + clicks
                iso = ISO_SPEEDS[max(0, min(len(ISO_SPEEDS) - 1, i))]
                self.service.set_controls(c.replace(
                    analogue_gain=min(iso / 100, ANALOGUE_GAIN_RANGE[1]),
                    exposure_time_us=us, ae_enable=False))
            log.debug("encoder: %+d on %s", clicks, dial)
