"""Small separable filters for whole arrays (float32 in, float32 out), numpy only.

Edges are mirrored without repeating the edge sample (``d c b | a b c d``, numpy's
``"reflect"``), which keeps a Bayer mosaic's colour phase at the border: the sample one pixel
outside has the colour of the sample one pixel inside. The demosaic works on valid regions
instead (:mod:`isp.grid`); these serve the simpler stages and the bilinear baseline.

Examples
--------
>>> import numpy as np
>>> correlate(np.array([1.0, 2.0, 4.0], np.float32), [0.25, 0.5, 0.25], 0).tolist()
[1.5, 2.25, 3.0]
"""

from __future__ import annotations

import numpy as np


def correlate(x: np.ndarray, weights: np.ndarray | list[float], axis: int) -> np.ndarray:
    """Correlate with odd-length 1-D ``weights`` centred on each sample along ``axis``."""
    w = [float(v) for v in weights]
    if len(w) % 2 == 0:
        raise ValueError("weights must have odd length")
    r = len(w) // 2
    n = x.shape[axis]
    pad = [(0, 0)] * x.ndim
    pad[axis] = (r, r)
    mode = "reflect" if n > 1 else "edge"
    p = np.pad(np.asarray(x, np.float32), pad, mode=mode)
    out = np.zeros(x.shape, np.float32)
    for k, wk in enumerate(w):
        if wk:
            out += np.float32(wk) * np.take(p, np.arange(k, k + n), axis=axis)
    return out


def half_interp(x: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of every-other-sample data along ``axis``: kernel [½, 1, ½]."""
    return correlate(x, [0.5, 1.0, 0.5], axis)


def bilinear_sparse(x: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of data known on one site of each 2×2 block, zero elsewhere."""
    return half_interp(half_interp(x, 0), 1)
