"""Bayer-site helpers shared by the mosaic stages.

The pipeline handles a mosaic as its four colour sub-lattices (:func:`split_planes`): after
:func:`pad_to_rggb` the top-left pixel is red, so the planes are always named ``R``, ``Gr``
(green on red rows), ``Gb`` (green on blue rows) and ``B``, on a shared quarter-resolution index
``(i, j)``: R at full-resolution pixel ``(2i, 2j)``, Gr at ``(2i, 2j+1)``, Gb at ``(2i+1, 2j)``
and B at ``(2i+1, 2j+1)``. Mosaic stages are functions of these planes
(``{name: isp.grid.Grid}``); :func:`on_mosaic` applies one to a plain (H, W) mosaic of any
pattern.

Examples
--------
>>> import numpy as np
>>> m = np.arange(16, dtype=np.float32).reshape(4, 4)
>>> p = split_planes(m)
>>> p["Gb"].to2d().tolist()
[[4.0, 6.0], [12.0, 14.0]]
>>> bool(np.array_equal(merge_planes(p, 0, 4, 0, 4), m))
True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from isp.exc import RawFormatError
from isp.grid import Grid

#: (row parity, column parity) of each of the four sites of a 2×2 block, in pattern order.
SITES = ((0, 0), (0, 1), (1, 0), (1, 1))
CHANNEL = {"R": 0, "G": 1, "B": 2}
PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
#: Plane names of an RGGB mosaic in site order, and each plane's channel.
PLANES = ("R", "Gr", "Gb", "B")
PLANE_CHANNEL = {"R": 0, "Gr": 1, "Gb": 1, "B": 2}
PLANE_SITE = dict(zip(PLANES, SITES, strict=True))
#: Rows and columns mirrored onto the top/left to bring each pattern to RGGB: the parity of
#: the frame's red rows and columns.
PHASE = {"RGGB": (0, 0), "GRBG": (0, 1), "GBRG": (1, 0), "BGGR": (1, 1)}
#: Smallest side the filters see; tinier mosaics are mirrored up to it.
_MIN_SIDE = 8


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


def check_pattern(pattern: str) -> tuple[int, int]:
    """The (row, column) parity of red in ``pattern``; a clear error for anything else."""
    if pattern not in PHASE:
        raise RawFormatError(f"unknown Bayer pattern {pattern!r}; expected one of {PATTERNS}")
    return PHASE[pattern]


def mirror_index(n: int, start: int, stop: int) -> np.ndarray:
    """Indices ``start .. stop-1`` folded into ``0 .. n-1`` by mirroring without repeating the
    edge sample (``... 2 1 | 0 1 2 ... n-1 | n-2 ...``), which keeps each index's parity."""
    idx = np.arange(start, stop)
    if n == 1:
        return np.zeros_like(idx)
    period = 2 * (n - 1)
    idx = np.mod(idx, period)
    return np.where(idx >= n, period - idx, idx)


def pad_to_rggb(cfa: np.ndarray, pattern: str, margin: int = 0) -> tuple[np.ndarray, tuple[int, int]]:
    """Mirror-pad ``cfa`` so it reads RGGB from the top-left, has even sides of at least
    ``_MIN_SIDE``, and has ``margin`` extra (even) samples on every side.

    Returns the padded mosaic and the (row, column) offset of the original inside it.
    """
    dy, dx = check_pattern(pattern)
    h, w = cfa.shape
    m = margin + (margin % 2)
    top, left = m + dy, m + dx
    bottom = m + (top + h) % 2 + max(0, _MIN_SIDE - h - 2 * m)
    right = m + (left + w) % 2 + max(0, _MIN_SIDE - w - 2 * m)
    bottom += (top + h + bottom) % 2
    right += (left + w + right) % 2
    rows = mirror_index(h, -top, h + bottom)
    cols = mirror_index(w, -left, w + right)
    padded = np.asarray(cfa, np.float32)[rows][:, cols]
    return np.ascontiguousarray(padded), (top, left)


def split_planes(cfa: np.ndarray) -> dict[str, Grid]:
    """The R, Gr, Gb and B sub-lattices of an even-sized RGGB mosaic as float32 grids."""
    return {
        name: Grid.from2d(cfa[dy::2, dx::2])
        for name, (dy, dx) in zip(PLANES, SITES, strict=True)
    }


def merge_planes(planes: dict[str, Grid], r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Full-resolution float32 mosaic of pixel rows ``r0..r1-1`` and columns ``c0..c1-1``."""
    qr0, qc0, qr1, qc1 = r0 // 2, c0 // 2, (r1 + 1) // 2, (c1 + 1) // 2
    out = np.empty((2 * (qr1 - qr0), 2 * (qc1 - qc0)), np.float32)
    for name, (dy, dx) in zip(PLANES, SITES, strict=True):
        out[dy::2, dx::2] = planes[name].view(qr0, qr1, qc0, qc1)
    return out[r0 - 2 * qr0 : r1 - 2 * qr0, c0 - 2 * qc0 : c1 - 2 * qc0]


def on_mosaic(
    stage: Callable[[dict[str, Grid]], dict[str, Grid]], cfa: np.ndarray, pattern: str, reach: int
) -> np.ndarray:
    """Apply a plane stage reaching ``reach`` pixels to an (H, W) mosaic of ``pattern``, with
    mirrored edges; float32 (H, W)."""
    padded, (top, left) = pad_to_rggb(cfa, pattern, reach)
    h, w = cfa.shape
    return np.ascontiguousarray(merge_planes(stage(split_planes(padded)), top, top + h, left, left + w))
