"""Choosing white balance gains: from the frame, from a colour temperature, or automatically.

The automatic estimate works on the raw (before any processing) binned to one value per 2×2
block. It averages two classic estimates of the illuminant's colour, grey-world (the scene
averages to grey; here over well-exposed pixels only) and white-patch (the brightest unclipped
pixels are white), in log-chromaticity, then snaps the result to the nearest point of the
tuning's AWB colour-temperature curve, so the answer is always a plausible light source. That
constraint is what the Pi's ``rpi.awb`` does with its Bayesian search; the search itself is not
reproduced.

References
----------
G. Buchsbaum, "A spatial processor model for object colour perception", J. Franklin Inst. 310,
1980 (grey world). E. H. Land, J. J. McCann, "Lightness and retinex theory", JOSA 61, 1971
(white patch). Raspberry Pi Ltd, "Raspberry Pi Camera Algorithm and Tuning Guide", AWB section.
"""

from __future__ import annotations

import numpy as np

from isp.cfa import site_colours
from isp.tuning import Tuning


def binned_rgb(raw: np.ndarray, pattern: str, black: float, white: float, step: int = 1) -> np.ndarray:
    """(N, 3) normalised camera RGB, one row per 2×2 block (every ``step``-th block)."""
    h2, w2 = raw.shape[0] // 2, raw.shape[1] // 2
    out = np.zeros((len(range(0, h2, step)), len(range(0, w2, step)), 3), np.float32)
    counts = np.zeros(3, np.float32)
    for dy, dx, ch in site_colours(pattern):
        out[..., ch] += raw[dy : 2 * h2 : 2 * step, dx : 2 * w2 : 2 * step].astype(np.float32)
        counts[ch] += 1
    out /= counts
    out -= np.float32(black)
    out /= np.float32(white - black)
    return out.reshape(-1, 3)


def estimate_neutral(rgb: np.ndarray) -> tuple[float, float] | None:
    """(r/g, b/g) of the illuminant from (N, 3) camera RGB, or None if nothing is usable."""
    ok = (rgb.max(axis=1) < 0.9) & (rgb.min(axis=1) > 0.005)
    px = rgb[ok]
    if len(px) < 16:
        return None
    grey = px.mean(axis=0)
    bright = px.sum(axis=1)
    top = px[bright >= np.quantile(bright, 0.98)].mean(axis=0)
    log_r = 0.5 * (np.log(grey[0] / grey[1]) + np.log(top[0] / top[1]))
    log_b = 0.5 * (np.log(grey[2] / grey[1]) + np.log(top[2] / top[1]))
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
