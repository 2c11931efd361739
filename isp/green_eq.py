"""Green equalisation stage: remove the Gr/Gb imbalance that shows as a fine maze pattern.

Input and output: float32 colour planes (:mod:`isp.cfa`) of a normalised mosaic; the green
planes lose one sample at some edges. The two greens of a Bayer sensor (on red rows and on blue
rows) can differ by a little because of crosstalk. At each green site the mean of its four
diagonal neighbours (the other green) is compared with the sample; where they differ by less
than ``offset + slope * level`` (so real detail survives), the sample moves halfway to the other
green's mean. This follows the Pi ISP's ``rpi.geq`` (offset and slope in 16-bit DN).

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

from isp.cfa import on_mosaic
from isp.grid import Grid, common, wsum2


@dataclasses.dataclass(frozen=True)
class GreenEqParams:
    """``offset`` (normalised signal) and ``slope`` (fraction of the level) of the threshold."""

    offset: float = 204 / 65535
    slope: float = 0.01078


def _towards(g: Grid, other_mean: Grid, params: GreenEqParams) -> Grid:
    region = common(g, other_mean)
    x = g.flat(region)
    diff = other_mean.flat(region) - x
    limit = np.abs(x)
    limit *= np.float32(params.slope)
    limit += np.float32(params.offset)
    # Halfway where the greens differ by less than the limit: a 0/1 mask multiplied in (far
    # cheaper than np.where).
    near = np.abs(diff)
    np.less(near, limit, out=near)
    diff *= near
    diff *= np.float32(0.5)
    diff += x
    return g.like(diff, region)


def green_equalise_planes(planes: dict[str, Grid], params: GreenEqParams) -> dict[str, Grid]:
    """Average the two greens where they differ by less than the threshold."""
    gr, gb = planes["Gr"], planes["Gb"]
    # Gr at (2i, 2j+1) has Gb neighbours at (2i±1, 2j+1±1): Gb rows i-1..i, columns j..j+1.
    gb_mean = wsum2(gb, (-1, 0), (0, 1)) * 0.25
    gr_mean = wsum2(gr, (0, 1), (-1, 0)) * 0.25
    return {**planes, "Gr": _towards(gr, gb_mean, params), "Gb": _towards(gb, gr_mean, params)}


def green_equalise(cfa: np.ndarray, pattern: str, params: GreenEqParams) -> np.ndarray:
    """:func:`green_equalise_planes` on an (H, W) mosaic of ``pattern``, mirrored at the edges."""
    return on_mosaic(lambda p: green_equalise_planes(p, params), cfa, pattern, 2)
