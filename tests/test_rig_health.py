"""The rig's power and heat (hal/health.py): the Pi's sysfs read from a stand-in tree laid out
as the kernel's, the warnings in words, and the same through the API on the virtual rig."""

from __future__ import annotations

from pathlib import Path

import pytest

from hal.health import CPU_TEMPERATURE_FILE, THROTTLED_FILE, Health, SysfsHealth
from tests.waiting import wait_until


def _sysfs(root, throttled: str | None, millidegrees: str | None):
    for rel, text in ((THROTTLED_FILE, throttled), (CPU_TEMPERATURE_FILE, millidegrees)):
        if text is not None:
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + "\n")
    return SysfsHealth(root, clock=lambda: 0.0)


def test_a_healthy_pi_warns_of_nothing(tmp_path):
    health = _sysfs(tmp_path, "0x0", "48312").read()
    assert health.cpu_temperature_c == 48.312 and not health.undervoltage_now
    assert health.warnings() == []


def test_the_throttled_word_as_vcgencmd_prints_it(tmp_path):
    # 0x50005: under-voltage now and since boot, throttled now and since boot.
    health = _sysfs(tmp_path, "50005", "81000").read()
    assert health.undervoltage_now and health.undervoltage_since_boot
    assert health.throttled_now and health.throttled_since_boot
    assert [w["id"] for w in health.warnings()] == ["undervoltage", "throttled", "hot"]
    assert health.warnings()[0]["text"] == "Low voltage"
    # Only "has occurred": said more quietly.
    earlier = Health.from_throttled_word(0x10000)
    assert [w["id"] for w in earlier.warnings()] == ["undervoltage-earlier"]


def test_a_pi_5s_firmware_node_is_found(tmp_path):
    path = tmp_path / "sys/devices/platform/soc@107c000000/soc@107c000000:firmware/get_throttled"
    path.parent.mkdir(parents=True)
    path.write_text("1\n")
    assert SysfsHealth(tmp_path).read().undervoltage_now


def test_not_a_pi_reads_as_not_known(tmp_path):
    health = _sysfs(tmp_path, None, None).read()
    assert health == Health() and health.warnings() == []
    garbled = _sysfs(tmp_path / "x", "not hex", "").read()
    assert garbled.cpu_temperature_c is None


def test_a_low_battery_warns_unless_charging():
    assert [w["text"] for w in Health(battery_percent=12).warnings()] == ["Battery 12%"]
    assert Health(battery_percent=12, battery_charging=True).warnings() == []
    assert Health(battery_percent=60).warnings() == []


def test_the_status_carries_the_rig_and_the_simulator_sets_it(client):
    rig = client.get("/api/status").json()["rig"]
    assert rig["warnings"] == [] and rig["cpu_temperature_c"] == 48.0
    r = client.patch("/api/mock/power", json={"undervoltage_now": True, "battery_percent": 9})
    assert r.status_code == 200
    rig = client.get("/api/status").json()["rig"]
    assert [w["id"] for w in rig["warnings"]] == ["undervoltage", "battery"]
    assert client.patch("/api/mock/power", json={"cpu_temperature_c": 500}).status_code == 422
    gone = client.patch("/api/mock/power", json={"battery_percent": None}).json()
    assert gone["battery_percent"] is None and gone["undervoltage_now"] is True
    wait_until(lambda: client.get("/api/status").json()["state"] == "running")


def test_a_battery_the_kernel_reports(tmp_path):
    supply = tmp_path / "sys/class/power_supply/ups"
    supply.mkdir(parents=True)
    (supply / "type").write_text("Battery\n")
    (supply / "capacity").write_text("14\n")
    (supply / "status").write_text("Discharging\n")
    health = SysfsHealth(tmp_path).read()
    assert (health.battery_percent, health.battery_charging) == (14.0, False)
    assert [w["id"] for w in health.warnings()] == ["battery"]


def test_the_soft_temperature_limit_counts_as_throttling():
    assert Health.from_throttled_word(0x8).throttled_now
    assert Health.from_throttled_word(0x80000).throttled_since_boot


class _Ina219:
    """An INA219 on the I2C bus as smbus2's ``read_i2c_block_data`` sees it: big-endian 16-bit
    registers (TI INA219 datasheet, "Register Maps"); ``None`` is a board that does not answer."""

    def __init__(self, battery_v: float | None, charge_ma: float, address: int = 0x42) -> None:
        self.battery_v, self.charge_ma, self.address = battery_v, charge_ma, address
        self.writes = 0

    def read_i2c_block_data(self, address: int, register: int, length: int) -> list[int]:
        if self.battery_v is None or address != self.address:
            raise OSError(121, "Remote I/O error")
        shunt_v = self.charge_ma / 1000 * 0.1          # the boards' 0.1 ohm shunt
        if register == 0x01:
            word = round(shunt_v / 10e-6) & 0xFFFF      # signed, 10 uV per bit
        else:
            word = round(self.battery_v / 4e-3) << 3   # IN-, the battery: bits 15..3, 4 mV per bit
        return [word >> 8, word & 0xFF][:length]

    def write_i2c_block_data(self, *args) -> None:
        self.writes += 1


def test_an_ina219_ups_reads_as_a_battery():
    from hal.ups import Ina219Battery

    # Two cells at 7.2 V, the Pi drawing 800 mA from them: half charge, not charging.
    board = _Ina219(7.2, charge_ma=-800)
    battery = Ina219Battery(address=0x42, cells=2, smbus=board)
    percent, charging = battery.read()
    assert percent == pytest.approx(50, abs=0.5) and charging is False
    # On the charger: current into the battery.
    board.charge_ma, board.battery_v = 1200, 8.4
    battery = Ina219Battery(address=0x42, cells=2, smbus=board)
    assert battery.read() == (pytest.approx(100, abs=0.5), True)
    # One cell (UPS HAT (C), 0x43), nearly flat: a warning in the status bar.
    flat = Ina219Battery(address=0x43, cells=1, smbus=_Ina219(3.18, charge_ma=-400, address=0x43))
    health = SysfsHealth(Path("/nonexistent"), battery=flat, clock=lambda: 0.0).read()
    assert health.battery_percent == pytest.approx(15, abs=0.5)
    assert [w["id"] for w in health.warnings()] == ["battery"]
    # Unplugged: not known, never a fault; and the board is only ever read.
    board.battery_v = None
    assert battery.read() == (None, None)
    assert board.writes == 0


def test_the_charge_is_averaged_over_recent_readings_only():
    from hal.ups import SMOOTHING_S, Ina219Battery

    now = [0.0]
    board = _Ina219(7.8, charge_ma=-500)
    battery = Ina219Battery(cells=2, smbus=board, clock=lambda: now[0])
    assert battery.read()[0] == pytest.approx(75, abs=0.5)
    now[0] = 2.0
    board.battery_v = 7.2             # a burst of work: the voltage sags for a moment
    assert battery.read()[0] == pytest.approx(62.5, abs=0.5)
    now[0] = 2.0 + SMOOTHING_S + 1    # long after, with nobody reading between
    board.battery_v = 6.6
    assert battery.read()[0] == pytest.approx(25, abs=0.5)


def test_a_ups_without_smbus2_is_a_warning_not_a_crash(caplog, monkeypatch):
    import sys

    from hal.ups import open_ups

    monkeypatch.setitem(sys.modules, "smbus2", None)   # as on a machine without python3-smbus2
    assert open_ups("ina219", 0x42, 2, 1) is None
    assert "python3-smbus2" in caplog.text
    assert open_ups("none", 0x42, 2, 1) is None
