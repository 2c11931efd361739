"""``mrig selftest``: check the assembled rig on the Pi, one part at a time.

Checks, in order, each reported as passed, failed or skipped with a one-line reason:

1. the camera opens and delivers live-view frames;
2. the sensor is the HQ Camera's Sony IMX477;
3. a full-resolution raw still arrives with the full-resolution size and sane values
   (within the white level, not flat: a covered lens still shows noise above black);
4. the still is written as a DNG that reads back;
5. the status LED blinks (the person watching confirms it: the Pi cannot see an LED);
6. the shutter button reads released at rest (a pressed reading at rest means a short or
   a wrong pin), then a press is seen within the wait;
7. the photo pipeline's compiled stages loaded (:mod:`isp.compiled`; without them JPEGs take
   longer: a warning, not a failure);
8. with HTTPS on, the certificate and key fit and are in date; the certificate's SHA-256
   fingerprint is printed, for the owner to compare with what the phone's browser shows.

The camera and GPIO parts are injected (a :class:`~hal.camera.Camera`, gpiozero's pin factory)
so the checks run against the virtual camera and gpiozero's ``MockFactory`` in tests; the CLI
(:mod:`firmware.commands.selftest`) opens the real ones. Stop the service first
(``sudo systemctl stop mrig``): only one process can hold the camera.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from firmware import tls
from firmware.capture.dng import encode_dng, read_preview
from firmware.capture.shot import ShotInfo
from firmware.exc import ConfigError
from hal import imx477
from hal.camera import Camera, RawFrame, preview_mode
from hal.clock import Clock, RealClock
from isp.tuning import Tuning

PREVIEW_SIZE = (320, 240)
STILL_TIMEOUT_S = 10.0
LED_BLINKS = 3
LED_PERIOD_S = 0.5


@dataclasses.dataclass(frozen=True)
class Check:
    """One line of the report. ``ok`` is None for a check that was skipped."""

    name: str
    ok: bool | None
    detail: str

    def line(self) -> str:
        mark = {True: "PASS", False: "FAIL", None: "SKIP"}[self.ok]
        return f"{mark}  {self.name}: {self.detail}"


def still_problems(raw: RawFrame, expected_size: tuple[int, int]) -> list[str]:
    """What is wrong with a full-resolution still, if anything (empty list: it looks right)."""
    problems = []
    height, width = raw.data.shape
    if (width, height) != expected_size:
        problems.append(f"size {width}x{height}, expected {expected_size[0]}x{expected_size[1]}")
    top = int(raw.data.max())
    if top > raw.white_level:
        problems.append(f"values up to {top} above the white level {raw.white_level}")
    if float(np.std(raw.data[::8, ::8])) == 0.0:
        problems.append(f"every pixel reads {top}: no signal from the sensor")
    return problems


def check_camera(
    camera: Camera, out_dir: Path, tuning: Tuning, *, still_timeout_s: float = STILL_TIMEOUT_S
) -> list[Check]:
    """Open ``camera``, check its sensor and capture a DNG into ``out_dir``."""
    checks: list[Check] = []
    try:
        with camera:
            checks.append(Check("camera", True, f"opened ({camera.backend or type(camera).__name__})"))
            sensor = camera.sensor
            model_ok = sensor.model.lower() == imx477.MODEL
            checks.append(Check(
                "sensor", model_ok,
                sensor.model if model_ok else f"{sensor.model}, expected {imx477.MODEL}",
            ))
            camera.configure(preview_mode(sensor), PREVIEW_SIZE)
            camera.start()
            try:
                frame = camera.next_frame()
                checks.append(Check(
                    "live view", True,
                    f"{frame.rgb.shape[1]}x{frame.rgb.shape[0]} frame #{frame.metadata.sequence}",
                ))
                raw = camera.capture_still(timeout_s=still_timeout_s)
            finally:
                camera.stop()
    except Exception as e:  # a self-test reports every failure instead of stopping at a traceback
        what = "camera" if not checks else "capture"
        checks.append(Check(what, False, f"{type(e).__name__}: {e}"))
        return checks
    full = sensor.full_resolution_mode
    problems = still_problems(raw, full.size)
    checks.append(Check(
        "raw still", not problems,
        "; ".join(problems) or (
            f"{full.size[0]}x{full.size[1]} {raw.bit_depth}-bit {raw.bayer_order}, "
            f"{raw.metadata.exposure_time_us} us at ISO {raw.metadata.iso}, "
            f"mean {float(raw.data.mean()):.0f} DN"
        ),
    ))
    checks.append(check_dng(raw, out_dir, tuning))
    return checks


def check_dng(raw: RawFrame, out_dir: Path, tuning: Tuning) -> Check:
    shot = ShotInfo(metadata=raw.metadata, captured_at=dt.datetime.now().astimezone())
    path = out_dir / "selftest.dng"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode_dng(raw, shot, tuning))
        preview = read_preview(path)
    except (OSError, ValueError) as e:
        return Check("dng", False, f"{path}: {e}")
    size_mib = path.stat().st_size / 2**20
    return Check(
        "dng", True, f"{path} ({size_mib:.1f} MiB, preview {preview.shape[1]}x{preview.shape[0]})"
    )


def check_led(
    pin: int | None, *, pin_factory=None, clock: Clock | None = None, blinks: int = LED_BLINKS
) -> Check:
    """Blink the status LED ``blinks`` times; the pin's own read-back must follow."""
    if pin is None:
        return Check("led", None, "no led_pin configured")
    from hal.gpio import StatusLed

    clock = clock or RealClock()
    try:
        led = StatusLed(pin, pin_factory=pin_factory)
    except Exception as e:  # gpiozero raises its own hierarchy (pin in use, no factory, ...)
        return Check("led", False, f"GPIO{pin}: {type(e).__name__}: {e}")
    followed = True
    try:
        for _ in range(blinks):
            led.busy()
            followed &= led.is_lit
            clock.sleep(LED_PERIOD_S / 2)
            led.idle()
            followed &= not led.is_lit
            clock.sleep(LED_PERIOD_S / 2)
    finally:
        led.close()
    if not followed:
        return Check("led", False, f"GPIO{pin} did not follow on/off (pin driver fault)")
    return Check("led", True, f"GPIO{pin} blinked {blinks} times: check you saw it")


def check_button(
    pin: int | None,
    *,
    pin_factory=None,
    wait_s: float = 0.0,
    prompt: Callable[[str], None] = print,
) -> Check:
    """Read the shutter button at rest, then (with ``wait_s`` > 0) wait for a press."""
    if pin is None:
        return Check("button", None, "no shutter_pin configured")
    from hal.gpio import ShutterButton

    try:
        button = ShutterButton(pin, pin_factory=pin_factory)
    except Exception as e:
        return Check("button", False, f"GPIO{pin}: {type(e).__name__}: {e}")
    try:
        if button.is_pressed:
            return Check(
                "button", False,
                f"GPIO{pin} reads pressed at rest: a short to GND or the wrong pin",
            )
        if wait_s <= 0:
            return Check("button", True, f"GPIO{pin} reads released (press not tested)")
        pressed = threading.Event()
        button.when_pressed = pressed.set
        prompt(f"Press the shutter button (GPIO{pin}) within {wait_s:g} s ...")
        if pressed.wait(wait_s):
            return Check("button", True, f"GPIO{pin} released at rest, press seen")
        return Check("button", False, f"GPIO{pin}: no press within {wait_s:g} s (check wiring)")
    finally:
        button.close()


def check_isp() -> Check:
    """Whether the pipeline runs its stages in C or (slower) in numpy: a failed build at
    install (no C compiler) shows here, not only as slow JPEGs."""
    from isp import compiled

    if compiled.AVAILABLE:
        return Check("isp", True, compiled.STATUS)
    return Check("isp", True, f"WARNING: {compiled.STATUS}; JPEGs take about 1.7 times as long")


def check_https(on: bool, certfile: Path, keyfile: Path) -> Check:
    """The HTTPS certificate the server would serve: fits its key, in date, and its fingerprint."""
    if not on:
        return Check("https", None, "off, plain HTTP (server.https = false)")
    try:
        tls.check_key_pair(certfile, keyfile)
        certificate = tls.read_certificate(certfile)
    except ConfigError as e:
        return Check("https", False, str(e))
    if certificate.days_left() <= 0:
        return Check("https", False, f"{certificate.summary()}: ENDED; make a new one with "
                     f"{tls.RENEW_COMMAND}")
    ending = certificate.ending()
    renew = f"; {ending}: {tls.RENEW_COMMAND}" if ending else ""
    return Check("https", True, certificate.summary() + renew)


def passed(checks: list[Check]) -> bool:
    """True when nothing failed (skipped checks are fine)."""
    return all(c.ok is not False for c in checks)
