"""The stages after the demosaic in C (``isp/kernels.c``), loaded with ctypes.

In numpy, the false-colour clamp, colour matrix, noise reduction, tone curve, sharpening and
8-bit output are some fifty passes over a tile, each writing a temporary the next one reads
back: 0.62 s of a 12 MP frame's 1.46 s on one core (``python -m tests.bench isp``). In C they
are four loops over the tile's rows.

Why C through ctypes, and not numba: numba (tried first; the issue that asked for the speed
named it) compiled the same loops to the same speed, but a fresh process pays about 0.3 s of
CPU to import it and 0.3 s more to load its cached machine code, so ``mrig develop`` of one
file took longer with it than without. A shared library loads in about a millisecond; ctypes
is in the standard library; the C is plain C99 with no Python or numpy headers, built by
``setup.py`` when mrig is installed. ctypes lets go of the GIL during each call, so the
pipeline's worker threads run the kernels side by side.

The C does what the numpy stages do, in the same float32 operations and order, so that both
give the same bytes (``tests/test_isp_compiled.py``); numpy stays the reference, and runs
instead when the library was not built (no C compiler at install), when it is from another
version of mrig, or with ``MRIG_KERNELS=numpy``.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os

import numpy as np

#: The interface version this module expects (``mrig_kernels_version`` in ``isp/kernels.c``).
VERSION = 2

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
    signatures = {
        "mrig_clamp_correct": (_F32, _INT, _INT, _INT, _INT, _F32, _F32),
        "mrig_denoise": (_F32, _INT, _INT, _F64, _F32),
        "mrig_clip": (_F32, _LONG, _FLOAT, _FLOAT),
        "mrig_tone_sharpen_8bit": (_F32, _INT, _INT, _F32, _LONG, _INT, _FLOAT, _FLOAT, _FLOAT, _F64,
                                   ctypes.c_void_p, _LONG),
        "mrig_demosaic_mlri": (_F32, _INT, _INT, _INT, _INT, _INT, _INT, _INT, _INT, _FLOAT, _F32),
    }
    for name, args in signatures.items():
        function = getattr(lib, name)
        function.argtypes = args
        function.restype = None if name == "mrig_clip" else ctypes.c_int
    return lib, f"C stages ({spec.origin})"


_LIB, STATUS = _load()
#: Whether :func:`finish_tile` runs the C stages.
AVAILABLE = _LIB is not None


def _check(status: int) -> None:
    if status == -1:
        raise MemoryError("the compiled stages ran out of memory for their working rows")
    if status != 0:
        raise ValueError("the box is too near the mosaic's edges for the demosaic's windows")


def demosaic_mlri(mosaic: np.ndarray, box: tuple[int, int, int, int], prm) -> np.ndarray:
    """:func:`isp.demosaic_ri.demosaic_mlri_planes` in C for the pixels ``box`` = (r0, r1, c0,
    c1) of an RGGB ``mosaic`` (float32, even sides): planar RGB (3, r1 − r0, c1 − c0), unclipped.
    The box must lie :func:`isp.demosaic_ri.reach` pixels inside the mosaic. Equal to the numpy
    reference to float32 rounding (its window sums add in another order)."""
    r0, r1, c0, c1 = box
    mosaic = np.ascontiguousarray(mosaic, np.float32)
    out = np.empty((3, r1 - r0, c1 - c0), np.float32)
    h, w = mosaic.shape
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
