"""Minimised-Laplacian residual interpolation (MLRI) for an RGGB mosaic, vectorised in numpy.

Residual interpolation replaces the colour differences of classic demosaicing by residuals:
a first, *tentative* estimate of the missing colour is made by a guided filter from another
channel, and what the estimate gets wrong at the sampled sites (the residual) is smooth enough
to interpolate linearly. MLRI fits the guided filter's local linear model by minimising the
Laplacian energy of the residual rather than the residual itself, which suits linear residual
interpolation. Green is estimated horizontally and vertically and the two estimates are combined
with the gradient-based, threshold-free weights of Pekkucuksen and Altunbasak (GBTF); red and
blue are then filled in with green as the guide.

Input is float32 (H, W) RGGB with H and W even (the caller pads); output float32 (H, W, 3),
unclipped.

References
----------
D. Kiku, Y. Monno, M. Tanaka, M. Okutomi, "Residual interpolation for color image
demosaicking", IEEE ICIP 2013, pp. 2304-2308.
D. Kiku, Y. Monno, M. Tanaka, M. Okutomi, "Minimized-Laplacian residual interpolation for color
image demosaicking", Proc. SPIE 9023, Digital Photography X, 2014.
I. Pekkucuksen, Y. Altunbasak, "Gradient based threshold free color filter array
interpolation", IEEE ICIP 2010, pp. 137-140.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from isp import filters as f


@dataclasses.dataclass(frozen=True)
class MlriParams:
    """Window sizes and regularisation of the MLRI demosaic.

    ``green_window`` is the length (pixels) of the 1-D windows of the directional green
    estimates, ``rb_window`` the side of the square window for red and blue. ``eps`` regularises
    the slope of the local linear model towards 1 (plain colour-difference interpolation) where
    the guide has little Laplacian energy, in units of squared signal (signal in [0, 1]).
    """

    green_window: int = 11
    rb_window: int = 5
    eps: float = 1e-5
    margin: int = 12

    def __post_init__(self) -> None:
        if self.green_window % 2 == 0 or self.rb_window % 2 == 0:
            raise ValueError("window sizes must be odd")


#: One-sided weights for the directional colour-difference averages (GBTF, Pekkucuksen 2010).
_GBTF_TAPS = np.array([0.56, 0.35, 0.08, 0.01, 0.0], np.float32)


def _masks(h: int, w: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float32 masks of the R, G and B sites of an RGGB mosaic of shape (h, w)."""
    y = (np.arange(h) % 2)[:, None]
    x = (np.arange(w) % 2)[None, :]
    r = ((y == 0) & (x == 0)).astype(np.float32)
    b = ((y == 1) & (x == 1)).astype(np.float32)
    g = (1.0 - r - b).astype(np.float32)
    return r, g, b


def _lap1d(x: np.ndarray, axis: int) -> np.ndarray:
    """Laplacian along ``axis`` over the stride-2 lattice: 2x[i] - x[i-2] - x[i+2]."""
    return f.correlate(x, [-1.0, 0.0, 2.0, 0.0, -1.0], axis)


def _lap2d(x: np.ndarray) -> np.ndarray:
    """Laplacian over the stride-2 lattice in both directions."""
    return _lap1d(x, 0) + _lap1d(x, 1)


def _guided_1d(
    guide: np.ndarray, p: np.ndarray, mask: np.ndarray, axis: int, size: int, eps: float
) -> np.ndarray:
    """Tentative estimate ``a * guide + b`` from samples ``p`` at ``mask``, 1-D windows on ``axis``.

    The slope ``a`` minimises the Laplacian energy of ``p - a * guide`` over the sampled sites of
    the window (MLRI); ``b`` makes the mean residual there zero. Coefficients are averaged over
    the windows covering each pixel, as in the guided filter.
    """
    lap_i = _lap1d(guide * mask, axis) * mask
    lap_p = _lap1d(p, axis) * mask
    num = f.box(lap_i * lap_p, size, axis) + np.float32(eps)
    den = f.box(lap_i * lap_i, size, axis) + np.float32(eps)
    a = num / den
    count = f.box(mask, size, axis)
    b = (f.box(p, size, axis) - a * f.box(guide * mask, size, axis)) / count
    return f.mean1d(a, size, axis) * guide + f.mean1d(b, size, axis)


def _guided_2d(guide: np.ndarray, p: np.ndarray, mask: np.ndarray, size: int, eps: float) -> np.ndarray:
    """Like :func:`_guided_1d` with square windows and the 2-D stride-2 Laplacian."""
    gm = guide * mask
    lap_i = _lap2d(gm) * mask
    lap_p = _lap2d(p) * mask
    num = f.box2d(lap_i * lap_p, size) + np.float32(eps)
    den = f.box2d(lap_i * lap_i, size) + np.float32(eps)
    a = num / den
    count = f.box2d(mask, size)
    b = (f.box2d(p, size) - a * f.box2d(gm, size)) / count
    return f.mean2d(a, size) * guide + f.mean2d(b, size)


def _directional_difference(
    cfa: np.ndarray, mg: np.ndarray, mc: np.ndarray, axis: int, prm: MlriParams
) -> np.ndarray:
    """Green minus the row's (or column's) other colour, everywhere, from one direction."""
    g_obs = cfa * mg
    c_obs = cfa * mc
    g_lin = f.half_interp(g_obs, axis)
    c_lin = f.half_interp(c_obs, axis)
    g_tent = _guided_1d(c_lin, g_obs, mg, axis, prm.green_window, prm.eps)
    g_est = g_tent + f.half_interp((g_obs - g_tent) * mg, axis)
    c_tent = _guided_1d(g_lin, c_obs, mc, axis, prm.green_window, prm.eps)
    c_est = c_tent + f.half_interp((c_obs - c_tent) * mc, axis)
    return mg * (cfa - c_est) + mc * (g_est - cfa)


def _combine_gbtf(dif_h: np.ndarray, dif_v: np.ndarray) -> np.ndarray:
    """Blend the two directional colour differences with GBTF's four directional weights."""
    grad_h = np.abs(f.correlate(dif_h, [-1.0, 0.0, 1.0], 1))
    grad_v = np.abs(f.correlate(dif_v, [-1.0, 0.0, 1.0], 0))
    energy_h = f.box2d(grad_h, 5)
    energy_v = f.box2d(grad_v, 5)
    tiny = np.float32(1e-10)
    total = np.zeros_like(dif_h)
    weights = np.zeros_like(dif_h)
    taps = _GBTF_TAPS
    for dif, energy, axis in ((dif_h, energy_h, 1), (dif_v, energy_v, 0)):
        for sign in (-1, 1):
            w = 1.0 / (f.shift(energy, 2 * sign, axis) ** 2 + tiny)
            # One-sided average starting at the pixel, towards ``sign``.
            kernel = taps if sign > 0 else taps[::-1]
            directional = f.correlate(dif, kernel, axis, origin=-2 * sign)
            total += w * directional
            weights += w
    return total / weights


def green_mlri(cfa: np.ndarray, prm: MlriParams) -> np.ndarray:
    """Full-resolution green of an RGGB mosaic."""
    mr, mg, mb = _masks(*cfa.shape)
    mc = mr + mb
    dif_h = _directional_difference(cfa, mg, mc, 1, prm)
    dif_v = _directional_difference(cfa, mg, mc, 0, prm)
    dif = _combine_gbtf(dif_h, dif_v)
    return mg * cfa + mc * (cfa + dif)


def red_blue_mlri(cfa: np.ndarray, green: np.ndarray, prm: MlriParams) -> tuple[np.ndarray, np.ndarray]:
    """Red and blue of an RGGB mosaic, guided by the full green."""
    mr, _, mb = _masks(*cfa.shape)
    out = []
    for m in (mr, mb):
        p = cfa * m
        tent = _guided_2d(green, p, m, prm.rb_window, prm.eps)
        out.append(tent + f.bilinear_sparse((p - tent) * m))
    return out[0], out[1]


def demosaic_mlri_rggb(cfa: np.ndarray, prm: MlriParams = MlriParams()) -> np.ndarray:
    """MLRI demosaic of an even-sized RGGB float32 mosaic; float32 (H, W, 3), not clipped."""
    green = green_mlri(cfa, prm)
    red, blue = red_blue_mlri(cfa, green, prm)
    return np.stack([red, green, blue], axis=-1)
