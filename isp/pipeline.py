"""The stage order, written once, and strip-wise processing of a whole frame.

Order (as the Raspberry Pi hardware ISP): black level → defective pixel correction → green
equalisation → white balance → lens shading → demosaic → colour correction → tone curve →
sharpening → 8-bit. Per stage, dtype and range in and out:

================  ==========================  ============================================
stage             input                       output
================  ==========================  ============================================
black_level       uint16 (H, W) DN            float32 (H, W), 0 = black, 1 = white
defective_pixels  float32 (H, W) normalised   same
green_equalise    float32 (H, W) normalised   same
white_balance     float32 (H, W) normalised   float32 (H, W) in [0, 1]
lens_shading      float32 (H, W) in [0, 1]    float32 (H, W) in [0, 1]
demosaic          float32 (H, W) in [0, 1]    float32 (H, W, 3) camera RGB in [0, 1]
colour_correct    float32 (H, W, 3) camera    float32 (H, W, 3) linear sRGB, unclipped
tone              float32 (H, W, 3) linear    float32 (H, W, 3) encoded, in [0, 1]
sharpen           float32 (H, W, 3) encoded   float32 (H, W, 3) encoded, in [0, 1]
to_uint8          float32 (H, W, 3) in [0, 1] uint8 (H, W, 3)
================  ==========================  ============================================

A frame is processed in horizontal strips that start on even rows (so every strip has the
frame's Bayer pattern), each read with :data:`HALO_ROWS` extra rows above and below so that
no stage sees the strip's cut; a strip's result therefore equals the same rows of whole-frame
processing. Strips run on a small thread pool: numpy and scipy release the GIL in their loops.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from isp.black_level import BlackLevelParams, black_level
from isp.ccm import CcmParams, colour_correct
from isp.demosaic import demosaic
from isp.dpc import DpcParams, defective_pixels
from isp.green_eq import GreenEqParams, green_equalise
from isp.lens_shading import LensShadingParams, lens_shading
from isp.output import to_uint8
from isp.sharpen import SharpenParams, sharpen
from isp.tone import ToneParams, tone
from isp.white_balance import WhiteBalanceParams, white_balance

#: Rows read beyond each side of a strip: more than the combined reach of every stage
#: (DPC 2, green equalisation 2, MLRI demosaic about 30, sharpening 1).
HALO_ROWS = 40
#: Rows per strip by default: large enough that the halo costs little, small enough that a
#: strip's float32 intermediates stay at a few tens of MB.
STRIP_ROWS = 192


@dataclasses.dataclass(frozen=True, eq=False)
class PipelineParams:
    """Everything the stages need; ``None`` turns an optional stage off."""

    pattern: str
    black: BlackLevelParams
    white_balance: WhiteBalanceParams
    ccm: CcmParams
    tone: ToneParams
    dpc: DpcParams | None = DpcParams()
    green_eq: GreenEqParams | None = GreenEqParams()
    lens_shading: LensShadingParams | None = None
    sharpen: SharpenParams | None = SharpenParams()
    demosaic_method: str = "mlri"


def process(raw: np.ndarray, params: PipelineParams, row0: int = 0) -> np.ndarray:
    """Run every stage, in order, on a uint16 mosaic whose first row is frame row ``row0``."""
    p = params
    x = black_level(raw, p.black)
    if p.dpc is not None:
        x = defective_pixels(x, p.dpc)
    if p.green_eq is not None:
        x = green_equalise(x, p.pattern, p.green_eq)
    x = white_balance(x, p.pattern, p.white_balance)
    if p.lens_shading is not None:
        x = lens_shading(x, p.pattern, p.lens_shading, row0)
    rgb = demosaic(x, p.pattern, method=p.demosaic_method)
    del x
    rgb = colour_correct(rgb, p.ccm)
    rgb = tone(rgb, p.tone)
    if p.sharpen is not None:
        rgb = sharpen(rgb, p.sharpen)
    return to_uint8(rgb)


def process_in_strips(
    raw: np.ndarray,
    params: PipelineParams,
    strip_rows: int = STRIP_ROWS,
    workers: int | None = None,
) -> np.ndarray:
    """:func:`process` over the whole uint16 mosaic, strip by strip; uint8 (H, W, 3) sRGB."""
    if strip_rows < 2:
        raise ValueError("strip_rows must be at least 2")
    strip_rows += strip_rows % 2
    h, w = raw.shape
    out = np.empty((h, w, 3), np.uint8)
    starts = list(range(0, h, strip_rows))

    def job(y0: int) -> None:
        y1 = min(y0 + strip_rows, h)
        a, b = max(0, y0 - HALO_ROWS), min(h, y1 + HALO_ROWS)
        out[y0:y1] = process(raw[a:b], params, row0=a)[y0 - a : y1 - a]

    n = workers if workers is not None else min(2, os.cpu_count() or 1)
    if n <= 1 or len(starts) == 1:
        for y0 in starts:
            job(y0)
    else:
        with ThreadPoolExecutor(max_workers=n) as pool:
            for f in [pool.submit(job, y0) for y0 in starts]:
                f.result()
    return out
