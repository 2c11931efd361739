"""Defective pixel correction stage: clamp isolated hot and cold pixels.

Input and output: float32 (H, W) mosaic, normalised (black 0, white 1). Each sample is clamped
to the range of its four same-colour neighbours (two pixels away, up, down, left, right)
widened by ``threshold``, so a single stuck pixel cannot stand out while edges, which have
same-colour neighbours on both sides of similar value, pass. Like the Pi's ``rpi.dpc`` it runs
before white balance and demosaicing, which would otherwise smear a defect into a coloured blot.

Examples
--------
>>> import numpy as np
>>> x = np.full((6, 6), 0.2, np.float32); x[2, 3] = 1.0
>>> float(defective_pixels(x, DpcParams())[2, 3])
0.25
"""

from __future__ import annotations

import dataclasses

import numpy as np

from isp.cfa import pad_same_colour


@dataclasses.dataclass(frozen=True)
class DpcParams:
    """``threshold``: how far (normalised signal) a pixel may exceed its neighbours' range."""

    threshold: float = 0.05


def defective_pixels(cfa: np.ndarray, params: DpcParams) -> np.ndarray:
    """Clamp each sample into [min - t, max + t] of its four same-colour neighbours."""
    h, w = cfa.shape
    p = pad_same_colour(cfa, 2)
    up, down = p[0:h, 2 : w + 2], p[4 : h + 4, 2 : w + 2]
    left, right = p[2 : h + 2, 0:w], p[2 : h + 2, 4 : w + 4]
    hi = np.maximum(np.maximum(up, down), np.maximum(left, right))
    lo = np.minimum(np.minimum(up, down), np.minimum(left, right))
    t = np.float32(params.threshold)
    hi += t
    lo -= t
    return np.clip(cfa, lo, hi, out=hi)
