"""Green equalisation stage: remove the Gr/Gb imbalance that shows as a fine maze pattern.

Input and output: float32 (H, W) mosaic, normalised. The two greens of a Bayer sensor (on red
rows and on blue rows) can differ by a little because of crosstalk. At each green site the mean
of its four diagonal neighbours (the other green) is compared with the sample; where they differ
by less than ``offset + slope * level`` (so real detail survives), the sample moves halfway to
the other green's mean. This follows the Pi ISP's ``rpi.geq`` (offset and slope in 16-bit DN).

Examples
--------
>>> import numpy as np
>>> x = np.full((6, 6), 0.5, np.float32); x[0::2, 1::2] = 0.502  # Gr a little brighter (RGGB)
>>> y = green_equalise(x, "RGGB", GreenEqParams(offset=204 / 65535, slope=0.01078))
>>> bool(abs(float(y[2, 3]) - float(y[3, 2])) < 1e-6)
True
"""

from __future__ import annotations

import dataclasses

import numpy as np

from isp.cfa import green_mask, pad_same_colour


@dataclasses.dataclass(frozen=True)
class GreenEqParams:
    """``offset`` (normalised signal) and ``slope`` (fraction of the level) of the threshold."""

    offset: float = 204 / 65535
    slope: float = 0.01078


def green_equalise(cfa: np.ndarray, pattern: str, params: GreenEqParams) -> np.ndarray:
    """Average the two greens where they differ by less than the threshold."""
    h, w = cfa.shape
    p = pad_same_colour(cfa, 2)
    diag = p[1 : h + 1, 1 : w + 1] + p[1 : h + 1, 3 : w + 3]
    diag += p[3 : h + 3, 1 : w + 1]
    diag += p[3 : h + 3, 3 : w + 3]
    diag *= np.float32(0.25)
    diff = diag - cfa
    limit = np.float32(params.offset) + np.float32(params.slope) * np.abs(cfa)
    apply = (np.abs(diff) < limit) & green_mask(cfa.shape, pattern)
    return cfa + np.where(apply, np.float32(0.5) * diff, np.float32(0.0))
