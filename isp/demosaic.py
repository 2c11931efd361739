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
from isp.demosaic_ri import MlriParams, demosaic_mlri_rggb
from isp.exc import RawFormatError

PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
METHODS = ("mlri", "bilinear")

#: Rows and columns mirrored onto the top/left to bring each pattern to RGGB.
_PHASE = {"RGGB": (0, 0), "GRBG": (0, 1), "GBRG": (1, 0), "BGGR": (1, 1)}
#: Smallest side the filters see; tinier mosaics are mirrored up to it.
_MIN_SIDE = 8


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


def pad_to_rggb(cfa: np.ndarray, pattern: str, margin: int = 0) -> tuple[np.ndarray, tuple[int, int]]:
    """Mirror-pad ``cfa`` so it reads RGGB from the top-left, has even sides of at least
    ``_MIN_SIDE``, and has ``margin`` extra (even) samples on every side.

    Returns the padded mosaic and the (row, column) offset of the original inside it.
    """
    if pattern not in _PHASE:
        raise RawFormatError(f"unknown Bayer pattern {pattern!r}; expected one of {PATTERNS}")
    h, w = cfa.shape
    m = margin + (margin % 2)
    dy, dx = _PHASE[pattern]
    top, left = m + dy, m + dx
    bottom = m + (top + h) % 2 + max(0, _MIN_SIDE - h - 2 * m)
    right = m + (left + w) % 2 + max(0, _MIN_SIDE - w - 2 * m)
    bottom += (top + h + bottom) % 2
    right += (left + w + right) % 2
    mode = "reflect" if min(h, w) > 1 else "edge"
    padded = np.pad(cfa, ((top, bottom), (left, right)), mode=mode)
    return np.ascontiguousarray(padded, dtype=np.float32), (top, left)


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
    margin = prm.margin if method == "mlri" else 2
    padded, (top, left) = pad_to_rggb(cfa.astype(np.float32, copy=False), pattern, margin)
    np.nan_to_num(padded, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    rgb = demosaic_mlri_rggb(padded, prm) if method == "mlri" else _bilinear_rggb(padded)
    h, w = cfa.shape
    out = rgb[top : top + h, left : left + w]
    return np.clip(out, 0.0, 1.0, out=np.ascontiguousarray(out))
