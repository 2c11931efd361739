"""Black level stage: raw digital numbers to normalised linear signal.

Input: uint16 (H, W) mosaic in DN, ``[0, white_level]`` (or its colour planes, see
:mod:`isp.cfa`, converted to float32 on splitting). Output: float32 (H, W) or planes,
``(raw - black) / (white - black)``: 0 is black, 1 is the sensor's clipping point. Read noise
leaves values slightly below 0; they are kept (averaging later removes the bias a clip would add).

Examples
--------
>>> import numpy as np

from isp.grid import Grid
>>> black_level(np.array([[256, 4095]], np.uint16), BlackLevelParams(256, 4095)).tolist()
[[0.0, 1.0]]
"""

from __future__ import annotations

import dataclasses

import numpy as np

from isp.grid import Grid


@dataclasses.dataclass(frozen=True)
class BlackLevelParams:
    """Black and white level in DN at the raw's bit depth (libcamera's ``rpi.black_level`` is on
    a 16-bit scale: 4096 there is 256 at 12 bits)."""

    black: float
    white: float

    def __post_init__(self) -> None:
        if not self.white > self.black >= 0:
            raise ValueError(f"need white > black >= 0, got black={self.black} white={self.white}")


def black_level(raw: np.ndarray, params: BlackLevelParams) -> np.ndarray:
    """Subtract the black level and scale so the white level maps to 1."""
    out = raw.astype(np.float32)
    out -= np.float32(params.black)
    out /= np.float32(params.white - params.black)
    return out


def black_level_planes(planes: dict[str, Grid], params: BlackLevelParams) -> dict[str, Grid]:
    """:func:`black_level` on each colour plane (DN as float32 in, normalised out)."""
    scale = np.float32(1.0 / (params.white - params.black))
    out = {}
    for name, p in planes.items():
        x = np.subtract(p.flat(), np.float32(params.black), dtype=np.float32)
        x *= scale
        out[name] = p.like(x)
    return out
