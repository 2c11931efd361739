"""Tone stage: linear RGB to display-encoded RGB through a lookup table.

Input: float32 linear RGB, (H, W, 3) or planar (3, H, W) (any range; clipped to [0, 1]
first). Output: float32, same shape, encoded in [0, 1]. Two curves: ``"srgb"``, the IEC 61966-2-1 transfer function, which
renders colours as measured; and ``"tuning"``, the tuning's ``rpi.contrast`` gamma curve, which
is the Pi's own contrastier look (it stands in for the sRGB curve, as on the Pi).

References
----------
IEC 61966-2-1:1999, "Default RGB colour space - sRGB".

Examples
--------
>>> import numpy as np
>>> p = ToneParams.srgb()
>>> [round(float(v), 3) for v in tone(np.array([[[0.0, 0.18, 1.0]]], np.float32), p).ravel()]
[0.0, 0.461, 1.0]
"""

from __future__ import annotations

import dataclasses

import numpy as np

#: Entries of the lookup table; 16 bits of input precision keep the sRGB toe exact to 8 bits.
LUT_SIZE = 65536


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """The sRGB transfer function (linear [0, 1] to encoded [0, 1])."""
    x = np.clip(linear, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def srgb_decode(encoded: np.ndarray) -> np.ndarray:
    """Inverse of :func:`srgb_encode`."""
    v = np.clip(encoded, 0.0, 1.0)
    return np.where(v <= 0.04045, v / 12.92, np.power((v + 0.055) / 1.055, 2.4))


@dataclasses.dataclass(frozen=True, eq=False)
class ToneParams:
    """A monotone curve sampled at ``LUT_SIZE`` evenly spaced linear inputs in [0, 1]."""

    lut: np.ndarray
    name: str = "custom"

    @classmethod
    def srgb(cls) -> ToneParams:
        x = np.linspace(0.0, 1.0, LUT_SIZE)
        return cls(srgb_encode(x).astype(np.float32), "srgb")

    @classmethod
    def from_curve(cls, x: np.ndarray, y: np.ndarray, name: str = "tuning") -> ToneParams:
        """A piecewise-linear curve through points (x, y), both in [0, 1] (e.g. rpi.contrast)."""
        grid = np.linspace(0.0, 1.0, LUT_SIZE)
        return cls(np.interp(grid, x, y).astype(np.float32), name)

    def scaled(self, white: float) -> np.ndarray:
        """The table times ``white`` (cached per value)."""
        cache = self.__dict__.setdefault("_scaled", {})
        if white not in cache:
            cache[white] = (self.lut.astype(np.float64) * white).astype(np.float32)
        return cache[white]


#: Samples mapped per step: the index arrays stay in the CPU cache and memory stays flat.
_CHUNK = 1 << 16


def tone(rgb: np.ndarray, params: ToneParams, out: np.ndarray | None = None, white: float = 1.0) -> np.ndarray:
    """Clip to [0, 1] and map through the curve (nearest of the 65536 table entries); any
    shape. ``out`` (same shape, float32, contiguous; may be ``rgb`` itself) receives the result,
    scaled so that encoded 1 is ``white`` (the pipeline asks for 255: 8-bit output levels)."""
    x = np.ascontiguousarray(rgb, dtype=np.float32)
    if out is None:
        out = np.empty_like(x)
    lut = params.lut if white == 1.0 else params.scaled(white)
    src, dst = x.reshape(-1), out.reshape(-1)
    scale, half = np.float32(LUT_SIZE - 1), np.float32(0.5)
    idx = np.empty(min(_CHUNK, src.size), np.intp)
    for i in range(0, src.size, _CHUNK):
        n = min(_CHUNK, src.size - i)
        t = src[i : i + n] * scale
        t += half
        # Truncation of x + 0.5 rounds to nearest; mode="clip" clamps the index, which is the
        # clip of the input to [0, 1] (a NaN casts to the most negative index: black).
        np.copyto(idx[:n], t, casting="unsafe")
        np.take(lut, idx[:n], out=dst[i : i + n], mode="clip")
    return out
