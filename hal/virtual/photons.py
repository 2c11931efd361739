"""Photons to digital numbers, as the IMX477 does it.

Exposure at the focal plane follows the camera equation for a diffuse subject lit by
``lux``: ``H = E·ρ·t / (4·N²)`` lux·seconds. The sensor is rated ISO 100 at unity gain, and
ISO 12232's saturation-based speed ``S = 78 / H_sat`` puts saturation at 0.78 lux·s, where the
full well (≈ 8180 e⁻) is reached. So a pixel collects ``8180 · H / 0.78`` electrons; the
"sunny 16" exposure (100 000 lux, f/16, 1/100 s) puts mid-grey at 22 % of full well, as it should.

Noise: photon shot noise (Poisson, variance = mean in electrons, drawn here as its Gaussian
limit) and read noise of 3 e⁻ rms, both before the analogue gain; then conversion at 0.47 DN/e⁻
× analogue gain, the black level pedestal, rounding and clipping to the ADC range.
Figures: Hogan, "Pi HQ Cam Sensor Performance"; black level from libcamera's imx477.json.
"""

from __future__ import annotations

import numpy as np

from hal import imx477

SATURATION_EXPOSURE_LUX_S = 0.78


def camera_response(neutral_rb: tuple[float, float], ccm: np.ndarray) -> np.ndarray:
    """3×3 matrix from scene linear sRGB to the sensor's raw R, G, B (green = luminance of grey).

    The tuning's CCM maps white-balanced camera RGB to sRGB, and its CT curve gives the raw
    ratios of grey under the light, so the raw response is ``diag(r, 1, b) · CCM⁻¹``. This is
    the inverse of what a developer applies, so the virtual sensor and the ISP share one calibration.
    """
    r, b = neutral_rb
    return (np.diag([r, 1.0, b]) @ np.linalg.inv(ccm)).astype(np.float32)


def electrons_per_unit(lux: float, exposure_time_us: float, f_number: float) -> float:
    """Electrons a pixel collects for unit reflectance under ``lux`` (before clipping)."""
    exposure_lux_s = lux * (exposure_time_us * 1e-6) / (4.0 * f_number**2)
    return imx477.FULL_WELL_E * exposure_lux_s / SATURATION_EXPOSURE_LUX_S


def expose(
    mean_electrons: np.ndarray,
    analogue_gain: float,
    bit_depth: int,
    black_level: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Read out pixels whose expected signal is ``mean_electrons``; uint16 DN, same shape.

    ``mean_electrons`` is used as scratch space and overwritten.
    """
    e = np.clip(mean_electrons, 0.0, imx477.FULL_WELL_E, out=mean_electrons)
    sigma = e + np.float32(imx477.READ_NOISE_E**2)
    np.sqrt(sigma, out=sigma)
    noise = rng.standard_normal(e.shape, dtype=np.float32)
    noise *= sigma
    e += noise
    dn_per_e = imx477.CONVERSION_GAIN_DN_PER_E * analogue_gain / (1 << (12 - bit_depth))
    e *= np.float32(dn_per_e)
    e += np.float32(black_level)
    np.rint(e, out=e)
    np.clip(e, 0, (1 << bit_depth) - 1, out=e)
    return e.astype(np.uint16)


def dn_variance(mean_electrons: float, analogue_gain: float, bit_depth: int = 12) -> float:
    """Expected raw variance (DN²) of an unclipped pixel: shot + read noise, plus rounding."""
    dn_per_e = imx477.CONVERSION_GAIN_DN_PER_E * analogue_gain / (1 << (12 - bit_depth))
    return (mean_electrons + imx477.READ_NOISE_E**2) * dn_per_e**2 + 1.0 / 12.0
