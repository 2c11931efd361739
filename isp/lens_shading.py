"""Lens shading correction stage: undo vignetting and colour shading with a gain grid.

Input: float32 (H, W) mosaic in [0, 1] (white balanced). Output: float32 (H, W) in [0, 1].
The gains come as a coarse (3, rows, cols) grid over the whole sensor (the ``rpi.alsc`` tables,
see :func:`isp.tuning.alsc_gains`, or a per-lens flat-field table of the same form); each cell's
value applies at the cell centre and gains are bilinearly interpolated between centres, held
constant beyond the outermost ones.

Examples
--------
>>> import numpy as np
>>> grid = np.ones((3, 2, 2)); grid[0] = 2.0
>>> p = LensShadingParams(grid, (4, 4))
>>> lens_shading(np.full((4, 4), 0.25, np.float32), "RGGB", p, row0=0)[0, :2].tolist()
[0.5, 0.25]
"""

from __future__ import annotations

import dataclasses

import numpy as np

from isp.cfa import site_colours


@dataclasses.dataclass(frozen=True, eq=False)
class LensShadingParams:
    """``gains``: (3, rows, cols) for R, G, B over a frame of ``frame_shape`` (H, W) pixels."""

    gains: np.ndarray
    frame_shape: tuple[int, int]

    def __post_init__(self) -> None:
        g = np.asarray(self.gains)
        if g.ndim != 3 or g.shape[0] != 3 or not np.all(np.isfinite(g)) or np.any(g <= 0):
            raise ValueError("lens shading gains must be a finite, positive (3, rows, cols) grid")


def _weights(n_px: int, start: int, count: int, n_cells: int) -> np.ndarray:
    """(count, n_cells) linear-interpolation weights of pixel rows/cols ``start..start+count``."""
    centres = (np.arange(n_cells) + 0.5) * (n_px / n_cells)
    pos = np.arange(start, start + count) + 0.5
    i = np.clip(np.searchsorted(centres, pos) - 1, 0, max(n_cells - 2, 0))
    w = np.zeros((count, n_cells), np.float32)
    if n_cells == 1:
        w[:, 0] = 1.0
        return w
    t = np.clip((pos - centres[i]) / (centres[i + 1] - centres[i]), 0.0, 1.0)
    rows = np.arange(count)
    w[rows, i] = 1.0 - t
    w[rows, i + 1] += t
    return w


def gain_maps(params: LensShadingParams, row0: int, rows: int) -> np.ndarray:
    """Per-pixel gains (3, rows, W) for frame rows ``row0 .. row0 + rows``."""
    h, w = params.frame_shape
    g = np.asarray(params.gains, np.float32)
    wy = _weights(h, row0, rows, g.shape[1])
    wx = _weights(w, 0, w, g.shape[2])
    return np.stack([wy @ g[c] @ wx.T for c in range(3)])


def lens_shading(cfa: np.ndarray, pattern: str, params: LensShadingParams, row0: int) -> np.ndarray:
    """Multiply each site by its colour's interpolated gain; ``row0`` is the strip's first row."""
    maps = gain_maps(params, row0, cfa.shape[0])
    out = cfa.copy()
    for dy, dx, ch in site_colours(pattern):
        out[dy::2, dx::2] *= maps[ch, dy::2, dx::2]
    return np.clip(out, 0.0, 1.0, out=out)
