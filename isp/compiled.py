"""The photo pipeline's stages in C (``isp/kernels.c``), loaded with ctypes.

In numpy, the pipeline is several hundred passes over each tile, each writing a temporary the
next one reads back: about 1.4 s of a 12 MP frame on one core (``python -m tests.bench isp``
prints it stage by stage). In C the mosaic stages, the demosaic and the stages after it are a
few loops over the tile's rows, nearly all of them vector code: 0.7 s.

Why C through ctypes, and not numba: numba (tried first; the issue that asked for the speed
named it) compiled the same loops to about the same speed, but a fresh process pays about 0.3 s
of CPU to import it and 0.3 s more to load its cached machine code, and its first run compiles
for 8 to 12 s, so ``mrig develop`` of one file took longer with it than without; and the
camera's service runs with MemoryDenyWriteExecute, where a JIT compiler cannot run. A shared
library loads in about a millisecond, its code mapped read-only; ctypes is in the standard library; the C is plain C99
with no Python or numpy headers, built by ``setup.py`` when mrig is installed. ctypes lets go of
the GIL during each call, so the pipeline's worker threads run the kernels side by side.

The mosaic stages and those after the demosaic do what the numpy stages do, in the same float32
operations and order, and give the same bytes for finite input; the demosaic adds its window
sums and Laplacians in another order, and agrees with numpy's to float32 rounding (below 1e-5
at the default windows; the JPEG then differs from numpy's by one level in under 0.1 % of its
samples). ``tests/test_isp_compiled.py`` holds them to that. numpy stays the reference, and
runs instead when the library was not built (no C compiler at install), does not load, is from
another version of mrig, or with ``MRIG_KERNELS=numpy``.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os

import numpy as np

#: The interface version this module expects (``mrig_kernels_version`` in ``isp/kernels.c``).
VERSION = 7

_F32 = np.ctypeslib.ndpointer(np.float32, flags="C_CONTIGUOUS")
_F64 = np.ctypeslib.ndpointer(np.float64, flags="C_CONTIGUOUS")
_INT, _LONG, _FLOAT = ctypes.c_int, ctypes.c_long, ctypes.c_float


def _load() -> tuple[ctypes.CDLL | None, str]:
    """The library and a line saying what runs."""
    from isp import denoise

    if os.environ.get("MRIG_KERNELS") == "numpy":
        return None, "numpy stages (MRIG_KERNELS=numpy)"
    if (denoise.LUMA_RADIUS, denoise.CHROMA_RADIUS) != (1, 2):
        return None, "numpy stages (isp/kernels.c's noise reduction has radii 1 and 2)"
    spec = importlib.util.find_spec("isp._kernels")
    if spec is None or spec.origin is None:
        return None, "numpy stages (the C stages were not built: no C compiler at install?)"
    try:
        lib = ctypes.CDLL(spec.origin)
        version = lib.mrig_kernels_version()
    except (OSError, AttributeError) as exc:
        return None, f"numpy stages ({spec.origin} does not load: {exc})"
    if version != VERSION:
        return None, f"numpy stages ({spec.origin} is version {version}, not {VERSION}: reinstall mrig)"
    try:
        _declare(lib)
    except AttributeError as exc:  # a library of this version without a function: a bad build
        return None, f"numpy stages ({spec.origin}: {exc}: reinstall mrig)"
    return lib, f"C stages ({spec.origin})"


def _declare(lib: ctypes.CDLL) -> None:
    """Each function's argument and result types (ctypes checks and converts by them)."""
    signatures = {
        "mrig_clamp_correct": (_F32, _INT, _INT, _INT, _INT, _F32, _F32),
        "mrig_denoise": (_F32, _INT, _INT, _F64, _F32),
        "mrig_clip": (_F32, _LONG, _FLOAT, _FLOAT),
        "mrig_tone_sharpen_8bit": (_F32, _INT, _INT, _F32, _LONG, _INT, _FLOAT, _FLOAT, _FLOAT, _F64,
                                   ctypes.c_void_p, _LONG),
        "mrig_demosaic_mlri": (_F32, _INT, _INT, _INT, _INT, _INT, _INT, _INT, _INT, _FLOAT, _F32),
        "mrig_unpack_12": (np.ctypeslib.ndpointer(np.uint8, flags="C_CONTIGUOUS"), _LONG,
                           np.ctypeslib.ndpointer(np.uint16, flags="C_CONTIGUOUS")),
        "mrig_mosaic_stages": (np.ctypeslib.ndpointer(np.uint16, flags="C_CONTIGUOUS"), _INT, _INT,
                               _F32, ctypes.c_void_p, ctypes.c_void_p, _INT, _INT, ctypes.c_void_p,
                               ctypes.c_void_p, ctypes.c_void_p, _F32, _F32),
    }
    for name, args in signatures.items():
        function = getattr(lib, name)
        function.argtypes = args
        function.restype = None if name in ("mrig_clip", "mrig_unpack_12") else ctypes.c_int


_LIB, STATUS = _load()
#: Whether the pipeline runs its C stages.
AVAILABLE = _LIB is not None


def _check(status: int) -> None:
    if status == -1:
        raise MemoryError("the compiled stages ran out of memory for their working rows")
    if status == -2:
        raise ValueError("the box is too near the mosaic's edges for the demosaic's windows")
    if status != 0:
        raise RuntimeError(f"a compiled stage failed with status {status}")


def unpack_12(packed: np.ndarray, out: np.ndarray) -> bool:
    """``out`` (uint16, contiguous) from 12-bit samples packed big-endian, two to three bytes
    of ``packed`` (uint8), as :func:`isp.tiff._unpack_bits` does in numpy (2 ms instead of 19
    for a 12 MP frame, which every ``mrig develop`` of a PiDNG file waits for before its
    workers start). False, doing nothing, where the C stages do not run."""
    if _LIB is None or out.size % 2 or packed.size < out.size // 2 * 3:
        return False
    _LIB.mrig_unpack_12(np.ascontiguousarray(packed, np.uint8), out.size // 2, out)
    return True


def mosaic_stages(raw: np.ndarray, params, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, int]:
    """Black level, defective pixels, green equalisation, white balance and lens shading in C:
    what :func:`isp.pipeline.process` does in numpy before the demosaic, the same bytes. ``raw``:
    an RGGB tile, uint16 (H, W), both even; ``rows``, ``cols``: its pixels' frame rows and
    columns (for lens shading). Returns the float32 (H, W) mosaic and ``m``: it is known over
    rows and columns ``[m, H − m)`` (each of defective pixels and green equalisation reaches 2)."""
    from isp.lens_shading import frame_tables

    p = params
    raw = np.ascontiguousarray(raw, np.uint16)
    h, w = raw.shape
    if h % 2 or w % 2 or len(rows) != h or len(cols) != w:
        raise ValueError(f"the mosaic stages need an RGGB tile of even sides, got {raw.shape}")
    black = p.black
    dpc, geq = p.dpc, p.green_eq
    values = np.array([
        black.black, 1.0 / (black.white - black.black),
        dpc.threshold if dpc else 0.0, dpc.slope if dpc else 0.0,
        geq.offset if geq else 0.0, geq.slope if geq else 0.0,
        dpc is not None, geq is not None, *p.white_balance.applied(),
    ]).astype(np.float32)  # each as the numpy stage rounds it: float64, then float32
    shading = (None, None, 0, 0, None, None, None)
    if p.lens_shading is not None:
        across, step, row_cell, row_t = frame_tables(p.lens_shading)
        # Held in locals until the call returns: ctypes gets only their addresses.
        tile_cells = np.ascontiguousarray(row_cell.take(rows), np.int32)
        tile_t = np.ascontiguousarray(row_t.take(rows), np.float32)
        tile_cols = np.ascontiguousarray(cols, np.int32)
        if w and not 0 <= tile_cols.min() <= tile_cols.max() < across.shape[2]:
            # C would read outside the tables; numpy's take refuses these too
            raise IndexError(f"tile columns {tile_cols.min()}..{tile_cols.max()} are outside the "
                             f"lens shading's frame of {across.shape[2]} columns")
        shading = (across.ctypes.data, step.ctypes.data, across.shape[1], across.shape[2],
                   tile_cells.ctypes.data, tile_t.ctypes.data, tile_cols.ctypes.data)
    out = np.empty((h, w), np.float32)
    scratch = np.empty((h, w), np.float32)
    m = _LIB.mrig_mosaic_stages(raw, h, w, values, *shading, scratch, out)
    if m < 0:
        _check(m)
    return out, m


def demosaic_mlri(mosaic: np.ndarray, box: tuple[int, int, int, int], prm) -> np.ndarray:
    """:func:`isp.demosaic_ri.demosaic_mlri_planes` in C for the pixels ``box`` = (r0, r1, c0,
    c1) of an RGGB ``mosaic`` (float32, even sides): planar RGB (3, r1 − r0, c1 − c0), unclipped.
    The box must lie :func:`isp.demosaic_ri.reach` pixels inside the mosaic. Equal to the numpy
    reference to float32 rounding: its window sums and Laplacians add in another order (at
    small windows, where MLRI's slope is ill-conditioned, numpy's own result moves as much
    when its input moves by float32 rounding)."""
    r0, r1, c0, c1 = box
    mosaic = np.ascontiguousarray(mosaic, np.float32)
    h, w = mosaic.shape
    if h % 2 or w % 2 or r1 <= r0 or c1 <= c0:
        raise ValueError(f"the demosaic needs a mosaic of even sides and a box in it, got {mosaic.shape}, {box}")
    out = np.empty((3, r1 - r0, c1 - c0), np.float32)
    _check(_LIB.mrig_demosaic_mlri(mosaic, h, w, r0, r1, c0, c1, prm.green_window // 2,
                                   prm.rb_window // 2, prm.eps, out))
    return out


def finish_tile(rgb: np.ndarray, phase: tuple[int, int], params, out: np.ndarray) -> None:
    """What :func:`isp.pipeline.process` does after the demosaic, in C: planar camera RGB
    (3, H, W) whose first pixel has the RGGB ``phase`` into ``out``, uint8 (H − 2m, W − 2m, 3)
    with m the pixels the stages reach; ``params``: its :class:`isp.pipeline.PipelineParams`."""
    if out.dtype == np.uint8 and out.strides[1:] == (3, 1) and out.flags.writeable:
        _finish(rgb, phase, params, out)  # rows of pixels, also a tile of a wider band
    else:
        tile = np.empty(out.shape, np.uint8)
        _finish(rgb, phase, params, tile)
        out[...] = tile


def _finish(rgb: np.ndarray, phase: tuple[int, int], params, out: np.ndarray) -> None:
    from isp.denoise import LUMA, REACH
    from isp.sharpen import LUMA as SHARPEN_LUMA
    from isp.tone import INDEX_SCALE

    lib, p = _LIB, params
    rgb = np.ascontiguousarray(rgb, np.float32)
    _, h, w = rgb.shape
    matrix = (np.asarray(p.ccm.matrix, np.float64) * INDEX_SCALE).astype(np.float32)
    lin = np.empty((3, h - 2, w - 2), np.float32)
    _check(lib.mrig_clamp_correct(rgb, h, w, phase[0], phase[1], np.ascontiguousarray(matrix), lin))
    low, high = p.ccm.output_range()
    if p.denoise is not None:
        d = p.denoise
        k = np.array([d.luma[0] * d.luma_strength, d.luma[1] * d.luma_strength,
                      d.chroma_r[0] * d.chroma_strength, d.chroma_r[1] * d.chroma_strength,
                      d.chroma_b[0] * d.chroma_strength, d.chroma_b[1] * d.chroma_strength, *LUMA])
        _, h, w = lin.shape
        reduced = np.empty((3, h - 2 * REACH, w - 2 * REACH), np.float32)
        _check(lib.mrig_denoise(lin, h, w, k, reduced))
        lin = reduced
        lib.mrig_clip(lin, lin.size, np.float32(low * INDEX_SCALE), np.float32(high * INDEX_SCALE))
    table = p.tone.table(255.0, low, high)
    s = p.sharpen
    _, h, w = lin.shape
    if out.shape != (h - 2, w - 2, 3):  # written through a raw pointer: the size must be right
        raise ValueError(f"output tile {out.shape} is not the stages' {(h - 2, w - 2, 3)}")
    _check(lib.mrig_tone_sharpen_8bit(
        lin, h, w, table, table.size, s is not None,
        s.threshold * 255.0 if s else 0.0, s.strength if s else 0.0, s.limit * 255.0 if s else 0.0,
        np.asarray(SHARPEN_LUMA, np.float64), out.ctypes.data, out.strides[0]))
