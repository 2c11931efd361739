"""A focus meter: variance of the Laplacian of the raw green channel around a chosen point.

The Laplacian responds to fine detail, which defocus removes first, so its variance over a
patch rises as the lens comes into focus and peaks at best focus (Pech-Pacheco et al., 2000,
found it among the most reliable of the classic sharpness measures). The patch is taken from
the raw green sites (G1 + G2 of each Bayer quad, which halves the noise and needs no
demosaic) at the preview's raw resolution, and the variance is divided by the squared mean
level, so the figure does not change when only the exposure or the light changes.

The figure is relative: compare it while turning the focus ring over the same subject and the
same magnification (a punch-in shows finer detail and scores higher). Noise adds a floor that
rises at high ISO, as with any gradient measure.

References
----------
J. L. Pech-Pacheco, G. Cristóbal, J. Chamorro-Martínez, J. Fernández-Valdivia, "Diatom
autofocusing in brightfield microscopy: a comparative study", Proc. 15th ICPR, vol. 3,
pp. 314–317, 2000.
"""

from __future__ import annotations

import numpy as np

from hal.camera import RawFrame

FOCUS_SIZE = 0.2
"""Default side of the focus patch as a fraction of the frame width."""


def focus_window(
    shape: tuple[int, int], x: float, y: float, size: float
) -> tuple[slice, slice]:
    """Rows and columns of a square patch of side ``size × width`` centred on ``(x, y)``.

    ``x`` and ``y`` are fractions of the frame (0 at the left/top, 1 at the right/bottom); the
    patch is moved inside the frame if it would cross an edge, and is at least 3×3.

    >>> focus_window((100, 200), 0.5, 0.5, 0.1)
    (slice(40, 60, None), slice(90, 110, None))
    >>> focus_window((100, 200), 1.0, 0.0, 0.1)
    (slice(0, 20, None), slice(180, 200, None))
    """
    h, w = shape
    side = min(max(3, round(size * w)), h, w)
    top = min(max(round(y * h - side / 2), 0), h - side)
    left = min(max(round(x * w - side / 2), 0), w - side)
    return slice(top, top + side), slice(left, left + side)


def variance_of_laplacian(image: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian over the interior of a 2-D float image.

    >>> variance_of_laplacian(np.ones((5, 5), np.float32))
    0.0
    """
    c = image[1:-1, 1:-1]
    lap = image[:-2, 1:-1] + image[2:, 1:-1] + image[1:-1, :-2] + image[1:-1, 2:] - 4 * c
    return float(lap.var())


def focus_measure(
    raw: RawFrame, x: float = 0.5, y: float = 0.5, size: float = FOCUS_SIZE
) -> float:
    """Sharpness around ``(x, y)`` (fractions of the frame): ``var(∇²g) / mean(g)²`` with
    ``g`` the black-subtracted sum of the two green sites of each Bayer quad. 0 for a black
    patch."""
    g1 = raw.channel("G1")
    g2 = raw.channel("G2")
    shape = (min(g1.shape[0], g2.shape[0]), min(g1.shape[1], g2.shape[1]))
    rows, cols = focus_window(shape, x, y, size)
    green = g1[rows, cols].astype(np.float32)
    green += g2[rows, cols]
    green -= np.float32(2 * raw.black_level)
    mean = float(green.mean())
    if mean <= 1.0:
        return 0.0
    return variance_of_laplacian(green) / (mean * mean)
