"""Live-view figures against the mock camera: they move the way the physics says they should."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from firmware.live.analysis import analyse
from firmware.live.magnify import magnify_crop
from hal.camera import Controls, preview_mode
from hal.clock import SimulatedClock
from hal.mock import camera as mock_camera_module
from hal.mock.camera import MODE_SWITCH_US, MockCamera
from hal.mock.scene import SCENE_DISTANCE_M, STAR_CENTRE_MM


@pytest.fixture
def camera():
    with MockCamera(clock=SimulatedClock(), seed=7) as cam:
        cam.configure(preview_mode(cam.sensor), (320, 240))
        cam.start()
        yield cam


def _manual(cam: MockCamera, exposure_time_us: int, **more) -> Controls:
    controls = cam.controls.replace(
        ae_enable=False, exposure_time_us=exposure_time_us, analogue_gain=1.0,
        awb_enable=False, colour_gains=(2.0, 1.6), **more,
    )
    cam.set_controls(controls)
    return controls


def _mean_bin(counts) -> float:
    counts = np.asarray(counts, dtype=np.float64)
    return float((counts * np.arange(len(counts))).sum() / counts.sum())


def test_brighter_exposure_moves_the_histograms_right_and_shrinks_ettr(camera):
    snapshots = []
    for exposure_us in (1250, 2500, 5000):
        _manual(camera, exposure_us)
        snapshots.append(analyse(camera.next_frame()))
    luma = [_mean_bin(s.histogram["luma"]) for s in snapshots]
    raw_green = [_mean_bin(s.raw_histogram["G1"]) for s in snapshots]
    ettr = [s.ettr.ev for s in snapshots]
    assert luma[0] < luma[1] < luma[2]
    # The raw histogram is in stops: doubling the exposure moves it 8 bins (1 EV) right.
    assert np.diff(raw_green) == pytest.approx([8.0, 8.0], abs=1.0)
    assert ettr[0] > ettr[1] > ettr[2]
    assert np.diff(ettr) == pytest.approx([-1.0, -1.0], abs=0.1)
    assert not any(s.ettr.overexposed for s in snapshots)


def test_following_the_ettr_hint_lands_the_highlights_just_below_clipping(camera):
    _manual(camera, 1250)
    hint = analyse(camera.next_frame()).ettr
    assert hint.ev > 1
    _manual(camera, round(1250 * 2**hint.ev))
    after = analyse(camera.next_frame())
    assert abs(after.ettr.ev) < 0.15
    assert max(after.clipping.values()) <= 0.002  # the ignored 0.1 % of speculars, and noise


def test_overexposure_clips_and_says_so(camera):
    _manual(camera, 200_000)
    snap = analyse(camera.next_frame())
    assert snap.ettr.overexposed and snap.ettr.ev < 0
    assert snap.clipping["G1"] > 0.1
    assert (snap.exposure_map == 0).mean() > 0.1


def test_focus_measure_is_higher_in_focus_than_at_the_closest_distance(camera):
    measures = {}
    for distance in (0.7, SCENE_DISTANCE_M):
        camera.set_lens(focus_distance_m=distance)
        measures[distance] = analyse(camera.next_frame()).focus_measure
    assert measures[SCENE_DISTANCE_M] > 10 * measures[0.7]


def test_focus_measure_peaks_at_the_scene_distance_when_magnified(camera):
    # 10× punch-in on the Siemens star, as a photographer focuses a manual lens.
    lens = camera.lens
    pitch_mm = camera.sensor.pixel_size_um * 1e-3
    star_y = 0.5 + STAR_CENTRE_MM[1] * lens.magnification / pitch_mm / 3040
    field = preview_mode(camera.sensor).crop
    _manual(camera, 10_000, scaler_crop=magnify_crop(field, 10, 0.5, star_y))
    distances = (1.8, 1.9, 1.95, SCENE_DISTANCE_M, 2.05, 2.1, 2.3)
    measures = []
    for d in distances:
        camera.set_lens(focus_distance_m=d)
        measures.append(analyse(camera.next_frame()).focus_measure)
    assert distances[int(np.argmax(measures))] == SCENE_DISTANCE_M
    peak = distances.index(SCENE_DISTANCE_M)
    assert all(np.diff(measures[: peak + 1]) > 0) and all(np.diff(measures[peak:]) < 0)


def test_the_mock_applies_controls_from_the_next_frame(camera):
    camera.next_frame()
    controls = _manual(camera, 3000)
    first = camera.next_frame()
    assert first.metadata.exposure_time_us == 3000
    crop = magnify_crop(preview_mode(camera.sensor).crop, 5, 0.3, 0.6)
    camera.set_controls(controls.replace(scaler_crop=crop))
    assert camera.next_frame().metadata.scaler_crop == crop


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_magnify_shows_the_sensor_window_at_preview_size(camera):
    _manual(camera, 4000)
    whole = camera.next_frame().rgb.astype(np.float32).mean(axis=2)
    field = preview_mode(camera.sensor).crop
    crop = magnify_crop(field, 2, 0.25, 0.75)
    _manual(camera, 4000, scaler_crop=crop)
    frame = camera.next_frame()
    assert frame.metadata.scaler_crop == crop
    assert frame.rgb.shape == (240, 320, 3)
    zoomed = frame.rgb.astype(np.float32).mean(axis=2)
    # Binned 2×2 the punch-in matches that quarter of the whole view, and no other quarter.
    binned = zoomed.reshape(120, 2, 160, 2).mean(axis=(1, 3))
    quarter = whole[120:, :160]
    assert _correlation(binned, quarter) > 0.9
    assert _correlation(binned, whole[:120, 160:]) < 0.5
    # ... with finer detail than the unmagnified quarter enlarged to the same size.
    upscaled = ndimage.zoom(quarter, 2, order=1)
    assert _laplacian_energy(zoomed) > 1.5 * _laplacian_energy(upscaled)


def _laplacian_energy(image: np.ndarray) -> float:
    return float(ndimage.laplace(image).var())


def test_a_still_is_stamped_at_its_exposure_start(camera, monkeypatch):
    """The shutter lag the mock models: the switch to the full-resolution mode, then exposure."""
    # The 12 MP render is beside the point here (and takes seconds): a blank still will do.
    monkeypatch.setattr(mock_camera_module, "_render_bayer_still",
                        lambda mode, *rest: np.zeros(mode.size[::-1], np.uint16))
    camera.next_frame()
    clock = camera._clock
    called = clock.monotonic_ns()
    still = camera.capture_still()
    assert still.metadata.sensor_timestamp_ns - called == MODE_SWITCH_US * 1000
