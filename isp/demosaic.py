"""Demosaic stage: a Bayer mosaic to full RGB.

Input: float32 (H, W) mosaic in [0, 1], any size, Bayer ``pattern`` naming the top-left 2×2
block. Output: float32 (H, W, 3) linear RGB in [0, 1].

The default method is minimised-Laplacian residual interpolation (:mod:`isp.demosaic_ri`);
``"bilinear"`` is the textbook baseline. Any pattern is reduced to RGGB by mirroring one row
and/or column onto the top/left edge (which shifts the colour phase), and odd sizes are made
even the same way on the bottom/right; the padding is cut off again afterwards.

References
----------
D. Kiku, Y. Monno, M. Tanaka, M. Okutomi, "Minimized-Laplacian residual interpolation for color
image demosaicking", Proc. SPIE 9023, Digital Photography X, 2014.

Examples
--------
>>> import numpy as np
>>> grey = np.full((6, 7), 0.5, np.float32)
>>> rgb = demosaic(grey, "BGGR")
>>> rgb.shape, rgb.dtype, bool(np.allclose(rgb, 0.5, atol=1e-5))
((6, 7, 3), dtype('float32'), True)
"""

from __future__ import annotations

import numpy as np

from isp import filters
from isp.cfa import PATTERNS, pad_to_rggb, split_planes
from isp.demosaic_ri import MlriParams, demosaic_mlri_planes, reach
from isp.exc import RawFormatError

__all__ = ["METHODS", "PATTERNS", "assemble", "demosaic", "pad_to_rggb"]

METHODS = ("mlri", "bilinear")


def _bilinear_rggb(cfa: np.ndarray) -> np.ndarray:
    h, w = cfa.shape
    y = (np.arange(h) % 2)[:, None]
    x = (np.arange(w) % 2)[None, :]
    mr = ((y == 0) & (x == 0)).astype(np.float32)
    mb = ((y == 1) & (x == 1)).astype(np.float32)
    mg = 1.0 - mr - mb
    red = filters.bilinear_sparse(cfa * mr)
    blue = filters.bilinear_sparse(cfa * mb)
    g = cfa * mg
    green = filters.correlate(g, [0.25, 1.0, 0.25], 1) + filters.correlate(g, [0.25, 0.0, 0.25], 0)
    return np.stack([red, green, blue], axis=-1)


def assemble(rgb: dict[str, dict], r0: int, r1: int, c0: int, c1: int, planar: bool = False) -> np.ndarray:
    """float32 pixels ``[r0, r1) × [c0, c1)`` from per-site planes: (rows, cols, 3), or
    (3, rows, cols) with ``planar``."""
    qr0, qc0, qr1, qc1 = r0 // 2, c0 // 2, (r1 + 1) // 2, (c1 + 1) // 2
    out = np.empty((3, 2 * (qr1 - qr0), 2 * (qc1 - qc0)), np.float32)
    for ch, name in enumerate("RGB"):
        for (dy, dx), g in rgb[name].items():
            out[ch, dy::2, dx::2] = g.view(qr0, qr1, qc0, qc1)
    out = out[:, r0 - 2 * qr0 : r1 - 2 * qr0, c0 - 2 * qc0 : c1 - 2 * qc0]
    return out if planar else np.moveaxis(out, 0, -1)


def demosaic(
    cfa: np.ndarray, pattern: str, method: str = "mlri", params: MlriParams | None = None
) -> np.ndarray:
    """Full-colour image from a Bayer mosaic.

    Parameters
    ----------
    cfa : ndarray, float32, shape (H, W)
        The mosaic, values in [0, 1].
    pattern : {"RGGB", "BGGR", "GRBG", "GBRG"}
        Colours of the top-left 2×2 block, row by row.
    method : {"mlri", "bilinear"}
        Minimised-Laplacian residual interpolation (default) or bilinear.
    params : MlriParams, optional
        Window sizes and regularisation for ``"mlri"``.

    Returns
    -------
    ndarray, float32, shape (H, W, 3)
        Linear RGB, clipped to [0, 1].
    """
    cfa = np.asarray(cfa)
    if cfa.ndim != 2 or cfa.size == 0:
        raise RawFormatError(f"demosaic needs a non-empty 2-D mosaic, got shape {cfa.shape}")
    if method not in METHODS:
        raise ValueError(f"unknown demosaic method {method!r}; expected one of {METHODS}")
    prm = params or MlriParams()
    margin = reach(prm) if method == "mlri" else 2
    padded, (top, left) = pad_to_rggb(cfa.astype(np.float32, copy=False), pattern, margin)
    np.nan_to_num(padded, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    h, w = cfa.shape
    if method == "mlri":
        out = assemble(demosaic_mlri_planes(split_planes(padded), prm), top, top + h, left, left + w)
    else:
        out = _bilinear_rggb(padded)[top : top + h, left : left + w]
    return np.clip(out, 0.0, 1.0, out=np.ascontiguousarray(out))
