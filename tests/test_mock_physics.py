"""The mock IMX477 behaves like the sensor: signal, noise, Bayer order, timing, lens."""

from __future__ import annotations

import numpy as np
import pytest

from hal import exc, imx477
from hal.camera import Controls, preview_mode
from hal.clock import SimulatedClock
from hal.mock import sensor
from hal.mock.camera import MockCamera, MockScene
from hal.mock.optics import MockLens
from hal.mock.scene import chart_patch_centre_mm

PREVIEW = (320, 240)


def board_crop(lens: MockLens, x0_mm, y0_mm, x1_mm, y1_mm) -> tuple[int, int, int, int]:
    """The sensor window (full-resolution pixels) that sees a rectangle of the board."""
    px_per_mm = lens.magnification / (imx477.PIXEL_SIZE_UM * 1e-3)
    cx, cy = imx477.ACTIVE_ARRAY[0] / 2, imx477.ACTIVE_ARRAY[1] / 2
    x, y = round(cx + x0_mm * px_per_mm), round(cy + y0_mm * px_per_mm)
    return (x, y, round((x1_mm - x0_mm) * px_per_mm), round((y1_mm - y0_mm) * px_per_mm))


#: Plain 18 % board between the Siemens star and the chart, close to the axis (no vignetting).
FLAT_BOARD_MM = (-50.0, 14.0, 50.0, 26.0)


def open_camera(**kwargs) -> MockCamera:
    cam = MockCamera(clock=SimulatedClock(), seed=7, **kwargs)
    cam.open()
    cam.configure(preview_mode(cam.sensor), PREVIEW)
    cam.start()
    return cam


def flat_frame(cam: MockCamera, exposure_time_us: int, gain: float):
    crop = board_crop(cam.lens, *FLAT_BOARD_MM)
    cam.set_controls(Controls(ae_enable=False, awb_enable=False, exposure_time_us=exposure_time_us,
                              analogue_gain=gain, scaler_crop=crop))
    return cam.next_frame().raw


def green_signal(raw) -> np.ndarray:
    return raw.channel("G1").astype(np.float64) - raw.black_level


@pytest.mark.parametrize(
    "exposure_time_us, gain, f_number",
    [(4_000, 1.0, 2.8), (8_000, 1.0, 2.8), (4_000, 2.0, 2.8), (4_000, 1.0, 5.6),
     (16_000, 4.0, 8.0), (1_000, 8.0, 2.0)],
)
def test_mean_level_is_proportional_to_exposure_gain_over_n_squared(exposure_time_us, gain, f_number):
    cam = open_camera()
    reference = green_signal(flat_frame(cam, 4_000, 1.0)).mean()  # at f/2.8
    cam.set_lens(f_number=f_number)
    level = green_signal(flat_frame(cam, exposure_time_us, gain)).mean()
    expected = reference * (exposure_time_us / 4_000) * gain * (2.8 / f_number) ** 2
    assert level == pytest.approx(expected, rel=0.02)


def test_absolute_level_follows_the_camera_equation():
    """18 % grey at 800 lux, f/2.8, 10 ms, gain 1: H = E·ρ·t/(4N²) and 8180 e⁻ at 0.78 lux·s."""
    cam = open_camera()
    signal_dn = green_signal(flat_frame(cam, 10_000, 1.0)).mean()
    h = 800 * 0.18 * 0.010 / (4 * 2.8**2)
    expected_dn = 8180 * h / 0.78 * 0.47
    assert signal_dn == pytest.approx(expected_dn, rel=0.05)


@pytest.mark.parametrize("exposure_time_us, gain", [(2_000, 1.0), (20_000, 1.0), (500, 16.0)])
def test_noise_variance_follows_shot_and_read_noise(exposure_time_us, gain):
    cam = open_camera()
    raw = flat_frame(cam, exposure_time_us, gain)
    g = green_signal(raw)
    electrons = g.mean() / (imx477.CONVERSION_GAIN_DN_PER_E * gain)
    assert g.var() == pytest.approx(sensor.dn_variance(electrons, gain), rel=0.1)


def test_read_noise_alone_at_the_black_level():
    cam = open_camera(scene=MockScene(lux=0.0001))
    g = green_signal(flat_frame(cam, 114, 1.0))
    assert abs(g.mean()) < 0.5
    assert g.std() == pytest.approx(np.sqrt(sensor.dn_variance(0.0, 1.0)), rel=0.1)


def test_highlights_clip_at_the_white_level():
    cam = open_camera()
    raw = flat_frame(cam, 2_000_000, 8.0)
    assert raw.data.max() == 4095
    assert (raw.data == 4095).mean() > 0.99


@pytest.mark.parametrize("order", ["BGGR", "RGGB", "GRBG", "GBRG"])
def test_bayer_order_puts_red_where_the_order_says(order):
    cam = open_camera(bayer_order=order)
    assert all(m.bayer_order == order for m in cam.sensor.modes)

    def red_over_blue(crop) -> float:
        cam.set_controls(Controls(ae_enable=False, exposure_time_us=40_000, scaler_crop=crop))
        raw = cam.next_frame().raw
        assert raw.bayer_order == order
        return (raw.channel("R").mean() - raw.black_level) / (raw.channel("B").mean() - raw.black_level)

    x, y = chart_patch_centre_mm(14)  # ColorChecker "red"
    on_red = red_over_blue(board_crop(cam.lens, x - 6, y - 6, x + 6, y + 6))
    on_grey = red_over_blue(board_crop(cam.lens, *FLAT_BOARD_MM))
    assert on_red > 2.5 * on_grey  # a swapped order would give well under 1


def test_default_bayer_order_is_bggr_like_the_hq_camera_through_libcamera():
    cam = open_camera()
    assert cam.next_frame().raw.bayer_order == "BGGR"
    assert cam.capture_still().bayer_order == "BGGR"


def test_10_bit_mode_has_its_own_black_and_white_level():
    cam = MockCamera(clock=SimulatedClock(), seed=3)
    cam.open()
    cam.configure(cam.sensor.mode("1332x990"), PREVIEW)
    cam.start()
    cam.set_controls(Controls(ae_enable=False, exposure_time_us=4_000_000, analogue_gain=8.0))
    raw = cam.next_frame().raw
    assert (raw.bit_depth, raw.black_level, raw.white_level) == (10, 64, 1023)
    assert raw.data.max() == 1023


def test_frame_duration_follows_exposure_and_mode_on_simulated_time():
    clock = SimulatedClock()
    cam = MockCamera(clock=clock, seed=1)
    cam.open()
    cam.configure(preview_mode(cam.sensor), PREVIEW)
    cam.start()
    cam.set_controls(Controls(ae_enable=False, exposure_time_us=5_000))
    short = cam.next_frame().metadata
    assert short.frame_duration_us == round(1e6 / 40.01)  # the mode's maximum rate
    cam.set_controls(Controls(ae_enable=False, exposure_time_us=10_000_000))
    before = clock.monotonic_ns()
    long = cam.next_frame().metadata
    assert long.exposure_time_us == 10_000_000
    assert long.frame_duration_us == 10_000_000 + imx477.FRAME_OVERHEAD_US
    assert clock.monotonic_ns() - before >= 10_000_000_000


def test_controls_apply_from_the_next_frame():
    cam = open_camera()
    cam.set_controls(Controls(ae_enable=False, exposure_time_us=3_000, analogue_gain=2.0))
    m = cam.next_frame().metadata
    assert (m.exposure_time_us, m.analogue_gain) == (3_000, 2.0)
    assert m.iso == 200


def test_exposure_is_clamped_to_the_sensor_range():
    cam = open_camera()
    cam.set_controls(Controls(ae_enable=False, exposure_time_us=1, analogue_gain=99.0))
    m = cam.next_frame().metadata
    assert m.exposure_time_us == 114 and m.analogue_gain == pytest.approx(22.26)


def test_auto_exposure_settles_on_mid_grey_and_follows_ev():
    cam = open_camera()
    for _ in range(40):
        frame = cam.next_frame()
    neutral = frame.metadata.exposure_time_us * frame.metadata.analogue_gain
    cam.set_controls(cam.controls.replace(ev=1.0))
    for _ in range(40):
        frame = cam.next_frame()
    brighter = frame.metadata.exposure_time_us * frame.metadata.analogue_gain
    assert brighter / neutral == pytest.approx(2.0, rel=0.1)


def test_auto_white_balance_finds_the_light():
    for kelvin in (3000.0, 6500.0):
        cam = open_camera(scene=MockScene(colour_temperature=kelvin))
        for _ in range(30):
            m = cam.next_frame().metadata
        assert m.colour_temperature == pytest.approx(kelvin, rel=0.08)


def laplacian_energy(rgb: np.ndarray) -> float:
    g = rgb[..., 1].astype(np.float64)
    lap = g[1:-1, 2:] + g[1:-1, :-2] + g[2:, 1:-1] + g[:-2, 1:-1] - 4 * g[1:-1, 1:-1]
    return float((lap**2).mean())


def test_focus_error_blurs_and_the_scene_is_sharpest_at_two_metres():
    cam = open_camera()
    cam.set_controls(Controls(ae_enable=False, exposure_time_us=20_000))
    sharpness = {}
    for distance in (0.7, 1.5, 2.0, 3.0, 10.0):
        cam.set_lens(focus_distance_m=distance)
        sharpness[distance] = laplacian_energy(cam.next_frame().rgb)
    assert max(sharpness, key=sharpness.get) == 2.0
    assert sharpness[2.0] > 3 * sharpness[0.7]


def test_lens_optics():
    lens = MockLens(focal_length_mm=50.0, f_number=2.0, focus_distance_m=2.0)
    assert lens.defocus_blur_mm() == 0.0
    near = lens.replace(focus_distance_m=1.0)
    # thin lens: v(1 m) = 52.63 mm, v(2 m) = 51.28 mm; b = (50/2)·(52.63-51.28)/51.28
    assert near.defocus_blur_mm() == pytest.approx(25 * (52.632 - 51.282) / 51.282, rel=1e-3)
    assert lens.replace(f_number=16).blur_sigma_px(1.55e-3) > lens.blur_sigma_px(1.55e-3)
    with pytest.raises(ValueError):
        lens.replace(f_number=1.4)


def test_vignetting_is_mild_and_strongest_wide_open():
    lens = MockLens()
    corner = (np.array([3.14]), np.array([2.36]))
    wide = float(lens.vignetting(*corner)[0])
    stopped = float(lens.replace(f_number=8.0).vignetting(*corner)[0])
    assert 0.6 < wide < stopped < 1.0
    assert float(lens.vignetting(np.array([0.0]), np.array([0.0]))[0]) == pytest.approx(1.0)


def test_full_resolution_still_matches_the_preview_exposure():
    cam = open_camera()
    crop = board_crop(cam.lens, *FLAT_BOARD_MM)
    cam.set_controls(Controls(ae_enable=False, exposure_time_us=10_000, scaler_crop=crop))
    preview_level = green_signal(cam.next_frame().raw).mean()
    still = cam.capture_still()
    assert still.data.shape == (3040, 4056) and still.data.dtype == np.uint16
    assert (still.bit_depth, still.black_level, still.white_level) == (12, 256, 4095)
    x, y, w, h = crop
    region = still.data[y & ~1 : y + h, x & ~1 : x + w]  # start on a 2×2 block: greens at (0,1), (1,0)
    green = np.concatenate([region[0::2, 1::2].ravel(), region[1::2, 0::2].ravel()])
    assert green.mean() - 256 == pytest.approx(preview_level, rel=0.03)
    assert still.metadata.exposure_time_us == 10_000


def test_faults_are_injected_and_cleared():
    cam = open_camera()
    cam.faults.frame_timeouts = 1
    with pytest.raises(exc.CameraTimeout):
        cam.next_frame(timeout_s=0.5)
    cam.next_frame()
    cam.faults.disconnected = True
    with pytest.raises(exc.CameraDisconnected):
        cam.next_frame()
    cam.close()
    with pytest.raises(exc.CameraDisconnected):
        cam.open()
    cam.faults.disconnected = False
    cam.faults.oom_on_configure = 1
    cam.open()
    with pytest.raises(exc.CameraOutOfMemory):
        cam.configure(preview_mode(cam.sensor), PREVIEW)
    cam.close()
    cam.faults.busy_on_open = 1
    with pytest.raises(exc.CameraBusy):
        cam.open()
    cam.open()


def test_shutter_priority_holds_the_shutter_and_meters_with_gain():
    cam = open_camera()
    cam.set_controls(Controls(ae_enable=True, exposure_priority="shutter", exposure_time_us=5_000))
    for _ in range(40):
        m = cam.next_frame().metadata
    assert m.exposure_time_us == 5_000
    metered = m.exposure_time_us * m.analogue_gain
    cam.set_controls(cam.controls.replace(exposure_time_us=2_500))
    for _ in range(40):
        m = cam.next_frame().metadata
    assert m.exposure_time_us == 2_500
    assert m.exposure_time_us * m.analogue_gain == pytest.approx(metered, rel=0.1)


def test_iso_priority_holds_the_gain_and_meters_with_the_shutter():
    cam = open_camera()
    cam.set_controls(Controls(ae_enable=True, exposure_priority="iso", analogue_gain=4.0))
    for _ in range(40):
        m = cam.next_frame().metadata
    assert m.analogue_gain == 4.0
    program = open_camera()
    for _ in range(40):
        p = program.next_frame().metadata
    assert m.exposure_time_us * 4.0 == pytest.approx(p.exposure_time_us * p.analogue_gain, rel=0.1)
