"""The rig's rotary encoder (gpiozero's RotaryEncoder on MockFactory pins, turned the way the
real one's contacts close) turns the dial the phone has open, on the phone's own scales."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from gpiozero import Device

from firmware.encoder import ISO_SPEEDS, SHUTTER_SPEEDS_US
from tests.waiting import wait_until

EXPOSURE_JS = Path(__file__).resolve().parents[1] / "firmware/web/js/exposure.js"


def _js_numbers(name: str) -> list[float]:
    body = re.search(rf"const {name} = \[(.*?)\]", EXPOSURE_JS.read_text(), re.S).group(1)
    return [float(v) for v in re.findall(r"[\d.]+", body)]


def test_the_encoder_steps_as_the_phones_dials_do():
    fractions, seconds = _js_numbers("FRACTIONS"), _js_numbers("SECONDS")
    js_shutter = [round(1e6 / d) for d in fractions] + [round(s * 1e6) for s in seconds]
    assert list(SHUTTER_SPEEDS_US[:-1]) == js_shutter
    iso = re.search(r"ISO_SPEEDS = \[(.*?)\]", EXPOSURE_JS.read_text(), re.S).group(1)
    assert list(ISO_SPEEDS) == [int(v) for v in re.findall(r"\d+", iso)]


def _turn(pins, clicks: int) -> None:
    """Quadrature as the encoder's contacts make it: A leads B clockwise."""
    a, b = pins
    steps = [(0, 1), (0, 0), (1, 0), (1, 1)] if clicks > 0 else [(1, 0), (0, 0), (0, 1), (1, 1)]
    for _ in range(abs(clicks)):
        for sa, sb in steps:
            (a.drive_high if sa else a.drive_low)()
            (b.drive_high if sb else b.drive_low)()
            time.sleep(0.005)


@pytest.fixture
def rig(make_client, camera, settings):
    """A camera with its GPIO on (gpiozero's mock pins), logged in."""
    wired = settings.with_overrides(gpio={"enabled": True})
    client = make_client(camera, wired)
    dial = client.app.state.shutter.io.dial
    assert dial is not None
    factory = Device.pin_factory
    return client, (factory.pin(wired.gpio.encoder_a_pin), factory.pin(wired.gpio.encoder_b_pin))


def test_clicks_turn_the_open_dial(rig):
    client, pins = rig
    # No dial open, automatic exposure: compensation, a third of a stop a click.
    _turn(pins, 2)
    wait_until(lambda: client.get("/api/controls").json()["ev"] == pytest.approx(2 / 3))
    _turn(pins, -3)
    wait_until(lambda: client.get("/api/controls").json()["ev"] == pytest.approx(-1 / 3))

    # The phone opens the shutter dial: clicks take shutter priority, a third stop each.
    assert client.put("/api/ui/dial", json={"dial": "shutter"}).json()["encoder_turns"] == "shutter"
    client.patch("/api/controls", json={"exposure_time_us": 10_000, "ae_enable": False})
    _turn(pins, 3)  # a stop longer: 1/100 -> 1/50
    wait_until(lambda: client.get("/api/controls").json()["exposure_time_us"] == 20_000)
    _turn(pins, -6)  # two stops shorter: 1/200
    wait_until(lambda: client.get("/api/controls").json()["exposure_time_us"] == 5_000)

    # ISO: up the third-stop scale, and never past the sensor's top.
    client.put("/api/ui/dial", json={"dial": "iso"})
    client.patch("/api/controls", json={"analogue_gain": 1.0})
    _turn(pins, 4)
    wait_until(lambda: client.get("/api/controls").json()["analogue_gain"] == pytest.approx(2.5))
    _turn(pins, 30)
    wait_until(lambda: client.get("/api/controls").json()["analogue_gain"] == pytest.approx(22.26))

    # An ISO click takes the camera to manual, which ends an AE lock (as the phone's dial does).
    client.patch("/api/controls", json={"ae_enable": True, "exposure_priority": "auto"})
    assert client.patch("/api/controls", json={"ae_lock": True}).json()["ae_lock"]
    _turn(pins, 1)
    wait_until(lambda: not client.get("/api/controls").json()["ae_enable"])
    assert client.get("/api/controls").json()["held"] == []

    # A dial the encoder does not turn (metering): in manual, the shutter.
    assert client.put("/api/ui/dial", json={"dial": "metering"}).json()["encoder_turns"] == "shutter"
