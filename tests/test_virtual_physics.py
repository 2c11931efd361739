"""The virtual IMX477 behaves like the sensor, seen through picamera2 as the app sees it:
signal, noise, black and white levels, Bayer order, timing, lens, control loops.

Each test reads frames through ``Picamera2Camera`` (the live analysis raw, cropped by
ScalerCrop) or stills, and waits for the frame that used its settings: controls reach the
sensor a few frames after they are set (``hal/virtual/SOURCES.md``).
"""

from __future__ import annotations

import numpy as np
import pytest

from hal import imx477
from hal.camera import Controls, preview_mode
from hal.select import make_camera
from hal.virtual import SceneLight, photons, sensor
from hal.virtual.optics import Lens
from hal.virtual.scene import chart_patch_centre_mm
from tests.conftest import virtual_rig

PREVIEW = (320, 240)


def board_crop(lens: Lens, x0_mm, y0_mm, x1_mm, y1_mm) -> tuple[int, int, int, int]:
    """The sensor window (full-resolution pixels) that sees a rectangle of the board."""
    px_per_mm = lens.magnification / (imx477.PIXEL_SIZE_UM * 1e-3)
    cx, cy = imx477.ACTIVE_ARRAY[0] / 2, imx477.ACTIVE_ARRAY[1] / 2
    x, y = round(cx + x0_mm * px_per_mm) & ~3, round(cy + y0_mm * px_per_mm) & ~3
    return (x, y, round((x1_mm - x0_mm) * px_per_mm) & ~3, round((y1_mm - y0_mm) * px_per_mm) & ~3)


#: Plain 18 % board between the Siemens star and the chart, close to the axis (no vignetting).
FLAT_BOARD_MM = (-40.0, 12.0, 40.0, 30.0)


@pytest.fixture
def opened():
    cameras = []

    def open_camera(mode: str | None = None, **rig_options):
        cam = make_camera("virtual", rig=virtual_rig(seed=7, **rig_options))
        cam.open()
        cameras.append(cam)
        cam.configure(cam.sensor.mode(mode) if mode else preview_mode(cam.sensor), PREVIEW)
        cam.start()
        return cam

    yield open_camera
    for cam in cameras:
        cam.close()


def settle(cam, controls: Controls, frames: int = 20):
    """The first frame that used ``controls`` (exposure within a line, gain within a code,
    the crop): picamera2's request queue and libcamera's delays come before it."""
    cam.set_controls(controls)
    for _ in range(frames):
        frame = cam.next_frame(timeout_s=5)
        m = frame.metadata
        # Exposure in whole lines; past 65500 lines a frame is written shifted, in steps of
        # 2^shift lines (imx477.c long exposures): within 2 × exposure / 65500.
        step_us = max(1e6 / cam._mode.max_fps / cam._mode.size[1],
                      2 * controls.exposure_time_us / 65500)
        ok = controls.ae_enable or abs(m.exposure_time_us - controls.exposure_time_us) <= step_us
        ok &= controls.ae_enable or abs(m.analogue_gain - controls.analogue_gain) <= 0.01 * controls.analogue_gain
        ok &= controls.scaler_crop is None or _contains(m.scaler_crop, controls.scaler_crop)
        if ok:
            return frame
    raise AssertionError(f"controls never reached the sensor: {m}")


def _contains(applied, asked) -> bool:
    """The ISP's crop is the one asked for, in whole pixels of the mode (2×2-binned here)."""
    return all(abs(a - b) <= 2 for a, b in zip(applied, asked, strict=True))


def flat_frame(cam, exposure_time_us: int, gain: float):
    crop = board_crop(cam.rig.lens, *FLAT_BOARD_MM)
    return settle(cam, Controls(ae_enable=False, awb_enable=False, exposure_time_us=exposure_time_us,
                                analogue_gain=gain, scaler_crop=crop)).raw


def green_signal(raw) -> np.ndarray:
    return raw.channel("G1").astype(np.float64) - raw.black_level


@pytest.mark.parametrize(
    "exposure_time_us, gain, f_number",
    [(4_000, 1.0, 2.8), (8_000, 1.0, 2.8), (4_000, 2.0, 2.8), (4_000, 1.0, 5.6), (16_000, 4.0, 8.0)],
)
def test_mean_level_is_proportional_to_exposure_gain_over_n_squared(opened, exposure_time_us, gain, f_number):
    cam = opened()
    reference_frame = flat_frame(cam, 4_000, 1.0)  # at f/2.8
    reference = green_signal(reference_frame).mean() / reference_frame.metadata.exposure_time_us
    cam.rig.set_lens(f_number=f_number)
    cam.stop()  # the new aperture's picture renders at the next start
    cam.start()
    raw = flat_frame(cam, exposure_time_us, gain)
    level = green_signal(raw).mean()
    m = raw.metadata
    expected = reference * m.exposure_time_us * m.analogue_gain * (2.8 / f_number) ** 2
    assert level == pytest.approx(expected, rel=0.02)


def test_absolute_level_follows_the_camera_equation(opened):
    """18 % grey at 800 lux, f/2.8, 10 ms, gain 1: H = E·ρ·t/(4N²) and 8180 e⁻ at 0.78 lux·s."""
    cam = opened()
    raw = flat_frame(cam, 10_000, 1.0)
    h = 800 * 0.18 * raw.metadata.exposure_time_us * 1e-6 / (4 * 2.8**2)
    expected_dn = 8180 * h / 0.78 * 0.47
    assert green_signal(raw).mean() == pytest.approx(expected_dn, rel=0.05)


@pytest.mark.parametrize("exposure_time_us, gain", [(2_000, 1.0), (20_000, 1.0), (500, 16.0)])
def test_noise_is_shot_and_read_noise_plus_the_fixed_pattern(opened, exposure_time_us, gain):
    cam = opened("4056x3040")
    raw = flat_frame(cam, exposure_time_us, gain)
    g = green_signal(raw)
    electrons = g.mean() / (imx477.CONVERSION_GAIN_DN_PER_E * gain)
    expected = (photons.dn_variance(electrons, gain) + (sensor.PRNU_RMS * g.mean()) ** 2
                + sensor.FPN_OFFSET_DN_12BIT**2 + sensor.ROW_NOISE_DN_12BIT**2)
    assert g.var() == pytest.approx(expected, rel=0.12)


def test_noise_is_fresh_every_frame(opened):
    cam = opened()
    first = flat_frame(cam, 2_000, 1.0)
    second = cam.next_frame().raw
    difference = first.data.astype(float) - second.data.astype(float)
    # Two frames' noise independent: the difference has twice one frame's temporal variance.
    electrons = green_signal(first).mean() / imx477.CONVERSION_GAIN_DN_PER_E
    temporal = photons.dn_variance(electrons, 1.0) / 4  # 2×2 binned: four sites averaged
    assert difference[0::2, 1::2].var() == pytest.approx(2 * temporal, rel=0.2)


def test_read_noise_alone_at_the_black_level(opened):
    cam = opened(light=SceneLight(lux=0.0001))
    g = green_signal(flat_frame(cam, 200, 1.0))
    assert abs(g.mean()) < 0.5
    assert g.std() < 3.0  # read noise and offset pattern, binned: about a DN


def test_hot_pixels_grow_with_exposure_time(opened):
    dark = SceneLight(lux=0.0001)
    cam = opened("4056x3040", light=dark)
    short = settle(cam, Controls(ae_enable=False, exposure_time_us=10_000, analogue_gain=8.0))
    long = settle(cam, Controls(ae_enable=False, exposure_time_us=4_000_000, analogue_gain=8.0))
    # The brightest sites of a dark frame are the hot pixels: far brighter with a 4 s exposure.
    assert np.percentile(long.raw.data, 99.995) > np.percentile(short.raw.data, 99.995) + 100


def test_highlights_clip_at_the_white_level(opened):
    cam = opened()
    raw = flat_frame(cam, 2_000_000, 8.0)
    assert raw.data.max() == 4095
    assert (raw.data == 4095).mean() > 0.99


def test_red_sits_where_the_bggr_order_says(opened):
    cam = opened()

    def red_over_blue(crop) -> float:
        raw = settle(cam, Controls(ae_enable=False, exposure_time_us=40_000, scaler_crop=crop)).raw
        assert raw.bayer_order == "BGGR"
        return (raw.channel("R").mean() - raw.black_level) / (raw.channel("B").mean() - raw.black_level)

    x, y = chart_patch_centre_mm(14)  # ColorChecker "red"
    on_red = red_over_blue(board_crop(cam.rig.lens, x - 6, y - 6, x + 6, y + 6))
    on_grey = red_over_blue(board_crop(cam.rig.lens, *FLAT_BOARD_MM))
    assert on_red > 2.5 * on_grey  # a swapped order would give well under 1


def test_10_bit_mode_has_its_own_black_and_white_level(opened):
    cam = opened("1332x990")
    raw = settle(cam, Controls(ae_enable=False, exposure_time_us=4_000_000, analogue_gain=8.0)).raw
    assert (raw.bit_depth, raw.black_level, raw.white_level) == (10, 64, 1023)
    assert raw.data.max() == 1023


def test_frame_duration_follows_exposure_and_mode_on_simulated_time(opened):
    cam = opened()
    short = settle(cam, Controls(ae_enable=False, exposure_time_us=5_000)).metadata
    assert short.frame_duration_us == pytest.approx(1e6 / 40.01, abs=20)  # the mode's rate
    long = settle(cam, Controls(ae_enable=False, exposure_time_us=10_000_000)).metadata
    assert long.exposure_time_us == pytest.approx(10_000_000, rel=1e-4)
    # The frame is the exposure plus 22 lines of the 2028×1520 mode (15.2 µs each); 659 k lines
    # are written shifted by 4, so the exposure is rounded down and the frame up to 16 lines.
    line_us = 12740 / 840
    extra = long.frame_duration_us - (long.exposure_time_us + 22 * line_us)
    assert -1 <= extra <= 2 * 16 * line_us + 1


def test_exposure_and_gain_are_clamped_to_the_sensor(opened):
    cam = opened()
    cam.set_controls(Controls(ae_enable=False, exposure_time_us=1, analogue_gain=99.0))
    for _ in range(8):
        m = cam.next_frame().metadata
    assert m.exposure_time_us == pytest.approx(4 * 12740 / 840, abs=1)  # 4 lines
    assert m.analogue_gain == pytest.approx(1024 / 46)


def test_auto_exposure_settles_on_mid_grey_and_follows_ev(opened):
    cam = opened()
    for _ in range(40):
        frame = cam.next_frame()
    neutral = frame.metadata.exposure_time_us * frame.metadata.analogue_gain
    cam.set_controls(cam.controls.replace(ev=1.0))
    for _ in range(50):
        frame = cam.next_frame()
    brighter = frame.metadata.exposure_time_us * frame.metadata.analogue_gain
    assert brighter / neutral == pytest.approx(2.0, rel=0.1)


@pytest.mark.parametrize("kelvin", [3000.0, 6500.0])
def test_auto_white_balance_finds_the_light(opened, kelvin):
    cam = opened(light=SceneLight(colour_temperature=kelvin))
    for _ in range(30):
        m = cam.next_frame().metadata
    assert m.colour_temperature == pytest.approx(kelvin, rel=0.08)


def laplacian_energy(rgb: np.ndarray) -> float:
    g = rgb[..., 1].astype(np.float64)
    lap = g[1:-1, 2:] + g[1:-1, :-2] + g[2:, 1:-1] + g[:-2, 1:-1] - 4 * g[1:-1, 1:-1]
    return float((lap**2).mean())


def test_focus_error_blurs_and_the_scene_is_sharpest_at_two_metres(opened):
    cam = opened()
    settle(cam, Controls(ae_enable=False, exposure_time_us=20_000))
    sharpness = {}
    for distance in (0.7, 1.5, 2.0, 3.0, 10.0):
        cam.rig.set_lens(focus_distance_m=distance)
        sharpness[distance] = laplacian_energy(cam.next_frame().rgb)
    assert max(sharpness, key=sharpness.get) == 2.0
    assert sharpness[2.0] > 3 * sharpness[0.7]


def test_lens_optics():
    lens = Lens(focal_length_mm=50.0, f_number=2.0, focus_distance_m=2.0)
    assert lens.defocus_blur_mm() == 0.0
    near = lens.replace(focus_distance_m=1.0)
    # thin lens: v(1 m) = 52.63 mm, v(2 m) = 51.28 mm; b = (50/2)·(52.63-51.28)/51.28
    assert near.defocus_blur_mm() == pytest.approx(25 * (52.632 - 51.282) / 51.282, rel=1e-3)
    assert lens.replace(f_number=16).blur_sigma_px(1.55e-3) > lens.blur_sigma_px(1.55e-3)
    with pytest.raises(ValueError):
        lens.replace(f_number=1.4)


def test_vignetting_is_mild_and_strongest_wide_open():
    lens = Lens()
    corner = (np.array([3.14]), np.array([2.36]))
    wide = float(lens.vignetting(*corner)[0])
    stopped = float(lens.replace(f_number=8.0).vignetting(*corner)[0])
    assert 0.6 < wide < stopped < 1.0
    assert float(lens.vignetting(np.array([0.0]), np.array([0.0]))[0]) == pytest.approx(1.0)


def test_full_resolution_still_matches_the_live_exposure(opened):
    cam = opened()
    crop = board_crop(cam.rig.lens, *FLAT_BOARD_MM)
    live = settle(cam, Controls(ae_enable=False, exposure_time_us=10_000, scaler_crop=crop))
    live_level = green_signal(live.raw).mean()
    still = cam.capture_still()
    assert still.data.shape == (3040, 4056) and still.data.dtype == np.uint16
    assert (still.bit_depth, still.black_level, still.white_level) == (12, 256, 4095)
    x, y, w, h = crop
    region = still.data[y : y + h, x : x + w]  # BGGR from an even corner: greens at (0,1), (1,0)
    green = np.concatenate([region[0::2, 1::2].ravel(), region[1::2, 0::2].ravel()])
    assert green.mean() - 256 == pytest.approx(live_level, rel=0.03)
    assert still.metadata.exposure_time_us == pytest.approx(10_000, abs=30)


def test_shutter_priority_holds_the_shutter_and_meters_with_gain(opened):
    cam = opened()
    cam.set_controls(Controls(ae_enable=True, exposure_priority="shutter", exposure_time_us=5_000))
    for _ in range(40):
        m = cam.next_frame().metadata
    assert m.exposure_time_us == pytest.approx(5_000, abs=16)
    metered = m.exposure_time_us * m.analogue_gain
    cam.set_controls(cam.controls.replace(exposure_time_us=2_500))
    for _ in range(40):
        m = cam.next_frame().metadata
    assert m.exposure_time_us == pytest.approx(2_500, abs=16)
    assert m.exposure_time_us * m.analogue_gain == pytest.approx(metered, rel=0.1)


def test_iso_priority_holds_the_gain_and_meters_with_the_shutter(opened):
    cam = opened()
    cam.set_controls(Controls(ae_enable=True, exposure_priority="iso", analogue_gain=4.0))
    for _ in range(40):
        m = cam.next_frame().metadata
    assert m.analogue_gain == pytest.approx(4.0, rel=0.01)
    cam.set_controls(Controls())  # program: AE picks both
    for _ in range(40):
        p = cam.next_frame().metadata
    assert m.exposure_time_us * m.analogue_gain == pytest.approx(
        p.exposure_time_us * p.analogue_gain, rel=0.1)
