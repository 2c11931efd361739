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

from isp.grid import Grid, flip_odd, interleave, offsets, parity, shift, wsum, wsum2, wsums, wsums2

#: Site order of the planes: (row phase, column phase) of R, Gr, Gb, B in an RGGB mosaic.
SITES = ((0, 0), (0, 1), (1, 0), (1, 1))


@dataclasses.dataclass(frozen=True)
class MlriParams:
    """Window sizes and regularisation of the MLRI demosaic.

    ``green_window`` is the length (pixels) of the 1-D windows of the directional green
    estimates, ``rb_window`` the side of the square window for red and blue. ``eps`` regularises
    the slope of the local linear model towards 1 (plain colour-difference interpolation) where
    the guide has little Laplacian energy, in units of squared signal (signal in [0, 1]).
    """

    green_window: int = 11
    rb_window: int = 5
    eps: float = 1e-5

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
    """Full-resolution pixels the demosaic needs beyond its output on every side (an upper
    bound, even): the directional green estimate, GBTF's weights and averages, then red/blue."""
    k = prm.green_window // 2
    green = 1 + 2 + 2 * k + 1  # guide interpolation, Laplacian, window, mean, residual
    gbtf = 1 + _GBTF_ENERGY // 2 + 2 + len(_GBTF_TAPS)
    rb = 2 + 2 * (prm.rb_window // 2) + 1
    total = green + gbtf + rb + 2
    return total + total % 2


def _estimate(x: Grid, y: Grid, px: int, axis: int, k: int, eps: float) -> Grid:
    """MLRI estimate of the colour sampled by ``x`` at the sites of ``y``, along ``axis``.

    ``x`` and ``y`` are the two phases of one interleaved line direction: ``x`` at phase
    ``px``, ``y`` at ``1 - px``. The guide is ``y`` linearly interpolated onto ``x``'s sites.
    """
    py = 1 - px
    guide = wsum(y, axis, *offsets(px, py, 1)) * 0.5
    lap_i = guide * 2.0 - (shift(guide, axis, -1) + shift(guide, axis, 1))
    lap_p = x * 2.0 - (shift(x, axis, -1) + shift(x, axis, 1))
    ll = lap_i * lap_p
    ii = lap_i * lap_i
    centres = [offsets(pc, px, k) for pc in (0, 1)]  # windows centred on either phase
    sums = {name: wsums(v, axis, centres) for name, v in (("ll", ll), ("ii", ii), ("x", x), ("g", guide))}
    a, b = [], []
    for pc, (lo, hi) in enumerate(centres):
        ac = (sums["ll"][pc] + eps) / (sums["ii"][pc] + eps)
        a.append(ac)
        b.append((sums["x"][pc] - ac * sums["g"][pc]) * (1.0 / (hi - lo + 1)))
    scale = 1.0 / (2 * k + 1)
    outs = (px, py)
    ma = [wsums(a[pc], axis, [offsets(po, pc, k) for po in outs]) for pc in (0, 1)]
    mb = [wsums(b[pc], axis, [offsets(po, pc, k) for po in outs]) for pc in (0, 1)]
    tent = {}
    for n, (po, g) in enumerate(((px, guide), (py, y))):
        tent[po] = (((ma[0][n] + ma[1][n]) * g) + (mb[0][n] + mb[1][n])) * scale
    residual = x - tent[px]
    return tent[py] + wsum(residual, axis, *offsets(py, px, 1)) * 0.5


def _directional(e: Grid, o: Grid, axis: int, prm: MlriParams) -> tuple[Grid, Grid]:
    """Green minus the other colour at the phase-0 (``e``) and phase-1 (``o``) sites of lines
    along ``axis``, from estimates along ``axis`` only. The lines alternate across the other
    axis between (R, G) and (G, B) lines; the sign is fixed so the difference is always G - C."""
    k = prm.green_window // 2
    o_at_e = _estimate(o, e, 1, axis, k, prm.eps)
    e_at_o = _estimate(e, o, 0, axis, k, prm.eps)
    across = 1 - axis
    return flip_odd(o_at_e - e, across), flip_odd(o - e_at_o, across)


def _gbtf_at(d: tuple[Grid, Grid], energy: Grid, axis: int, po: int) -> tuple[Grid, Grid]:
    """Weighted sums (numerator, denominator) of the two one-sided colour-difference averages
    along ``axis`` at sites of phase ``po``; ``d`` holds the difference at both phases."""
    num = den = None
    for sign in (-1, 1):
        e = shift(energy, axis, sign)
        w = 1.0 / (e * e + 1e-10)
        directional = None
        for kk, tap in enumerate(_GBTF_TAPS):
            q = po + kk * sign
            term = shift(d[q % 2], axis, q // 2) * tap
            directional = term if directional is None else directional + term
        num = w * directional if num is None else num + w * directional
        den = w if den is None else den + w
    return num, den


def _green_difference(planes: dict[str, Grid], prm: MlriParams) -> tuple[Grid, Grid]:
    """G - R at the R sites and G - B at the B sites, GBTF-weighted from both directions."""
    r, gr, gb, b = planes["R"], planes["Gr"], planes["Gb"], planes["B"]
    layouts = (
        # (phase-0 lines, phase-1 lines, line axis): rows interleaved (horizontal lines, index
        # (full-res row, lattice column)) or columns interleaved (vertical lines).
        (interleave(r, gb, 0), interleave(gr, b, 0), 1),
        (interleave(r, gr, 1), interleave(gb, b, 1), 0),
    )
    half = _GBTF_ENERGY // 2
    sums: dict[int, list[Grid]] = {0: [], 1: []}
    for e, o, axis in layouts:
        de, do = _directional(e, o, axis, prm)
        across = 1 - axis
        grad_e = abs(do - shift(do, axis, -1))  # |d(x + 1) - d(x - 1)| at phase-0 sites
        grad_o = abs(shift(de, axis, 1) - de)
        for p in (0, 1):  # R sites are phase 0 both ways, B sites phase 1
            line = wsum(grad_e, axis, *offsets(p, 0, half)) + wsum(grad_o, axis, *offsets(p, 1, half))
            energy = None
            for q in (0, 1):
                part = wsum(parity(line, across, q), across, *offsets(p, q, half))
                energy = part if energy is None else energy + part
            d = (parity(de, across, p), parity(do, across, p))
            num, den = _gbtf_at(d, energy, axis, p)
            sums[p] += [num, den]
    return tuple((s[0] + s[2]) / (s[1] + s[3]) for s in (sums[0], sums[1]))  # type: ignore[return-value]


def _red_or_blue(sample: Grid, phase: tuple[int, int], green: dict[tuple[int, int], Grid],
                 prm: MlriParams) -> dict[tuple[int, int], Grid]:
    """One of red or blue (sampled at ``phase``) at the other three sites, guided by green."""
    k = prm.rb_window // 2
    sy, sx = phase
    guide = green[phase]

    def lap(g: Grid) -> Grid:
        return g * 4.0 - (g.shift(-1, 0) + g.shift(1, 0) + g.shift(0, -1) + g.shift(0, 1))

    lap_i, lap_p = lap(guide), lap(sample)
    ll, ii = lap_i * lap_p, lap_i * lap_i
    windows = [(offsets(cy, sy, k), offsets(cx, sx, k)) for cy, cx in SITES]  # centred on each site
    sums = [wsums2(v, windows) for v in (ll, ii, sample, guide)]
    a, b = {}, {}
    for n, (c, (rows, cols)) in enumerate(zip(SITES, windows, strict=True)):
        count = (rows[1] - rows[0] + 1) * (cols[1] - cols[0] + 1)
        a[c] = (sums[0][n] + prm.eps) / (sums[1][n] + prm.eps)
        b[c] = (sums[2][n] - a[c] * sums[3][n]) * (1.0 / count)
    scale = 1.0 / (2 * k + 1) ** 2
    means = {
        c: (wsums2(a[c], w), wsums2(b[c], w))
        for c in SITES
        for w in [[(offsets(oy, c[0], k), offsets(ox, c[1], k)) for oy, ox in SITES]]
    }
    tent = {}
    for n, o in enumerate(SITES):
        ma = means[SITES[0]][0][n] + means[SITES[1]][0][n] + means[SITES[2]][0][n] + means[SITES[3]][0][n]
        mb = means[SITES[0]][1][n] + means[SITES[1]][1][n] + means[SITES[2]][1][n] + means[SITES[3]][1][n]
        tent[o] = (ma * green[o] + mb) * scale
    residual = sample - tent[phase]
    out = {phase: sample}
    for oy, ox in SITES:
        if (oy, ox) != phase:
            rows, cols = offsets(oy, sy, 1), offsets(ox, sx, 1)
            w = 0.5 ** ((oy != sy) + (ox != sx))
            out[oy, ox] = tent[oy, ox] + wsum2(residual, rows, cols) * w
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
