"""``mrig selftest``: check the camera, LED, shutter button and HTTPS certificate of a rig on the Pi.

Stop the service first (``sudo systemctl stop mrig``): only one process can hold the camera.
Exit code 0 when nothing failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from firmware.exc import ConfigError
from hal.select import CHOICES


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("selftest", help="check the camera, LED and button on the Pi")
    p.add_argument("--config", type=Path, help="TOML settings file (pins, tuning)")
    p.add_argument(
        "--camera", choices=CHOICES, default="picamera2",
        help="camera backend (default picamera2: a missing camera is a failure, not the virtual camera)",
    )
    p.add_argument("--out", type=Path, help="folder for selftest.dng (default: a new temp folder)")
    p.add_argument(
        "--button-wait", type=float, default=10.0, metavar="SECONDS",
        help="how long to wait for a shutter press (0: only read it at rest)",
    )
    p.add_argument("--no-camera", action="store_true", help="skip the camera checks")
    p.add_argument("--no-gpio", action="store_true", help="skip the LED and button checks")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, *, pin_factory=None, camera=None) -> int:
    from firmware import selftest
    from firmware.config import load_settings
    from hal.select import make_camera
    from isp.tuning import default_tuning

    try:
        settings = load_settings(args.config)
    except ConfigError as e:
        print(f"mrig selftest: {e}", file=sys.stderr)
        return 2
    checks: list[selftest.Check] = []

    def report(*new: selftest.Check) -> None:
        for check in new:
            print(check.line(), flush=True)
        checks.extend(new)

    if args.no_camera:
        report(selftest.Check("camera", None, "--no-camera"))
    else:
        out = args.out or Path(tempfile.mkdtemp(prefix="mrig-selftest-"))
        try:
            cam = camera or make_camera(args.camera)
        except Exception as e:  # no picamera2, no camera: a failed check, not a traceback
            report(selftest.Check("camera", False, f"{type(e).__name__}: {e}"))
        else:
            report(*selftest.check_camera(cam, out, default_tuning(settings.camera.tuning)))
    gpio = settings.gpio
    if args.no_gpio or not gpio.enabled:
        why = "--no-gpio" if args.no_gpio else "gpio.enabled = false in the config"
        report(selftest.Check("led", None, why), selftest.Check("button", None, why))
    else:
        if gpio.led_pin is not None:
            print(f"Watch the status LED (GPIO{gpio.led_pin}): it blinks {selftest.LED_BLINKS} times.")
        report(selftest.check_led(gpio.led_pin, pin_factory=pin_factory))
        report(selftest.check_button(
            gpio.shutter_pin, pin_factory=pin_factory, wait_s=args.button_wait,
        ))
    report(selftest.check_isp())
    report(selftest.check_https(
        settings.server.https, settings.server.tls_certfile, settings.server.tls_keyfile,
    ))
    ok = selftest.passed(checks)
    print("selftest passed" if ok else "selftest FAILED")
    return 0 if ok else 1
