"""Noise reduction: luma and chroma separately, as strong as the frame's noise calls for.

A raw sample's noise is shot noise plus read noise: its variance at the normalised level ``x``
(0 black, 1 white, before white balance) is ``scale · x + offset`` (:class:`NoiseModel`: the
DNG NoiseProfile's form, DNG 1.4 tag 51041). Through white balance and the colour matrix that
becomes, for a grey of luma ``Y``, a variance ``a · Y + b`` of the luma and of the two colour
differences R−Y and B−Y (:meth:`DenoiseParams.for_frame`), so every stage below knows how much
of what it sees is noise, at every brightness.

- **Luma**: a guided filter guided by itself (He, Sun, Tang 2013) in 3 × 3 windows. In each
  window the output is ``A · Y + B`` with ``A = var / (var + ε)``: where the window's variance is
  no more than the noise's (``ε = strength × noise variance`` at its brightness) it is smoothed
  towards the window mean, where it holds an edge or texture well above the noise it is kept.
- **Chroma**: the colour differences shrink towards their 5 × 5 mean by ``ε / (var + ε)``
  (a local Wiener filter): flat colour noise is averaged away, colour edges stay.

Luma and chroma are put back together, so the luma filter never shifts a colour and the chroma
filter never softens detail. It works on the linear, colour-corrected picture (before the tone
curve), tile by tile like every stage; it reaches :data:`REACH` pixels.

References
----------
K. He, J. Sun, X. Tang, "Guided image filtering", IEEE TPAMI 35(6), 2013.
J.-S. Lee, "Digital image enhancement and noise filtering by use of local statistics", IEEE
TPAMI 2(2), 1980 (the local-statistics Wiener shrinkage).
A. Foi et al., "Practical Poissonian-Gaussian noise modeling and fitting for single-image raw
data", IEEE TIP 17(10), 2008 (the noise model, and measuring it from one frame).
Adobe, "Digital Negative (DNG) Specification" 1.4.0.0, NoiseProfile.
"""

from __future__ import annotations

import dataclasses

import numpy as np

#: Luma weights of linear sRGB (ITU-R BT.709, as sRGB's primaries).
LUMA = np.array([0.2126, 0.7152, 0.0722])
LUMA_RADIUS = 1
CHROMA_RADIUS = 2
#: Pixels the filter reads beyond the ones it outputs.
REACH = max(2 * LUMA_RADIUS, CHROMA_RADIUS)
#: How many times the noise variance counts as "flat" (ε = strength × variance), per setting.
#: Luma and chroma: chroma noise is blotchy and carries no detail, so it is taken out harder.
STRENGTHS = {"low": (0.5, 2.0), "normal": (1.5, 6.0), "high": (3.0, 12.0)}
#: Below this luma noise (its standard deviation at 18 % grey, in 8-bit sRGB levels after the
#: tone curve) the picture is left alone: noise under a level is not worth the time or any
#: detail. The IMX477 is above it at every ISO at normal exposure (2.0 levels at ISO 100
#: through the tuning's colour matrix at 5000 K, 4.1 at ISO 400); pulled by a stop or more at
#: ISO 100 it drops below.
SKIP_BELOW_LEVELS = 1.0
#: The sRGB curve's slope at 18 % grey (encoded per linear: 1.055 / 2.4 · 0.18^(1/2.4 - 1)).
SRGB_SLOPE_AT_GREY = 1.196


@dataclasses.dataclass(frozen=True)
class NoiseModel:
    """Variance of a raw sample at normalised level ``x`` (0-1, before white balance):
    ``scale · x + offset``."""

    scale: float
    offset: float

    @classmethod
    def from_sensor(cls, full_scale_dn: float, dn_per_e: float, read_noise_e: float) -> NoiseModel:
        """From a sensor's conversion gain (DN per electron at the frame's analogue gain) and
        read noise: shot noise ``x · full_scale · dn_per_e`` DN², read noise and quantisation
        ``(read_noise_e · dn_per_e)² + 1/12`` DN², over ``full_scale²``."""
        return cls(dn_per_e / full_scale_dn,
                   ((read_noise_e * dn_per_e) ** 2 + 1.0 / 12.0) / full_scale_dn**2)

    @classmethod
    def measured(cls, raw: np.ndarray, pattern: str, black: float, white: float) -> NoiseModel | None:
        """Measured from the frame itself (after Foi et al. 2008): in each colour plane, a
        sample's difference from the mean of its two horizontal neighbours; binned by the level
        of its vertical neighbours, a
        robust variance per bin (from the median absolute deviation, which edges, being few,
        do not move), then a straight line through them. None when too little is usable."""
        from isp.cfa import site_colours

        levels, variances = [], []
        span = float(white - black)
        step = max(1, int(np.ceil(raw.size / 4 / 250_000)))  # about 250 000 samples a plane
        for dy, dx, _ in site_colours(pattern):
            # Every step-th row of the plane, whole: the samples compared are neighbours along
            # a row; the rows above and below that give their level are step rows away.
            plane = raw[dy::2 * step, dx::2].astype(np.float32)
            plane -= np.float32(black)
            plane *= np.float32(1.0 / span)
            # A sample against the mean of its left and right neighbours: a slope cancels out,
            # and white noise of variance v leaves 1.5 v (1 + 1/4 + 1/4). Its level is taken
            # from the neighbours above and below, whose noise is independent of the
            # difference's: binning by the samples' own values would pick their noise too.
            mid = plane[1:-1, 1:-1]
            diff = (mid - 0.5 * (plane[1:-1, :-2] + plane[1:-1, 2:])).ravel()
            mean = (0.5 * (plane[:-2, 1:-1] + plane[2:, 1:-1])).ravel()
            ok = (mean > 0.002) & (mean < 0.9)
            mean, diff = mean[ok], diff[ok]
            if mean.size < 4000:
                continue
            order = np.argsort(mean)
            for chunk in np.array_split(order, 16):
                d = diff[chunk]
                mad = np.median(np.abs(d - np.median(d)))
                levels.append(float(mean[chunk].mean()))
                variances.append(float((1.4826 * mad) ** 2 / 1.5))
        if len(levels) < 4:  # a tiny or dark frame: nothing to measure
            return None
        x, v = np.asarray(levels), np.asarray(variances)
        if v.max() < 1e-10:  # (a synthetic frame): no noise to reduce
            return cls(0.0, 1e-12)
        v = np.maximum(v, 1e-12)
        keep = np.ones(len(x), bool)
        for _ in range(3):  # a line fitted in relative terms; bins off it by 30 % are texture
            if keep.sum() < 4:
                return None
            slope, intercept = np.polyfit(x[keep], v[keep], 1, w=1.0 / v[keep])
            fit = np.maximum(slope * x + intercept, 1e-12)
            keep = np.abs(v - fit) <= 0.3 * fit
        return cls(max(float(slope), 0.0), max(float(intercept), 1e-12))


@dataclasses.dataclass(frozen=True)
class DenoiseParams:
    """Noise variance ``a · Y + b`` of the luma and of the colour differences, in the units the
    pipeline has after its colour matrix (linear sRGB × ``scale``), and the strengths."""

    luma: tuple[float, float]
    chroma_r: tuple[float, float]
    chroma_b: tuple[float, float]
    luma_strength: float
    chroma_strength: float

    @classmethod
    def for_frame(cls, model: NoiseModel, gains: tuple[float, float, float], matrix: np.ndarray,
                  scale: float, setting: str = "normal") -> DenoiseParams | None:
        """For a frame with white-balance ``gains`` (R, G, B) and colour ``matrix`` (white-balanced
        camera RGB → linear sRGB) scaled by ``scale``; None when the noise is too small to see
        or the setting is "off"."""
        if setting == "off":
            return None
        if setting not in STRENGTHS:
            raise ValueError(f"noise reduction must be off, low, normal or high, not {setting!r}")
        g = np.asarray(gains, np.float64)
        m = np.asarray(matrix, np.float64)

        def variance(weights: np.ndarray) -> tuple[float, float]:
            # A white-balanced channel w = g·x has variance g·S·w + g²·O; for a grey all w ≈ Y.
            q = m.T @ weights
            return (float(scale * model.scale * np.sum(q * q * g)),
                    float(scale * scale * model.offset * np.sum(q * q * g * g)))

        luma = variance(LUMA)
        grey = 0.18 * scale
        sigma_linear = np.sqrt(luma[0] * grey + luma[1]) / scale
        if sigma_linear * SRGB_SLOPE_AT_GREY * 255 < SKIP_BELOW_LEVELS:
            return None
        luma_k, chroma_k = STRENGTHS[setting]
        return cls(luma, variance(np.array([1.0, 0.0, 0.0]) - LUMA),
                   variance(np.array([0.0, 0.0, 1.0]) - LUMA), luma_k, chroma_k)


def _box(x: np.ndarray, r: int) -> np.ndarray:
    """Mean over (2r+1)² windows, valid part only: shape shrinks by ``r`` on every side."""
    n = 2 * r + 1
    h, w = x.shape
    rows = x[0 : h - 2 * r].copy()
    for k in range(1, n):
        rows += x[k : h - 2 * r + k]
    out = rows[:, 0 : w - 2 * r].copy()
    for k in range(1, n):
        out += rows[:, k : w - 2 * r + k]
    out *= np.float32(1.0 / (n * n))
    return out


def denoise_planar(rgb: np.ndarray, params: DenoiseParams) -> np.ndarray:
    """Denoised (3, H - 2·REACH, W - 2·REACH) from planar linear RGB (3, H, W) in the
    pipeline's scaled units."""
    f32 = np.float32
    red, green, blue = rgb[0], rgb[1], rgb[2]
    y = f32(LUMA[0]) * red + f32(LUMA[1]) * green + f32(LUMA[2]) * blue

    # Luma: self-guided filter, 3 × 3.
    r = LUMA_RADIUS
    mean = _box(y, r)
    var = _box(y * y, r)
    var -= mean * mean
    np.maximum(var, 0, out=var)
    a_y, b_y = params.luma
    eps = np.maximum(mean, 0) * f32(a_y * params.luma_strength)
    eps += f32(b_y * params.luma_strength)
    gain = var / (var + eps)
    offset = mean * (1 - gain)
    c = REACH
    inner = slice(c, y.shape[0] - c), slice(c, y.shape[1] - c)
    inner_r = slice(c - 2 * r, y.shape[0] - c - 2 * r), slice(c - 2 * r, y.shape[1] - c - 2 * r)
    gain_mean = _box(gain, r)[inner_r[0], inner_r[1]]
    y_inner = y[inner]
    y_out = gain_mean * y_inner + _box(offset, r)[inner_r[0], inner_r[1]]

    # Chroma: local Wiener shrinkage of R−Y and B−Y towards their 5 × 5 mean.
    rc = CHROMA_RADIUS
    level = np.maximum(_box(y, rc), 0)
    inner_c = slice(c - rc, y.shape[0] - c - rc), slice(c - rc, y.shape[1] - c - rc)
    level = level[inner_c]
    out = np.empty((3, *y_out.shape), np.float32)
    for channel, (a_c, b_c) in ((0, params.chroma_r), (2, params.chroma_b)):
        diff = rgb[channel] - y
        mean_c = _box(diff, rc)[inner_c]
        var_c = _box(diff * diff, rc)[inner_c] - mean_c * mean_c
        noise = level * f32(a_c * params.chroma_strength) + f32(b_c * params.chroma_strength)
        keep = var_c / (np.maximum(var_c, 0) + noise + f32(1e-12))
        np.clip(keep, 0, 1, out=keep)
        d = diff[inner]
        out[channel] = y_out + mean_c + keep * (d - mean_c)
    out[1] = (y_out - f32(LUMA[0]) * out[0] - f32(LUMA[2]) * out[2]) * f32(1 / LUMA[1])
    return out


def imx477_noise(raw) -> NoiseModel:
    """The HQ sensor's noise at a frame's analogue gain (``hal/imx477.py``: conversion gain and
    read noise, after Hogan's measurements), for its frames and DNGs (``raw``: a
    :class:`hal.camera.RawFrame`)."""
    from hal import imx477

    dn_per_e = imx477.CONVERSION_GAIN_DN_PER_E * max(raw.metadata.analogue_gain, 1.0)
    dn_per_e *= 2.0 ** (raw.bit_depth - 12)
    return NoiseModel.from_sensor(raw.white_level - raw.black_level, dn_per_e, imx477.READ_NOISE_E)

