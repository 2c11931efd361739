"""Expose-to-the-right: how far the exposure can rise before the highlights clip, and a coarse
map of raw headroom for the browser's raw zebras and false colour.

ETTR criterion (after Magic Lantern's auto-ETTR, whose "highlight ignore" lets a small share
of pixels such as specular glints clip): in each Bayer channel take the level that only
``ignore_percent`` of its pixels exceed (99.9th percentile by default, i.e. 0.1 % may clip),
and find the EV change that puts it ``headroom_ev`` below the white level. The channel that
clips first decides: ``ettr_ev = min over channels of log2(target / level)``, with levels and
target as fractions of the range above black. Positive means "you can give this much more
exposure", negative "take this much away".

When more than ``ignore_percent`` of a channel is already clipped its true level is unknown;
the figure then uses the clip level itself, so it is a *bound* (at least this much less) and
``overexposed`` says so: take the exposure down by it (or a stop) and look again, as Magic
Lantern's auto-ETTR iterates.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from firmware.live.histogram import (
    RAW_CHANNELS,
    clip_threshold_dn,
    ev_below_clipping,
)
from hal.camera import RawFrame

HIGHLIGHT_IGNORE_PERCENT = 0.1
ETTR_HEADROOM_EV = 0.125
"""Where ETTR aims the brightest highlights: 1/8 stop below the white level, just outside the
1/16-stop band that counts as clipped (see :data:`~firmware.live.histogram.CLIP_MARGIN_EV`)."""

MAP_WIDTH = 128
MAP_STEPS_PER_EV = 16
"""Exposure-map code = floor(stops below clipping × 16), so code 0 is exactly the clipped band."""


@dataclasses.dataclass(frozen=True)
class Ettr:
    """The ETTR hint and what it rests on."""

    ev: float
    """EV change that puts the highlights ``headroom_ev`` below clipping."""
    limited_by: str
    """The Bayer channel that clips first."""
    overexposed: bool
    """More than ``ignore_percent`` is clipped already: ``ev`` is a bound, not an estimate."""
    highlight_ev: dict[str, float]
    """Per channel: the highlight level (the percentile) in stops below clipping."""


def ettr(
    dn_hists: dict[str, np.ndarray],
    black_level: int,
    white_level: int,
    ignore_percent: float = HIGHLIGHT_IGNORE_PERCENT,
    headroom_ev: float = ETTR_HEADROOM_EV,
) -> Ettr:
    """The ETTR hint from exact-DN histograms of each Bayer channel (see the module docstring).

    >>> dn = np.zeros(4096, np.int64); dn[256 + 3839 // 8] = 1000   # 3 stops below clipping
    >>> e = ettr({"G1": dn}, 256, 4095)
    >>> round(e.ev, 2), e.limited_by, e.overexposed
    (2.88, 'G1', False)
    """
    if not dn_hists:
        raise ValueError("no channel histograms")
    span = white_level - black_level
    clip_dn = clip_threshold_dn(black_level, white_level)
    target = 2.0**-headroom_ev
    quantile = 1.0 - ignore_percent / 100.0
    best: tuple[float, str] | None = None
    overexposed = False
    levels: dict[str, float] = {}
    for colour, hist in dn_hists.items():
        total = int(hist.sum())
        if total == 0:
            continue
        cumulative = np.cumsum(hist)
        # The smallest level with at least `quantile` of the pixels at or below it.
        dn = int(np.searchsorted(cumulative, quantile * total, side="left"))
        if dn >= clip_dn:
            overexposed = True
            dn = clip_dn
        level = max(dn - black_level, 0.5) / span  # half a DN: the darkest level we can tell
        levels[colour] = round(float(ev_below_clipping(np.array([dn]), black_level,
                                                       white_level)[0]), 3)
        ev = float(np.log2(target / level))
        if best is None or ev < best[0]:
            best = (ev, colour)
    if best is None:
        raise ValueError("the channel histograms are empty")
    return Ettr(ev=best[0], limited_by=best[1], overexposed=overexposed, highlight_ev=levels)


@functools.lru_cache(maxsize=8)
def _map_code_lut(black_level: int, white_level: int) -> np.ndarray:
    ev = ev_below_clipping(np.arange(white_level + 1), black_level, white_level)
    codes = np.minimum(np.floor(ev * MAP_STEPS_PER_EV), 255).astype(np.uint8)
    codes.setflags(write=False)
    return codes


def exposure_map(raw: RawFrame, width: int = MAP_WIDTH) -> np.ndarray:
    """A small uint8 map of raw headroom: per cell, the brightest Bayer channel's stops below
    clipping in 1/16 stop, ``floor(ev × 16)`` capped at 255 (also at or below black).

    Code 0 means clipped (within 1/16 stop of the white level, the band
    :data:`~firmware.live.histogram.CLIP_MARGIN_EV` counts as clipped) in at least one
    channel. Cells sample one Bayer quad every ``ceil(channel width / width)`` quads, so the map is at most ``width`` wide and keeps the frame's aspect ratio. It is what the
    browser needs to draw raw zebras and false colour over the stream without raw data.
    """
    planes = [raw.channel(c) for c in RAW_CHANNELS]
    h = min(p.shape[0] for p in planes)
    w = min(p.shape[1] for p in planes)
    step = max(1, -(-w // width))
    brightest = planes[0][:h:step, :w:step].copy()
    for p in planes[1:]:
        np.maximum(brightest, p[:h:step, :w:step], out=brightest)
    np.minimum(brightest, raw.white_level, out=brightest)
    return _map_code_lut(raw.black_level, raw.white_level)[brightest]

