"""GPIO parts through gpiozero's own MockFactory: the shutter button reaches the capture path."""

from __future__ import annotations

import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

from firmware.config import GpioSettings
from firmware.rig_io import rig_io
from hal.gpio import RigIO
from tests.waiting import wait_until


@pytest.fixture
def pins():
    """A fresh mock pin factory per test (pins keep state otherwise)."""
    previous = Device.pin_factory
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = previous


def test_button_press_reaches_the_capture_path_and_led_shows_busy(pins):
    presses, led_during = [], []
    settings = GpioSettings()

    with rig_io(settings, lambda: (presses.append(1), led_during.append(pins.pin(27).state))) as path:
        led = pins.pin(27)
        assert led.state == 0
        pins.pin(17).drive_low()
        wait_until(lambda: presses)
        pins.pin(17).drive_high()
        assert led_during == [1]  # lit while capturing
        wait_until(lambda: led.state == 0)
        assert path.presses == 1


def test_failed_capture_blinks_the_led_and_button_stays_usable(pins):
    calls = []

    def fail():
        calls.append(1)
        raise RuntimeError("card full")

    with rig_io(GpioSettings(), fail) as path:
        pins.pin(17).drive_low()
        wait_until(lambda: path.failures == 1)
        pins.pin(17).drive_high()
        assert path.last_error == "card full"
        pins.pin(17).drive_low()
        wait_until(lambda: len(calls) == 2)


def test_shutter_button_through_the_app_takes_a_still(pins, make_client, settings):
    client = make_client(settings_=settings.with_overrides(gpio={"enabled": True}))
    service = client.app.state.service
    wait_until(lambda: service.healthy)
    pins.pin(17).drive_low()
    wait_until(lambda: service.stills == 1, timeout_s=30)
    pins.pin(17).drive_high()
    assert client.app.state.shutter.presses == 1


def test_dial_reports_steps(pins):
    with RigIO(GpioSettings()) as io:
        steps = []
        io.dial.when_turned = steps.append
        a, b = pins.pin(5), pins.pin(6)
        # one detent clockwise: A falls before B, then both rise
        for a_level, b_level in ((0, 1), (0, 0), (1, 0), (1, 1)):
            a.drive_low() if a_level == 0 else a.drive_high()
            b.drive_low() if b_level == 0 else b.drive_high()
        wait_until(lambda: steps)
        assert steps[0] in (1, -1)


def test_absent_parts_are_skipped(pins):
    settings = GpioSettings(led_pin=None, encoder_a_pin=None, encoder_b_pin=None)
    with RigIO(settings) as io:
        assert io.shutter is not None and io.led is None and io.dial is None


def test_gpio_disabled_opens_nothing(pins):
    with rig_io(GpioSettings(enabled=False), lambda: None) as path:
        assert path is None


def test_missing_gpio_is_a_warning_only_on_a_pi(tmp_path):
    from firmware.rig_io import on_a_raspberry_pi

    model = tmp_path / "model"
    assert not on_a_raspberry_pi(model)  # no device tree: a laptop
    model.write_bytes(b"Raspberry Pi 4 Model B Rev 1.5\x00")
    assert on_a_raspberry_pi(model)
    model.write_bytes(b"Generic DT based system\x00")
    assert not on_a_raspberry_pi(model)
