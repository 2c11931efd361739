"""Small separable filters shared by the ISP stages (float32 in, float32 out).

Edges are mirrored without repeating the edge sample (``d c b | a b c d``, scipy's ``"mirror"``),
which keeps a Bayer mosaic's colour phase at the border: the sample one pixel outside has the
colour of the sample one pixel inside.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

_HALF = np.array([0.5, 1.0, 0.5], np.float32)


def box(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Sum over ``size`` consecutive samples centred on each sample along ``axis`` (size odd)."""
    out = ndimage.uniform_filter1d(x, size, axis=axis, mode="mirror")
    out *= np.float32(size)
    return out


def box2d(x: np.ndarray, size: int) -> np.ndarray:
    """Sum over a ``size`` × ``size`` window centred on each sample (size odd)."""
    return box(box(x, size, 0), size, 1)


def mean2d(x: np.ndarray, size: int) -> np.ndarray:
    """Mean over a ``size`` × ``size`` window centred on each sample (size odd)."""
    return ndimage.uniform_filter(x, size, mode="mirror")


def mean1d(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Mean over ``size`` samples centred on each sample along ``axis`` (size odd)."""
    return ndimage.uniform_filter1d(x, size, axis=axis, mode="mirror")


def correlate(x: np.ndarray, weights: np.ndarray | list[float], axis: int, origin: int = 0) -> np.ndarray:
    """Correlate with 1-D ``weights`` along ``axis``; ``origin`` shifts the window as in scipy."""
    return ndimage.correlate1d(
        x, np.asarray(weights, np.float32), axis=axis, mode="mirror", origin=origin
    )


def half_interp(x: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of every-other-sample data along ``axis``: kernel [½, 1, ½]."""
    return ndimage.correlate1d(x, _HALF, axis=axis, mode="mirror")


def bilinear_sparse(x: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of data known on one site of each 2×2 block, zero elsewhere."""
    return half_interp(half_interp(x, 0), 1)


def shift(x: np.ndarray, offset: int, axis: int) -> np.ndarray:
    """``out[i] = x[i + offset]`` along ``axis`` with mirrored edges."""
    if offset == 0:
        return x
    k = 2 * abs(offset) + 1
    w = np.zeros(k, np.float32)
    w[abs(offset) + offset] = 1.0
    return ndimage.correlate1d(x, w, axis=axis, mode="mirror")
