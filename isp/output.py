"""Output stage: encoded float RGB to 8-bit.

Input: float32 (H, W, 3) in [0, 1]. Output: uint8 (H, W, 3), rounded to nearest.

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
