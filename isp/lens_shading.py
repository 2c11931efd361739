"""Lens shading correction stage: undo vignetting and colour shading with a gain grid.

Input: float32 (H, W) mosaic or its colour planes (:mod:`isp.cfa`) in [0, 1] (white
balanced). Output: the same, in [0, 1].
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

from isp.cfa import PLANE_CHANNEL, PLANE_SITE, site_colours
from isp.grid import Grid


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
    return _weights_at(n_px, np.arange(start, start + count), n_cells)


def _cells(n_px: int, index: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """For pixel rows/cols ``index``: the cell ``i`` whose centre is at or before each (so the
    gain lies between centres ``i`` and ``i + 1``) and the fraction ``t`` of the way to the next
    centre, clamped to [0, 1] (constant beyond the outermost centres). With one cell, all 0."""
    pos = np.asarray(index) + 0.5
    if n_cells == 1:
        return np.zeros(len(pos), np.intp), np.zeros(len(pos), np.float32)
    centres = (np.arange(n_cells) + 0.5) * (n_px / n_cells)
    i = np.clip(np.searchsorted(centres, pos) - 1, 0, n_cells - 2)
    t = np.clip((pos - centres[i]) / (centres[i + 1] - centres[i]), 0.0, 1.0)
    return i, t.astype(np.float32)


def _weights_at(n_px: int, index: np.ndarray, n_cells: int) -> np.ndarray:
    """(len(index), n_cells) linear-interpolation weights of the pixel rows/cols ``index``."""
    i, t = _cells(n_px, index, n_cells)
    w = np.zeros((len(i), n_cells), np.float32)
    rows = np.arange(len(i))
    w[rows, i] = 1.0 - t
    if n_cells > 1:
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


def frame_tables(params: LensShadingParams) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The gain grid interpolated along its rows of cells to every frame column, (3, cells
    down, W), its steps from one row of cells to the next (same shape, the last one 0), and
    each frame row's cell and fraction of the way to the next (:func:`_cells`).

    Made once per frame and kept on ``params`` (a few hundred kB): each tile then only picks
    its columns and rows out of these instead of interpolating the grid again: the stage takes
    0.3 instead of 1.0 ms a 384 x 512 tile (most of that was fixed cost, the same for a tile of
    8 x 8 pixels).
    """
    tables = params.__dict__.get("_frame_tables")
    if tables is None:
        h, w = params.frame_shape
        g = np.asarray(params.gains, np.float32)
        i, t = _cells(w, np.arange(w), g.shape[2])
        across = g[:, :, i] * (1.0 - t)
        if g.shape[2] > 1:
            across += g[:, :, i + 1] * t
        across = np.ascontiguousarray(across)  # rows of columns: a tile takes its columns fast
        step = np.zeros_like(across)
        step[:, :-1] = np.diff(across, axis=1)
        tables = (across, step, *_cells(h, np.arange(h), g.shape[1]))
        params.__dict__["_frame_tables"] = tables  # frozen: cached beside the fields
    return tables


def lens_shading_planes(
    planes: dict[str, Grid], params: LensShadingParams, rows: np.ndarray, cols: np.ndarray
) -> dict[str, Grid]:
    """:func:`lens_shading` on RGGB colour planes; ``rows[y]`` and ``cols[x]`` are the frame
    row and column of full-resolution plane position ``(y, x)`` (pixel ``(2i + dy, 2j + dx)``
    of site ``(dy, dx)``), so mirrored padding gets the gains of the pixels it mirrors."""
    across_all, step_all, row_cell, row_t = frame_tables(params)
    out = {}
    for name, p in planes.items():
        dy, dx = PLANE_SITE[name]
        c = PLANE_CHANNEL[name]
        frame_cols = cols[dx : 2 * p.stride + dx : 2]
        across = across_all[c].take(frame_cols, axis=1)  # (cells down, the plane's columns)
        step = step_all[c].take(frame_cols, axis=1)
        frame_rows = rows[2 * p.r0 + dy : 2 * p.r1 + dy : 2]
        k, t = row_cell[frame_rows], row_t[frame_rows]
        # Down a column the gain is linear between cell centres: on each run of rows between the
        # same two centres, gain = across[k] + t * (across[k + 1] - across[k]).
        gains = np.empty((p.r1 - p.r0, p.stride), np.float32)
        edges = [0, *(np.flatnonzero(k[1:] != k[:-1]) + 1).tolist(), len(k)]
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            np.multiply(t[a:b, None], step[k[a]], out=gains[a:b])
            gains[a:b] += across[k[a]]
        x = gains.reshape(-1)[p.c0 : p.c0 + len(p.flat())]
        x *= p.flat()
        out[name] = p.like(np.clip(x, np.float32(0.0), np.float32(1.0), out=x))
    return out
