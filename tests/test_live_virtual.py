"""Live-view figures against the virtual camera: they move the way the physics says they should.

The frames come through picamera2 as in the app; the analysis sees the raw under the ScalerCrop.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from firmware.live.analysis import analyse
from firmware.live.magnify import magnify_crop
from hal.camera import Controls, preview_mode
from hal.select import make_camera
from hal.virtual.scene import SCENE_DISTANCE_M, STAR_CENTRE_MM
from tests.conftest import virtual_rig
from tests.test_virtual_physics import settle


@pytest.fixture
def camera():
    cam = make_camera("virtual", rig=virtual_rig(seed=7))
    cam.open()
    cam.configure(preview_mode(cam.sensor), (320, 240))
    cam.start()
    yield cam
    cam.close()


def _manual(cam, exposure_time_us: int, **more):
    controls = cam.controls.replace(
        ae_enable=False, exposure_time_us=exposure_time_us, analogue_gain=1.0,
        awb_enable=False, colour_gains=(2.0, 1.6), **more,
    )
    return settle(cam, controls)


def _turn(cam, **rings) -> None:
    """Turn a ring and wait for the lens's new picture (rendered at the camera's next start)."""
    cam.rig.set_lens(**rings)
    cam.stop()
    cam.start()


def _mean_bin(counts) -> float:
    counts = np.asarray(counts, dtype=np.float64)
    return float((counts * np.arange(len(counts))).sum() / counts.sum())


def test_brighter_exposure_moves_the_histograms_right_and_shrinks_ettr(camera):
    snapshots = [analyse(_manual(camera, us)) for us in (1250, 2500, 5000)]
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
    hint = analyse(_manual(camera, 1250)).ettr
    assert hint.ev > 1
    after = analyse(_manual(camera, round(1250 * 2**hint.ev)))
    assert abs(after.ettr.ev) < 0.15
    assert max(after.clipping.values()) <= 0.002  # the ignored 0.1 % of speculars, and noise


def test_overexposure_clips_and_says_so(camera):
    snap = analyse(_manual(camera, 200_000))
    assert snap.ettr.overexposed and snap.ettr.ev < 0
    assert snap.clipping["G1"] > 0.1
    assert (snap.exposure_map == 0).mean() > 0.1


def test_focus_measure_is_higher_in_focus_than_at_the_closest_distance(camera):
    measures = {}
    for distance in (0.7, SCENE_DISTANCE_M):
        _turn(camera, focus_distance_m=distance)
        measures[distance] = analyse(_manual(camera, 10_000)).focus_measure
    assert measures[SCENE_DISTANCE_M] > 10 * measures[0.7]


def test_focus_measure_peaks_at_the_scene_distance_when_magnified(camera):
    # 10× punch-in on the Siemens star, as a photographer focuses a manual lens.
    lens = camera.rig.lens
    pitch_mm = camera.sensor.pixel_size_um * 1e-3
    star_y = 0.5 + STAR_CENTRE_MM[1] * lens.magnification / pitch_mm / 3040
    field = preview_mode(camera.sensor).crop
    crop = magnify_crop(field, 10, 0.5, star_y)
    distances = (1.8, 1.9, 1.95, SCENE_DISTANCE_M, 2.05, 2.1, 2.3)
    measures = []
    for d in distances:
        _turn(camera, focus_distance_m=d)
        measures.append(analyse(_manual(camera, 10_000, scaler_crop=crop)).focus_measure)
    assert distances[int(np.argmax(measures))] == SCENE_DISTANCE_M
    peak = distances.index(SCENE_DISTANCE_M)
    assert all(np.diff(measures[: peak + 1]) > 0) and all(np.diff(measures[peak:]) < 0)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def _laplacian_energy(image: np.ndarray) -> float:
    return float(ndimage.laplace(image).var())


def test_magnify_shows_the_sensor_window_at_preview_size(camera):
    whole = _manual(camera, 4000).rgb.astype(np.float32).mean(axis=2)
    field = preview_mode(camera.sensor).crop
    crop = magnify_crop(field, 2, 0.25, 0.75)
    frame = _manual(camera, 4000, scaler_crop=crop)
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
    # The analysis sees the raw under the crop: a quarter of the binned mode's sites.
    assert frame.raw.data.shape == (crop[3] // 2, crop[2] // 2)


def test_metering_ignores_the_punch_in(camera):
    """AE meters the whole field (the ISP's statistics are taken before its crop), so
    magnifying does not change the exposure."""
    settle(camera, Controls())
    for _ in range(30):
        before = camera.next_frame().metadata
    field = preview_mode(camera.sensor).crop
    camera.set_controls(camera.controls.replace(scaler_crop=magnify_crop(field, 10, 0.5, 0.3)))
    for _ in range(30):
        after = camera.next_frame().metadata
    total = lambda m: m.exposure_time_us * m.analogue_gain  # noqa: E731
    assert total(after) == pytest.approx(total(before), rel=0.05)
