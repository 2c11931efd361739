"""``mrig selftest`` against a small fake camera and gpiozero's MockFactory; one real-Pi test."""

from __future__ import annotations

import numpy as np
import pytest
from gpiozero.pins.mock import MockFactory, MockPin

from firmware import selftest
from firmware.capture.dng import read_preview
from firmware.cli import build_parser, main
from firmware.commands import selftest as command
from hal import exc
from hal.camera import (
    Camera,
    Controls,
    FrameMetadata,
    PreviewFrame,
    RawFrame,
    SensorInfo,
    SensorMode,
)
from hal.clock import SimulatedClock
from isp.tuning import default_tuning


class TinyCamera(Camera):
    """A Camera with a 64x48 "full resolution", so a test captures and encodes in milliseconds.

    ``model`` fakes another sensor; ``flat`` makes stills with no signal; ``fail_open`` raises.
    """

    backend = "tiny"

    def __init__(self, model="imx477", *, flat=False, fail_open=None):
        full = SensorMode((64, 48), 12, "BGGR", 10.0, (0, 0, 64, 48), 1)
        binned = SensorMode((32, 24), 12, "BGGR", 40.0, (0, 0, 64, 48), 2)
        self._sensor = SensorInfo(model, 1.55, (64, 48), (binned, full), 4096, (114, 10**6),
                                  (1.0, 22.26))
        self.flat, self.fail_open = flat, fail_open
        self.is_open = self.running = False
        self.opened_times = 0
        self._controls = Controls()
        self._rng = np.random.default_rng(1)
        self._seq = 0

    @property
    def sensor(self):
        return self._sensor

    def open(self):
        if self.fail_open:
            raise self.fail_open
        self.is_open = True
        self.opened_times += 1

    def close(self):
        self.is_open = self.running = False

    def configure(self, mode, preview_size):
        self.mode, self.preview_size = mode, preview_size

    def start(self):
        self.running = True

    def stop(self):
        self.running = False

    def set_controls(self, controls):
        self._controls = controls

    @property
    def controls(self):
        return self._controls

    def _metadata(self):
        self._seq += 1
        return FrameMetadata(self._seq, self._seq * 10**8, 10_000, 2.0, (2.0, 1.6), 5000, 100_000)

    def _raw(self, size):
        w, h = size
        if self.flat:
            data = np.full((h, w), 256, np.uint16)
        else:
            data = (256 + self._rng.poisson(400, (h, w))).astype(np.uint16)
        return RawFrame(data, "BGGR", 256, 4095, 12, self._metadata())

    def next_frame(self, timeout_s=2.0):
        assert self.running
        w, h = self.preview_size
        raw = self._raw(self.mode.size)
        return PreviewFrame(np.zeros((h, w, 3), np.uint8), raw, raw.metadata)

    def capture_still(self, timeout_s=None):
        assert self.running
        return self._raw(self._sensor.full_resolution_mode.size)


@pytest.fixture
def factory():
    f = MockFactory()
    yield f
    f.close()


def by_name(checks):
    return {c.name: c for c in checks}


def test_camera_checks_pass_and_write_a_readable_dng(tmp_path):
    cam = TinyCamera()
    checks = by_name(selftest.check_camera(cam, tmp_path, default_tuning("vc4")))
    assert [checks[n].ok for n in ("camera", "sensor", "live view", "raw still", "dng")] == [
        True
    ] * 5
    assert "64x48 12-bit BGGR" in checks["raw still"].detail
    assert read_preview(tmp_path / "selftest.dng").ndim == 3
    assert not cam.is_open and cam.opened_times == 1


def test_wrong_sensor_fails(tmp_path):
    checks = selftest.check_camera(TinyCamera("ov5647"), tmp_path, default_tuning("vc4"))
    assert by_name(checks)["sensor"].ok is False
    assert "expected imx477" in by_name(checks)["sensor"].detail
    assert not selftest.passed(checks)


def test_flat_still_fails(tmp_path):
    checks = by_name(selftest.check_camera(TinyCamera(flat=True), tmp_path, default_tuning("vc4")))
    assert checks["raw still"].ok is False and "no signal" in checks["raw still"].detail


def test_camera_that_will_not_open_is_reported(tmp_path):
    cam = TinyCamera(fail_open=exc.CameraBusy("held by rpicam-hello"))
    (check,) = selftest.check_camera(cam, tmp_path, default_tuning("vc4"))
    assert check.ok is False and "CameraBusy" in check.detail and "rpicam" in check.detail


def test_still_problems_names_each_fault():
    meta = FrameMetadata(1, 0, 10_000, 1.0, (2.0, 1.6), 5000, 100_000)
    raw = RawFrame(np.full((4, 6), 5000, np.uint16), "RGGB", 256, 4095, 12, meta)
    problems = selftest.still_problems(raw, (8, 4))
    assert len(problems) == 3
    assert "size 6x4, expected 8x4" in problems[0]
    assert "above the white level 4095" in problems[1]
    assert "no signal" in problems[2]


def test_led_blinks_on_the_configured_pin(factory):
    clock = SimulatedClock()
    check = selftest.check_led(27, pin_factory=factory, clock=clock, blinks=3)
    assert check.ok is True and "GPIO27 blinked 3 times" in check.detail
    assert clock.monotonic_ns() == pytest.approx(3 * selftest.LED_PERIOD_S * 1e9)
    assert factory.pin(27).state == 0  # left off


def test_button_released_then_pressed(factory):
    pin = factory.pin(17)
    check = selftest.check_button(17, pin_factory=factory, wait_s=5, prompt=lambda _: pin.drive_low())
    assert check.ok is True and "press seen" in check.detail


class ShortedPin(MockPin):
    """A pin wired straight to GND: the pull-up cannot raise it."""

    def _set_pull(self, value):
        super()._set_pull(value)
        self.drive_low()


def test_button_pressed_at_rest_is_a_wiring_fault():
    shorted = MockFactory(pin_class=ShortedPin)
    try:
        check = selftest.check_button(17, pin_factory=shorted, wait_s=5, prompt=pytest.fail)
    finally:
        shorted.close()
    assert check.ok is False and "short to GND" in check.detail


def test_button_without_waiting_and_unconfigured(factory):
    assert selftest.check_button(17, pin_factory=factory).ok is True
    assert selftest.check_button(None, pin_factory=factory).ok is None
    assert selftest.check_led(None, pin_factory=factory).ok is None


def config(tmp_path, gpio="enabled = true"):
    path = tmp_path / "config.toml"
    path.write_text(f"[gpio]\n{gpio}\nshutter_pin = 22\nled_pin = 23\n")
    return path


def test_cli_runs_every_check_and_exits_0(tmp_path, factory, capsys, monkeypatch):
    monkeypatch.setattr(selftest, "LED_PERIOD_S", 0.0)
    args = build_parser().parse_args(
        ["selftest", "--config", str(config(tmp_path)), "--out", str(tmp_path / "out"),
         "--button-wait", "0"]
    )
    assert command.run(args, pin_factory=factory, camera=TinyCamera()) == 0
    out = capsys.readouterr().out
    for line in ("PASS  sensor: imx477", "PASS  led: GPIO23", "PASS  button: GPIO22",
                 "PASS  isp: C stages", "selftest passed"):
        assert line in out
    assert (tmp_path / "out/selftest.dng").is_file()


def test_cli_fails_on_a_wrong_sensor(tmp_path, factory, capsys):
    args = build_parser().parse_args(
        ["selftest", "--config", str(config(tmp_path)), "--out", str(tmp_path), "--no-gpio"]
    )
    assert command.run(args, pin_factory=factory, camera=TinyCamera("imx219")) == 1
    out = capsys.readouterr().out
    assert "FAIL  sensor: imx219, expected imx477" in out and "SKIP  led: --no-gpio" in out


def test_cli_skips_gpio_when_disabled_and_rejects_a_bad_config(tmp_path, capsys):
    assert main(["selftest", "--config", str(config(tmp_path, "enabled = false")),
                 "--no-camera"]) == 0
    assert "SKIP  button: gpio.enabled = false" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[gpio]\nled_pin = 99\n")
    assert main(["selftest", "--config", str(bad), "--no-camera"]) == 2
    assert "gpio.led_pin" in capsys.readouterr().err


@pytest.mark.hardware
def test_selftest_on_the_pi(tmp_path):
    """On a Pi with the HQ camera and the rig wired as in hardware/wiring.md (service stopped)."""
    assert main(["selftest", "--out", str(tmp_path), "--button-wait", "0"]) == 0
    assert (tmp_path / "selftest.dng").stat().st_size > 4056 * 3040 * 2
