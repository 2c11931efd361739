"""Arrays that know where they sit: valid-region filtering without padding or edge rules.

A :class:`Grid` holds the samples of rows ``r0 .. r1-1`` and columns ``c0 .. c1-1`` of an index
space (a *layout*) shared by the grids it is combined with. Filters compute only where their
whole window is known, so every result shrinks by the filter's reach, and arithmetic between
grids works on the region both know. A frame is mirror-padded once, at its edges, by at least
the total reach of the stages; after that no stage needs an edge rule, and a strip of a frame
processed with enough extra rows gives exactly the same numbers as the whole frame (every output
sample comes from the same inputs through the same float32 operations).

Storage is flat: sample ``(r, c)`` of a layout with row length ``stride`` is element
``r * stride + c - base`` of a 1-D float32 array. A shift in either direction is then only a
change of ``base``, and every operation runs on contiguous 1-D slices (numpy is about twice as
fast on those as on column-cropped 2-D views). The few samples between the end of one row's
valid columns and the start of the next row's are carried along as don't-care values; they never
reach a valid sample. Window sums use running sums built by doubling, so a window of ``n``
samples costs about ``log2(n) + 1`` additions.

A Bayer mosaic is handled as its colour sub-lattices: along one axis an *interleaved* signal
``s`` is the pair of grids ``(s[0::2], s[1::2])``, phase 0 and phase 1. :func:`offsets` gives
which samples of one phase lie within ``k`` full-resolution pixels of a sample of another.

Examples
--------
>>> import numpy as np
>>> g = Grid.from2d(np.arange(6, dtype=np.float32).reshape(1, 6))
>>> s = wsum(g, 1, -1, 1)            # 3-sample window sum, valid where the window fits
>>> s.to2d().tolist(), s.c0
([[3.0, 6.0, 9.0, 12.0]], 1)
>>> (s - g).to2d().tolist()          # arithmetic on the common columns 1..4
[[2.0, 4.0, 6.0, 8.0]]
>>> offsets(0, 1, 5)                 # odd-phase samples within 5 px of an even-phase one
(-3, 2)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def _both(g: Grid, h: Grid) -> tuple[int, tuple[int, int, int, int], np.ndarray, np.ndarray]:
    """Global start index and region both grids of one layout know, and the two flat slices of
    it (:func:`common` for two grids, written out: this runs for every arithmetic operation)."""
    s = g.stride
    if h.stride != s:
        raise ValueError(f"grids of different layouts: {g!r}, {h!r}")
    r0 = g.r0 if g.r0 > h.r0 else h.r0
    r1 = g.r1 if g.r1 < h.r1 else h.r1
    c0 = g.c0 if g.c0 > h.c0 else h.c0
    c1 = g.c1 if g.c1 < h.c1 else h.c1
    if r1 <= r0 or c1 <= c0:
        raise ValueError(f"grids do not overlap: {g!r}, {h!r}")
    start = r0 * s + c0
    n = (r1 - r0 - 1) * s + (c1 - c0)
    i, j = start - g.base, start - h.base
    return start, (r0, r1, c0, c1), g.a[i : i + n], h.a[j : j + n]


def _binary(ufunc: np.ufunc, reverse: bool = False) -> Callable[[Grid, object], Grid]:
    """``g (op) other`` on the region both know (``other`` a grid) or on ``g``'s (a scalar);
    ``reverse`` swaps the operands (``other (op) g``)."""

    def op(g: Grid, other: object) -> Grid:
        if isinstance(other, Grid):
            start, region, x, y = _both(g, other)
            return Grid(ufunc(y, x) if reverse else ufunc(x, y), start, g.stride, region)
        x = g.flat()
        return Grid(ufunc(other, x) if reverse else ufunc(x, other), g.r0 * g.stride + g.c0,
                    g.stride, (g.r0, g.r1, g.c0, g.c1))

    return op


def _inplace(ufunc: np.ufunc) -> Callable[[Grid, object], Grid]:
    """``g (op)= other``: in place where the result covers ``g``'s whole region, else a new
    grid. Only for grids that own their storage (fresh results), never for shifted views."""

    def op(g: Grid, other: object) -> Grid:
        if isinstance(other, Grid):
            start, region, x, y = _both(g, other)
            if region != (g.r0, g.r1, g.c0, g.c1):
                return Grid(ufunc(x, y), start, g.stride, region)
            ufunc(x, y, out=x)
            return g
        x = g.flat()
        ufunc(x, other, out=x)
        return g

    return op


class Grid:
    """Samples ``[r0, r1) × [c0, c1)`` of a layout of row length ``stride``, stored flat in
    ``a`` from global index ``base`` (= row * stride + column)."""

    __slots__ = ("a", "base", "stride", "r0", "r1", "c0", "c1")

    def __init__(self, a: np.ndarray, base: int, stride: int, region: tuple[int, int, int, int]) -> None:
        self.a = a
        self.base = base
        self.stride = stride
        self.r0, self.r1, self.c0, self.c1 = region

    @classmethod
    def from2d(cls, arr: np.ndarray, r0: int = 0, c0: int = 0, stride: int | None = None) -> Grid:
        """A grid of the 2-D array ``arr`` placed at row ``r0``, column ``c0``. With ``stride``
        (the layout's row length) the array is copied into that layout, padded with zeros."""
        h, w = arr.shape
        if stride is None or stride == w and c0 == 0:
            a = np.ascontiguousarray(arr, dtype=np.float32).reshape(-1)
            return cls(a, r0 * w + c0, w, (r0, r0 + h, c0, c0 + w))
        if c0 < 0 or c0 + w > stride:
            raise ValueError(f"columns {c0}:{c0 + w} do not fit a layout of {stride} columns")
        out = np.empty((h, stride), np.float32)
        out[:, :c0] = 0.0
        out[:, c0 + w :] = 0.0
        out[:, c0 : c0 + w] = arr
        return cls(out.reshape(-1), r0 * stride, stride, (r0, r0 + h, c0, c0 + w))

    @property
    def region(self) -> tuple[int, int, int, int]:
        return self.r0, self.r1, self.c0, self.c1

    @property
    def shape(self) -> tuple[int, int]:
        return self.r1 - self.r0, self.c1 - self.c0

    def flat(self, region: tuple[int, int, int, int] | None = None) -> np.ndarray:
        """The 1-D slice of storage spanning ``region`` (default: the grid's own), from its
        first sample to its last, don't-care samples between rows included."""
        if region is None:
            r0, r1, c0, c1 = self.r0, self.r1, self.c0, self.c1
        else:
            r0, r1, c0, c1 = region
            if r0 < self.r0 or r1 > self.r1 or c0 < self.c0 or c1 > self.c1 or r1 <= r0 or c1 <= c0:
                raise ValueError(f"region {region} not inside {self!r}")
        start = r0 * self.stride + c0 - self.base
        return self.a[start : start + (r1 - r0 - 1) * self.stride + (c1 - c0)]

    def _flat_in(self, region: tuple[int, int, int, int]) -> np.ndarray:
        """:meth:`flat` for a region known to lie inside (from :func:`common`): no checks."""
        r0, r1, c0, c1 = region
        start = r0 * self.stride + c0 - self.base
        return self.a[start : start + (r1 - r0 - 1) * self.stride + (c1 - c0)]

    def view(self, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        """The samples of rows ``r0..r1-1`` and columns ``c0..c1-1`` as a 2-D view."""
        f = self.flat((r0, r1, c0, c1))
        # The ndarray constructor over the slice: what as_strided does, without its Python
        # wrapper (0.3 instead of 2.8 us; some 40 views a tile).
        return np.ndarray((r1 - r0, c1 - c0), f.dtype, f, 0, (self.stride * f.itemsize, f.itemsize))

    def to2d(self) -> np.ndarray:
        return self.view(*self.region)

    def like(self, flat: np.ndarray, region: tuple[int, int, int, int] | None = None) -> Grid:
        """A grid of the same layout holding ``flat`` (laid out like :meth:`flat`) over ``region``."""
        if region is None:
            region = (self.r0, self.r1, self.c0, self.c1)
        return Grid(flat, region[0] * self.stride + region[2], self.stride, region)

    def crop(self, r0: int, r1: int, c0: int, c1: int) -> Grid:
        """The same samples restricted to a region inside this one (no copy)."""
        self.flat((r0, r1, c0, c1))  # checks the region
        return Grid(self.a, self.base, self.stride, (r0, r1, c0, c1))

    def shift(self, dr: int, dc: int) -> Grid:
        """``out[i, j] = self[i + dr, j + dc]`` (no copy)."""
        return Grid(
            self.a, self.base - dr * self.stride - dc, self.stride,
            (self.r0 - dr, self.r1 - dr, self.c0 - dc, self.c1 - dc),
        )

    # Arithmetic on the region both operands know, made by _binary and _inplace: one Python call
    # each (and one for the region), as it runs for every operation, some thousands a tile.
    __add__ = __radd__ = _binary(np.add)
    __sub__ = _binary(np.subtract)
    __rsub__ = _binary(np.subtract, reverse=True)
    __mul__ = __rmul__ = _binary(np.multiply)
    __truediv__ = _binary(np.divide)
    __rtruediv__ = _binary(np.divide, reverse=True)
    __iadd__ = _inplace(np.add)
    __isub__ = _inplace(np.subtract)
    __imul__ = _inplace(np.multiply)
    __itruediv__ = _inplace(np.divide)

    def __neg__(self) -> Grid:
        return self.like(np.negative(self.flat()))

    def __abs__(self) -> Grid:
        return self.like(np.abs(self.flat()))

    def __repr__(self) -> str:
        return f"Grid(rows {self.r0}:{self.r1}, cols {self.c0}:{self.c1}, stride {self.stride})"


def common(*grids: Grid) -> tuple[int, int, int, int]:
    """The region (r0, r1, c0, c1) every grid knows; they must share a layout."""
    g = grids[0]
    r0, r1, c0, c1 = g.r0, g.r1, g.c0, g.c1
    for h in grids[1:]:
        if h.stride != g.stride:
            raise ValueError(f"grids of different layouts: {grids}")
        r0, r1 = max(r0, h.r0), min(r1, h.r1)
        c0, c1 = max(c0, h.c0), min(c1, h.c1)
    if r1 <= r0 or c1 <= c0:
        raise ValueError(f"grids do not overlap: {grids}")
    return r0, r1, c0, c1


#: Element-wise maximum and minimum of two grids on the region both know.
maximum = _binary(np.maximum)
minimum = _binary(np.minimum)


def clip(x: Grid, lo: Grid, hi: Grid) -> Grid:
    """``x`` clamped into ``[lo, hi]`` on the region all three know."""
    region = common(x, lo, hi)
    # maximum then minimum: numpy's clip with array bounds is several times slower.
    out = np.maximum(x.flat(region), lo.flat(region))
    return x.like(np.minimum(out, hi.flat(region), out=out), region)


def shift(g: Grid, axis: int, n: int) -> Grid:
    """``out[j] = g[j + n]`` along ``axis``."""
    return g.shift(n, 0) if axis == 0 else g.shift(0, n)


def _run_sum(a: np.ndarray, n: int, step: int) -> np.ndarray:
    """``out[t] = a[t] + a[t + step] + ... + a[t + (n - 1) step]`` (1-D, valid part only)."""
    if n == 1:
        return a
    m = n // 2
    half = _run_sum(a, m, step)
    out_len = len(a) - (2 * m - 1) * step
    s = np.add(half[:out_len], half[m * step : m * step + out_len])
    if n % 2:
        s = s[: out_len - step]
        s += a[2 * m * step : 2 * m * step + out_len - step]
    return s


def wsum(g: Grid, axis: int, lo: int, hi: int) -> Grid:
    """Window sum ``out[j] = g[j + lo] + ... + g[j + hi]`` along ``axis``, where it is known."""
    n = hi - lo + 1
    if n < 1:
        raise ValueError("empty window")
    r0, r1, c0, c1 = g.region
    if axis == 0:
        region, step = (r0 - lo, r1 - hi, c0, c1), g.stride
    else:
        region, step = (r0, r1, c0 - lo, c1 - hi), 1
    if region[1] <= region[0] or region[3] <= region[2]:
        raise ValueError(f"{g!r} too small for a {n}-sample window")
    return g.like(_run_sum(g.flat(), n, step), region)


def wsums(g: Grid, axis: int, windows: list[tuple[int, int]], copy: bool = True) -> list[Grid]:
    """:func:`wsum` for several windows of one grid, sharing the running sums (for windows of
    ``n`` and ``n + 1`` samples, say, the sums of 1, 2, 4, ... samples are built once).

    With ``copy=False`` a window of 1, 2, 4, ... samples is returned as a view of the shared
    running sum (or of ``g`` itself): the results must then be treated as read-only."""
    r0, r1, c0, c1 = g.r0, g.r1, g.c0, g.c1
    stride = g.stride
    step = stride if axis == 0 else 1
    a = g.flat()
    longest = max(hi - lo + 1 for lo, hi in windows)
    powers = [a]  # powers[i]: running sums of 2**i samples, built by doubling
    p = 1
    while 2 * p <= longest:
        prev = powers[-1]
        length = len(prev) - p * step
        powers.append(np.add(prev[:length], prev[p * step : p * step + length]))
        p *= 2
    out = []
    for lo, hi in windows:
        n = hi - lo + 1
        if axis == 0:
            region = (r0 - lo, r1 - hi, c0, c1)
        else:
            region = (r0, r1, c0 - lo, c1 - hi)
        if n < 1 or region[1] <= region[0] or region[3] <= region[2]:
            raise ValueError(f"{g!r} too small for a {n}-sample window")
        length = len(a) - (n - 1) * step
        total, fresh, at = None, False, 0
        for i in range(len(powers) - 1, -1, -1):
            q = 1 << i
            if n - at >= q:
                part = powers[i][at * step : at * step + length]
                if total is None:
                    total = part
                elif fresh:
                    total += part
                else:
                    total, fresh = np.add(total, part), True
                at += q
        if not fresh and copy:
            total = total.copy()
        out.append(Grid(total, region[0] * stride + region[2], stride, region))
    return out


def wsum2(g: Grid, rows: tuple[int, int], cols: tuple[int, int]) -> Grid:
    """Separable window sum over row offsets ``rows`` and column offsets ``cols`` (inclusive)."""
    return wsum(wsum(g, 0, *rows), 1, *cols)


def wsums2(g: Grid, windows: list[tuple[tuple[int, int], tuple[int, int]]], copy: bool = True) -> list[Grid]:
    """:func:`wsum2` for several (rows, cols) windows of one grid, sharing running sums
    (``copy`` as in :func:`wsums`)."""
    row_windows = sorted({w[0] for w in windows})
    by_rows = dict(zip(row_windows, wsums(g, 0, row_windows, copy=False), strict=True))
    out: dict[tuple, Grid] = {}
    for rows in row_windows:
        col_windows = sorted({w[1] for w in windows if w[0] == rows})
        for cols, s in zip(col_windows, wsums(by_rows[rows], 1, col_windows, copy=copy), strict=True):
            out[rows, cols] = s
    return [out[w] for w in windows]


def offsets(p_out: int, p_in: int, k: int) -> tuple[int, int]:
    """Lattice offsets (lo, hi) of the phase-``p_in`` samples within ``k`` full-resolution
    pixels of a phase-``p_out`` sample, along one axis of an interleaved signal.

    Sample ``j`` of phase ``p`` sits at full-resolution position ``2 j + p``.
    """
    return -((p_in - p_out + k) // 2), (p_out - p_in + k) // 2


def parity(g: Grid, axis: int, p: int) -> Grid:
    """The samples at full-resolution positions ``2 i + p`` along ``axis``, indexed by ``i``,
    copied into the sub-lattice layout (half the rows, or half the row length)."""
    lo = g.r0 if axis == 0 else g.c0
    start = (p - lo) % 2
    i0 = (lo + start - p) // 2
    v = g.to2d()
    if axis == 0:
        return Grid.from2d(v[start::2], i0, g.c0, g.stride)
    return Grid.from2d(v[:, start::2], g.r0, i0, g.stride // 2)


def interleave(g0: Grid, g1: Grid, axis: int) -> Grid:
    """Full-resolution grid along ``axis`` from its phase-0 and phase-1 samples (same layout):
    rows interleaved keep the row length, columns interleaved double it."""
    r0, r1, c0, c1 = common(g0, g1)
    stride = g0.stride
    if axis == 0:
        out = np.empty((2 * (r1 - r0), stride), np.float32)
        out[:, :c0] = 0.0
        out[:, c1:] = 0.0
        out[0::2, c0:c1] = g0.view(r0, r1, c0, c1)
        out[1::2, c0:c1] = g1.view(r0, r1, c0, c1)
        return Grid(out.reshape(-1), 2 * r0 * stride, stride, (2 * r0, 2 * r1, c0, c1))
    out = np.empty((r1 - r0, 2 * stride), np.float32)
    out[:, : 2 * c0] = 0.0
    out[:, 2 * c1 :] = 0.0
    out[:, 2 * c0 : 2 * c1 : 2] = g0.view(r0, r1, c0, c1)
    out[:, 2 * c0 + 1 : 2 * c1 : 2] = g1.view(r0, r1, c0, c1)
    return Grid(out.reshape(-1), r0 * 2 * stride, 2 * stride, (r0, r1, 2 * c0, 2 * c1))
