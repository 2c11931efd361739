"""Noise reduction (isp/denoise.py): cleaner high-ISO pictures without losing the star's detail.

The virtual camera's board is made twice at the same exposure, with and without the sensor's
noise (tests/other_cameras.py: the mock's scene, its IMX477 noise constants). Each is developed
to a JPEG (q92, as the camera saves it) and compared with the noise-free develop: the PSNR must
rise by at least 4 dB at ISO 2200 and 2 dB at ISO 800 with noise reduction on, while the
Siemens star's MTF50 stays within 10 % of the develop without it.
"""

from __future__ import annotations

import numpy as np
import pytest
import simplejpeg

from isp.denoise import DenoiseParams, NoiseModel, imx477_noise
from isp.render import develop_jpeg
from tests.other_cameras import hq_frame, star_mtf50


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0**2 / np.mean((a.astype(np.float64) - b) ** 2)))


def _jpeg(raw, setting: str) -> np.ndarray:
    return simplejpeg.decode_jpeg(develop_jpeg(raw, quality=92, noise_reduction=setting,
                                               lens_shading=False))


@pytest.mark.parametrize(("iso", "rise_db"), [(2200, 4.0), (800, 2.0)])
def test_noise_reduction_at_high_iso_keeps_the_detail(iso, rise_db):
    gain = iso / 100
    truth = _jpeg(hq_frame(gain, noisy=False), "off")
    noisy = hq_frame(gain, noisy=True, seed=iso)
    plain, cleaned = _jpeg(noisy, "off"), _jpeg(noisy, "normal")
    rise = _psnr(cleaned, truth) - _psnr(plain, truth)
    assert rise >= rise_db, rise
    assert star_mtf50(cleaned) >= 0.9 * star_mtf50(plain)


def test_settings_are_ordered_and_off_is_off():
    raw = hq_frame(22.0, noisy=True, seed=1, width=512, height=384)
    truth = _jpeg(hq_frame(22.0, noisy=False, width=512, height=384), "off")
    scores = [_psnr(_jpeg(raw, s), truth) for s in ("off", "low", "normal")]
    assert scores[0] < scores[1] < scores[2]
    with pytest.raises(ValueError, match="off, low, normal or high"):
        _jpeg(raw, "max")


def test_the_noise_is_measured_from_the_frame_like_the_sensor_model():
    """A frame's own noise (for files without NoiseProfile) matches the model it was drawn
    with: the shot-noise slope within 15 %, the read-noise floor within a factor of two."""
    raw = hq_frame(8.0, noisy=True, seed=5)
    measured = NoiseModel.measured(raw.data, raw.bayer_order, raw.black_level, raw.white_level)
    model = imx477_noise(raw)
    assert measured is not None
    assert measured.scale == pytest.approx(model.scale, rel=0.15)
    assert model.offset / 2 <= measured.offset <= 2 * model.offset  # the floor is the least sure


def test_stronger_with_gain_and_none_when_invisible():
    """The luma noise the filter expects grows with the gain; a sensor with next to no noise
    gets none."""
    matrix = np.eye(3)
    low = DenoiseParams.for_frame(NoiseModel.from_sensor(3839, 0.47, 3.0), (2, 1, 1.6), matrix, 65535)
    high = DenoiseParams.for_frame(NoiseModel.from_sensor(3839, 0.47 * 22, 3.0), (2, 1, 1.6), matrix, 65535)
    assert low is not None and high is not None and high.luma[0] > 20 * low.luma[0]
    assert DenoiseParams.for_frame(NoiseModel(1e-9, 1e-12), (2, 1, 1.6), matrix, 65535) is None
    assert DenoiseParams.for_frame(NoiseModel.from_sensor(3839, 10, 3.0), (2, 1, 1.6), matrix, 65535,
                                   "off") is None
