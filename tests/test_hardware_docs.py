"""Recompute every number in hardware/mount.md and hardware/wiring.md from the stated inputs,
and check the wiring table against the config defaults and gpiozero's header map."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from gpiozero import pi_info

from firmware.config import GpioSettings

HARDWARE = Path(__file__).resolve().parents[1] / "hardware"


def tables(path: Path) -> dict[str, list[dict[str, str]]]:
    """Markdown tables keyed by their first header cell; rows as {header: cell}."""
    out: dict[str, list[dict[str, str]]] = {}
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-| ]+\|$", lines[i + 1]):
            header = [c.strip() for c in line.strip("|").split("|")]
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append(dict(zip(header, (c.strip() for c in row.strip("|").split("|")),
                                     strict=True)))
            out[header[0]] = rows
    return out


def close(cell: str, value: float) -> bool:
    """The cell states ``value`` to the number of decimals it shows."""
    decimals = len(cell.split(".")[1]) if "." in cell else 0
    return math.isclose(float(cell), round(value, decimals), abs_tol=10**-decimals / 2)


MOUNT = tables(HARDWARE / "mount.md")
FLANGE = {r["Mount"]: float(r["Flange focal distance (mm)"]) for r in MOUNT["Mount"]}
DIAGONAL = {r["Sensor"]: float(r["Diagonal (mm)"]) for r in MOUNT["Sensor"]}
FULL_FRAME, ONE_INCH, HQ = DIAGONAL["35 mm full frame"], DIAGONAL["1-inch type"], DIAGONAL[
    "IMX477 (HQ Camera)"
]
HQ_WIDTH_MM = 4056 * 1.55e-3


def test_flange_inputs_are_the_published_figures():
    assert FLANGE == {"Leica M": 27.80, "C-mount": 17.526, "CS-mount": 12.526}
    assert DIAGONAL == {"35 mm full frame": 43.27, "1-inch type": 15.86, "IMX477 (HQ Camera)": 7.9}
    assert math.isclose(math.hypot(36, 24), FULL_FRAME, abs_tol=0.005)
    assert math.isclose(math.hypot(13.2, 8.8), ONE_INCH, abs_tol=0.005)
    assert math.isclose(math.hypot(4056, 3040) * 1.55e-3, HQ, abs_tol=0.05)


def test_adapter_thicknesses():
    expected = {
        "Leica M to C-mount": FLANGE["Leica M"] - FLANGE["C-mount"],
        "Leica M to CS-mount": FLANGE["Leica M"] - FLANGE["CS-mount"],
        "C-mount to CS-mount (the HQ Camera's ring)": FLANGE["C-mount"] - FLANGE["CS-mount"],
    }
    rows = {r["Adapter"]: r["Thickness (mm)"] for r in MOUNT["Adapter"]}
    assert rows.keys() == expected.keys()
    for name, thickness in expected.items():
        assert close(rows[name], thickness), name
    text = (HARDWARE / "mount.md").read_text()
    assert "M to C is 10.27 mm" in text and "(15.27 mm)" in text


def test_crop_factors():
    for row in MOUNT["Sensor"]:
        assert close(row["Crop factor against 35 mm"], FULL_FRAME / float(row["Diagonal (mm)"]))
    text = (HARDWARE / "mount.md").read_text()
    assert f"15.86 / 7.9 = {ONE_INCH / HQ:.3f}" in text
    assert f"50 / {FULL_FRAME / HQ:.3f} = {50 / (FULL_FRAME / HQ):.1f} mm" in text


def test_m_lens_equivalents():
    rows = MOUNT["M lens (mm)"]
    assert [int(r["M lens (mm)"]) for r in rows] == [21, 28, 35, 50, 75, 90, 135]
    for r in rows:
        f = float(r["M lens (mm)"])
        assert close(r["35 mm equivalent (mm)"], f * FULL_FRAME / HQ), f
        assert close(r["On a 1-inch sensor (mm)"], f * ONE_INCH / HQ), f
        angle = math.degrees(2 * math.atan(HQ_WIDTH_MM / (2 * f)))
        assert close(r["Horizontal angle of view (°)"], angle), f


def test_c_lens_equivalents():
    for r in MOUNT["C/CS lens (mm)"]:
        assert close(r["35 mm equivalent (mm)"], float(r["C/CS lens (mm)"]) * FULL_FRAME / HQ)


WIRING = tables(HARDWARE / "wiring.md")
J8 = pi_info("d04170").headers["J8"].pins  # Raspberry Pi 5; the 40-pin header is the Pi 4's too


def test_wiring_table_matches_the_config_defaults():
    defaults = GpioSettings()
    rows = WIRING["Part"]
    assert {r["Config key"].strip("`") for r in rows} == {
        "shutter_pin", "led_pin", "encoder_a_pin", "encoder_b_pin"
    }
    for r in rows:
        assert int(r["BCM GPIO"]) == getattr(defaults, r["Config key"].strip("`")), r


@pytest.mark.parametrize("row", WIRING["Part"], ids=lambda r: f"{r['Part']} {r['Signal']}")
def test_wiring_header_pins(row):
    assert J8[int(row["Header pin"])].name == f"GPIO{row['BCM GPIO']}"
    ground_pin = int(re.search(r"pin (\d+)", row["Other side"]).group(1))
    assert J8[ground_pin].name == "GND"


def test_led_currents():
    text = (HARDWARE / "wiring.md").read_text()
    ohms = 330
    assert "330 Ω" in WIRING["Part"][1]["Signal"] and f"{ohms} Ω" in text
    for r in WIRING["LED colour"]:
        current_ma = (3.3 - float(r["Forward voltage (V)"])) / ohms * 1000
        assert close(r["Current with 330 Ω (mA)"], current_ma), r
        assert current_ma < 16


def test_diagram_shows_every_pin_of_the_table():
    diagram = (HARDWARE / "wiring.md").read_text().split("```")[1]
    for r in WIRING["Part"]:
        assert re.search(rf"GPIO{r['BCM GPIO']} +\({r['Header pin']}\)", diagram), r
