"""Demosaic: all patterns, odd and tiny sizes, quality on a synthetic image, property tests."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from isp import demosaic
from isp.demosaic_ri import (
    MlriParams,
    _directional,
    _directional_reach,
    demosaic_mlri_planes,
    reach,
)
from isp.exc import RawFormatError
from isp.grid import Grid

PATTERNS = ["RGGB", "BGGR", "GRBG", "GBRG"]


def mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    out = np.empty(rgb.shape[:2], np.float32)
    ch = {"R": 0, "G": 1, "B": 2}
    for k, (dy, dx) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        out[dy::2, dx::2] = rgb[dy::2, dx::2, ch[pattern[k]]]
    return out


def scene(h: int, w: int) -> np.ndarray:
    """A smooth colourful image with edges at several angles."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 0.5 + 0.4 * np.sin(x / 7.0 + y / 11.0)
    g = 0.5 + 0.4 * np.sin((x - y) / 9.0)
    b = 0.5 + 0.3 * np.cos(np.hypot(x - w / 2, y - h / 2) / 6.0)
    img = np.stack([r, g, b], -1)
    img[(x + 2 * y) % 40 < 20] *= 0.6  # hard diagonal edges
    return img.astype(np.float32)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a[4:-4, 4:-4] - b[4:-4, 4:-4]) ** 2)))


@pytest.mark.parametrize("pattern", PATTERNS)
def test_constant_and_grey_come_back_exactly(pattern):
    for value in (0.0, 0.37, 1.0):
        out = demosaic(np.full((10, 13), value, np.float32), pattern)
        assert out.shape == (10, 13, 3) and out.dtype == np.float32
        assert np.allclose(out, value, atol=1e-5)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_mlri_beats_bilinear_and_reproduces_samples(pattern):
    img = scene(64, 72)
    cfa = mosaic(img, pattern)
    ours = demosaic(cfa, pattern)
    base = demosaic(cfa, pattern, method="bilinear")
    assert psnr(ours, img) > psnr(base, img) + 2.0
    assert psnr(ours, img) > 34.0
    # the sampled colour at each site is kept
    assert np.allclose(mosaic(ours, pattern), np.clip(cfa, 0, 1), atol=1e-5)


def test_pattern_matters():
    img = scene(32, 32)
    right = demosaic(mosaic(img, "GBRG"), "GBRG")
    wrong = demosaic(mosaic(img, "GBRG"), "RGGB")
    assert psnr(right, img) > psnr(wrong, img) + 10


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (2, 2), (3, 5), (5, 2), (9, 11)])
def test_tiny_and_odd_sizes(shape):
    cfa = np.random.default_rng(0).uniform(0, 1, shape).astype(np.float32)
    for method in ("mlri", "bilinear"):
        out = demosaic(cfa, "GRBG", method=method)
        assert out.shape == (*shape, 3)
        assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


def test_bad_arguments():
    with pytest.raises(RawFormatError):
        demosaic(np.zeros((4, 4), np.float32), "RGBG")
    with pytest.raises(RawFormatError):
        demosaic(np.zeros((4, 4, 3), np.float32), "RGGB")
    with pytest.raises(ValueError):
        demosaic(np.zeros((4, 4), np.float32), "RGGB", method="magic")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    pattern=st.sampled_from(PATTERNS),
    seed=st.integers(0, 2**16),
    extreme=st.booleans(),
)
def test_property_finite_in_range(h, w, pattern, seed, extreme):
    rng = np.random.default_rng(seed)
    cfa = rng.uniform(0, 1, (h, w)).astype(np.float32)
    if extreme:
        cfa = (cfa > 0.5).astype(np.float32)  # worst case: 0/1 noise
    out = demosaic(cfa, pattern)
    assert out.shape == (h, w, 3)
    assert np.isfinite(out).all() and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("green_window", [3, 5, 7, 11, 15])
@pytest.mark.parametrize("rb_window", [3, 5, 9])
def test_reach_formulas_are_what_the_demosaic_measurably_needs(green_window, rb_window):
    """reach() and the directional passes' reach are formulas; the valid regions the demosaic
    leaves on a blank mosaic say how far it really reaches (tiles are cut with this margin)."""
    prm = MlriParams(green_window=green_window, rb_window=rb_window)
    n = 2 * (green_window + rb_window) + 24
    planes = {name: Grid.from2d(np.zeros((n, n), np.float32)) for name in ("R", "Gr", "Gb", "B")}
    out = demosaic_mlri_planes(planes, prm)
    shrink = max(max(g.r0, g.c0, n - g.r1, n - g.c1) for sites in out.values() for g in sites.values())
    assert reach(prm) == 2 * shrink + 2  # a lattice sample spans two pixels; kept even
    line = Grid.from2d(np.zeros((1, 2 * green_window + 8), np.float32))
    de, do = _directional(line, line, 1, prm)
    m = line.c1
    assert _directional_reach(prm) == max(de.c0, do.c0, m - de.c1, m - do.c1)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_develop_with_bilinear_matches_the_default_on_smooth_light(pattern):
    """The whole develop, not only the stage: tiles and the sharpening margin start on odd rows
    and columns, which once put the bilinear mosaic out of phase (91-93 % white frames)."""
    from hal.camera import FrameMetadata, RawFrame
    from isp.render import develop

    img = scene(48, 64)
    data = (256 + mosaic(img, pattern) * 1000).astype(np.uint16)
    raw = RawFrame(data, pattern, 256, 4095, 12,
                   FrameMetadata(0, 0, 10_000, 1.0, (1.8, 1.6), 5000, 25_000))
    ours = develop(raw, demosaic_method="mlri", strip_rows=16, tile_cols=24, workers=1)
    baseline = develop(raw, demosaic_method="bilinear", strip_rows=16, tile_cols=24, workers=1)
    assert (ours == 255).mean() < 0.01 and (baseline == 255).mean() < 0.01
    assert np.abs(baseline.astype(int) - ours).mean() < 4
