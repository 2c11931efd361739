"""Render the OpenSCAD parts to STL with Debian's ``openscad`` (skipped where it is not installed)
and check their size follows their parameters."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

PARTS = Path(__file__).resolve().parents[1] / "hardware" / "parts"
PRINTABLE = sorted(p for p in PARTS.glob("*.scad") if p.name != "common.scad")

pytestmark = pytest.mark.skipif(
    shutil.which("openscad") is None, reason="openscad not installed (apt-get install openscad)"
)


def render(scad: Path, out: Path, **params: float) -> np.ndarray:
    """Render to ASCII STL and return the (n, 3) vertices."""
    defines = [a for k, v in params.items() for a in ("-D", f"{k}={v}")]
    proc = subprocess.run(
        ["openscad", "-q", "--export-format", "asciistl", "-o", str(out), *defines, str(scad)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr and "ERROR" not in proc.stderr, proc.stderr
    text = out.read_text()
    assert text.startswith("solid")
    vertices = np.array(
        [line.split()[1:] for line in text.splitlines() if line.lstrip().startswith("vertex")],
        dtype=float,
    )
    assert len(vertices) >= 3 * 12
    return vertices


def size(vertices: np.ndarray) -> np.ndarray:
    return vertices.max(axis=0) - vertices.min(axis=0)


def test_the_parts_are_the_documented_ones():
    assert [p.name for p in PRINTABLE] == ["phone_clamp.scad", "rig_grip.scad"]


def test_rig_grip_holds_the_pi_and_the_grip(tmp_path):
    extent = size(render(PARTS / "rig_grip.scad", tmp_path / "grip.stl"))
    # plate: 85 mm board + 2 x 1 clearance + 2 x 3 wall, then the 30 mm grip
    assert extent[0] == pytest.approx(85 + 2 + 6 + 30)
    # the grip is the tallest part, 60 mm
    assert extent[2] == pytest.approx(60)


def test_phone_clamp_follows_the_phone_size(tmp_path):
    narrow = size(render(PARTS / "phone_clamp.scad", tmp_path / "a.stl", phone_width=70))
    wide = size(render(PARTS / "phone_clamp.scad", tmp_path / "b.stl", phone_width=80,
                       phone_thickness=12))
    # inner width = phone + 0.4 mm fit, plus two 3 mm walls
    assert narrow[0] == pytest.approx(70 + 0.4 + 6)
    assert wide[0] - narrow[0] == pytest.approx(10)
    assert wide[1] - narrow[1] == pytest.approx(2)
