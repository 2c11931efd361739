"""Output stage: encoded float RGB to 8-bit.

Input: float32 (H, W, 3) in [0, 1]. Output: uint8 (H, W, 3), rounded to nearest.
:func:`to_uint8_planar` takes planar (3, H, W) 8-bit levels (float32, 0-255) and the
sharpening detail, and writes into an (H, W, 3) uint8 array: the sum, clipped and rounded, in
one pass per channel.

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


def to_uint8_planar(levels: np.ndarray, out: np.ndarray, detail: np.ndarray | None = None) -> None:
    """Planar float32 (3, H, W) in 8-bit levels (0-255, see :func:`isp.tone.tone`'s ``white``)
    plus ``detail`` (H, W) if given (sharpening), rounded to nearest and clipped, into ``out``,
    uint8 (H, W, 3).

    Each channel is cast to a contiguous uint8 plane first and only then interleaved: numpy
    casts contiguous arrays with SIMD, and a strided copy of bytes is cheap, where a cast
    straight into the interleaved output is neither (a quarter less time for this stage).
    """
    tmp = np.empty_like(levels[0])
    plane = np.empty(tmp.shape, np.uint8)
    bias = np.float32(0.5) if detail is None else detail + np.float32(0.5)
    for c in range(3):
        np.add(levels[c], bias, out=tmp)
        np.clip(tmp, 0.0, 255.5, out=tmp)
        np.copyto(plane, tmp, casting="unsafe")  # truncation of x + 0.5: nearest
        out[..., c] = plane
