"""Colour correction stage: white-balanced camera RGB to linear sRGB.

Input: float32 (H, W, 3) camera RGB in [0, 1]. Output: float32 (H, W, 3) linear sRGB, not
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


def colour_correct(rgb: np.ndarray, params: CcmParams) -> np.ndarray:
    """Apply the matrix to every pixel."""
    m = np.asarray(params.matrix, np.float32)
    return np.matmul(rgb, m.T)
