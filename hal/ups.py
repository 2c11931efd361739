"""A battery behind an INA219 current monitor: the common UPS HATs without a fuel gauge.

Waveshare's UPS HAT (two 18650 cells in series, INA219 at I2C address 0x42) and UPS HAT (C) (one
cell, 0x43) report no charge, only the INA219's two measurements (TI INA219 datasheet, SBOS448,
"Register Maps"):

- shunt voltage, register 0x01: signed, 10 µV per bit — the current through the battery lead,
  positive (IN+ to IN-) into the battery while it charges, the sign Waveshare's own examples
  read as "charging";
- bus voltage, register 0x02: bits 15..3, 4 mV per bit — the voltage at IN-, which is the
  battery's terminal on these boards (Waveshare's examples take the charge from it; bus +
  shunt is the charger's side).

Registers are 16-bit big-endian; they are read as two bytes, with no write, so the board's
calibration (and whatever else reads it) is left alone.

Charge is estimated from the voltage per cell, linear from 3.0 V (empty, where the boards'
protection cuts off) to 4.2 V (a full Li-ion cell) — the same span Waveshare's examples use
(6.0–8.4 V for two cells). It is an estimate: under the Pi's load the voltage sags, so it reads
low while busy and is averaged over the last :data:`SMOOTHING_S` seconds.

I2C goes through ``smbus2``, the established pure-Python SMBus library (Raspberry Pi OS's
``python3-smbus2``); it is imported only when a UPS is configured.
"""

from __future__ import annotations

import logging
import time
from collections import deque

log = logging.getLogger(__name__)

SHUNT_REGISTER = 0x01
BUS_REGISTER = 0x02
SHUNT_VOLT_PER_BIT = 10e-6
BUS_VOLT_PER_BIT = 4e-3
CELL_EMPTY_V = 3.0
CELL_FULL_V = 4.2
#: Shunt voltage from which current into the battery counts as charging: 0.5 mV, 5 mA through
#: a 0.1 Ω shunt or 50 mA through 0.01 Ω (both under any charger's current), and well above the
#: INA219's offset (±10 µV typical, datasheet "Electrical Characteristics").
CHARGING_SHUNT_V = 0.5e-3
#: Readings averaged for the charge, over this many seconds: the voltage sags with each burst
#: of work, and a phone reads the status every 2 s.
SMOOTHING_S = 20.0


def charge_percent(battery_v: float, cells: int) -> float:
    per_cell = battery_v / cells
    return max(0.0, min(100.0, (per_cell - CELL_EMPTY_V) / (CELL_FULL_V - CELL_EMPTY_V) * 100))


class Ina219Battery:
    """``read()`` gives (percent, charging), or (None, None) while the board does not answer."""

    def __init__(self, address: int = 0x42, cells: int = 2, bus: int = 1, smbus=None,
                 clock=time.monotonic) -> None:
        if smbus is None:
            from smbus2 import SMBus

            smbus = SMBus(bus)
        self.bus = smbus
        self.address = address
        self.cells = cells
        self._clock = clock
        self._volts: deque[tuple[float, float]] = deque()

    def _register(self, register: int) -> int:
        high, low = self.bus.read_i2c_block_data(self.address, register, 2)
        return high << 8 | low

    def read(self) -> tuple[float | None, bool | None]:
        try:
            shunt_raw = self._register(SHUNT_REGISTER)
            bus_raw = self._register(BUS_REGISTER)
        except OSError:  # unplugged, or the I2C bus is off
            self._volts.clear()
            return None, None
        shunt_v = (shunt_raw - 0x10000 if shunt_raw & 0x8000 else shunt_raw) * SHUNT_VOLT_PER_BIT
        now = self._clock()
        self._volts.append((now, (bus_raw >> 3) * BUS_VOLT_PER_BIT))
        while self._volts[0][0] < now - SMOOTHING_S:
            self._volts.popleft()
        average_v = sum(v for _, v in self._volts) / len(self._volts)
        return charge_percent(average_v, self.cells), shunt_v > CHARGING_SHUNT_V


def open_ups(kind: str, address: int, cells: int, bus: int) -> Ina219Battery | None:
    """The configured UPS board, or None (none configured, or it cannot be opened: the log
    says why and the camera runs on without a battery reading)."""
    if kind == "none":
        return None
    try:
        return Ina219Battery(address=address, cells=cells, bus=bus)
    except ImportError:
        log.warning("[power] ups = %r needs smbus2 (apt install python3-smbus2); "
                    "no battery reading", kind)
    except OSError as e:
        log.warning("[power] ups = %r: I2C bus %d cannot be opened (%s; is I2C on in "
                    "raspi-config?); no battery reading", kind, bus, e.strerror or e)
    return None
