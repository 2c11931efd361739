"""The stage order, written once, and strip-wise processing of a whole frame.

Order (as the Raspberry Pi hardware ISP): black level → defective pixel correction → green
equalisation → white balance → lens shading → demosaic → false-colour clamp → colour correction → noise reduction → tone curve →
sharpening → 8-bit. Per stage, dtype and range in and out:

================  ==========================  ============================================
stage             input                       output
================  ==========================  ============================================
black_level       float32 planes, DN          float32 planes, 0 = black, 1 = white
defective_pixels  float32 planes, normalised  same
green_equalise    float32 planes, normalised  same
white_balance     float32 planes, normalised  float32 planes in [0, 1]
lens_shading      float32 planes in [0, 1]    float32 planes in [0, 1]
demosaic          float32 planes in [0, 1]    float32 (H, W, 3) camera RGB in [0, 1]
colour_correct    float32 (H, W, 3) camera    float32 (H, W, 3) linear sRGB × 65535, unclipped
tone              float32 (H, W, 3) as above  float32 (H, W, 3) encoded, in [0, 255]
sharpen           float32 (H, W, 3) encoded   float32 (H, W) luma detail to add
to_uint8          float32 (H, W, 3) + detail  uint8 (H, W, 3)
================  ==========================  ============================================

"Planes" are the mosaic's four colour sub-lattices (:mod:`isp.cfa`), on which the mosaic
stages and the demosaic work. Every stage runs in C where mrig was installed with a C compiler
(:mod:`isp.compiled`: about half the time on one core), the numpy stages here otherwise; numpy is
the reference the C is tested against. A frame is processed in tiles (:data:`STRIP_ROWS` ×
:data:`TILE_COLS` pixels). Each tile is read with :func:`halo` extra pixels on every side,
mirrored beyond the frame's edges and aligned so it starts on a red pixel; the stages compute
valid regions only (:mod:`isp.grid`), so a tile's result is bit for bit what processing the
whole frame gives for those pixels. A tile goes from uint16 to uint8 in one pass through small
working arrays (a peak of about 14 MB at the default size), which keeps memory low and the data
in the CPU caches; tiles run on a thread pool, one thread per CPU (numpy and the C stages
release the GIL), or whole bands on forked processes (:mod:`isp.forked`, for ``mrig develop``: faster, as
the workers then never wait for each other's GIL). Only the raw frame and the uint8 output exist
at full size, and with :func:`process_in_bands` (which hands each finished band of rows on, to
the JPEG encoder) not even the output. Measured per tile (``tests/bench/bench_isp.py``): the
demosaic is about two thirds of the work, and a few ms of Python bookkeeping per tile and the
halo (about a third more pixels at this size) are why tiles are not smaller; larger ones no
longer fit the CPU caches (see :data:`TILE_COLS`).
"""

from __future__ import annotations

import collections
import dataclasses
import os
import threading
from collections.abc import Callable

import numpy as np

from isp import compiled
from isp.allocator import release_free_memory, reuse_freed_memory
from isp.black_level import BlackLevelParams, black_level_planes
from isp.ccm import CcmParams, colour_correct_planar
from isp.cfa import check_pattern, merge_planes, mirror_index, split_planes
from isp.demosaic import METHODS, assemble, clamp_false_colour
from isp.demosaic_ri import MlriParams, demosaic_mlri_planes, reach
from isp.denoise import REACH as DENOISE_REACH
from isp.denoise import DenoiseParams, denoise_planar
from isp.dpc import DpcParams, defective_pixels_planes
from isp.green_eq import GreenEqParams, green_equalise_planes
from isp.lens_shading import LensShadingParams, lens_shading_planes
from isp.output import to_uint8_planar
from isp.sharpen import SharpenParams, luma_detail
from isp.tone import INDEX_SCALE, ToneParams, tone_indexed
from isp.white_balance import WhiteBalanceParams, white_balance_planes

#: Output rows and columns per tile by default: large enough that the halo (about 34 pixels a
#: side) and the per-call overhead cost little, small enough that each stage's arrays mostly
#: stay in the CPU caches while two workers run. Measured on the 12 MP frame with ``mrig
#: develop`` in fresh processes, 15 interleaved rounds on this 2-core machine: 384 × 512 took
#: 0.91 of the time of 384 × 1024 (and 0.92 of its CPU time), though it has 6 % more halo and
#: twice the tiles; 448 × 512 was the same within the noise, 512 × 512, 384 × 384 and
#: 256 × 512 slower (more halo, or arrays that no longer fit). When the machine was much
#: busier (everything 1.5 times slower) the gain shrank to 0.98-1.00.
STRIP_ROWS = 384
TILE_COLS = 512
#: Pixels the stages around the demosaic reach: DPC and green equalisation (one plane sample,
#: two pixels, each), the false-colour clamp and sharpening (one pixel each).
_MOSAIC_REACH = 4
_SHARPEN_REACH = 2


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
    mlri: MlriParams = MlriParams()
    denoise: DenoiseParams | None = None

    def __post_init__(self) -> None:
        check_pattern(self.pattern)
        if self.demosaic_method not in METHODS:
            raise ValueError(f"unknown demosaic method {self.demosaic_method!r}; expected one of {METHODS}")


def halo(params: PipelineParams) -> int:
    """Extra pixels (even) a strip needs on each side so that it matches whole-frame results."""
    return _MOSAIC_REACH + reach(params.mlri) + _SHARPEN_REACH + _denoise_reach(params)


def _denoise_reach(params: PipelineParams) -> int:
    return 0 if params.denoise is None else DENOISE_REACH + DENOISE_REACH % 2


def _bilinear_planes(planes: dict, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Bilinear RGB of pixels ``[r0, r1) × [c0, c1)``, planar and contiguous (3, rows, cols)
    like :func:`assemble`'s, as the colour stages expect. The box may start on an odd row or
    column (sharpening's one extra pixel): the mosaic is merged from the even site before it,
    so that it starts on a red site as ``_bilinear_rggb`` expects."""
    from isp.demosaic import _bilinear_rggb

    # Two more pixels around (the filters' reach, whose mirrored edges are then cut off), and
    # down to the even site before the box.
    top, left = r0 % 2 + 2, c0 % 2 + 2
    rgb = _bilinear_rggb(merge_planes(planes, r0 - top, r1 + 2, c0 - left, c1 + 2))
    return np.ascontiguousarray(np.moveaxis(rgb[top:-2, left:-2], -1, 0))


def _mosaic_stages(planes: dict, p: PipelineParams, rows: np.ndarray, cols: np.ndarray) -> dict:
    """The stages before the demosaic, in numpy, on the tile's colour planes."""
    planes = black_level_planes(planes, p.black)
    if p.dpc is not None:
        planes = defective_pixels_planes(planes, p.dpc)
    if p.green_eq is not None:
        planes = green_equalise_planes(planes, p.green_eq)
    planes = white_balance_planes(planes, p.white_balance)
    if p.lens_shading is not None:
        planes = lens_shading_planes(planes, p.lens_shading, rows, cols)
    return planes


def process(
    raw: np.ndarray, params: PipelineParams, rows: np.ndarray, cols: np.ndarray,
    region: tuple[int, int, int, int], out: np.ndarray | None = None,
) -> np.ndarray:
    """Run every stage, in order, on a uint16 RGGB-aligned, even-sized mosaic.

    ``rows[y]`` and ``cols[x]`` are the frame row and column of mosaic pixel ``(y, x)`` (for
    lens shading); ``region`` = (y0, y1, x0, x1) is the part returned (or written to ``out``),
    as uint8 (y1 - y0, x1 - x0, 3) sRGB; it must lie :func:`halo` pixels inside ``raw``.
    """
    p = params
    y0, y1, x0, x1 = region
    # Two more pixels around: one for the false-colour clamp, one for sharpening; and noise
    # reduction's reach.
    m = _SHARPEN_REACH + _denoise_reach(p)
    box = (y0 - m, y1 + m, x0 - m, x1 + m)
    if p.demosaic_method == "mlri" and compiled.AVAILABLE:
        # The same stages in C (isp/compiled.py): the mosaic stages give numpy's bytes, the
        # demosaic numpy's values to float32 rounding.
        mosaic, _ = compiled.mosaic_stages(raw, p, rows, cols)
        rgb = compiled.demosaic_mlri(mosaic, box, p.mlri)
    else:
        planes = _mosaic_stages(split_planes(raw), p, rows, cols)
        if p.demosaic_method == "mlri":
            rgb = assemble(demosaic_mlri_planes(planes, p.mlri), *box, planar=True)
        else:
            rgb = _bilinear_planes(planes, *box)
        del planes
    if out is None:
        out = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
    if compiled.AVAILABLE:  # the same stages in C, the same bytes (isp/compiled.py)
        compiled.finish_tile(rgb, (box[0] % 2, box[2] % 2), p, out)
        return out
    rgb = clamp_false_colour(rgb, (box[0] % 2, box[2] % 2))
    # The matrix scales its output to the tone table's index: the tone stage is then one cast
    # and one lookup per sample, into 8-bit levels (0-255) from here on.
    rgb = colour_correct_planar(rgb, p.ccm, gain=INDEX_SCALE)
    low, high = p.ccm.output_range()
    if p.denoise is not None:
        rgb = denoise_planar(rgb, p.denoise)
        extra = _denoise_reach(p) - DENOISE_REACH  # kept even: trim what is left over
        if extra:
            rgb = np.ascontiguousarray(rgb[:, extra:-extra, extra:-extra])
        np.clip(rgb, np.float32(low * INDEX_SCALE), np.float32(high * INDEX_SCALE), out=rgb)
    tone_indexed(rgb, p.tone.table(255.0, low, high), out=rgb)
    detail = luma_detail(rgb, p.sharpen, white=255.0) if p.sharpen is not None else None
    to_uint8_planar(rgb[:, 1:-1, 1:-1], out, detail)  # sharpening added on the way to 8 bits
    return out


def _take(a: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
    """``a.take(index, axis)``, as a view when ``index`` is a plain range."""
    if index[-1] - index[0] == len(index) - 1 and np.all(np.diff(index) == 1):
        return a[index[0] : index[-1] + 1] if axis == 0 else a[:, index[0] : index[-1] + 1]
    return a.take(index, axis=axis)


def process_in_strips(
    raw: np.ndarray,
    params: PipelineParams,
    strip_rows: int = STRIP_ROWS,
    workers: int | None = None,
    tile_cols: int = TILE_COLS,
) -> np.ndarray:
    """:func:`process` over the whole uint16 mosaic, tile by tile; uint8 (H, W, 3) sRGB.

    Tiles are ``strip_rows`` × ``tile_cols`` pixels; ``workers`` threads (default: one per CPU).
    The result does not depend on any of the three.
    """
    h, w = raw.shape
    out = np.empty((h, w, 3), np.uint8)
    _run_tiles(raw, params, strip_rows, workers, tile_cols, lambda y0, y1: out[y0:y1], None)
    return out


def process_in_bands(
    raw: np.ndarray,
    params: PipelineParams,
    on_band: Callable[[int, np.ndarray], None],
    strip_rows: int = STRIP_ROWS,
    workers: int | None = None,
    tile_cols: int = TILE_COLS,
) -> None:
    """:func:`process_in_strips`, handing each band of ``strip_rows`` rows to ``on_band(y0,
    rows)`` (uint8 (rows, W, 3)) as soon as its tiles are done, on the worker thread that
    finished it, instead of assembling the frame: work on a band (JPEG encoding) overlaps the
    tiles still to do, and only the bands in progress are held in memory."""
    h, w = raw.shape
    bands: dict[int, np.ndarray] = {}
    lock = threading.Lock()

    def band(y0: int, y1: int) -> np.ndarray:
        with lock:
            if y0 not in bands:
                bands[y0] = np.empty((y1 - y0, w, 3), np.uint8)
            return bands[y0]

    def done(y0: int) -> None:
        with lock:
            rows = bands.pop(y0)
        on_band(y0, rows)

    _run_tiles(raw, params, strip_rows, workers, tile_cols, band, done)


def even_tiling(strip_rows: int, tile_cols: int) -> tuple[int, int]:
    """Tile sides rounded up to even (a tile starts on a red pixel), at least 2."""
    if strip_rows < 2 or tile_cols < 2:
        raise ValueError("strip_rows and tile_cols must be at least 2")
    return strip_rows + strip_rows % 2, tile_cols + tile_cols % 2


def develop_tile(raw: np.ndarray, params: PipelineParams, y0: int, y1: int, x0: int, x1: int,
                 out: np.ndarray) -> None:
    """Rows ``y0..y1-1``, columns ``x0..x1-1`` (``y0``, ``x0`` even) of the whole uint16 mosaic
    into ``out`` (uint8 (y1 - y0, x1 - x0, 3)): the tile is cut with :func:`halo` pixels
    around it, mirrored beyond the frame's edges, and run through :func:`process`."""
    h, w = raw.shape
    ry, rx = check_pattern(params.pattern)
    m = halo(params)
    top, left = m + ry, m + rx  # y0, x0 and m are even: the tile starts on a red pixel
    bottom = m + (top + y1 - y0 + m) % 2
    right = m + (left + x1 - x0 + m) % 2
    rows = mirror_index(h, y0 - top, y1 + bottom)
    cols = mirror_index(w, x0 - left, x1 + right)
    tile = _take(_take(raw, rows, 0), cols, 1)
    process(tile, params, rows, cols, (top, top + y1 - y0, left, left + x1 - x0), out)


def develop_band(raw: np.ndarray, params: PipelineParams, y0: int, y1: int,
                 tile_cols: int = TILE_COLS) -> np.ndarray:
    """Rows ``y0..y1-1`` (``y0`` even) of the frame, tile by tile on this thread: uint8 (y1 - y0, W, 3)."""
    w = raw.shape[1]
    _, tile_cols = even_tiling(2, tile_cols)
    out = np.empty((y1 - y0, w, 3), np.uint8)
    for x0 in range(0, w, tile_cols):
        x1 = min(x0 + tile_cols, w)
        develop_tile(raw, params, y0, y1, x0, x1, out[:, x0:x1])
    return out


def _run_tiles(
    raw: np.ndarray,
    params: PipelineParams,
    strip_rows: int,
    workers: int | None,
    tile_cols: int,
    target: Callable[[int, int], np.ndarray],
    band_done: Callable[[int], None] | None,
) -> None:
    """Process every tile; the tile at (y0, x0) lands in columns x0.. of ``target(y0, y1)``, and
    ``band_done(y0)`` follows the last tile of rows y0..y1."""
    strip_rows, tile_cols = even_tiling(strip_rows, tile_cols)
    reuse_freed_memory()
    h, w = raw.shape
    tiles = [(y0, x0) for y0 in range(0, h, strip_rows) for x0 in range(0, w, tile_cols)]
    lock = threading.Lock()
    left_in_band = collections.Counter(y0 for y0, _ in tiles)

    def job(y0: int, x0: int) -> None:
        y1, x1 = min(y0 + strip_rows, h), min(x0 + tile_cols, w)
        develop_tile(raw, params, y0, y1, x0, x1, target(y0, y1)[:, x0:x1])
        if band_done is not None:
            with lock:
                left_in_band[y0] -= 1
                finished = left_in_band[y0] == 0
            if finished:
                band_done(y0)

    n = workers if workers is not None else (os.cpu_count() or 1)
    if n <= 1 or len(tiles) == 1:
        for t in tiles:
            job(*t)
    else:
        # Imported here: mrig develop's forked workers never need it (5 ms of its start-up).
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=n) as pool:
            for f in [pool.submit(job, *t) for t in tiles]:
                f.result()
    release_free_memory()
