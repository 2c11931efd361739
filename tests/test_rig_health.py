"""The rig's power and heat (hal/health.py): the Pi's sysfs read from a stand-in tree laid out
as the kernel's, the warnings in words, and the same through the API on the virtual rig."""

from __future__ import annotations

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
