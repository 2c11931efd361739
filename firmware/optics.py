"""What a lens on the HQ camera gives: equivalent focal lengths, field of view, depth of field.

All distances in millimetres unless the name says otherwise. The sensor is the IMX477's
active array, 4056 × 3040 pixels of 1.55 µm (:mod:`hal.imx477`): 6.287 × 4.712 mm, diagonal
7.857 mm. Equivalents are by the diagonal (same diagonal field of view):

- 35 mm film (36 × 24 mm, diagonal 43.27 mm): crop factor 43.27 / 7.857 = 5.51;
- a 1-inch type sensor (13.2 × 8.8 mm, diagonal 15.86 mm), the size the concept phone uses:
  factor 15.86 / 7.857 = 2.02. The equivalent f-number (same depth of field and same total
  light for the same framing) scales by the same factor.

Field of view is for a lens focused at infinity, ``2·atan(d / 2f)`` for a side or diagonal
``d`` (a rectilinear lens; focusing closer narrows it slightly).

Depth of field uses the thin-lens formulas with the hyperfocal distance
``H = f² / (N·c) + f``, near limit ``s·(H − f) / (H + s − 2f)`` and far limit
``s·(H − f) / (H − s)`` (infinite for ``s ≥ H``), where ``s`` is the focus distance from the
sensor plane's conjugate (the usual approximation).

Circle of confusion: **2 × the pixel pitch = 3.1 µm**. The d/1500 convention (5.2 µm here)
is for a print of the whole frame viewed at reading distance; on this camera people zoom into
the phone screen and look at pixels, and a blur spot smaller than two pixels cannot be told
from sharp on a Bayer sensor (its colour resolution is half the pixel grid). The field is kept
as a parameter so the UI can offer the print convention too.

References
----------
S. F. Ray, "Applied Photographic Optics", 3rd ed., Focal Press, 2002, ch. 7 (depth of field).
"""

from __future__ import annotations

import dataclasses
import math

from hal import imx477

PIXEL_PITCH_MM = imx477.PIXEL_SIZE_UM / 1000
SENSOR_WIDTH_MM = imx477.ACTIVE_ARRAY[0] * PIXEL_PITCH_MM
SENSOR_HEIGHT_MM = imx477.ACTIVE_ARRAY[1] * PIXEL_PITCH_MM
SENSOR_DIAGONAL_MM = math.hypot(SENSOR_WIDTH_MM, SENSOR_HEIGHT_MM)
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)
ONE_INCH_DIAGONAL_MM = math.hypot(13.2, 8.8)
CROP_FACTOR = FULL_FRAME_DIAGONAL_MM / SENSOR_DIAGONAL_MM
ONE_INCH_FACTOR = ONE_INCH_DIAGONAL_MM / SENSOR_DIAGONAL_MM
#: Circle of confusion: two pixels (see the module docstring for why).
DEFAULT_COC_MM = 2 * PIXEL_PITCH_MM


def equivalent_focal_length_mm(focal_length_mm: float) -> float:
    """35 mm-equivalent focal length: 50 mm on the HQ camera frames like 275 mm on 35 mm film.

    >>> round(equivalent_focal_length_mm(50))
    275
    """
    return focal_length_mm * CROP_FACTOR


def field_of_view_deg(focal_length_mm: float) -> dict[str, float]:
    """Horizontal, vertical and diagonal angle of view in degrees, focused at infinity."""
    def angle(d: float) -> float:
        return math.degrees(2 * math.atan(d / (2 * focal_length_mm)))

    return {
        "horizontal": angle(SENSOR_WIDTH_MM),
        "vertical": angle(SENSOR_HEIGHT_MM),
        "diagonal": angle(SENSOR_DIAGONAL_MM),
    }


def hyperfocal_mm(focal_length_mm: float, f_number: float, coc_mm: float = DEFAULT_COC_MM) -> float:
    """Hyperfocal distance ``f²/(N·c) + f``: focused there, everything from half of it to
    infinity is acceptably sharp."""
    return focal_length_mm**2 / (f_number * coc_mm) + focal_length_mm


def depth_of_field_mm(
    focal_length_mm: float, f_number: float, focus_mm: float, coc_mm: float = DEFAULT_COC_MM
) -> tuple[float, float]:
    """Near and far limits of acceptable sharpness when focused at ``focus_mm``; far is
    ``math.inf`` at or beyond the hyperfocal distance."""
    f = focal_length_mm
    if focus_mm <= f:
        raise ValueError("focus distance must be longer than the focal length")
    h = hyperfocal_mm(f, f_number, coc_mm)
    near = focus_mm * (h - f) / (h + focus_mm - 2 * f)
    far = math.inf if focus_mm >= h else focus_mm * (h - f) / (h - focus_mm)
    return near, far


@dataclasses.dataclass(frozen=True)
class Optics:
    """Everything the UI shows for the mounted lens at the ring's f-number."""

    focal_length_mm: float
    f_number: float
    coc_mm: float
    equivalent_focal_length_mm: float
    equivalent_f_number: float
    one_inch_focal_length_mm: float
    one_inch_f_number: float
    field_of_view_deg: dict[str, float]
    hyperfocal_m: float
    hyperfocal_near_m: float

    def as_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


def optics(focal_length_mm: float, f_number: float, coc_mm: float = DEFAULT_COC_MM) -> Optics:
    """Derived optics for a lens: equivalents, angle of view, hyperfocal distance (and the
    near limit when focused there, half of it)."""
    if focal_length_mm <= 0 or f_number <= 0 or coc_mm <= 0:
        raise ValueError("focal length, f-number and circle of confusion must be positive")
    h = hyperfocal_mm(focal_length_mm, f_number, coc_mm)
    near, _ = depth_of_field_mm(focal_length_mm, f_number, h, coc_mm)
    return Optics(
        focal_length_mm=focal_length_mm,
        f_number=f_number,
        coc_mm=coc_mm,
        equivalent_focal_length_mm=focal_length_mm * CROP_FACTOR,
        equivalent_f_number=f_number * CROP_FACTOR,
        one_inch_focal_length_mm=focal_length_mm * ONE_INCH_FACTOR,
        one_inch_f_number=f_number * ONE_INCH_FACTOR,
        field_of_view_deg=field_of_view_deg(focal_length_mm),
        hyperfocal_m=h / 1000,
        hyperfocal_near_m=near / 1000,
    )
