"""Output stage: encoded float RGB to 8-bit.

Input: float32 (H, W, 3) in [0, 1]. Output: uint8 (H, W, 3), rounded to nearest.
:func:`to_uint8_planar` takes planar (3, H, W) and writes into an (H, W, 3) uint8 array.

Examples
--------
>>> import numpy as np
>>> to_uint8(np.array([[[0.0, 0.5, 1.0]]], np.float32)).tolist()
[[[0, 128, 255]]]
"""

from __future__ import annotations

import numpy as np


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Scale to 0-255, round and convert."""
    x = rgb * np.float32(255.0)
    x += np.float32(0.5)
    np.clip(x, 0, 255, out=x)
    return x.astype(np.uint8)


def to_uint8_planar(rgb: np.ndarray, out: np.ndarray) -> None:
    """Planar float32 (3, H, W) in [0, 1] to ``out``, uint8 (H, W, 3), rounded to nearest."""
    tmp = np.empty_like(rgb[0])
    for c in range(3):
        np.multiply(rgb[c], np.float32(255.0), out=tmp)
        tmp += np.float32(0.5)
        np.clip(tmp, 0, 255, out=tmp)
        out[..., c] = tmp
