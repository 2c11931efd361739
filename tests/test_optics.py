"""Derived optics, against numbers worked out by hand from the formulas in firmware/optics.py.

Sensor: 4056 × 1.55 µm = 6.2868 mm, 3040 × 1.55 µm = 4.712 mm, diagonal
√(6.2868² + 4.712²) = 7.8566 mm. 35 mm diagonal √(36² + 24²) = 43.267 mm → ×5.507.
1-inch type: √(13.2² + 8.8²) = 15.864 mm → ×2.019. Circle of confusion 2 × 1.55 µm = 3.1 µm.
"""

import math

import pytest

from firmware import optics


def test_sensor_and_factors():
    assert optics.SENSOR_WIDTH_MM == pytest.approx(6.2868)
    assert optics.SENSOR_HEIGHT_MM == pytest.approx(4.712)
    assert optics.SENSOR_DIAGONAL_MM == pytest.approx(7.8566, abs=1e-4)
    assert optics.CROP_FACTOR == pytest.approx(5.507, abs=1e-3)
    assert optics.ONE_INCH_DIAGONAL_MM == pytest.approx(15.864, abs=1e-3)
    assert optics.ONE_INCH_FACTOR == pytest.approx(2.019, abs=1e-3)
    assert optics.DEFAULT_COC_MM == pytest.approx(0.0031)


def test_summicron_50_at_f2():
    o = optics.optics(50, 2.0)
    assert o.equivalent_focal_length_mm == pytest.approx(275.35, abs=0.01)
    assert o.equivalent_f_number == pytest.approx(11.01, abs=0.01)
    assert o.one_inch_focal_length_mm == pytest.approx(100.96, abs=0.01)
    assert o.one_inch_f_number == pytest.approx(4.04, abs=0.01)
    # 2·atan(6.2868 / 100) = 7.195°, 2·atan(4.712 / 100) = 5.396°, 2·atan(7.8566 / 100) = 8.985°
    assert o.field_of_view_deg["horizontal"] == pytest.approx(7.195, abs=1e-3)
    assert o.field_of_view_deg["vertical"] == pytest.approx(5.396, abs=1e-3)
    assert o.field_of_view_deg["diagonal"] == pytest.approx(8.985, abs=1e-3)
    # H = 50² / (2 × 0.0031) + 50 = 403 275.8 mm; focused there, sharp from H/2 (to within f/2).
    assert o.hyperfocal_m == pytest.approx(403.276, abs=1e-3)
    assert o.hyperfocal_near_m == pytest.approx(403.276 / 2, rel=1e-3)


def test_depth_of_field_at_2_m():
    # near = 2000 · (H − 50) / (H + 2000 − 100) = 1990.37, far = 2000 · (H − 50) / (H − 2000) = 2009.72
    near, far = optics.depth_of_field_mm(50, 2.0, 2000)
    assert near == pytest.approx(1990.37, abs=0.01)
    assert far == pytest.approx(2009.72, abs=0.01)


def test_wide_lens_stopped_down_and_beyond_hyperfocal():
    # 35 mm at f/8: H = 35² / (8 × 0.0031) + 35 = 49 430.2 mm
    assert optics.hyperfocal_mm(35, 8) == pytest.approx(49430.2, abs=0.1)
    near, far = optics.depth_of_field_mm(35, 8, 60_000)
    assert far == math.inf and near < 49430.2 / 2 * 1.25
    # The print convention (d/1500 = 5.24 µm) gives a shorter hyperfocal distance.
    coc = optics.SENSOR_DIAGONAL_MM / 1500
    assert optics.hyperfocal_mm(35, 8, coc) == pytest.approx(35**2 / (8 * coc) + 35)
    assert optics.hyperfocal_mm(35, 8, coc) < optics.hyperfocal_mm(35, 8)


def test_bad_input():
    with pytest.raises(ValueError):
        optics.depth_of_field_mm(50, 2, 40)
    with pytest.raises(ValueError):
        optics.optics(0, 2)
    assert optics.equivalent_focal_length_mm(21) == pytest.approx(115.6, abs=0.1)
