"""What the Pi's IPA and hardware ISP do for the live view, done in numpy for the virtual camera.

On a real Pi, libcamera's control algorithms (AGC/AE, AWB) run on statistics from the ISP and
set exposure, gain and colour gains for the next frames; the ISP then renders the preview.
The virtual pipeline does the same from its own frames, with the HQ camera's tuning file as calibration:

- **AE** meters the raw green channel (centre-weighted, spot or matrix), aims at the tuning's
  ``y_target`` (0.16) shifted by EV compensation, and splits the exposure between shutter and
  gain along the tuning's "normal" exposure profile, moving part of the way each frame as
  libcamera's AGC does.
- **AWB** is grey-world constrained to the tuning's CT curve and the AWB mode's CT range.
- **Preview** applies colour gains, the CCM for the colour temperature and the tuning's gamma
  curve, giving the same look as the Pi's own preview.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from hal.camera import MeteringMode
from isp.tuning import Tuning

AE_SPEED = 0.6
"""Fraction of the remaining (log) exposure error corrected per frame."""


@dataclasses.dataclass(frozen=True)
class ExposureProfile:
    """libcamera's exposure profile: shutter rises first, then gain, stage by stage."""

    shutter_us: tuple[int, ...]
    gain: tuple[float, ...]

    def split(self, total: float, max_shutter_us: int) -> tuple[int, float]:
        """Exposure time (µs) and gain whose product is ``total`` (µs × gain)."""
        shutter, gain = float(self.shutter_us[0]), float(self.gain[0])
        for next_shutter, next_gain in zip(self.shutter_us[1:], self.gain[1:], strict=True):
            next_shutter = min(next_shutter, max_shutter_us)
            if total <= next_shutter * gain:
                return max(round(total / gain), self.shutter_us[0]), gain
            shutter = next_shutter
            if total <= shutter * next_gain:
                return round(shutter), total / shutter
            gain = next_gain
        return round(shutter), gain


def exposure_profile(tuning: Tuning) -> ExposureProfile:
    modes = tuning.algorithm("rpi.agc")["channels"][0]["exposure_modes"]["normal"]
    return ExposureProfile(tuple(modes["shutter"]), tuple(modes["gain"]))


def y_target(tuning: Tuning) -> float:
    curve = tuning.algorithm("rpi.agc")["channels"][0]["y_target"]
    return float(curve[1])


def metering_weights(shape: tuple[int, int], mode: MeteringMode) -> np.ndarray:
    """Normalised weights over a (downsampled) frame for each metering mode."""
    h, w = shape
    y = (np.arange(h) + 0.5) / h - 0.5
    x = (np.arange(w) + 0.5) / w - 0.5
    r2 = x[None, :] ** 2 + (y[:, None] * h / w) ** 2
    if mode == "matrix":
        weights = np.ones(shape)
    elif mode == "spot":
        weights = (r2 <= 0.05**2).astype(np.float64)
    else:
        weights = 0.25 + np.exp(-r2 / (2 * 0.2**2))
    return (weights / weights.sum()).astype(np.float32)


def ae_update(total: float, metered: float, target: float, limits: tuple[float, float],
              speed: float = AE_SPEED) -> float:
    """Next exposure (µs × gain) given the current one and the metered mean (0-1 of range)."""
    if metered <= 1e-4:
        ratio = 8.0
    else:
        ratio = target / metered
    new = total * math.exp(speed * math.log(ratio))
    return min(max(new, limits[0]), limits[1])


def awb_estimate(
    tuning: Tuning, mean_rgb: np.ndarray, ct_range: tuple[float, float]
) -> float:
    """Grey-world colour temperature: the CT whose grey matches the frame's mean R/G and B/G."""
    r_over_g = mean_rgb[0] / max(mean_rgb[1], 1e-6)
    b_over_g = mean_rgb[2] / max(mean_rgb[1], 1e-6)
    lo, hi = ct_range
    cts = np.linspace(lo, hi, 256)
    r = np.interp(cts, tuning.ct_curve[:, 0], tuning.ct_curve[:, 1])
    b = np.interp(cts, tuning.ct_curve[:, 0], tuning.ct_curve[:, 2])
    return float(cts[int(np.argmin((r - r_over_g) ** 2 + (b - b_over_g) ** 2))])


def awb_mode_range(tuning: Tuning, mode: str) -> tuple[float, float]:
    priors = tuning.algorithm("rpi.awb")["modes"][mode]
    return float(priors["lo"]), float(priors["hi"])


def gamma_lut(tuning: Tuning, size: int = 4096) -> np.ndarray:
    """The tuning's tone curve as an 8-bit lookup table over ``size`` linear steps."""
    curve = np.asarray(tuning.algorithm("rpi.contrast")["gamma_curve"], dtype=np.float64)
    x, y = curve[0::2], curve[1::2]
    steps = np.linspace(0, 65535, size)
    return np.clip(np.round(np.interp(steps, x, y) / 257.0), 0, 255).astype(np.uint8)


def render_preview(
    raw_planes: np.ndarray,
    black_level: int,
    white_level: int,
    colour_gains: tuple[float, float],
    ccm: np.ndarray,
    lut: np.ndarray,
) -> np.ndarray:
    """Render raw R, G, B planes (uint16 DN, 3×H×W) to 8-bit display RGB (H×W×3).

    White balance and normalisation are one lookup per channel (the raw has at most 4096
    levels); the CCM is nine multiply-adds on whole planes, far cheaper than a per-pixel
    matrix product on interleaved data.
    """
    levels = np.arange(white_level + 1, dtype=np.float32)
    gains = (colour_gains[0], 1.0, colour_gains[1])
    scale = 1.0 / (white_level - black_level)
    linear = [
        np.clip((levels - black_level) * np.float32(g * scale), 0.0, 1.0)[plane]
        for g, plane in zip(gains, raw_planes, strict=True)
    ]
    top = np.float32(len(lut) - 1)
    out = np.empty(raw_planes.shape[1:] + (3,), dtype=np.uint8)
    m = ccm.astype(np.float32)
    for c in range(3):
        mixed = linear[0] * m[c, 0]
        mixed += linear[1] * m[c, 1]
        mixed += linear[2] * m[c, 2]
        np.clip(mixed, 0.0, 1.0, out=mixed)
        mixed *= top
        out[..., c] = lut[mixed.astype(np.int16)]
    return out
