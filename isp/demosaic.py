"""Demosaic stage: a Bayer mosaic to full RGB.

Input: float32 (H, W) mosaic in [0, 1], any size, Bayer ``pattern`` naming the top-left 2×2
block. Output: float32 (H, W, 3) linear RGB in [0, 1].

The default method is minimised-Laplacian residual interpolation (:mod:`isp.demosaic_ri`);
``"bilinear"`` is the textbook baseline. Either is followed by :func:`clamp_false_colour`. Any pattern is reduced to RGGB by mirroring one row
and/or column onto the top/left edge (which shifts the colour phase), and odd sizes are made
even the same way on the bottom/right; the padding is cut off again afterwards.

References
----------
D. Kiku, Y. Monno, M. Tanaka, M. Okutomi, "Minimized-Laplacian residual interpolation for color
image demosaicking", Proc. SPIE 9023, Digital Photography X, 2014.

Examples
--------
>>> import numpy as np
>>> grey = np.full((6, 7), 0.5, np.float32)
>>> rgb = demosaic(grey, "BGGR")
>>> rgb.shape, rgb.dtype, bool(np.allclose(rgb, 0.5, atol=1e-5))
((6, 7, 3), dtype('float32'), True)
"""

from __future__ import annotations

import numpy as np

from isp import compiled, filters
from isp.cfa import PATTERNS, pad_to_rggb, split_planes
from isp.demosaic_ri import MlriParams, demosaic_mlri_planes, reach
from isp.exc import RawFormatError

__all__ = ["METHODS", "PATTERNS", "assemble", "clamp_false_colour", "demosaic", "pad_to_rggb"]

METHODS = ("mlri", "bilinear")


def _bilinear_rggb(cfa: np.ndarray) -> np.ndarray:
    h, w = cfa.shape
    y = (np.arange(h) % 2)[:, None]
    x = (np.arange(w) % 2)[None, :]
    mr = ((y == 0) & (x == 0)).astype(np.float32)
    mb = ((y == 1) & (x == 1)).astype(np.float32)
    mg = 1.0 - mr - mb
    red = filters.bilinear_sparse(cfa * mr)
    blue = filters.bilinear_sparse(cfa * mb)
    g = cfa * mg
    green = filters.correlate(g, [0.25, 1.0, 0.25], 1) + filters.correlate(g, [0.25, 0.0, 0.25], 0)
    return np.stack([red, green, blue], axis=-1)


def clamp_false_colour(rgb: np.ndarray, phase: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Planar (3, H, W) RGB with each pixel's colour differences R−G and B−G, taken between
    square roots, held within the range of its eight neighbours'; (3, H − 2, W − 2), the border
    given up, clipped to [0, 1]. ``phase``: the row and column parity of ``rgb``'s first pixel
    in the RGGB mosaic.

    An interpolated colour difference that overshoots every neighbour's is a demosaic artefact,
    not scene colour: the HQ camera's optical low-pass filter blurs every real colour over more
    than one pixel. Residual interpolation overshoots this way at the corners of dark strokes
    on a light ground, where it leaves single red or magenta pixels ("pops"). Each pixel's
    differences are clamped to its neighbours' range and the values the sensor did not measure
    follow: at a red site the interpolated green and blue, at a blue site the green and red, at
    a green site red and blue. (The idea of dcraw's and LibRaw's median filtering of colour
    differences, made a clamp, so that real colour gradients keep every value.)

    The differences are between square roots of the linear values, not the values: a linear
    difference as large as its bright neighbours' on a pixel much darker than they are is a far
    stronger colour, which the tone curve then shows as a pop (on a real 1920×1080 raw, the
    test chart ``python -m tests.bench pops`` develops, a plain difference clamp left 34 pops
    and this one 6; developed without sharpening, 110 and 17). The square root is close to the
    tone curve's lightness and evens out shot noise (its variance-stabilising transform), so a
    neighbour's range means the same in the shadows as in the highlights.
    """
    h, w = rgb.shape[1:]
    root = np.sqrt(np.maximum(rgb, np.float32(0.0)))
    clamped = []
    for c in (0, 2):
        d = root[c] - root[1]
        lo_row = np.minimum(np.minimum(d[:, :-2], d[:, 1:-1]), d[:, 2:])
        hi_row = np.maximum(np.maximum(d[:, :-2], d[:, 1:-1]), d[:, 2:])
        lo = np.minimum(np.minimum(lo_row[:-2], lo_row[2:]), np.minimum(d[1:-1, :-2], d[1:-1, 2:]))
        hi = np.maximum(np.maximum(hi_row[:-2], hi_row[2:]), np.maximum(d[1:-1, :-2], d[1:-1, 2:]))
        clamped.append(np.clip(d[1:-1, 1:-1], lo, hi, out=lo))
    d_r, d_b = clamped
    out = np.empty((3, h - 2, w - 2), np.float32)
    green = out[1]
    green[...] = root[1, 1:-1, 1:-1]
    # The output starts one pixel in: its red sites are where (row + phase + 1) is even.
    for c, d, site in ((0, d_r, 0), (2, d_b, 1)):
        r0, c0 = (site - phase[0] - 1) % 2, (site - phase[1] - 1) % 2
        green[r0::2, c0::2] = root[c, 1 + r0 : h - 1 : 2, 1 + c0 : w - 1 : 2] - d[r0::2, c0::2]
    np.add(green, d_r, out=out[0])
    np.add(green, d_b, out=out[2])
    np.clip(out, 0.0, 1.0, out=out)
    return np.square(out, out=out)


def assemble(rgb: dict[str, dict], r0: int, r1: int, c0: int, c1: int, planar: bool = False) -> np.ndarray:
    """float32 pixels ``[r0, r1) × [c0, c1)`` from per-site planes: (rows, cols, 3), or
    (3, rows, cols) with ``planar``."""
    qr0, qc0, qr1, qc1 = r0 // 2, c0 // 2, (r1 + 1) // 2, (c1 + 1) // 2
    out = np.empty((3, 2 * (qr1 - qr0), 2 * (qc1 - qc0)), np.float32)
    for ch, name in enumerate("RGB"):
        for (dy, dx), g in rgb[name].items():
            out[ch, dy::2, dx::2] = g.view(qr0, qr1, qc0, qc1)
    out = out[:, r0 - 2 * qr0 : r1 - 2 * qr0, c0 - 2 * qc0 : c1 - 2 * qc0]
    return out if planar else np.moveaxis(out, 0, -1)


def demosaic(
    cfa: np.ndarray, pattern: str, method: str = "mlri", params: MlriParams | None = None
) -> np.ndarray:
    """Full-colour image from a Bayer mosaic.

    Parameters
    ----------
    cfa : ndarray, float32, shape (H, W)
        The mosaic, values in [0, 1].
    pattern : {"RGGB", "BGGR", "GRBG", "GBRG"}
        Colours of the top-left 2×2 block, row by row.
    method : {"mlri", "bilinear"}
        Minimised-Laplacian residual interpolation (default) or bilinear.
    params : MlriParams, optional
        Window sizes and regularisation for ``"mlri"``.

    Returns
    -------
    ndarray, float32, shape (H, W, 3)
        Linear RGB, clipped to [0, 1].
    """
    cfa = np.asarray(cfa)
    if cfa.ndim != 2 or cfa.size == 0:
        raise RawFormatError(f"demosaic needs a non-empty 2-D mosaic, got shape {cfa.shape}")
    if method not in METHODS:
        raise ValueError(f"unknown demosaic method {method!r}; expected one of {METHODS}")
    prm = params or MlriParams()
    margin = (reach(prm) if method == "mlri" else 2) + 2  # and the false-colour clamp's pixel
    padded, (top, left) = pad_to_rggb(cfa.astype(np.float32, copy=False), pattern, margin)
    np.nan_to_num(padded, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    h, w = cfa.shape
    box = (top - 1, top + h + 1, left - 1, left + w + 1)
    if method == "mlri" and compiled.AVAILABLE:  # the same in C (isp/compiled.py)
        planar = compiled.demosaic_mlri(padded, box, prm)
    elif method == "mlri":
        planar = assemble(demosaic_mlri_planes(split_planes(padded), prm), *box, planar=True)
    else:
        rgb = _bilinear_rggb(padded)[box[0] : box[1], box[2] : box[3]]
        planar = np.ascontiguousarray(np.moveaxis(rgb, -1, 0))
    out = np.moveaxis(clamp_false_colour(planar, ((top - 1) % 2, (left - 1) % 2)), 0, -1)
    return np.ascontiguousarray(out)
