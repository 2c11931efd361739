"""Bayer-site helpers shared by the mosaic stages.

A mosaic stage works on a float32 (H, W) array whose top-left sample has the colour
``pattern[0]``; strips handed out by :mod:`isp.pipeline` always start on an even row, so the
pattern of a strip is the pattern of the frame.
"""

from __future__ import annotations

import numpy as np

#: (row, column) parity of each of the four sites of a 2×2 block, in pattern order.
SITES = ((0, 0), (0, 1), (1, 0), (1, 1))
CHANNEL = {"R": 0, "G": 1, "B": 2}


def site_colours(pattern: str) -> tuple[tuple[int, int, int], ...]:
    """``(row parity, column parity, channel index)`` of the four sites of ``pattern``."""
    return tuple((dy, dx, CHANNEL[c]) for (dy, dx), c in zip(SITES, pattern, strict=True))


def pad_same_colour(x: np.ndarray, n: int) -> np.ndarray:
    """Mirror-pad by ``n`` (even) on every side so neighbours at even offsets share colour."""
    mode = "reflect" if min(x.shape) > 1 else "edge"
    return np.pad(x, n, mode=mode)


def green_mask(shape: tuple[int, int], pattern: str) -> np.ndarray:
    """Boolean mask of the green sites."""
    mask = np.zeros(shape, bool)
    for dy, dx, ch in site_colours(pattern):
        if ch == 1:
            mask[dy::2, dx::2] = True
    return mask
