"""Buttons, LED and dial on the Pi's header, through gpiozero.

Wiring (BCM numbers, the defaults in ``firmware/config.py``; see ``hardware/wiring.md``):

- **Shutter button**: GPIO17 to a momentary switch to GND; the internal pull-up is used, so no
  resistor is needed. A press takes a picture; holding it 3 s confirms first-time setup.
- **Status LED**: GPIO27 through a 330 Ω resistor to the LED's anode, cathode to GND.
  Off when idle, on while busy, blinking on an error.
- **Rotary encoder** (optional): A to GPIO5, B to GPIO6, common to GND (internal pull-ups).

Example::

    with RigIO(settings.gpio) as io:
        io.shutter.when_pressed = take_picture
        io.led.busy()

Tests use gpiozero's own ``MockFactory`` (``GPIOZERO_PIN_FACTORY=mock``) and drive the pins
(``Device.pin_factory.pin(17).drive_low()``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from hal.exc import GpioError

log = logging.getLogger(__name__)

SETUP_HOLD_S = 3.0
DEBOUNCE_S = 0.02


class GpioPins(Protocol):
    """The subset of firmware's GPIO settings this module needs."""

    shutter_pin: int | None
    led_pin: int | None
    encoder_a_pin: int | None
    encoder_b_pin: int | None


class ShutterButton:
    """A momentary switch to ground with the internal pull-up.

    ``when_pressed`` fires on each press; ``when_held`` fires once the button has been held
    for ``hold_time_s`` (used to confirm first-time setup on the camera itself).
    """

    def __init__(self, pin: int, *, hold_time_s: float = SETUP_HOLD_S, pin_factory=None) -> None:
        from gpiozero import Button

        self._button = Button(
            pin, pull_up=True, bounce_time=DEBOUNCE_S, hold_time=hold_time_s,
            pin_factory=pin_factory,
        )
        self.when_pressed: Callable[[], None] | None = None
        self.when_held: Callable[[], None] | None = None
        self._button.when_pressed = lambda: self._fire(self.when_pressed, "press")
        self._button.when_held = lambda: self._fire(self.when_held, "hold")

    @property
    def is_pressed(self) -> bool:
        return bool(self._button.is_pressed)

    @staticmethod
    def _fire(callback: Callable[[], None] | None, what: str) -> None:
        if callback is None:
            return
        try:
            callback()
        except Exception:  # a failed capture must not kill gpiozero's callback thread
            log.exception("shutter button %s handler failed", what)

    def close(self) -> None:
        self._button.close()


class StatusLed:
    """The rig's status light: off when idle, on while busy, blinking on an error."""

    def __init__(self, pin: int, *, pin_factory=None) -> None:
        from gpiozero import LED

        self._led = LED(pin, pin_factory=pin_factory)
        self.state = "idle"

    def idle(self) -> None:
        self.state = "idle"
        self._led.off()

    def busy(self) -> None:
        self.state = "busy"
        self._led.on()

    def error(self) -> None:
        self.state = "error"
        self._led.blink(on_time=0.2, off_time=0.2)

    @property
    def is_lit(self) -> bool:
        return bool(self._led.is_lit)

    def close(self) -> None:
        self._led.close()


class Dial:
    """An optional rotary encoder; ``when_turned(steps)`` gets +1 clockwise, -1 anticlockwise."""

    def __init__(self, pin_a: int, pin_b: int, *, pin_factory=None) -> None:
        from gpiozero import RotaryEncoder

        self._encoder = RotaryEncoder(pin_a, pin_b, max_steps=0, pin_factory=pin_factory)
        self.when_turned: Callable[[int], None] | None = None
        self._encoder.when_rotated_clockwise = lambda: self._turn(+1)
        self._encoder.when_rotated_counter_clockwise = lambda: self._turn(-1)

    def _turn(self, steps: int) -> None:
        if self.when_turned is not None:
            try:
                self.when_turned(steps)
            except Exception:
                log.exception("dial handler failed")

    def close(self) -> None:
        self._encoder.close()


class RigIO:
    """All configured GPIO parts, opened and closed together (``with RigIO(pins) as io``).

    A part whose pin is ``None`` is absent (its attribute is ``None``).
    """

    def __init__(self, pins: GpioPins, *, pin_factory=None) -> None:
        self._pins = pins
        self._factory = pin_factory
        self.shutter: ShutterButton | None = None
        self.led: StatusLed | None = None
        self.dial: Dial | None = None

    def __enter__(self) -> RigIO:
        p = self._pins
        try:
            if p.shutter_pin is not None:
                self.shutter = ShutterButton(p.shutter_pin, pin_factory=self._factory)
            if p.led_pin is not None:
                self.led = StatusLed(p.led_pin, pin_factory=self._factory)
            if p.encoder_a_pin is not None and p.encoder_b_pin is not None:
                self.dial = Dial(p.encoder_a_pin, p.encoder_b_pin, pin_factory=self._factory)
        except Exception as e:
            self.close()
            raise GpioError(f"GPIO set-up failed: {e}") from e
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for part in (self.dial, self.led, self.shutter):
            if part is not None:
                part.close()
        self.shutter = self.led = self.dial = None
