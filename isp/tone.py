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

    def table(self, white: float, low: float = 0.0, high: float = 1.0) -> np.ndarray:
        """The curve as :func:`tone_indexed` reads it, times ``white``, for linear inputs from
        ``low`` to ``high`` (cached per arguments).

        Entry ``i`` is the curve at the middle of the input step ``[i, i + 1) / INDEX_SCALE``
        (the first step keeps the curve's value at 0: black stays black); inputs above 1 take
        the last value. Negative inputs are the table's tail (Python-style indices from the
        end), all at the curve's value for 0.
        """
        key = (white, low, high)
        cache = self.__dict__.setdefault("_tables", {})
        if key not in cache:
            lut = self.lut.astype(np.float64)
            mid = np.empty_like(lut)
            mid[:-1] = 0.5 * (lut[:-1] + lut[1:])
            mid[0], mid[-1] = lut[0], lut[-1]
            above = max(0, int(np.ceil(high * INDEX_SCALE)) + 2 - len(lut))
            below = max(0, int(np.ceil(-low * INDEX_SCALE))) + 2
            table = np.concatenate([mid, np.full(above, lut[-1]), np.full(below, lut[0])])
            cache[key] = (table * white).astype(np.float32)
        return cache[key]


#: Linear input times this, truncated, is the index of :meth:`ToneParams.table`.
INDEX_SCALE = LUT_SIZE - 1
#: Samples mapped per step: the index arrays stay in the CPU cache and memory stays flat.
_CHUNK = 1 << 16


def tone_indexed(x: np.ndarray, table: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Map float32 ``x`` (linear values times :data:`INDEX_SCALE`, within the range ``table``
    was made for) through ``table`` into ``out`` (same shape, float32, contiguous; may be ``x``).

    Two passes per step, a cast to int32 (truncation) and a gather: the pipeline's colour
    matrix applies the scale, and its input is clipped, so its outputs are known to lie in the
    table's range. Indices wrap (negative ones read the table's tail), which numpy's gather does
    faster than clamping.
    """
    src, dst = x.reshape(-1), out.reshape(-1)
    idx = np.empty(min(_CHUNK, src.size), np.int32)
    for i in range(0, src.size, _CHUNK):
        n = min(_CHUNK, src.size - i)
        np.copyto(idx[:n], src[i : i + n], casting="unsafe")
        np.take(table, idx[:n], out=dst[i : i + n], mode="wrap")
    return out


def tone(rgb: np.ndarray, params: ToneParams, out: np.ndarray | None = None, white: float = 1.0) -> np.ndarray:
    """Clip to [0, 1] (NaN to 0) and map through the curve; any shape. ``out`` (same shape,
    float32, contiguous; may be ``rgb`` itself) receives the result, scaled so that encoded 1
    is ``white``."""
    x = np.fmax(np.asarray(rgb, dtype=np.float32), np.float32(0.0))  # fmax: NaN becomes 0
    np.fmin(x, np.float32(1.0), out=x)
    x *= np.float32(INDEX_SCALE)
    if out is None:
        out = np.empty_like(x)
    return tone_indexed(x, params.table(white), out)
