"""The rig's power and heat: under-voltage and throttling from the Pi's firmware, the CPU's
temperature, and a battery where a UPS board reports one.

On a Raspberry Pi the firmware driver publishes its throttling word in sysfs
(``/sys/devices/platform/soc/soc:firmware/get_throttled``, hex; the kernel's
``drivers/firmware/raspberrypi.c``, the same word ``vcgencmd get_throttled`` prints). Its
bits (Raspberry Pi documentation, "vcgencmd get_throttled"):

====  ===============================  ====  ==============================
bit   now                              bit   since boot
====  ===============================  ====  ==============================
0     under-voltage                    16    under-voltage has occurred
1     ARM frequency capped             17    frequency capping has occurred
2     throttled                        18    throttling has occurred
3     soft temperature limit active    19    soft temperature limit reached
====  ===============================  ====  ==============================

The CPU temperature is thermal zone 0 in millidegrees (``/sys/class/thermal/thermal_zone0/
temp``); the firmware throttles from 80 °C and a soft limit of 60 °C caps the clock on
Pi 3B+ and later (same documentation, "Frequency management and thermal control").

A battery is read where the kernel reports one (``/sys/class/power_supply/*`` of type
``Battery``: ``capacity`` and ``status``, as UPS boards with a fuel-gauge driver do); without
one ``battery_percent`` is None. Boards with only an INA219 current monitor are read by
:mod:`hal.ups` when configured (``[power] ups``). Everything is read at most every :data:`READ_EVERY_S`; a file that is missing (not a
Pi) reads as "not known", never as a fault.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

THROTTLED_FILE = "sys/devices/platform/soc/soc:firmware/get_throttled"
#: Where it is when the SoC node has an address in its name (the Pi 5's device tree).
THROTTLED_GLOB = "sys/devices/platform/soc*/*firmware/get_throttled"
CPU_TEMPERATURE_FILE = "sys/class/thermal/thermal_zone0/temp"
#: A warning from this CPU temperature: the firmware throttles at 80 °C, so 75 °C is the
#: moment to shade the Pi or give it a rest.
CPU_HOT_C = 75.0
#: A warning below this battery charge.
BATTERY_LOW_PERCENT = 20.0
READ_EVERY_S = 2.0


@dataclasses.dataclass(frozen=True)
class Health:
    undervoltage_now: bool = False
    undervoltage_since_boot: bool = False
    throttled_now: bool = False
    """Throttled or frequency-capped now (heat or power)."""
    throttled_since_boot: bool = False
    cpu_temperature_c: float | None = None
    battery_percent: float | None = None
    battery_charging: bool | None = None

    @classmethod
    def from_throttled_word(cls, word: int, **others: object) -> Health:
        return cls(
            undervoltage_now=bool(word & 0x1),
            undervoltage_since_boot=bool(word & 0x10000),
            throttled_now=bool(word & 0xE),  # capped, throttled or at the soft limit
            throttled_since_boot=bool(word & 0xE0000),
            **others,
        )

    def warnings(self) -> list[dict[str, str]]:
        """What is wrong, most urgent first, each ``{"id", "text", "advice"}`` in words."""
        out = []
        if self.undervoltage_now:
            out.append({"id": "undervoltage", "text": "Low voltage",
                        "advice": "The supply cannot keep up: a stronger power bank or a "
                                  "shorter, thicker cable (5 V, 3 A; 5 A on a Pi 5)."})
        elif self.undervoltage_since_boot:
            out.append({"id": "undervoltage-earlier", "text": "Voltage dipped",
                        "advice": "The supply dipped since the Pi started: photos are safe, "
                                  "but a weak supply can corrupt the card."})
        if self.throttled_now:
            out.append({"id": "throttled", "text": "Throttled",
                        "advice": "The Pi is slowing itself down (heat or power): the live "
                                  "view and saving get slower."})
        if self.cpu_temperature_c is not None and self.cpu_temperature_c >= CPU_HOT_C:
            out.append({"id": "hot", "text": f"CPU {self.cpu_temperature_c:.0f}°C",
                        "advice": "Shade the Pi or let it cool; it throttles at 80 °C."})
        if (self.battery_percent is not None and self.battery_percent < BATTERY_LOW_PERCENT
                and not self.battery_charging):
            out.append({"id": "battery", "text": f"Battery {self.battery_percent:.0f}%",
                        "advice": "Charge soon: the camera stops when the battery does."})
        return out

    def as_dict(self) -> dict:
        return dataclasses.asdict(self) | {"warnings": self.warnings()}


class SysfsHealth:
    """Reads :class:`Health` from the Pi's sysfs (under ``root``; tests point it elsewhere)."""

    def __init__(self, root: Path = Path("/"), *, battery=None,
                 clock=time.monotonic) -> None:
        self.root = Path(root)
        self.battery = battery
        self._clock = clock
        self._cached: tuple[float, Health] | None = None
        self._throttled: Path | None = None

    def _throttled_file(self) -> Path | None:
        if self._throttled is None or not self._throttled.exists():
            fixed = self.root / THROTTLED_FILE
            found = [fixed] if fixed.exists() else sorted(self.root.glob(THROTTLED_GLOB))
            self._throttled = found[0] if found else None
        return self._throttled

    def read(self) -> Health:
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < READ_EVERY_S:
            return self._cached[1]
        word = _read_int(self._throttled_file(), base=16)
        millidegrees = _read_int(self.root / CPU_TEMPERATURE_FILE)
        percent, charging = (self.battery.read() if self.battery is not None
                             else _kernel_battery(self.root))
        health = Health.from_throttled_word(
            word or 0,
            cpu_temperature_c=None if millidegrees is None else millidegrees / 1000,
            battery_percent=percent, battery_charging=charging,
        )
        self._cached = (now, health)
        return health


def _read_int(path: Path | None, base: int = 10) -> int | None:
    if path is None:
        return None
    try:
        return int(path.read_text().strip(), base)
    except (OSError, ValueError):
        return None


def _kernel_battery(root: Path) -> tuple[float | None, bool | None]:
    """Charge and charging of the first battery the kernel's power-supply class lists."""
    for supply in sorted((root / "sys/class/power_supply").glob("*")):
        try:
            if (supply / "type").read_text().strip() != "Battery":
                continue
            percent = float((supply / "capacity").read_text().strip())
        except (OSError, ValueError):
            continue
        try:
            status = (supply / "status").read_text().strip()
        except OSError:
            status = ""
        return percent, status in ("Charging", "Full")
    return None, None
