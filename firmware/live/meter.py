"""The light meter: how many stops the frame is over or under the camera's own exposure
target, by each metering mode, so that manual exposure (M) has a meter too.

Automatic exposure in libcamera's Raspberry Pi AGC (``src/ipa/rpi/controller/rpi/
agc_channel.cpp``, ``computeInitialY``) meters the luminance of the white-balanced
statistics, ``Y = 0.299·R·gain_r + 0.587·G + 0.114·B·gain_b`` as fractions of the range
above black, averaged with the metering mode's weights, and exposes so that it reaches the
tuning's ``y_target`` (0.16 in both IMX477 tunings' ``rpi.agc``, at low light; a little more
in bright light). The reading here is that basic measure of the live view's raw frame:
``log2(Y / Y_TARGET)`` stops, 0 where the AGC's mean metering aims, +1 a stop brighter. The AGC
also has the tuning's highlight constraints (the brightest 2 % held up to a level), which can
make AE expose a flat, dark scene brighter than this meter's 0: the meter reads the scene as
the metering mode weighs it, not the AGC's every rule. The weights are smooth stand-ins for the tuning's zone weights: the whole
frame evenly (matrix), a broad centre-weighted bump (centre), and a disc of 5 % of the width
(spot), here around the point the photographer tapped rather than only the centre.

A reading is exact for the scene's mean grey only below clipping: a frame with much clipped
sky reads under what it is, as libcamera's own meter does.
"""

from __future__ import annotations

import numpy as np

from hal.camera import RawFrame

#: rpi.agc ``y_target`` of the IMX477 tunings (vc4 and pisp): its first point, 0.16.
Y_TARGET = 0.16
#: libcamera's luminance coefficients (agc_channel.cpp computeInitialY).
LUMA = (0.299, 0.587, 0.114)
MODES = ("centre", "spot", "matrix")
#: Quads across the metering grid (about what the ISP's statistics grid resolves).
GRID_WIDTH = 128
SPOT_RADIUS = 0.05
"""Spot radius as a fraction of the frame width."""
CENTRE_SIGMA = 0.2
"""Centre weighting: a Gaussian of this width (fraction of the frame width) on a floor of 0.25."""
#: The darkest level a reading takes (a black frame would be minus infinity).
FLOOR = 1e-5


def weights(shape: tuple[int, int], mode: str, spot: tuple[float, float] = (0.5, 0.5)) -> np.ndarray:
    """Normalised metering weights over a grid of ``shape`` (rows, columns)."""
    h, w = shape
    y = (np.arange(h) + 0.5) / h
    x = (np.arange(w) + 0.5) / w
    if mode == "matrix":
        out = np.ones(shape)
    else:
        cx, cy = spot if mode == "spot" else (0.5, 0.5)
        r2 = (x[None, :] - cx) ** 2 + ((y[:, None] - cy) * h / w) ** 2
        if mode == "spot":
            out = (r2 <= SPOT_RADIUS**2).astype(np.float64)
            if not out.any():  # a spot off the grid's cells: the nearest one
                out.flat[int(np.argmin(r2))] = 1.0
        elif mode == "centre":
            out = 0.25 + np.exp(-r2 / (2 * CENTRE_SIGMA**2))
        else:
            raise ValueError(f"metering mode must be one of {MODES}")
    return out / out.sum()


def luminance_grid(raw: RawFrame, colour_gains: tuple[float, float]) -> np.ndarray:
    """White-balanced luminance of a grid of Bayer quads (fractions of the range above black)."""
    step = max(1, -(-raw.channel("R").shape[1] // GRID_WIDTH))
    span = float(raw.white_level - raw.black_level)

    def plane(colour: str) -> np.ndarray:
        p = raw.channel(colour)[::step, ::step].astype(np.float32)
        return np.clip((p - raw.black_level) / span, 0.0, 1.0)

    planes = {c: plane(c) for c in ("R", "G1", "G2", "B")}
    h = min(p.shape[0] for p in planes.values())
    w = min(p.shape[1] for p in planes.values())
    r, b = (planes[c][:h, :w] for c in ("R", "B"))
    g = (planes["G1"][:h, :w] + planes["G2"][:h, :w]) / 2
    gain_r, gain_b = colour_gains
    return LUMA[0] * r * gain_r + LUMA[1] * g + LUMA[2] * b * gain_b


def readings(raw: RawFrame, colour_gains: tuple[float, float],
             spot: tuple[float, float] = (0.5, 0.5)) -> dict[str, float]:
    """Stops over (+) or under (−) the AE target, for each metering mode."""
    return readings_of(luminance_grid(raw, colour_gains), spot)


def readings_of(grid: np.ndarray, spot: tuple[float, float] = (0.5, 0.5)) -> dict[str, float]:
    """:func:`readings` of a luminance grid.

    >>> grid = np.full((48, 64), 0.16)                # the target everywhere
    >>> grid[:, 32:] = 0.32                           # the right half a stop brighter
    >>> {m: round(ev, 2) for m, ev in readings_of(grid, spot=(0.75, 0.5)).items()}
    {'centre': 0.58, 'spot': 1.0, 'matrix': 0.58}
    """
    out = {}
    for mode in MODES:
        y = float((grid * weights(grid.shape, mode, spot)).sum())
        out[mode] = float(np.log2(max(y, FLOOR) / Y_TARGET))
    return out
