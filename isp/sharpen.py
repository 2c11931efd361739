"""Sharpening stage: unsharp mask on luma with coring and a limit.

Input and output: float32 (H, W, 3) display-encoded RGB in [0, 1]. Detail is luma minus a
3×3 binomial blur of luma; detail smaller than ``threshold`` is treated as noise and removed
(coring), the rest is scaled by ``strength``, capped at ``limit`` and added to all three
channels, so sharpening adds no colour fringes. The tuning's ``rpi.sharpen`` block gives
threshold, strength and limit in the Pi ISP's own units; :meth:`SharpenParams.from_tuning`
maps them to signal units as documented there (our reading, not the hardware's registers).

Examples
--------
>>> import numpy as np
>>> flat = np.full((5, 5, 3), 0.4, np.float32)
>>> bool(np.allclose(sharpen(flat, SharpenParams()), 0.4))
True
"""

from __future__ import annotations

import dataclasses

import numpy as np

from isp import filters

_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


@dataclasses.dataclass(frozen=True)
class SharpenParams:
    """``threshold`` and ``limit`` in encoded signal units ([0, 1]), ``strength`` a gain."""

    threshold: float = 0.75 / 255
    strength: float = 0.5
    limit: float = 16 / 255

    @classmethod
    def from_tuning(cls, threshold: float, strength: float, limit: float) -> SharpenParams:
        """``rpi.sharpen`` values: threshold in 8-bit levels, strength 1 = an unsharp amount of
        0.5, limit 1 = at most 32 8-bit levels of added detail."""
        return cls(threshold / 255, 0.5 * strength, 32 * limit / 255)


def sharpen(rgb: np.ndarray, params: SharpenParams) -> np.ndarray:
    """Add cored, limited luma detail to each channel; output clipped to [0, 1]."""
    luma = rgb @ _LUMA
    blur = filters.correlate(filters.correlate(luma, [0.25, 0.5, 0.25], 0), [0.25, 0.5, 0.25], 1)
    detail = luma - blur
    t = np.float32(params.threshold)
    cored = np.sign(detail) * np.maximum(np.abs(detail) - t, 0)
    cored *= np.float32(params.strength)
    np.clip(cored, -params.limit, params.limit, out=cored)
    out = rgb + cored[..., None]
    return np.clip(out, 0.0, 1.0, out=out)
