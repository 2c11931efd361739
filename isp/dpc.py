"""Defective pixel correction stage: clamp isolated hot and cold pixels.

Input and output: float32 colour planes (:mod:`isp.cfa`) of a normalised mosaic (black 0,
white 1); each plane loses one sample on every side (two pixels). Each sample is clamped to the
range of its four same-colour neighbours (two pixels away, up, down, left, right) widened by a
margin, so a single stuck pixel cannot stand out while edges and lines, which have same-colour
neighbours of different values around them, pass. The margin is ``threshold`` plus ``slope``
times the neighbours' spread (highest minus lowest): in a flat area, dark or bright, a defect is
pulled back to within ``threshold`` of its surround, while in texture and noise, where the
neighbours differ, pixels keep the freedom the local variation gives them. Like the Pi's ``rpi.dpc`` it runs before white
balance and demosaicing, which would otherwise smear a defect into a coloured blot.

Examples
--------
>>> import numpy as np
>>> x = np.full((6, 6), 0.2, np.float32); x[2, 3] = 1.0
>>> round(float(defective_pixels(x, DpcParams())[2, 3]), 4)
0.202
"""

from __future__ import annotations

import dataclasses

import numpy as np

from isp.cfa import on_mosaic
from isp.grid import Grid, clip, maximum, minimum


@dataclasses.dataclass(frozen=True)
class DpcParams:
    """How far a pixel may leave its neighbours' range: ``threshold`` (normalised signal; the
    default is about 8 DN of a 12-bit sensor, a few times its read noise) plus ``slope``
    times the neighbours' spread."""

    threshold: float = 0.002
    slope: float = 1.0

    def __post_init__(self) -> None:
        if self.threshold < 0 or self.slope < 0:
            raise ValueError("DPC threshold and slope must be >= 0")


def _clamp(p: Grid, params: DpcParams) -> Grid:
    up, down, left, right = p.shift(-1, 0), p.shift(1, 0), p.shift(0, -1), p.shift(0, 1)
    hi = maximum(maximum(up, down), maximum(left, right))
    lo = minimum(minimum(up, down), minimum(left, right))
    margin = hi - lo
    margin *= np.float32(params.slope)
    margin += np.float32(params.threshold)
    return clip(p, lo - margin, hi + margin)


def defective_pixels_planes(planes: dict[str, Grid], params: DpcParams) -> dict[str, Grid]:
    """Clamp each sample into its four same-colour neighbours' range, widened by the margin."""
    return {name: _clamp(p, params) for name, p in planes.items()}


def defective_pixels(cfa: np.ndarray, params: DpcParams) -> np.ndarray:
    """:func:`defective_pixels_planes` on an (H, W) mosaic, mirrored at the edges."""
    return on_mosaic(lambda p: defective_pixels_planes(p, params), cfa, "RGGB", 2)
