"""Minimised-Laplacian residual interpolation (MLRI) on the colour sub-lattices, vectorised in numpy.

Residual interpolation replaces the colour differences of classic demosaicing by residuals:
a first, *tentative* estimate of the missing colour is made by a guided filter from another
channel, and what the estimate gets wrong at the sampled sites (the residual) is smooth enough
to interpolate linearly. MLRI fits the guided filter's local linear model by minimising the
Laplacian energy of the residual rather than the residual itself, which suits linear residual
interpolation. Green is estimated horizontally and vertically and the two estimates are combined
with the gradient-based, threshold-free weights of Pekkucuksen and Altunbasak (GBTF); red and
blue are then filled in with green as the guide.

The filters are those of the full-resolution formulation (windows of ``green_window`` and
``rb_window`` pixels centred on every pixel, coefficients averaged over the same windows), but
computed on the four colour sub-lattices (R, Gr, Gb, B, each a quarter of the pixels) as
:class:`isp.grid.Grid` arrays, so no work is spent on the zeros of masked full-resolution
planes and every filter is a few shifted additions. Everything is float32 and valid-region
only: the result is known ``reach(params)`` pixels inside the input on every side.

Input: the four planes of an RGGB mosaic (float32, [0, 1]) on a common quarter-resolution
index ``(i, j)``: R at full-resolution pixel ``(2i, 2j)``, Gr at ``(2i, 2j+1)``, Gb at
``(2i+1, 2j)``, B at ``(2i+1, 2j+1)``. Output: red, green and blue at each of the four sites,
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

from isp.grid import (
    Grid,
    common,
    interleave,
    offsets,
    parity,
    shift,
    wsum,
    wsum2,
    wsums,
    wsums2,
)

#: Site order of the planes: (row phase, column phase) of R, Gr, Gb, B in an RGGB mosaic.
SITES = ((0, 0), (0, 1), (1, 0), (1, 1))


@dataclasses.dataclass(frozen=True)
class MlriParams:
    """Window sizes and regularisation of the MLRI demosaic.

    ``green_window`` is the length (pixels) of the 1-D windows of the directional green
    estimates, ``rb_window`` the side of the square window for red and blue. ``eps`` regularises
    the slope of the local linear model towards 1 (plain colour-difference interpolation) where
    the guide has little Laplacian energy, in units of squared signal (signal in [0, 1]) per
    sample: it is added to every sample's Laplacian products before the window sums, so a
    window of ``n`` samples carries ``n * eps`` (the windows have 4 to 9 samples; adding it once
    per window instead costs a pass over the data for every window). McMaster-18 gives the same
    CPSNR to 0.001 dB for eps from 5e-7 to 1e-5.
    """

    green_window: int = 11
    rb_window: int = 5
    eps: float = 2e-6

    def __post_init__(self) -> None:
        if self.green_window % 2 == 0 or self.rb_window % 2 == 0:
            raise ValueError("window sizes must be odd")
        if self.green_window < 3 or self.rb_window < 3:
            raise ValueError("window sizes must be at least 3")


#: One-sided weights for the directional colour-difference averages (GBTF, Pekkucuksen 2010).
_GBTF_TAPS = (0.56, 0.35, 0.08, 0.01)
#: Side of GBTF's square window of gradient energy, pixels.
_GBTF_ENERGY = 5


def reach(prm: MlriParams = MlriParams()) -> int:
    """Full-resolution pixels (even) the demosaic needs beyond its output on every side.

    A formula, ``green_window + rb_window + 12``, found by measuring how far the valid region
    of the demosaic's output shrinks on a blank mosaic, and tested that way for a range of
    windows (``tests/test_isp_demosaic.py``), rather than measured at start-up (some 7 ms of
    every ``mrig develop``).
    """
    return prm.green_window + prm.rb_window + 12


def _estimate(x: Grid, y: Grid, px: int, axis: int, k: int, eps: float) -> Grid:
    """MLRI estimate of the colour sampled by ``x`` at the sites of ``y``, along ``axis``.

    ``x`` and ``y`` are the two phases of one interleaved line direction: ``x`` at phase
    ``px``, ``y`` at ``1 - px``. The guide is ``y`` linearly interpolated onto ``x``'s sites.
    """
    py = 1 - px
    # Fresh arrays are updated in place (+= etc.) to keep few temporaries alive.
    guide = wsum(y, axis, *offsets(px, py, 1))
    guide *= 0.5
    lap_i = guide * 2.0
    lap_i -= shift(guide, axis, -1) + shift(guide, axis, 1)
    lap_p = x * 2.0
    lap_p -= shift(x, axis, -1) + shift(x, axis, 1)
    lap_p *= lap_i
    lap_p += eps  # per sample: each window sum carries its own regularisation, no pass per window
    lap_i *= lap_i
    lap_i += eps
    centres = [offsets(pc, px, k) for pc in (0, 1)]  # windows centred on either phase
    # In-place updates may return a new grid (when regions differ): always keep the result.
    a, b = [], []
    for num, den in zip(wsums(lap_p, axis, centres), wsums(lap_i, axis, centres), strict=True):
        num /= den
        a.append(num)
    del lap_p, lap_i
    for bc, ac, sg, (lo, hi) in zip(wsums(x, axis, centres), a, wsums(guide, axis, centres), centres,
                                    strict=True):
        sg *= ac
        bc -= sg
        bc *= 1.0 / (hi - lo + 1)
        b.append(bc)
    scale = 1.0 / (2 * k + 1)
    outs = (px, py)
    ma = [wsums(a[pc], axis, [offsets(po, pc, k) for po in outs]) for pc in (0, 1)]
    del a
    mb = [wsums(b[pc], axis, [offsets(po, pc, k) for po in outs]) for pc in (0, 1)]
    del b
    tent = []
    for n, g in enumerate((guide, y)):
        t = ma[0][n] + ma[1][n]
        t *= g
        t += mb[0][n]
        t += mb[1][n]
        t *= scale
        tent.append(t)
    del ma, mb, guide
    residual = x - tent[0]
    out = wsum(residual, axis, *offsets(py, px, 1))
    out *= 0.5
    out += tent[1]
    return out


def _directional(e: Grid, o: Grid, axis: int, prm: MlriParams) -> tuple[Grid, Grid]:
    """Phase 1 minus phase 0 colour at the phase-0 (``e``) and phase-1 (``o``) sites of lines
    along ``axis``, from estimates along ``axis`` only. The lines alternate across the other
    axis between (R, G) lines, where that is G - R, and (G, B) lines, where it is B - G: the
    sign is the same along a line, which is all the gradients and averages of GBTF look along,
    so it is put right only at the end (:func:`_green_difference`)."""
    k = prm.green_window // 2
    o_at_e = _estimate(o, e, 1, axis, k, prm.eps)
    e_at_o = _estimate(e, o, 0, axis, k, prm.eps)
    return o_at_e - e, o - e_at_o


def _gbtf_at(d: tuple[Grid, Grid], weight: Grid, axis: int, po: int) -> tuple[Grid, Grid]:
    """Weighted sums (numerator, denominator) of the two one-sided colour-difference averages
    along ``axis`` at sites of phase ``po``; ``d`` holds the difference at both phases and
    ``weight`` the inverse squared gradient energy at the sites of phase ``po``."""
    centre = shift(d[po % 2], axis, po // 2) * _GBTF_TAPS[0]
    num = None
    for sign in (-1, 1):
        q = po + sign
        directional = centre + shift(d[q % 2], axis, q // 2) * _GBTF_TAPS[1]
        for kk, tap in enumerate(_GBTF_TAPS[2:], start=2):
            q = po + kk * sign
            directional += shift(d[q % 2], axis, q // 2) * tap
        directional *= shift(weight, axis, sign)
        num = directional if num is None else num + directional
    return num, shift(weight, axis, -1) + shift(weight, axis, 1)


def _directional_reach(prm: MlriParams) -> int:
    """Lattice samples a directional pass loses at each end of its lines (a formula, tested
    against the measured shrinkage like :func:`reach`)."""
    return prm.green_window // 2 + 2


def _green_difference(planes: dict[str, Grid], prm: MlriParams) -> tuple[Grid, Grid]:
    """G - R at the R sites and G - B at the B sites, GBTF-weighted from both directions."""
    r0, r1, c0, c1 = common(*planes.values())
    s = _directional_reach(prm)
    # Each direction only needs the lines the other direction keeps: crop across its lines.
    h = {k: g.crop(r0 + s, r1 - s, c0, c1) for k, g in planes.items()}
    v = {k: g.crop(r0, r1, c0 + s, c1 - s) for k, g in planes.items()}
    layouts = (
        # (phase-0 lines, phase-1 lines, line axis): rows interleaved (horizontal lines, index
        # (full-res row, lattice column)) or columns interleaved (vertical lines).
        (h["R"], h["Gb"], h["Gr"], h["B"], 0, 1),
        (v["R"], v["Gr"], v["Gb"], v["B"], 1, 0),
    )
    half = _GBTF_ENERGY // 2
    sums: dict[int, list[Grid]] = {0: [], 1: []}
    for e0, e1, o0, o1, across, axis in layouts:
        de, do = _directional(interleave(e0, e1, across), interleave(o0, o1, across), axis, prm)
        grad_e = do - shift(do, axis, -1)  # |d(x + 1) - d(x - 1)| at phase-0 sites
        grad_e = abs(grad_e)
        grad_o = abs(shift(de, axis, 1) - de)
        for p in (0, 1):  # R sites are phase 0 both ways, B sites phase 1
            line = wsum(grad_e, axis, *offsets(p, 0, half))
            line += wsum(grad_o, axis, *offsets(p, 1, half))
            energy = wsum(parity(line, across, 0), across, *offsets(p, 0, half))
            energy += wsum(parity(line, across, 1), across, *offsets(p, 1, half))
            del line
            energy *= energy  # becomes the weight 1 / (energy² + 1e-10), in place
            energy += 1e-10
            np.divide(1.0, energy.flat(), out=energy.flat())
            d = (parity(de, across, p), parity(do, across, p))
            sums[p] += _gbtf_at(d, energy, axis, p)
    out = []
    for sign, s4 in ((1.0, sums[0]), (-1.0, sums[1])):  # B sites are on (G, B) lines: B - G there
        num = s4[0] + s4[2]
        den = s4[1] + s4[3]
        den *= sign
        num /= den
        out.append(num)
    return out[0], out[1]


def _box_sites(coef: dict[tuple[int, int], Grid], k: int) -> dict[tuple[int, int], Grid]:
    """Sums over the full-resolution (2k+1)² window centred on each site of a field given at all
    four sites, separably: down the columns of each column phase, then along the rows."""
    down: dict[tuple[int, int], list[Grid]] = {}
    for (cy, cx), g in coef.items():
        for oy, part in zip((0, 1), wsums(g, 0, [offsets(oy, cy, k) for oy in (0, 1)], copy=False),
                            strict=True):
            down.setdefault((oy, cx), []).append(part)
    v = {key: parts[0] + parts[1] for key, parts in down.items()}
    across: dict[tuple[int, int], list[Grid]] = {}
    for (oy, cx), g in v.items():
        for ox, part in zip((0, 1), wsums(g, 1, [offsets(ox, cx, k) for ox in (0, 1)], copy=False),
                            strict=True):
            across.setdefault((oy, ox), []).append(part)
    return {site: parts[0] + parts[1] for site, parts in across.items()}


def _red_or_blue(sample: Grid, phase: tuple[int, int], green: dict[tuple[int, int], Grid],
                 prm: MlriParams) -> dict[tuple[int, int], Grid]:
    """One of red or blue (sampled at ``phase``) at the other three sites, guided by green."""
    k = prm.rb_window // 2
    sy, sx = phase
    guide = green[phase]

    def lap(g: Grid) -> Grid:
        out = g * 4.0
        out -= g.shift(-1, 0) + g.shift(1, 0) + g.shift(0, -1) + g.shift(0, 1)
        return out

    lap_i, lap_p = lap(guide), lap(sample)
    lap_p *= lap_i
    lap_p += prm.eps
    lap_i *= lap_i
    lap_i += prm.eps
    windows = [(offsets(cy, sy, k), offsets(cx, sx, k)) for cy, cx in SITES]  # centred on each site
    # Window sums may be views of shared running sums: read them, never update them in place.
    a, b = {}, {}
    for site, num, den in zip(SITES, wsums2(lap_p, windows, copy=False), wsums2(lap_i, windows, copy=False),
                              strict=True):
        a[site] = num / den
    del lap_i, lap_p
    for site, sx_sum, sg, (rows, cols) in zip(SITES, wsums2(sample, windows, copy=False),
                                              wsums2(guide, windows, copy=False), windows, strict=True):
        bc = sg * a[site]
        bc = sx_sum - bc
        bc *= 1.0 / ((rows[1] - rows[0] + 1) * (cols[1] - cols[0] + 1))
        b[site] = bc
    ma, mb = _box_sites(a, k), _box_sites(b, k)
    del a, b
    scale = 1.0 / (2 * k + 1) ** 2
    tent = {}
    for o in SITES:
        t = ma[o] * green[o]
        t += mb[o]
        t *= scale
        tent[o] = t
    del ma, mb
    residual = sample - tent[phase]
    out = {phase: sample}
    for oy, ox in SITES:
        if (oy, ox) != phase:
            rows, cols = offsets(oy, sy, 1), offsets(ox, sx, 1)
            r = wsum2(residual, rows, cols)
            r *= 0.5 ** ((oy != sy) + (ox != sx))
            r += tent[oy, ox]
            out[oy, ox] = r
    return out


def demosaic_mlri_planes(planes: dict[str, Grid], prm: MlriParams = MlriParams()) -> dict[str, dict]:
    """MLRI demosaic of RGGB sub-lattice planes ``{"R", "Gr", "Gb", "B"}``.

    Returns ``{"R": {site: Grid}, "G": {...}, "B": {...}}`` with ``site`` the (row, column)
    phase of each of the four sites (see :data:`SITES`); unclipped float32.
    """
    dif_r, dif_b = _green_difference(planes, prm)
    green = {
        (0, 0): planes["R"] + dif_r,
        (0, 1): planes["Gr"],
        (1, 0): planes["Gb"],
        (1, 1): planes["B"] + dif_b,
    }
    red = _red_or_blue(planes["R"], (0, 0), green, prm)
    blue = _red_or_blue(planes["B"], (1, 1), green, prm)
    return {"R": red, "G": green, "B": blue}
