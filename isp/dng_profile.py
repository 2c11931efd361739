"""A DNG's own colour: camera RGB to linear sRGB by the DNG specification, for any camera.

A DNG describes its camera's colour with up to two calibrations, each a ColorMatrix (XYZ →
camera, under its CalibrationIlluminant), optionally a ForwardMatrix (white-balanced camera →
XYZ D50) and a CameraCalibration (this unit's deviation from the model), plus AnalogBalance.
Chapter 6 of the specification ("Mapping Camera Color Space to CIE XYZ Space") says how a
reader combines them; this module follows it:

- The two calibrations are interpolated by the inverse of the white balance's correlated colour
  temperature (CCT): ``g = (1/T - 1/T2) / (1/T1 - 1/T2)``, clamped to [0, 1], for the matrices of
  illuminants 1 and 2 (with T1 < T2).
- ``XYZtoCamera = AB · CC · CM``. A camera neutral (AsShotNeutral) is turned into its white's
  chromaticity by iterating: guess xy, interpolate the matrices at its CCT, ``XYZ =
  XYZtoCamera⁻¹ · neutral``, take its xy, repeat. An AsShotWhiteXY gives the white directly, and
  the neutral is ``XYZtoCamera · XYZ(xy)``.
- Without a ForwardMatrix, ``CameraToXYZ_D50 = CA · XYZtoCamera⁻¹``, with CA the Bradford
  adaptation from the white to D50. With one, ``ReferenceNeutral = (AB · CC)⁻¹ · neutral``,
  ``D = diag(ReferenceNeutral)⁻¹`` and ``CameraToXYZ_D50 = FM · D · (AB · CC)⁻¹``.
- Either way the neutral is scaled so that it maps to D50 white with Y = 1: a raw value at the
  neutral's level in every channel is white.

The pipeline white-balances first (gains ``1/n`` for the neutral ``n``, green 1) and then
applies one matrix, so the matrix handed to it is ``XYZ_D50 → linear sRGB`` (Bradford to D65,
then IEC 61966-2-1's inverse) ``· CameraToXYZ_D50 · diag(n)``; its rows sum to 1.

References
----------
Adobe, "Digital Negative (DNG) Specification" 1.4.0.0 (2012), chapter 6; tags ColorMatrix1/2
(50721/2), CameraCalibration1/2 (50723/4), AnalogBalance (50727), AsShotNeutral (50728),
AsShotWhiteXY (50729), CalibrationIlluminant1/2 (50778/9), ForwardMatrix1/2 (50964/5).
Adobe DNG SDK 1.4, ``dng_camera_profile.cpp`` (the EXIF LightSource → temperature table below).
C. S. McCamy, "Correlated color temperature as an explicit function of chromaticity
coordinates", Color Res. Appl. 17(2), 1992 (xy → CCT, within 2 K from 2856 to 6504 K).
B. Kang et al., "Design of advanced color temperature control system for HDTV applications",
J. Korean Phys. Soc. 41(6), 2002 (the cubic spline of the Planckian locus, 1667-25000 K).
IEC 61966-2-1:1999 (sRGB). K. M. Lam, PhD thesis, University of Bradford, 1985 (Bradford).
"""

from __future__ import annotations

import dataclasses

import numpy as np

#: Linear sRGB → XYZ, D65 white (IEC 61966-2-1).
SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)
BRADFORD = np.array(
    [[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]]
)
XY_D50 = (0.34567, 0.35850)
XY_D65 = (0.31271, 0.32902)

#: EXIF LightSource code → colour temperature (K), as the DNG SDK interpolates them. Codes not
#: listed (0, unknown; 255, other) have no temperature: such a calibration is used alone.
ILLUMINANT_KELVIN = {
    1: 5500.0,   # daylight
    2: 4150.0,   # fluorescent
    3: 2850.0,   # tungsten
    4: 5500.0,   # flash
    9: 5500.0,   # fine weather
    10: 6500.0,  # cloudy
    11: 7500.0,  # shade
    12: 6430.0,  # daylight fluorescent (D 5700-7100 K)
    13: 5000.0,  # day white fluorescent (N 4600-5500 K)
    14: 4150.0,  # cool white fluorescent (W 3800-4500 K)
    15: 3450.0,  # white fluorescent (WW 3250-3800 K)
    16: 2940.0,  # warm white fluorescent (L 2600-3250 K)
    17: 2856.0,  # standard light A
    18: 4874.0,  # standard light B
    19: 6774.0,  # standard light C
    20: 5503.0,  # D55
    21: 6504.0,  # D65
    22: 7504.0,  # D75
    23: 5003.0,  # D50
    24: 3200.0,  # ISO studio tungsten
}
ILLUMINANT_NAMES = {17: "Standard light A", 21: "D65", 23: "D50", 20: "D55", 22: "D75",
                    3: "Tungsten", 1: "Daylight", 24: "ISO studio tungsten"}


def xy_to_xyz(xy: tuple[float, float] | np.ndarray) -> np.ndarray:
    """Chromaticity (x, y) to XYZ with Y = 1."""
    x, y = float(xy[0]), float(xy[1])
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def xyz_to_xy(xyz: np.ndarray) -> tuple[float, float]:
    s = float(np.sum(xyz))
    return float(xyz[0] / s), float(xyz[1] / s)


WHITE_D50 = xy_to_xyz(XY_D50)
WHITE_D65 = xy_to_xyz(XY_D65)


def bradford(src_white: np.ndarray, dst_white: np.ndarray) -> np.ndarray:
    """XYZ → XYZ chromatic adaptation from ``src_white`` to ``dst_white`` (von Kries scaling in
    the Bradford cone space)."""
    src = BRADFORD @ src_white
    dst = BRADFORD @ dst_white
    return np.linalg.inv(BRADFORD) @ np.diag(dst / src) @ BRADFORD


#: XYZ (D50) → linear sRGB: Bradford D50 → D65, then sRGB's inverse.
XYZ_D50_TO_SRGB = np.linalg.inv(SRGB_TO_XYZ) @ bradford(WHITE_D50, WHITE_D65)


def xy_to_kelvin(xy: tuple[float, float]) -> float:
    """Correlated colour temperature of a chromaticity (McCamy 1992), clamped to 1500-50000 K."""
    n = (xy[0] - 0.3320) / (0.1858 - xy[1])
    return float(np.clip(449.0 * n**3 + 3525.0 * n**2 + 6823.3 * n + 5520.33, 1500.0, 50000.0))


def kelvin_to_xy(kelvin: float) -> tuple[float, float]:
    """Chromaticity of the Planckian radiator at ``kelvin`` (Kang et al. 2002, 1667-25000 K)."""
    t = float(np.clip(kelvin, 1667.0, 25000.0))
    if t <= 4000:
        x = -0.2661239e9 / t**3 - 0.2343589e6 / t**2 + 0.8776956e3 / t + 0.179910
    else:
        x = -3.0258469e9 / t**3 + 2.1070379e6 / t**2 + 0.2226347e3 / t + 0.240390
    if t <= 2222:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    return float(x), float(y)


@dataclasses.dataclass(frozen=True, eq=False)
class Calibration:
    """One of a DNG's calibrations: the illuminant's EXIF code, ColorMatrix (XYZ → camera),
    and ForwardMatrix and CameraCalibration where the file has them."""

    illuminant: int
    colour_matrix: np.ndarray
    forward_matrix: np.ndarray | None = None
    camera_calibration: np.ndarray | None = None

    @property
    def kelvin(self) -> float | None:
        return ILLUMINANT_KELVIN.get(self.illuminant)

    @property
    def name(self) -> str:
        return ILLUMINANT_NAMES.get(self.illuminant, f"illuminant {self.illuminant}")


@dataclasses.dataclass(frozen=True, eq=False)
class Profile:
    """A DNG's colour description: its calibrations (one or two) and AnalogBalance."""

    calibrations: tuple[Calibration, ...]
    analog_balance: np.ndarray = dataclasses.field(default_factory=lambda: np.ones(3))

    def _weight(self, kelvin: float) -> float:
        """Weight of the first calibration at ``kelvin`` (by inverse temperature)."""
        if len(self.calibrations) == 1:
            return 1.0
        t1, t2 = self.calibrations[0].kelvin, self.calibrations[1].kelvin
        if t1 is None or t2 is None or t1 == t2:  # no interpolation: the one with a temperature
            return 0.0 if t1 is None and t2 is not None else 1.0
        if t1 > t2:  # the spec's formula with the lower temperature first
            return 1.0 - Profile(self.calibrations[::-1], self.analog_balance)._weight(kelvin)
        if kelvin <= t1:
            return 1.0
        if kelvin >= t2:
            return 0.0
        return (1.0 / kelvin - 1.0 / t2) / (1.0 / t1 - 1.0 / t2)

    def _mix(self, kelvin: float, field: str) -> np.ndarray | None:
        g = self._weight(kelvin)
        mats = [getattr(c, field) for c in self.calibrations]
        if any(m is None for m in mats):
            present = [m for m in mats if m is not None]
            return present[0] if present else None
        if len(mats) == 1:
            return mats[0]
        return g * mats[0] + (1.0 - g) * mats[1]

    def xyz_to_camera(self, kelvin: float) -> np.ndarray:
        """``AB · CC · CM`` at ``kelvin``."""
        cm = self._mix(kelvin, "colour_matrix")
        cc = self._mix(kelvin, "camera_calibration")
        ab_cc = np.diag(self.analog_balance) @ (np.eye(3) if cc is None else cc)
        return ab_cc @ cm

    def white_xy(self, neutral: np.ndarray) -> tuple[float, float]:
        """The chromaticity of the light whose white the camera records as ``neutral``."""
        xy = XY_D50
        for _ in range(30):
            xyz = np.linalg.solve(self.xyz_to_camera(xy_to_kelvin(xy)), neutral)
            if not np.all(np.isfinite(xyz)) or xyz.sum() <= 0:
                return XY_D50
            new = xyz_to_xy(xyz)
            if abs(new[0] - xy[0]) + abs(new[1] - xy[1]) < 1e-7:
                return new
            xy = new
        return xy

    def neutral(self, xy: tuple[float, float]) -> np.ndarray:
        """The camera neutral (green 1) of a light of chromaticity ``xy``."""
        n = self.xyz_to_camera(xy_to_kelvin(xy)) @ xy_to_xyz(xy)
        return n / n[1]

    def camera_to_xyz_d50(self, neutral: np.ndarray) -> np.ndarray:
        """Camera RGB → XYZ (D50), mapping ``neutral`` (green 1) to D50 white with Y = 1."""
        xy = self.white_xy(neutral)
        kelvin = xy_to_kelvin(xy)
        fm = self._mix(kelvin, "forward_matrix")
        if fm is not None:
            cc = self._mix(kelvin, "camera_calibration")
            ab_cc = np.diag(self.analog_balance) @ (np.eye(3) if cc is None else cc)
            reference = np.linalg.solve(ab_cc, neutral)
            m = fm @ np.diag(1.0 / reference) @ np.linalg.inv(ab_cc)
        else:
            m = bradford(xy_to_xyz(xy), WHITE_D50) @ np.linalg.inv(self.xyz_to_camera(kelvin))
        return m / (m @ neutral)[1]

    def balanced_to_srgb(self, neutral: np.ndarray) -> np.ndarray:
        """The pipeline's matrix: white-balanced camera RGB (gains ``1/neutral``) → linear sRGB."""
        n = np.asarray(neutral, np.float64) / neutral[1]
        return XYZ_D50_TO_SRGB @ self.camera_to_xyz_d50(n) @ np.diag(n)
