"""Sharpening stage: unsharp mask on luma with coring and a limit.

Input: float32 display-encoded RGB in [0, 1], planar (3, H, W). Output: float32 (3, H-2, W-2)
in [0, 1]: sharpening reads a 3×3 neighbourhood, so the pipeline hands it one extra pixel on
every side and it returns the part it could compute fully (:func:`sharpen` keeps the shape of an
(H, W, 3) image by mirroring its edges). Detail is luma minus a 3×3 binomial blur of luma;
detail smaller than ``threshold`` is treated as noise and removed (coring), the rest is scaled
by ``strength``, capped at ``limit`` and added to all three channels, so sharpening adds no
colour fringes. The tuning's ``rpi.sharpen`` block gives threshold, strength and limit in the Pi
ISP's own units; :meth:`SharpenParams.from_tuning` maps them to signal units as documented
there (our reading, not the hardware's registers).

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

#: Rec. 709 luma weights, applied to encoded values as video luma is.
LUMA = (0.2126, 0.7152, 0.0722)


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


def luma_detail(rgb: np.ndarray, params: SharpenParams, white: float = 1.0) -> np.ndarray:
    """The cored, scaled and limited luma detail of planar (3, H, W) RGB, (H-2, W-2), in the
    units of ``rgb`` (encoded 1 is ``white``), to be added to every channel."""
    luma = rgb[0] * np.float32(LUMA[0])
    luma += rgb[1] * np.float32(LUMA[1])
    luma += rgb[2] * np.float32(LUMA[2])
    # 3x3 binomial blur, [1 2 1] / 4 down then across, valid part only.
    v = luma[:-2] + luma[2:]
    v += luma[1:-1] * np.float32(2.0)
    blur = v[:, :-2] + v[:, 2:]
    blur += v[:, 1:-1] * np.float32(2.0)
    blur *= np.float32(-1 / 16)
    detail = np.add(blur, luma[1:-1, 1:-1], out=blur)
    t = np.float32(params.threshold * white)
    # Coring: sign(d) * max(|d| - t, 0) is d minus d clipped to [-t, t].
    detail -= np.clip(detail, -t, t)
    detail *= np.float32(params.strength)
    limit = np.float32(params.limit * white)
    return np.clip(detail, -limit, limit, out=detail)


def sharpen_planar(rgb: np.ndarray, params: SharpenParams) -> np.ndarray:
    """Add cored, limited luma detail to each channel of planar (3, H, W) RGB; the result is
    (3, H-2, W-2), clipped to [0, 1]."""
    out = rgb[:, 1:-1, 1:-1] + luma_detail(rgb, params)
    return np.clip(out, 0.0, 1.0, out=out)


def sharpen(rgb: np.ndarray, params: SharpenParams) -> np.ndarray:
    """:func:`sharpen_planar` on (H, W, 3) RGB with mirrored edges; same shape out."""
    x = np.asarray(rgb, np.float32)
    mode = "reflect" if min(x.shape[:2]) > 1 else "edge"
    padded = np.pad(x, ((1, 1), (1, 1), (0, 0)), mode=mode)
    planar = np.ascontiguousarray(np.moveaxis(padded, -1, 0))
    return np.ascontiguousarray(np.moveaxis(sharpen_planar(planar, params), 0, -1))
