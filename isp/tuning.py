"""Read Raspberry Pi libcamera tuning files (version 2.0) for the IMX477.

The tuning file is the sensor's calibration: black level, the AWB colour-temperature curve,
colour correction matrices per colour temperature, lens shading tables and the tone curve.
We read the file format itself, so a Pi's own ``/usr/share/libcamera/ipa/rpi/*/imx477.json``
and the copies shipped in ``isp/data`` (BSD-2-Clause, Raspberry Pi Ltd; see ``isp/data/NOTICE``)
are used the same way.

Interpolation by colour temperature follows libcamera's ``rpi.ccm`` and ``rpi.awb``:
piecewise linear in colour temperature between calibrated points, clamped at the ends.

References
----------
Raspberry Pi Ltd, "Raspberry Pi Camera Algorithm and Tuning Guide", 2023.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from isp.exc import TuningError

#: Where Raspberry Pi OS installs libcamera's tuning files.
SYSTEM_TUNING_DIR = Path("/usr/share/libcamera/ipa/rpi")
#: The copies shipped with mrig (package data, installed as plain files).
SHIPPED_TUNING_DIR = Path(__file__).parent / "data"
TARGETS = ("vc4", "pisp")


@dataclasses.dataclass(frozen=True, eq=False)
class Tuning:
    """The parts of a tuning file the ISP and the mock camera use.

    ``ct_curve`` rows are ``(colour_temperature_K, r, b)``: the red/green and blue/green ratios
    the sensor records for a grey surface under that light. ``ccms`` rows are
    ``(colour_temperature_K, 3×3 matrix)`` mapping white-balanced camera RGB to linear sRGB.
    """

    path: str
    target: str
    black_level_16bit: int
    ct_curve: np.ndarray
    ccms: tuple[tuple[float, np.ndarray], ...]
    algorithms: dict[str, Any]

    def algorithm(self, name: str) -> dict[str, Any]:
        try:
            return self.algorithms[name]
        except KeyError:
            raise TuningError(f"{self.path}: no {name!r} block") from None

    def neutral_rb(self, colour_temperature: float) -> tuple[float, float]:
        """Camera r/g and b/g of a grey under ``colour_temperature`` kelvin."""
        ct, r, b = self.ct_curve.T
        return float(np.interp(colour_temperature, ct, r)), float(np.interp(colour_temperature, ct, b))

    def colour_gains(self, colour_temperature: float) -> tuple[float, float]:
        """Red and blue gains that make a grey neutral under ``colour_temperature``."""
        r, b = self.neutral_rb(colour_temperature)
        return 1.0 / r, 1.0 / b

    def colour_temperature(self, colour_gains: tuple[float, float]) -> float:
        """Colour temperature whose neutral best matches ``colour_gains`` (inverse of the CT curve)."""
        red_gain, blue_gain = colour_gains
        ct = np.linspace(self.ct_curve[0, 0], self.ct_curve[-1, 0], 512)
        r = np.interp(ct, self.ct_curve[:, 0], self.ct_curve[:, 1])
        b = np.interp(ct, self.ct_curve[:, 0], self.ct_curve[:, 2])
        distance = (r - 1.0 / red_gain) ** 2 + (b - 1.0 / blue_gain) ** 2
        return float(ct[int(np.argmin(distance))])

    def ccm(self, colour_temperature: float) -> np.ndarray:
        """3×3 colour correction matrix at ``colour_temperature``, interpolated as libcamera does."""
        cts = [ct for ct, _ in self.ccms]
        if colour_temperature <= cts[0]:
            return self.ccms[0][1].copy()
        if colour_temperature >= cts[-1]:
            return self.ccms[-1][1].copy()
        i = int(np.searchsorted(cts, colour_temperature))
        (ct0, m0), (ct1, m1) = self.ccms[i - 1], self.ccms[i]
        t = (colour_temperature - ct0) / (ct1 - ct0)
        return (1 - t) * m0 + t * m1

    @property
    def ct_range(self) -> tuple[float, float]:
        return float(self.ct_curve[0, 0]), float(self.ct_curve[-1, 0])


def parse_tuning(text: str, path: str = "<tuning>") -> Tuning:
    """Parse the JSON text of a version-2.0 tuning file."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise TuningError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("algorithms"), list):
        raise TuningError(f"{path}: not a libcamera tuning file (no 'algorithms' list)")
    algorithms: dict[str, Any] = {}
    for entry in doc["algorithms"]:
        if isinstance(entry, dict):
            algorithms.update(entry)
    try:
        black = int(algorithms["rpi.black_level"]["black_level"])
        curve = np.asarray(algorithms["rpi.awb"]["ct_curve"], dtype=np.float64).reshape(-1, 3)
        ccms = tuple(
            (float(c["ct"]), np.asarray(c["ccm"], dtype=np.float64).reshape(3, 3))
            for c in algorithms["rpi.ccm"]["ccms"]
        )
    except (KeyError, TypeError, ValueError) as e:
        raise TuningError(f"{path}: missing or malformed calibration ({e})") from None
    if not ccms or len(curve) < 2:
        raise TuningError(f"{path}: needs at least one CCM and two CT curve points")
    return Tuning(
        path=path,
        target=str(doc.get("target", "")),
        black_level_16bit=black,
        ct_curve=curve[np.argsort(curve[:, 0])],
        ccms=tuple(sorted(ccms, key=lambda c: c[0])),
        algorithms=algorithms,
    )


def load_tuning(path: str | Path) -> Tuning:
    """Read a tuning file from disk; errors name the file."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise TuningError(f"{p}: cannot read tuning file ({e.strerror})") from None
    return parse_tuning(text, str(p))


@functools.cache
def default_tuning(target: str = "vc4") -> Tuning:
    """The IMX477 tuning: the Pi's installed file when present, else the copy shipped here."""
    if target not in TARGETS:
        raise TuningError(f"unknown tuning target {target!r}; expected one of {TARGETS}")
    system = SYSTEM_TUNING_DIR / target / "imx477.json"
    if system.is_file():
        return load_tuning(system)
    shipped = SHIPPED_TUNING_DIR / f"{target}_imx477.json"
    return parse_tuning(shipped.read_text(), f"isp/data/{target}_imx477.json")


#: ALSC grid (rows, columns) by number of cells: vc4 uses 16×12, pisp 32×32.
ALSC_GRIDS = {192: (12, 16), 1024: (32, 32)}


def _table(values: Any, path: str, what: str) -> np.ndarray:
    t = np.asarray(values, dtype=np.float64).reshape(-1)
    if t.size not in ALSC_GRIDS or not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise TuningError(f"{path}: rpi.alsc {what} is not a 16x12 or 32x32 table of positive gains")
    return t.reshape(ALSC_GRIDS[t.size])


def _interp_tables(calibrations: Any, colour_temperature: float, path: str, what: str) -> np.ndarray:
    """Piecewise-linear interpolation of calibrated tables by colour temperature, clamped."""
    if not calibrations:
        raise TuningError(f"{path}: rpi.alsc has no {what} calibrations")
    cals = sorted(((float(c["ct"]), _table(c["table"], path, what)) for c in calibrations),
                  key=lambda c: c[0])
    cts = [ct for ct, _ in cals]
    if colour_temperature <= cts[0]:
        return cals[0][1]
    if colour_temperature >= cts[-1]:
        return cals[-1][1]
    i = int(np.searchsorted(cts, colour_temperature))
    (ct0, t0), (ct1, t1) = cals[i - 1], cals[i]
    w = (colour_temperature - ct0) / (ct1 - ct0)
    return (1 - w) * t0 + w * t1


def alsc_gains(tuning: Tuning, colour_temperature: float) -> np.ndarray:
    """Lens shading gains of the ``rpi.alsc`` block at ``colour_temperature``, shape (3, rows, cols).

    The colour tables (``calibrations_Cr``/``_Cb``) are interpolated by colour temperature as
    libcamera does and divided by their value at the optical centre, so they carry the colour
    shading only (the frame's colour gains carry the white balance). The luminance table is softened by
    ``luminance_strength`` (gain ``1 + (lut - 1) * strength``). The grid spans the full sensor.
    """
    a = tuning.algorithm("rpi.alsc")
    try:
        strength = float(a.get("luminance_strength", 1.0))
        lum = 1.0 + (_table(a["luminance_lut"], tuning.path, "luminance_lut") - 1.0) * strength
        cr = _interp_tables(a["calibrations_Cr"], colour_temperature, tuning.path, "Cr")
        cb = _interp_tables(a["calibrations_Cb"], colour_temperature, tuning.path, "Cb")
    except (KeyError, TypeError, ValueError) as e:
        raise TuningError(f"{tuning.path}: malformed rpi.alsc block ({e})") from None
    if not (lum.shape == cr.shape == cb.shape):
        raise TuningError(f"{tuning.path}: rpi.alsc tables have different grid sizes")
    return np.stack([cr / _centre(cr) * lum, lum, cb / _centre(cb) * lum])


def _centre(table: np.ndarray) -> float:
    """Mean of the (up to) 2×2 cells at the table's centre."""
    r, c = table.shape
    return float(table[(r - 1) // 2 : r // 2 + 1, (c - 1) // 2 : c // 2 + 1].mean())


def gamma_curve(tuning: Tuning) -> tuple[np.ndarray, np.ndarray]:
    """The ``rpi.contrast`` gamma curve as (input, output) arrays scaled to [0, 1]."""
    try:
        pts = np.asarray(tuning.algorithm("rpi.contrast")["gamma_curve"], np.float64).reshape(-1, 2)
    except (KeyError, TypeError, ValueError) as e:
        raise TuningError(f"{tuning.path}: malformed rpi.contrast gamma_curve ({e})") from None
    if len(pts) < 2 or np.any(np.diff(pts[:, 0]) <= 0):
        raise TuningError(f"{tuning.path}: rpi.contrast gamma_curve must rise in x")
    return pts[:, 0] / 65535.0, pts[:, 1] / 65535.0


def sharpen_settings(tuning: Tuning) -> tuple[float, float, float]:
    """``rpi.sharpen`` (threshold, strength, limit); libcamera's defaults when absent."""
    a = tuning.algorithms.get("rpi.sharpen", {})
    return (float(a.get("threshold", 1.0)), float(a.get("strength", 1.0)), float(a.get("limit", 1.0)))


def noise_profile(tuning: Tuning) -> tuple[float, float]:
    """``rpi.noise`` (reference_constant, reference_slope): noise σ ≈ constant + slope·√signal,
    both in 16-bit DN at unity gain (Raspberry Pi tuning guide, noise section)."""
    a = tuning.algorithms.get("rpi.noise", {})
    return float(a.get("reference_constant", 0.0)), float(a.get("reference_slope", 0.0))
