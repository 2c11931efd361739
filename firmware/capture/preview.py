"""Small RGB previews: the DNG's IFD0 image, the EXIF thumbnail and the gallery thumbnails.

A box filter (the mean of each ``k×k`` block, ``k`` the integer factor that brings the image
within the box) followed by nearest-neighbour sampling for the remaining non-integer part.
That is enough for images a few hundred pixels wide and costs one pass over the input.
"""

from __future__ import annotations

import math

import numpy as np


def fit_within(rgb: np.ndarray, max_width: int, max_height: int) -> np.ndarray:
    """Downscale ``rgb`` (uint8, ``(h, w, 3)``) to fit ``max_width × max_height``, keeping the
    aspect ratio; never upscales. Returns a new C-contiguous uint8 array.

    >>> fit_within(np.zeros((3040, 4056, 3), np.uint8), 256, 256).shape
    (192, 256, 3)
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) image, got shape {rgb.shape}")
    if max_width < 1 or max_height < 1:
        raise ValueError("the box must be at least 1×1")
    h, w = rgb.shape[:2]
    scale = min(max_width / w, max_height / h, 1.0)
    out_w, out_h = max(1, round(w * scale)), max(1, round(h * scale))
    k = max(1, math.floor(min(w / out_w, h / out_h)))
    if k > 1:
        hh, ww = (h // k) * k, (w // k) * k
        # Sum rows, then columns, in integers: ten times faster than a float mean over 4-D.
        rows = rgb[:hh, :ww].reshape(hh // k, k, ww, 3).sum(axis=1, dtype=np.uint32)
        sums = rows.reshape(hh // k, ww // k, k, 3).sum(axis=2, dtype=np.uint32)
        rgb = ((sums + (k * k) // 2) // (k * k)).astype(np.uint8)
    rows = np.minimum((np.arange(out_h) + 0.5) * rgb.shape[0] / out_h, rgb.shape[0] - 1)
    cols = np.minimum((np.arange(out_w) + 0.5) * rgb.shape[1] / out_w, rgb.shape[1] - 1)
    out = rgb[rows.astype(np.intp)][:, cols.astype(np.intp)]
    return np.ascontiguousarray(out, dtype=np.uint8)
