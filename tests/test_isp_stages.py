"""ISP stages hold their invariants; tuning extensions read the libcamera blocks."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isp.black_level import BlackLevelParams, black_level
from isp.ccm import CcmParams, colour_correct
from isp.cfa import check_pattern, merge_planes, mirror_index, split_planes
from isp.dpc import DpcParams, defective_pixels
from isp.exc import TuningError
from isp.green_eq import GreenEqParams, green_equalise
from isp.lens_shading import LensShadingParams, gain_maps, lens_shading, lens_shading_planes
from isp.output import to_uint8
from isp.sharpen import SharpenParams, sharpen
from isp.tone import ToneParams, srgb_decode, srgb_encode, tone
from isp.tuning import alsc_gains, default_tuning, gamma_curve, parse_tuning, sharpen_settings
from isp.white_balance import WhiteBalanceParams, white_balance


def test_black_level_maps_black_and_white():
    raw = np.array([[64, 1023, 300]], np.uint16)
    out = black_level(raw, BlackLevelParams(64, 1023))
    assert out.dtype == np.float32
    assert out[0, 0] == 0.0 and out[0, 1] == 1.0
    assert 0 < out[0, 2] < 1
    with pytest.raises(ValueError):
        BlackLevelParams(100, 50)


def test_dpc_removes_hot_pixel_keeps_edges_and_flat():
    x = np.full((10, 10), 0.3, np.float32)
    x[:, 5:] = 0.8  # a vertical edge
    y = defective_pixels(x, DpcParams())
    assert np.array_equal(x, y)
    x[4, 2] = 1.0
    x[6, 7] = 0.0
    y = defective_pixels(x, DpcParams(threshold=0.05, slope=0.0))
    assert y[4, 2] == pytest.approx(0.35)
    assert y[6, 7] == pytest.approx(0.75)


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_green_equalise_touches_only_green_and_small_differences(pattern):
    rng = np.random.default_rng(1)
    x = rng.uniform(0.2, 0.8, (12, 12)).astype(np.float32)
    y = green_equalise(x, pattern, GreenEqParams())
    from isp.cfa import green_mask

    g = green_mask(x.shape, pattern)
    assert np.array_equal(x[~g], y[~g])  # red and blue untouched
    stripes = np.where(np.arange(12)[:, None] % 2 == 0, 0.3, 0.6).astype(np.float32) + 0 * x
    assert np.array_equal(green_equalise(stripes, pattern, GreenEqParams()), stripes)  # detail kept
    g = green_mask((8, 8), pattern)
    flat = np.full((8, 8), 0.5, np.float32) + 0.001 * g * (np.arange(8)[:, None] % 2)
    out = green_equalise(flat, pattern, GreenEqParams())
    assert np.ptp(out[g]) < np.ptp(flat[g])


@pytest.mark.parametrize("pattern, red_at", [("RGGB", (0, 0)), ("BGGR", (1, 1)), ("GRBG", (0, 1)), ("GBRG", (1, 0))])
def test_white_balance_scales_red_and_blue_and_clips(pattern, red_at):
    x = np.full((4, 4), 0.4, np.float32)
    y = white_balance(x, pattern, WhiteBalanceParams(2.0, 1.5))
    assert y[red_at] == pytest.approx(0.8)
    assert y[1 - red_at[0], 1 - red_at[1]] == pytest.approx(0.6)
    assert white_balance(np.ones((2, 2), np.float32), pattern, WhiteBalanceParams(3.0, 3.0)).max() == 1.0


def test_lens_shading_interpolates_between_cell_centres():
    grid = np.ones((3, 2, 2))
    grid[:, :, 1] = 2.0  # right column of cells twice as strong
    p = LensShadingParams(grid, (8, 8))
    maps = gain_maps(p, 0, 8)
    assert maps[:, :, 0].max() == pytest.approx(1.0) and maps[:, :, -1].min() == pytest.approx(2.0)
    assert np.all(np.diff(maps[1, 0]) >= 0)
    # a strip of rows gets the same gains as those rows of the whole frame
    assert np.allclose(gain_maps(p, 4, 2), maps[:, 4:6])
    flat = LensShadingParams(np.ones((3, 12, 16)), (6, 6))
    x = np.random.default_rng(0).uniform(0, 1, (6, 6)).astype(np.float32)
    assert np.allclose(lens_shading(x, "BGGR", flat, 0), x)


@settings(max_examples=30, deadline=None)
@given(
    h=st.integers(2, 40), w=st.integers(2, 40), down=st.integers(1, 5), across=st.integers(1, 6),
    pattern=st.sampled_from(["RGGB", "BGGR", "GRBG", "GBRG"]), y0=st.integers(0, 30),
    x0=st.integers(0, 30), margin=st.sampled_from([0, 2, 6]), seed=st.integers(0, 2**16),
)
def test_lens_shading_planes_give_each_pixel_its_frame_gain(h, w, down, across, pattern, y0, x0, margin, seed):
    """A tile cut as the pipeline cuts it (red first, mirrored beyond the frame) gets, at every
    pixel, the gain of the frame pixel it holds: the same as the whole-mosaic stage (frames of
    one row or column are left out: mirroring them cannot keep the colour phase)."""
    rng = np.random.default_rng(seed)
    p = LensShadingParams(rng.uniform(0.8, 3.0, (3, down, across)), (h, w))
    cfa = rng.uniform(0, 1, (h, w)).astype(np.float32)
    ry, rx = check_pattern(pattern)
    y0, x0 = min(y0, h - 1) & ~1, min(x0, w - 1) & ~1
    rows = mirror_index(h, y0 - margin - ry, y0 + margin + 8 - ry)
    cols = mirror_index(w, x0 - margin - rx, x0 + margin + 10 - rx)
    tile = cfa[rows][:, cols]
    out = lens_shading_planes(split_planes(tile), p, rows, cols)
    got = merge_planes(out, 0, len(rows), 0, len(cols))
    want = lens_shading(cfa, pattern, p, row0=0)[rows][:, cols]
    assert np.allclose(got, want, rtol=1e-6, atol=1e-7)


def test_ccm_identity_and_grey_preservation():
    rgb = np.random.default_rng(0).uniform(0, 1, (3, 4, 3)).astype(np.float32)
    assert np.allclose(colour_correct(rgb, CcmParams(np.eye(3))), rgb)
    m = default_tuning().ccm(5000)
    grey = colour_correct(np.full((1, 1, 3), 0.3, np.float32), CcmParams(m))
    assert np.allclose(grey, 0.3, atol=2e-3)


def test_tone_curves_monotone_and_srgb_exact():
    x = np.linspace(0, 1, 1001, dtype=np.float32).reshape(1, -1, 1).repeat(3, axis=2)
    s = tone(x, ToneParams.srgb())
    assert np.all(np.diff(s[0, :, 0]) >= 0)
    assert np.allclose(s[0, :, 0], srgb_encode(x[0, :, 0]), atol=1e-4)
    assert np.allclose(srgb_decode(srgb_encode(x)), x, atol=1e-6)
    t = tone(x, ToneParams.from_curve(*gamma_curve(default_tuning())))
    assert t[0, 0, 0] == 0 and t[0, -1, 0] == pytest.approx(1.0)
    assert np.all(np.diff(t[0, :, 0]) >= 0)
    assert np.all(tone(np.array([[[-1.0, 2.0, np.float32(0.5)]]], np.float32), ToneParams.srgb()) <= 1)


def test_sharpen_leaves_flat_areas_and_adds_contrast_at_edges():
    flat = np.full((6, 6, 3), 0.5, np.float32)
    assert np.allclose(sharpen(flat, SharpenParams()), 0.5)
    edge = np.full((6, 8, 3), 0.3, np.float32)
    edge[:, 4:] = 0.6
    out = sharpen(edge, SharpenParams(threshold=0.0, strength=1.0, limit=0.2))
    assert out[:, 3].mean() < 0.3 and out[:, 4].mean() > 0.6
    assert out.min() >= 0 and out.max() <= 1


def test_output_rounds_and_clips():
    assert to_uint8(np.array([[[-0.1, 0.499 / 255, 1.2]]], np.float32)).tolist() == [[[0, 0, 255]]]


@pytest.mark.parametrize("target", ["vc4", "pisp"])
def test_tuning_alsc_gamma_and_sharpen(target):
    t = default_tuning(target)
    g_lo, g_hi = alsc_gains(t, 2000), alsc_gains(t, 9000)
    assert g_lo.shape[0] == 3 and g_lo.shape[1:] in ((12, 16), (32, 32))
    # vignetting: corners need more gain than the centre
    centre = g_lo[1, g_lo.shape[1] // 2, g_lo.shape[2] // 2]
    assert g_lo[1, 0, 0] > centre
    assert np.all(g_hi > 0)
    x, y = gamma_curve(t)
    assert x[0] == 0 and x[-1] == 1 and np.all(np.diff(y) >= 0)
    assert sharpen_settings(t) == (0.75, 1.0, 0.5)


def test_tuning_bad_alsc_block_names_file():
    t = parse_tuning(
        '{"algorithms": [{"rpi.black_level": {"black_level": 4096}},'
        '{"rpi.awb": {"ct_curve": [2000, 0.5, 0.3, 6000, 0.3, 0.7]}},'
        '{"rpi.ccm": {"ccms": [{"ct": 5000, "ccm": [1,0,0,0,1,0,0,0,1]}]}},'
        '{"rpi.alsc": {"calibrations_Cr": [{"ct": 5000, "table": [1, 2, 3]}]}}]}',
        "broken.json",
    )
    with pytest.raises(TuningError, match="broken.json"):
        alsc_gains(t, 5000)
    with pytest.raises(TuningError, match="broken.json"):
        gamma_curve(t)
