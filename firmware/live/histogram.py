"""Histograms of the live view: processed RGB and luma, and the raw Bayer channels in stops.

Every function reads a regular subsample of the frame (every ``stride``-th pixel along each
axis): a histogram drawn 256 px wide on a phone needs tens of thousands of samples, not a
million, and striding costs no more than the samples it reads.

Raw levels are expressed in stops below clipping, ``ev = log2((white − black) / (dn − black))``,
so 0 EV is the white level and a mid-grey exposed "normally" sits about 2.5–3 EV below it.
"""

from __future__ import annotations

import functools

import numpy as np

from hal.camera import RawFrame

#: Rec. 709 luma weights (0.2126, 0.7152, 0.0722) in 1/256ths, summing to 256.
LUMA_WEIGHTS_256 = (54, 183, 19)

#: Bayer channels in the order every per-channel result lists them.
RAW_CHANNELS = ("R", "G1", "G2", "B")

#: A raw pixel within this many stops of the white level counts as clipped. Saturation is
#: soft in practice: read and shot noise spread a saturated pixel's values a few tens of DN
#: below the ADC's maximum, so "at the white level exactly" would miss many clipped pixels.
CLIP_MARGIN_EV = 1.0 / 16.0

RAW_BIN_WIDTH_EV = 1.0 / 8.0
RAW_RANGE_EV = 14.0
"""The raw histogram spans 14 stops below clipping (more than the IMX477's 12 bits hold)."""


def sample_stride(length: int, target: int) -> int:
    """The stride that keeps about ``target`` samples (at least one) of ``length``.

    >>> sample_stride(1280, 320), sample_stride(320, 320), sample_stride(100, 320)
    (4, 1, 1)
    """
    return max(1, length // max(1, target))


def rgb_histograms(rgb: np.ndarray, stride: int = 1) -> dict[str, np.ndarray]:
    """256-bin histograms of the processed frame's R, G, B and Rec. 709 luma.

    ``rgb`` is uint8 (height, width, 3); every ``stride``-th pixel along each axis is counted.
    Returns int64 arrays of 256 counts keyed ``"r"``, ``"g"``, ``"b"``, ``"luma"``.

    >>> h = rgb_histograms(np.full((4, 4, 3), 200, np.uint8))
    >>> int(h["luma"][200]), int(h["r"][200])
    (16, 16)
    """
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("rgb must be a uint8 (height, width, 3) array")
    sub = rgb[::stride, ::stride]
    out = {}
    channels = []
    for i, name in enumerate("rgb"):
        c = sub[..., i].ravel()
        channels.append(c)
        out[name] = np.bincount(c, minlength=256)
    wr, wg, wb = LUMA_WEIGHTS_256
    luma = channels[0].astype(np.uint16) * wr
    luma += channels[1].astype(np.uint16) * wg
    luma += channels[2].astype(np.uint16) * wb
    luma >>= 8
    out["luma"] = np.bincount(luma, minlength=256)
    return out


def raw_dn_histograms(raw: RawFrame, stride: int = 1) -> dict[str, np.ndarray]:
    """Per-Bayer-channel histograms in digital numbers: ``white_level + 1`` bins each.

    Every ``stride``-th site of each channel (which is already every second pixel) is counted.
    These exact-DN histograms feed the EV histogram, the clipping fractions and ETTR, so the
    raw data is read once.
    """
    n = raw.white_level + 1
    out = {}
    for colour in RAW_CHANNELS:
        plane = raw.channel(colour)[::stride, ::stride]
        hist = np.bincount(plane.ravel(), minlength=n)
        if len(hist) > n:  # values above the stated white level: count them as white
            hist[n - 1] += hist[n:].sum()
            hist = hist[:n]
        out[colour] = hist
    return out


def ev_below_clipping(dn: np.ndarray, black_level: int, white_level: int) -> np.ndarray:
    """Stops below the white level of raw values ``dn`` (inf at or below black).

    >>> ev_below_clipping(np.array([4095, 2175, 256]), 256, 4095).round(3).tolist()
    [0.0, 1.0, inf]
    """
    signal = np.asarray(dn, dtype=np.float64) - black_level
    with np.errstate(divide="ignore"):
        return np.where(
            signal > 0, np.log2((white_level - black_level) / np.maximum(signal, 1e-9)), np.inf
        )


@functools.lru_cache(maxsize=8)
def _ev_bin_lut(black_level: int, white_level: int, bin_width_ev: float, bins: int) -> np.ndarray:
    """Raw DN -> bin of the EV histogram, darkest bin first (index ``bins - 1`` at clipping)."""
    ev = ev_below_clipping(np.arange(white_level + 1), black_level, white_level)
    below = np.minimum(np.floor(ev / bin_width_ev), bins - 1)
    lut = (bins - 1 - below).astype(np.intp)
    lut.setflags(write=False)
    return lut


def raw_ev_histogram(
    dn_hist: np.ndarray,
    black_level: int,
    white_level: int,
    bin_width_ev: float = RAW_BIN_WIDTH_EV,
    range_ev: float = RAW_RANGE_EV,
) -> np.ndarray:
    """Rebin an exact-DN histogram into stops below clipping, dark on the left.

    Bin ``i`` of ``n = range_ev / bin_width_ev`` bins holds levels from
    ``(n − i) · bin_width_ev`` to ``(n − 1 − i) · bin_width_ev`` EV below clipping; the first
    bin also holds everything darker (down to and below black), the last one the clipped
    pixels. Magic Lantern draws its raw histogram the same way, in stops from the right edge.

    >>> dn = np.zeros(4096, np.int64); dn[4095] = 3; dn[2175] = 2  # 0 and 1 EV below
    >>> h = raw_ev_histogram(dn, 256, 4095, 0.5, 4.0)
    >>> h.tolist()
    [0, 0, 0, 0, 0, 2, 0, 3]
    """
    bins = round(range_ev / bin_width_ev)
    lut = _ev_bin_lut(black_level, white_level, bin_width_ev, bins)
    return np.bincount(lut, weights=dn_hist, minlength=bins).astype(np.int64)


def clip_threshold_dn(black_level: int, white_level: int, margin_ev: float = CLIP_MARGIN_EV) -> int:
    """The lowest raw value counted as clipped: ``margin_ev`` below the white level.

    >>> clip_threshold_dn(256, 4095)
    3933
    """
    return int(np.ceil(black_level + (white_level - black_level) * 2.0**-margin_ev))


def clipped_fraction(
    dn_hist: np.ndarray, black_level: int, white_level: int, margin_ev: float = CLIP_MARGIN_EV
) -> float:
    """Fraction of the counted pixels at or within ``margin_ev`` of the white level."""
    total = int(dn_hist.sum())
    if total == 0:
        return 0.0
    return int(dn_hist[clip_threshold_dn(black_level, white_level, margin_ev):].sum()) / total
