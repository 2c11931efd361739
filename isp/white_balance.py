"""White balance stage: per-colour gains on the mosaic.

Input: float32 (H, W) mosaic or its colour planes (:mod:`isp.cfa`), normalised. Output: the
same, in [0, 1]: red and blue sites
multiplied by their gains (green by 1), then clipped at 1 so clipped highlights stay white
instead of turning magenta. Where a gain is below 1 (a camera whose red or blue is more
sensitive than its green: another camera's DNG can say so) all three gains are scaled up until
the smallest is 1, as dcraw and LibRaw do: otherwise a highlight the sensor clipped in every
channel would keep that channel below the others after the clip, and show its colour. The
picture is brighter by the same factor, as it is in LibRaw. How the gains are chosen (from the
frame, a colour temperature or automatically) is :mod:`isp.awb`'s job.

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

    def applied(self) -> tuple[float, float, float]:
        """The (red, green, blue) gains the stage applies: red and blue relative to green, all
        scaled so that none is below 1 (see the module's docstring)."""
        low = min(1.0, self.red_gain, self.blue_gain)
        return self.red_gain / low, 1.0 / low, self.blue_gain / low


def white_balance(cfa: np.ndarray, pattern: str, params: WhiteBalanceParams) -> np.ndarray:
    """Multiply each site by its colour's gain and clip to [0, 1]."""
    out = cfa.copy()
    gains = [np.float32(g) for g in params.applied()]
    for dy, dx, ch in site_colours(pattern):
        if gains[ch] != 1:
            out[dy::2, dx::2] *= gains[ch]
    return np.clip(out, 0.0, 1.0, out=out)


def white_balance_planes(planes: dict[str, Grid], params: WhiteBalanceParams) -> dict[str, Grid]:
    """:func:`white_balance` on RGGB colour planes."""
    red, green, blue = (np.float32(g) for g in params.applied())
    gains = {"R": red, "Gr": green, "Gb": green, "B": blue}
    out = {}
    for name, p in planes.items():
        x = p.flat() * gains[name] if gains[name] != 1 else p.flat().copy()
        out[name] = p.like(np.clip(x, 0.0, 1.0, out=x))
    return out
