"""White balance stage: per-colour gains on the mosaic.

Input: float32 (H, W) mosaic or its colour planes (:mod:`isp.cfa`), normalised. Output: the
same, in [0, 1]: red and blue sites
multiplied by their gains (green by 1), then clipped at 1 so clipped highlights stay white
instead of turning magenta. How the gains are chosen (from the frame, a colour temperature or
automatically) is :mod:`isp.awb`'s job.

Examples
--------
>>> import numpy as np
>>> white_balance(np.full((2, 2), 0.25, np.float32), "RGGB", WhiteBalanceParams(2.0, 3.0)).tolist()
[[0.5, 0.25], [0.25, 0.75]]
"""

from __future__ import annotations

import dataclasses

import numpy as np

from isp.cfa import site_colours
from isp.grid import Grid


@dataclasses.dataclass(frozen=True)
class WhiteBalanceParams:
    """Red and blue gains relative to green (libcamera's ``ColourGains``)."""

    red_gain: float
    blue_gain: float

    def __post_init__(self) -> None:
        if not (0 < self.red_gain < 64 and 0 < self.blue_gain < 64):
            raise ValueError(f"colour gains must be in (0, 64), got {self.red_gain}, {self.blue_gain}")


def white_balance(cfa: np.ndarray, pattern: str, params: WhiteBalanceParams) -> np.ndarray:
    """Multiply red and blue sites by their gains and clip to [0, 1]."""
    out = cfa.copy()
    gains = (np.float32(params.red_gain), np.float32(1.0), np.float32(params.blue_gain))
    for dy, dx, ch in site_colours(pattern):
        if ch != 1:
            out[dy::2, dx::2] *= gains[ch]
    return np.clip(out, 0.0, 1.0, out=out)


def white_balance_planes(planes: dict[str, Grid], params: WhiteBalanceParams) -> dict[str, Grid]:
    """:func:`white_balance` on RGGB colour planes."""
    gains = {"R": np.float32(params.red_gain), "B": np.float32(params.blue_gain)}
    out = {}
    for name, p in planes.items():
        if name in gains:
            x = p.flat() * gains[name]
            out[name] = p.like(np.clip(x, 0.0, 1.0, out=x))
        else:
            out[name] = p.like(np.clip(p.flat(), 0.0, 1.0))
    return out
