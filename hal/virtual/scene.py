"""The virtual camera's subject: a flat test board 2 m in front of the lens.

The board is laid out in millimetres (x to the right, y down, origin on the optical axis), so
what a lens sees of it depends on its focal length as it would on a real rig. A 35 mm lens on
the HQ sensor sees about 360 × 270 mm of it at 2 m:

- a Siemens star (36 spokes) just above the centre, for focusing;
- a 24-patch colour chart below it, with the published sRGB values of the ColorChecker Classic;
- a neutral ramp on the left (0.5 % to 95 % reflectance, even in stops) and a hue ramp on the right;
- three specular highlights (several times brighter than white paper) that clip first;
- a mid-grey (18 %) board on a dark wall.

Values are linear sRGB reflectances under the scene's light (1.0 = perfect white diffuser;
specular highlights exceed it). :func:`radiance` evaluates them at any points, so the same
scene can be sampled at preview resolution, per Bayer site, or through a magnified crop.
"""

from __future__ import annotations

import numpy as np

SCENE_DISTANCE_M = 2.0

#: ColorChecker Classic patches in 8-bit sRGB (D65), row by row, as published by X-Rite
#: ("ColorChecker Classic sRGB values", after BabelColor's averages).
COLOR_CHECKER_SRGB8 = np.array(
    [
        [115, 82, 68], [194, 150, 130], [98, 122, 157], [87, 108, 67], [133, 128, 177], [103, 189, 170],
        [214, 126, 44], [80, 91, 166], [193, 90, 99], [94, 60, 108], [157, 188, 64], [224, 163, 46],
        [56, 61, 150], [70, 148, 73], [175, 54, 60], [231, 199, 31], [187, 86, 149], [8, 133, 161],
        [243, 243, 242], [200, 200, 200], [160, 160, 160], [122, 122, 121], [85, 85, 85], [52, 52, 52],
    ],
    dtype=np.float64,
)

BOARD_HALF_SIZE_MM = (200.0, 150.0)
BOARD_REFLECTANCE = 0.18
WALL_REFLECTANCE = (0.07, 0.06, 0.05)

STAR_CENTRE_MM = (0.0, -30.0)
STAR_RADIUS_MM = 40.0
STAR_SPOKES = 36

CHART_ORIGIN_MM = (-72.0, 30.0)
CHART_PITCH_MM = 24.0
CHART_PATCH_MM = 20.0
CHART_BACKGROUND = 0.03

NEUTRAL_RAMP_MM = (-170.0, -110.0, -120.0, 120.0)  # x0, x1, y0, y1
HUE_RAMP_MM = (110.0, 170.0, -120.0, 120.0)
SPECULARS_MM = (((-60.0, -110.0), 4.0, 6.0), ((60.0, -110.0), 4.0, 6.0), ((0.0, -120.0), 3.0, 3.0))


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 sRGB decoding, for values in [0, 1]."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


CHART_LINEAR = srgb_to_linear(COLOR_CHECKER_SRGB8 / 255.0).astype(np.float32)


def chart_patch_centre_mm(index: int) -> tuple[float, float]:
    """Centre of ColorChecker patch ``index`` (0-23, row by row) on the board."""
    row, col = divmod(index, 6)
    x0, y0 = CHART_ORIGIN_MM
    half = CHART_PITCH_MM / 2
    return (x0 + col * CHART_PITCH_MM + half, y0 + row * CHART_PITCH_MM + half)


def _hue_ramp(t: np.ndarray) -> np.ndarray:
    """Fully saturated hue sweep (t in [0, 1)) at moderate lightness, linear sRGB."""
    hue = (t * 6.0)[..., None]
    offsets = np.array([0.0, 4.0, 2.0], dtype=np.float32)  # R, G, B phases of the HSV hexagon
    k = (hue + offsets) % 6.0
    srgb = 0.7 - 0.7 * 0.8 * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return srgb_to_linear(srgb).astype(np.float32)


def radiance(x_mm: np.ndarray, y_mm: np.ndarray) -> np.ndarray:
    """Linear sRGB reflectance of the scene at board points; shape ``x_mm.shape + (3,)``, float32.

    >>> float(radiance(np.array([0.0]), np.array([-150.0]))[0, 1])  # plain board
    0.18
    """
    x = np.asarray(x_mm, dtype=np.float32)
    y = np.asarray(y_mm, dtype=np.float32)
    out = np.empty(x.shape + (3,), dtype=np.float32)
    on_board = (np.abs(x) <= BOARD_HALF_SIZE_MM[0]) & (np.abs(y) <= BOARD_HALF_SIZE_MM[1])
    out[...] = np.asarray(WALL_REFLECTANCE, dtype=np.float32)
    out[on_board] = np.float32(BOARD_REFLECTANCE)

    dx, dy = x - STAR_CENTRE_MM[0], y - STAR_CENTRE_MM[1]
    in_star = dx * dx + dy * dy <= STAR_RADIUS_MM**2
    if in_star.any():
        angle = np.arctan2(dy[in_star], dx[in_star])
        white = (np.floor(angle * (STAR_SPOKES / np.pi)) % 2) == 0
        out[in_star] = np.where(white, np.float32(0.85), np.float32(0.03))[:, None]

    cx, cy = x - CHART_ORIGIN_MM[0], y - CHART_ORIGIN_MM[1]
    in_chart = (cx >= 0) & (cx < 6 * CHART_PITCH_MM) & (cy >= 0) & (cy < 4 * CHART_PITCH_MM)
    if in_chart.any():
        col = (cx[in_chart] // CHART_PITCH_MM).astype(np.intp)
        row = (cy[in_chart] // CHART_PITCH_MM).astype(np.intp)
        margin = (CHART_PITCH_MM - CHART_PATCH_MM) / 2
        u, v = cx[in_chart] % CHART_PITCH_MM, cy[in_chart] % CHART_PITCH_MM
        in_patch = (u >= margin) & (u < CHART_PITCH_MM - margin) & (v >= margin) & (v < CHART_PITCH_MM - margin)
        colours = CHART_LINEAR[row * 6 + col]
        colours[~in_patch] = CHART_BACKGROUND
        out[in_chart] = colours

    x0, x1, y0, y1 = NEUTRAL_RAMP_MM
    in_ramp = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
    if in_ramp.any():
        t = (y[in_ramp] - y0) / (y1 - y0)
        out[in_ramp] = (0.005 * (0.95 / 0.005) ** t)[:, None]

    x0, x1, y0, y1 = HUE_RAMP_MM
    in_hue = (x >= x0) & (x < x1) & (y >= y0) & (y < y1)
    if in_hue.any():
        out[in_hue] = _hue_ramp((y[in_hue] - y0) / (y1 - y0))

    for (sx, sy), radius, peak in SPECULARS_MM:
        d2 = (x - sx) ** 2 + (y - sy) ** 2
        glint = d2 <= radius**2
        if glint.any():
            out[glint] = np.float32(peak) * np.exp(-d2[glint] / radius**2)[:, None] + 0.18
    return out
