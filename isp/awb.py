"""Choosing white balance gains: from the frame, from a colour temperature, or automatically.

The automatic estimate works on the raw (before any processing) binned to one value per 2×2
block, in the camera's own colour space. Three classic estimates of the illuminant's colour:

- grey world: the scene averages to grey (over well-exposed pixels only);
- white patch: the brightest unclipped pixels are white;
- grey edge: the scene's *edges* average to grey (first-order, Minkowski norm p = 6), which a
  large area of one colour does not move, since its inside has no edges;

and the answer is their median in log chromaticity, so any one of them can fail (a frame of
green leaves fools grey world, a coloured highlight white patch) without taking the result
with it. With the sensor's own tuning the result is then snapped to the nearest point of the
tuning's AWB colour-temperature curve, so the answer is always a plausible light source (what
the Pi's ``rpi.awb`` does with its Bayesian search, not reproduced). For another sensor's file
that curve would be wrong, and the estimate is used as it is (:mod:`isp.dng_develop`).

References
----------
G. Buchsbaum, "A spatial processor model for object colour perception", J. Franklin Inst. 310,
1980 (grey world). E. H. Land, J. J. McCann, "Lightness and retinex theory", JOSA 61, 1971
(white patch). J. van de Weijer, T. Gevers, A. Gijsenij, "Edge-based color constancy", IEEE
TIP 16(9), 2007 (grey edge). Raspberry Pi Ltd, "Raspberry Pi Camera Algorithm and Tuning
Guide", AWB section.
"""

from __future__ import annotations

import numpy as np

from isp.cfa import site_colours
from isp.tuning import Tuning


def binned_rgb(raw: np.ndarray, pattern: str, black: float, white: float, step: int = 1) -> np.ndarray:
    """(H, W, 3) normalised camera RGB, one pixel per 2×2 block (every ``step``-th block)."""
    h2, w2 = raw.shape[0] // 2, raw.shape[1] // 2
    out = np.zeros((len(range(0, h2, step)), len(range(0, w2, step)), 3), np.float32)
    counts = np.zeros(3, np.float32)
    for dy, dx, ch in site_colours(pattern):
        out[..., ch] += raw[dy : 2 * h2 : 2 * step, dx : 2 * w2 : 2 * step].astype(np.float32)
        counts[ch] += 1
    out /= counts
    out -= np.float32(black)
    out /= np.float32(white - black)
    return out


def estimate_neutral(rgb: np.ndarray) -> tuple[float, float] | None:
    """(r/g, b/g) of the illuminant from (H, W, 3) camera RGB (:func:`binned_rgb`), or None
    if nothing is usable: the median of grey world, white patch and grey edge (module docs)."""
    rgb = rgb.reshape(-1, rgb.shape[1], 3) if rgb.ndim == 3 else rgb.reshape(1, -1, 3)
    usable = (rgb.max(axis=2) < 0.9) & (rgb.min(axis=2) > 0.005)
    px = rgb[usable]
    if len(px) < 16:
        return None
    estimates = [px.mean(axis=0)]
    bright = px.sum(axis=1)
    estimates.append(px[bright >= np.quantile(bright, 0.98)].mean(axis=0))
    if rgb.shape[0] > 2 and rgb.shape[1] > 2:
        # Edges between usable pixels only: a clipped highlight's rim is not an edge of the scene.
        both_x = usable[:, 1:] & usable[:, :-1]
        both_y = usable[1:, :] & usable[:-1, :]
        dx = np.abs(np.diff(rgb, axis=1))[both_x]
        dy = np.abs(np.diff(rgb, axis=0))[both_y]
        edges = np.concatenate([dx, dy])
        if len(edges) >= 16 and np.all(edges.max(axis=0) > 0):
            estimates.append(np.mean(edges.astype(np.float64) ** 6, axis=0) ** (1 / 6))
    logs = np.log(np.maximum(np.array(estimates, np.float64), 1e-9))
    log_r = float(np.median(logs[:, 0] - logs[:, 1]))
    log_b = float(np.median(logs[:, 2] - logs[:, 1]))
    return float(np.exp(log_r)), float(np.exp(log_b))


def snap_to_curve(tuning: Tuning, neutral_rb: tuple[float, float], ct_range: tuple[float, float] | None = None) -> float:
    """Colour temperature on the tuning's CT curve nearest (in log chromaticity) to ``neutral_rb``."""
    lo, hi = ct_range or tuning.ct_range
    ct = np.linspace(lo, hi, 1024)
    r = np.interp(ct, tuning.ct_curve[:, 0], tuning.ct_curve[:, 1])
    b = np.interp(ct, tuning.ct_curve[:, 0], tuning.ct_curve[:, 2])
    d = (np.log(r) - np.log(neutral_rb[0])) ** 2 + (np.log(b) - np.log(neutral_rb[1])) ** 2
    return float(ct[int(np.argmin(d))])


def auto_white_balance(
    raw: np.ndarray, pattern: str, black: float, white: float, tuning: Tuning
) -> tuple[tuple[float, float], float]:
    """Automatic ((red_gain, blue_gain), colour temperature K) for a raw mosaic in DN."""
    step = max(1, int(np.sqrt(raw.size / 4 / 250_000)))
    neutral = estimate_neutral(binned_rgb(raw, pattern, black, white, step))
    lo, hi = tuning.ct_range
    ct = snap_to_curve(tuning, neutral) if neutral else 0.5 * (lo + hi)
    return tuning.colour_gains(ct), ct
