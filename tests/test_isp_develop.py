"""develop(): strips match whole-frame processing, white balance choices, the colour chart."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import isp
from hal.camera import FrameMetadata, RawFrame
from isp.colour import COLORCHECKER_SRGB, delta_e_2000, srgb8_to_lab
from isp.tone import srgb_decode
from isp.tuning import default_tuning

PATTERNS = ["RGGB", "BGGR", "GRBG", "GBRG"]


def meta(gains=(2.0, 1.6)) -> FrameMetadata:
    return FrameMetadata(0, 0, 10_000, 1.0, gains, 5000, 25_000)


def chart_raw(ct: float, pattern: str = "BGGR", patch: int = 12, bits: int = 12) -> RawFrame:
    """A ColorChecker as the sensor would record it under ``ct`` K, consistent with the tuning:
    camera RGB = diag(r(T), 1, b(T)) @ inv(CCM(T)) @ linear sRGB."""
    t = default_tuning()
    lin = srgb_decode(COLORCHECKER_SRGB / 255.0)
    r, b = t.neutral_rb(ct)
    cam = lin @ (np.diag([r, 1.0, b]) @ np.linalg.inv(t.ccm(ct))).T
    rgb = np.clip(cam, 0, 1).reshape(4, 6, 3).repeat(patch, 0).repeat(patch, 1)
    white, black = (1 << bits) - 1, 256 >> (12 - bits)
    ch = {"R": 0, "G": 1, "B": 2}
    cfa = np.empty(rgb.shape[:2])
    for k, (dy, dx) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        cfa[dy::2, dx::2] = rgb[dy::2, dx::2, ch[pattern[k]]]
    data = np.round(black + cfa * (white - black)).astype(np.uint16)
    return RawFrame(data, pattern, black, white, bits, meta(t.colour_gains(ct)))


def patch_means(rgb: np.ndarray, patch: int = 12) -> np.ndarray:
    c = patch // 2
    cells = rgb.reshape(4, patch, 6, patch, 3)[:, c - 3 : c + 3, :, c - 3 : c + 3]
    return cells.mean(axis=(1, 3)).reshape(24, 3)


@pytest.mark.parametrize("ct", [3000, 5000, 6500])
def test_colour_chart_within_delta_e_2(ct):
    out = isp.develop(chart_raw(ct), lens_shading=False)
    assert out.dtype == np.uint8 and out.shape == (48, 72, 3)
    de = delta_e_2000(srgb8_to_lab(patch_means(out)), srgb8_to_lab(COLORCHECKER_SRGB))
    assert de.mean() <= 2.0, de.round(2)


@pytest.mark.parametrize("ct", [2900, 4500, 7000])
def test_auto_white_balance_finds_the_light(ct):
    """A mostly grey scene (grey world holds) with a white highlight (white patch holds)."""
    from isp.awb import auto_white_balance

    t = default_tuning()
    r, b = t.neutral_rb(ct)
    y = np.linspace(0.05, 0.8, 64)[:, None] * np.ones((1, 64))
    cam = np.stack([y * r, y, y * b], -1)
    cfa = np.empty((64, 64))
    cfa[0::2, 0::2], cfa[0::2, 1::2] = cam[0::2, 0::2, 2], cam[0::2, 1::2, 1]  # BGGR
    cfa[1::2, 0::2], cfa[1::2, 1::2] = cam[1::2, 0::2, 1], cam[1::2, 1::2, 0]
    data = np.round(256 + cfa * 3839).astype(np.uint16)
    gains, found = auto_white_balance(data, "BGGR", 256, 4095, t)
    assert t.neutral_rb(found) == pytest.approx((r, b), rel=0.02)  # the CT curve is flat at high CT
    assert gains == pytest.approx(t.colour_gains(found))


def test_white_balance_from_colour_temperature_matches_frame_gains():
    raw = chart_raw(4000)
    a = isp.develop(raw, white_balance=4000.0, lens_shading=False)
    b = isp.develop(raw, lens_shading=False)
    assert np.abs(a.astype(int) - b).max() <= 2


def test_lens_shading_from_tuning_brightens_corners():
    data = np.full((64, 96), 1200, np.uint16)
    raw = RawFrame(data, "BGGR", 256, 4095, 12, meta())
    on = isp.develop(raw, sharpening=False).astype(int)
    off = isp.develop(raw, sharpening=False, lens_shading=False).astype(int)
    assert on[0, 0].sum() > off[0, 0].sum()
    assert np.ptp(off.reshape(-1, 3), axis=0).max() <= 1


def test_bad_white_balance_values():
    raw = chart_raw(5000)
    for wb in ("sunny", 50.0, (0.0, 1.0)):
        with pytest.raises(ValueError):
            isp.develop(raw, white_balance=wb)


def test_exposure_compensation_scales_the_linear_signal_in_stops():
    """+1 EV doubles, -1 EV halves the linear light of every patch, as the raw holds it; what
    the sensor clipped stays at the clipped level times the gain (no invented highlights)."""
    raw = chart_raw(5000)
    kw = {"lens_shading": False, "sharpening": False}
    base = srgb_decode(patch_means(isp.develop(raw, **kw)) / 255.0)
    mid = (base > 0.02) & (base < 0.4)  # away from the 8-bit toe and from white after pushing
    for ev in (1.0, -1.0, 0.5):
        shifted = srgb_decode(patch_means(isp.develop(raw, exposure_ev=ev, **kw)) / 255.0)
        assert np.median(shifted[mid] / base[mid]) == pytest.approx(2**ev, rel=0.03)
    assert np.array_equal(isp.develop(raw, exposure_ev=0.0, **kw), isp.develop(raw, **kw))
    white = RawFrame(np.full((16, 16), 4095, np.uint16), "BGGR", 256, 4095, 12, meta())
    assert isp.develop(white, exposure_ev=2.0, **kw).min() == 255  # pushed clipping stays white
    for ev in (4.5, -4.01, float("nan")):
        with pytest.raises(ValueError, match="exposure_ev must be between -4 and 4"):
            isp.develop(raw, exposure_ev=ev)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    h=st.integers(2, 120),
    w=st.integers(1, 60),
    pattern=st.sampled_from(PATTERNS),
    bits=st.sampled_from([8, 10, 12, 14, 16]),
    strip=st.integers(2, 40),
    cols=st.integers(2, 40),
    seed=st.integers(0, 2**16),
    shading=st.booleans(),
    noise_reduction=st.sampled_from(["off", "high"]),
    method=st.sampled_from(["mlri", "bilinear"]),
)
def test_property_tiles_equal_whole_and_output_in_range(h, w, pattern, bits, strip, cols, seed, shading,
                                                        noise_reduction, method):
    """Tiles compute valid regions of a mirrored frame, so they match the whole frame exactly,
    with noise reduction (at ISO 1600, where it surely runs) and without."""
    from isp.render import pipeline_params

    rng = np.random.default_rng(seed)
    white = (1 << bits) - 1
    data = rng.integers(0, white + 1, (h, w), dtype=np.uint16)
    raw = RawFrame(data, pattern, white // 16, white, bits,
                   FrameMetadata(0, 0, 10_000, 16.0, (2.0, 1.6), 5000, 25_000))
    options = {"lens_shading": shading, "noise_reduction": noise_reduction, "demosaic_method": method}
    assert (pipeline_params(raw, **options).denoise is not None) == (noise_reduction != "off")
    whole = isp.develop(raw, strip_rows=10_000, tile_cols=10_000, workers=1, **options)
    tiles = isp.develop(raw, strip_rows=strip, tile_cols=cols, workers=2, **options)
    assert whole.shape == (h, w, 3) and whole.dtype == np.uint8
    assert np.array_equal(whole, tiles)


@pytest.mark.parametrize("site", [(15, 16), (16, 16), (15, 15)])
def test_dpc_clamps_a_hot_pixel_in_the_shadows(site):
    """A hot pixel well above a dark, slightly noisy surround is pulled back to it."""
    rng = np.random.default_rng(3)
    data = (256 + 40 + rng.integers(-2, 3, (32, 32))).astype(np.uint16)  # ~1 % over black
    clean = RawFrame(data.copy(), "BGGR", 256, 4095, 12, meta((1.5, 1.5)))
    data[site] = 256 + 400  # ~10 % over black: a classic hot pixel
    hot = RawFrame(data, "BGGR", 256, 4095, 12, meta((1.5, 1.5)))
    kw = {"lens_shading": False, "sharpening": False, "ccm": np.eye(3)}
    a, b = isp.develop(clean, **kw).astype(int), isp.develop(hot, **kw).astype(int)
    assert np.abs(a - b).max() <= 8  # without DPC the spot would be ~100 levels brighter


def test_auto_white_balance_is_not_fooled_by_one_big_colour():
    """Most of the frame one green surface (grey world alone would call the light green), the
    rest a grey checkerboard: the median with white patch and grey edge finds the light."""
    from isp.awb import estimate_neutral

    light = np.array([0.55, 1.0, 0.75])          # the camera's raw of a grey under the light
    h, w = 120, 160
    reflect = np.empty((h, w, 3))
    reflect[:] = (0.05, 0.45, 0.08)              # leaves
    yy, xx = np.mgrid[0:h, 0:w]
    checker = ((yy // 10 + xx // 10) % 4 + 1) * 0.18
    grey = xx >= 100
    reflect[grey] = checker[grey, None]
    rgb = (reflect * light).astype(np.float32)
    r, b = estimate_neutral(rgb)
    assert r == pytest.approx(light[0], rel=0.05) and b == pytest.approx(light[2], rel=0.05)
    grey_world = rgb.reshape(-1, 3).mean(axis=0)
    assert abs(grey_world[0] / grey_world[1] / light[0] - 1) > 0.3   # what it would have said
