"""Colour correction stage: white-balanced camera RGB to linear sRGB.

Input: float32 (H, W, 3) camera RGB in [0, 1] (or planar (3, H, W) for
:func:`colour_correct_planar`, which the pipeline uses). Output: the same shape, linear sRGB, not
clipped (saturated colours can fall outside [0, 1]; the tone stage clips). The matrix is the
tuning's ``rpi.ccm`` at the scene's colour temperature (:meth:`isp.tuning.Tuning.ccm`); its
rows sum to 1 so white stays white.

Examples
--------
>>> import numpy as np
>>> m = np.array([[1.5, -0.5, 0], [0, 1, 0], [0, -0.5, 1.5]])
>>> colour_correct(np.full((1, 1, 3), 0.5, np.float32), CcmParams(m)).tolist()
[[[0.5, 0.5, 0.5]]]
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class CcmParams:
    """A 3×3 matrix: ``out = matrix @ camera_rgb`` per pixel."""

    matrix: np.ndarray

    def __post_init__(self) -> None:
        m = np.asarray(self.matrix)
        if m.shape != (3, 3) or not np.all(np.isfinite(m)):
            raise ValueError("colour correction matrix must be a finite 3x3 array")


    def output_range(self) -> tuple[float, float]:
        """The lowest and highest value the matrix can give for camera RGB in [0, 1]."""
        m = np.asarray(self.matrix, np.float64)
        return float(np.minimum(m, 0).sum(axis=1).min()), float(np.maximum(m, 0).sum(axis=1).max())


def colour_correct_planar(rgb: np.ndarray, params: CcmParams, gain: float = 1.0) -> np.ndarray:
    """Apply the matrix (times ``gain``, which costs nothing here and spares the next stage a
    pass) to planar (3, H, W) RGB: three multiply-adds per output channel."""
    m = (np.asarray(params.matrix, np.float64) * gain).astype(np.float32)
    out = np.empty_like(rgb, dtype=np.float32)
    tmp = np.empty_like(out[0])
    for c in range(3):
        np.multiply(rgb[0], m[c, 0], out=out[c])
        for k in (1, 2):
            np.multiply(rgb[k], m[c, k], out=tmp)
            out[c] += tmp
    return out


def colour_correct(rgb: np.ndarray, params: CcmParams) -> np.ndarray:
    """Apply the matrix to every pixel of (H, W, 3) RGB."""
    planar = np.moveaxis(np.asarray(rgb, np.float32), -1, 0)
    return np.ascontiguousarray(np.moveaxis(colour_correct_planar(planar, params), 0, -1))
