"""DNG colour calibration from the libcamera tuning: ColorMatrix and ForwardMatrix.

The tuning gives, for a colour temperature ``T``, the camera's neutral ``n = (r, 1, b)``
(``neutral_rb(T)``: the camera r/g and b/g of a grey under that light) and a colour correction
matrix ``C = ccm(T)`` mapping *white-balanced* camera RGB ``diag(1/n)·cam`` to linear sRGB.
Its rows sum to 1, so the white-balanced grey (1, 1, 1) becomes sRGB white: the CCM maps the
scene's white to D65 white, i.e. it includes the chromatic adaptation from the light to D65.

With ``S`` the linear-sRGB → XYZ matrix (IEC 61966-2-1, D65 white) and ``B(W₁→W₂)`` the Bradford
adaptation between white points, the DNG matrices for a calibration illuminant with white
``W`` (XYZ, Y = 1) and colour temperature ``T`` are:

- **ForwardMatrix** (white-balanced camera → XYZ D50, DNG 1.2): ``FM = B(D65→D50) · S · C``.
  A white-balanced neutral (1, 1, 1) goes to D50 white, as the spec requires.
- **ColorMatrix** (XYZ under the illuminant → camera): the camera → XYZ map *without*
  adaptation is ``B(D65→W) · S · C · diag(1/n)`` (undo the CCM's adaptation so the neutral lands
  on the light's own white ``W``), and ``CM`` is its inverse, so ``CM · W ∝ n``: a reader
  working out the white balance from AsShotNeutral finds the right light. ``CM`` is scaled so
  that ``max(CM · XYZ_D50) = 1`` (the normalisation of Adobe's DNG SDK).

CalibrationIlluminant1 is Standard Illuminant A (EXIF code 17, 2856 K, xy 0.44757, 0.40745)
and CalibrationIlluminant2 is D65 (code 21, 6504 K, xy 0.31271, 0.32902); a reader interpolates
between them by the colour temperature of the shot's neutral.

References
----------
Adobe, "Digital Negative (DNG) Specification" 1.4.0.0, 2012, chapter 6 "Mapping Camera Color
Space to CIE XYZ Space".
IEC 61966-2-1:1999, sRGB (primaries and D65 white).
K. M. Lam, "Metamerism and colour constancy", PhD thesis, University of Bradford, 1985
(the Bradford cone response matrix).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from isp.dng_profile import SRGB_TO_XYZ, WHITE_D50, WHITE_D65, bradford, xy_to_xyz
from isp.tuning import Tuning

WHITE_A = xy_to_xyz((0.44757, 0.40745))


@dataclasses.dataclass(frozen=True)
class Illuminant:
    name: str
    exif_code: int
    colour_temperature: float
    white_xyz: np.ndarray


STD_A = Illuminant("Standard Illuminant A", 17, 2856.0, WHITE_A)
D65 = Illuminant("D65", 21, 6504.0, WHITE_D65)


@dataclasses.dataclass(frozen=True)
class Calibration:
    """One DNG calibration: illuminant, ColorMatrix (XYZ → camera), ForwardMatrix
    (white-balanced camera → XYZ D50) and the camera neutral the tuning gives for it."""

    illuminant: Illuminant
    colour_matrix: np.ndarray
    forward_matrix: np.ndarray
    neutral: tuple[float, float, float]


def calibration(tuning: Tuning, illuminant: Illuminant) -> Calibration:
    """DNG matrices for ``illuminant`` from the tuning's CCM and CT curve (see module docs)."""
    ct = illuminant.colour_temperature
    r, b = tuning.neutral_rb(ct)
    neutral = np.array([r, 1.0, b])
    ccm = tuning.ccm(ct)
    to_xyz_d65 = SRGB_TO_XYZ @ ccm
    forward = bradford(WHITE_D65, WHITE_D50) @ to_xyz_d65
    camera_to_xyz = bradford(WHITE_D65, illuminant.white_xyz) @ to_xyz_d65 @ np.diag(1 / neutral)
    colour = np.linalg.inv(camera_to_xyz)
    colour = colour / np.max(colour @ WHITE_D50)
    return Calibration(illuminant, colour, forward, (r, 1.0, b))


def calibrations(tuning: Tuning) -> tuple[Calibration, Calibration]:
    """The two calibrations a DNG carries: Standard Illuminant A and D65."""
    return calibration(tuning, STD_A), calibration(tuning, D65)


def camera_to_srgb(tuning: Tuning, colour_gains: tuple[float, float], colour_temperature: float) -> np.ndarray:
    """Camera RGB → linear sRGB for a quick preview: white balance by the frame's gains,
    then the CCM at the frame's colour temperature."""
    red_gain, blue_gain = colour_gains
    return tuning.ccm(colour_temperature) @ np.diag([red_gain, 1.0, blue_gain])
