"""The rig's physical controls wired to the app: the shutter button takes a picture through the
same path as the phone's Capture button, and the status LED shows busy and error.

On a machine with no GPIO (a laptop running the virtual camera) the parts are simply absent; the log says so.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

from gpiozero.exc import PinFactoryFallback

from firmware.config import GpioSettings
from hal.exc import GpioError
from hal.gpio import RigIO

log = logging.getLogger(__name__)


class ShutterPath:
    """Runs the capture action for the button, one at a time, lighting the LED while busy."""

    def __init__(self, press: Callable[[], object], io: RigIO) -> None:
        self.press = press
        self.io = io  # the parts, for other hooks (first-time setup by holding the button)
        self._io = io
        self._busy = threading.Lock()
        self.presses = 0
        self.failures = 0
        self.last_error: str | None = None

    def __call__(self) -> None:
        if not self._busy.acquire(blocking=False):
            log.info("shutter pressed while a capture is running; ignored")
            return
        led = self._io.led
        try:
            self.presses += 1
            if led:
                led.busy()
            self.press()
            if led:
                led.idle()
        except Exception as e:  # shown on the LED and in the log; the button stays usable
            self.failures += 1
            self.last_error = str(e)
            log.warning("capture from the shutter button failed: %s", e)
            if led:
                led.error()
        finally:
            self._busy.release()


@contextlib.contextmanager
def rig_io(settings: GpioSettings, press: Callable[[], object], *, pin_factory=None
           ) -> Iterator[ShutterPath | None]:
    """Open the configured GPIO parts and connect the shutter button to ``press``."""
    if not settings.enabled:
        yield None
        return
    try:
        with warnings.catch_warnings():
            # gpiozero warns once per pin library it tries; off a Pi none is expected to load.
            warnings.simplefilter("ignore", PinFactoryFallback)
            io = RigIO(settings, pin_factory=pin_factory).__enter__()
    except GpioError as e:
        if on_a_raspberry_pi():
            log.warning("GPIO unavailable, hardware buttons disabled: %s", e)
        else:  # a laptop running the virtual camera: nothing to wire, nothing wrong
            log.info("no GPIO on this machine (not a Raspberry Pi): no hardware buttons")
        yield None
        return
    try:
        path = ShutterPath(press, io)
        if io.shutter:
            io.shutter.when_pressed = path
        if io.led:
            io.led.idle()
        yield path
    finally:
        io.close()


def on_a_raspberry_pi(model_file: Path = Path("/proc/device-tree/model")) -> bool:
    """The device tree names the board on a Pi ("Raspberry Pi 4 Model B Rev 1.5")."""
    try:
        return "raspberry pi" in model_file.read_text(errors="replace").lower()
    except OSError:
        return False
