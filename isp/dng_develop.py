"""How a DNG is developed: by the IMX477 tuning when it is from one, else by its own tags.

The libcamera tuning describes one sensor, the IMX477 of the HQ camera: its CCMs, its AWB
colour-temperature curve and its lens shading are wrong for any other. A file is taken to be
from an IMX477 when its Model or UniqueCameraModel says so: mrig's own ("HQ Camera IMX477
(mrig)"), rpicam-still's ("imx477", "Raspberry Pi imx477": rpicam-apps ``image/dng.cpp`` writes
the libcamera camera model) and picamera2's through PiDNG (the camera model, or PiDNG's
``RaspberryPiHqCamera``: "Raspberry Pi High Quality Camera"). Any other file develops as the DNG
specification says (:mod:`isp.dng_profile`): its ColorMatrix/ForwardMatrix pair interpolated at
its white balance, its GainMap (not the tuning's tables) for lens shading, and its
BaselineExposure on top of the photographer's exposure compensation.

:func:`colour_for` answers with the parameters for :func:`isp.render.develop` and one line
saying which colour source was used; the reader's notes (missing or out-of-range tags) travel
with it.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from isp import awb
from isp.denoise import NoiseModel
from isp.dng import DngImage
from isp.dng_profile import kelvin_to_xy, xy_to_kelvin
from isp.exc import RawFormatError
from isp.render import MAX_EXPOSURE_EV
from isp.tuning import Tuning

IMX477_MODEL = re.compile(r"imx477|high quality camera|\bhq camera\b", re.IGNORECASE)


@dataclasses.dataclass(frozen=True, eq=False)
class DngColour:
    """:func:`isp.render.develop`'s colour options for one file, and what they came from."""

    white_balance: str | float | tuple[float, float]
    ccm: np.ndarray | None
    lens_shading: bool | np.ndarray
    exposure_ev: float
    source: str
    """One line: which colour source was used (the tuning, or the file's tags)."""
    notes: tuple[str, ...] = ()
    noise_model: NoiseModel | None = None
    """The raw's noise for noise reduction; None: the IMX477's at the file's ISO."""
    noise_reduction: bool = True
    """False when the noise could not be known (then none is reduced)."""

    def develop_options(self, noise_reduction: str = "normal") -> dict:
        """:func:`isp.render.develop`'s keyword arguments for this colour, with the noise
        reduction asked for (off when the noise could not be known)."""
        return {"white_balance": self.white_balance, "ccm": self.ccm,
                "lens_shading": self.lens_shading, "exposure_ev": self.exposure_ev,
                "noise_reduction": noise_reduction if self.noise_reduction else "off",
                "noise_model": self.noise_model}


def is_imx477(dng: DngImage) -> bool:
    return bool(IMX477_MODEL.search(dng.model) or IMX477_MODEL.search(dng.unique_camera_model))


def _camera_name(dng: DngImage) -> str:
    return dng.unique_camera_model or " ".join(p for p in (dng.make, dng.model) if p) or "an unnamed camera"


def colour_for(
    dng: DngImage,
    *,
    white_balance: str | float = "frame",
    tuning: Tuning,
    tuning_given: bool = False,
    lens_shading: bool = True,
    exposure_ev: float = 0.0,
    noise_reduction: str = "normal",
) -> DngColour:
    """The colour options for ``dng``: by ``tuning`` when it was given (``tuning_given``) or
    the file is from an IMX477, else by the file's own tags. Raises :class:`RawFormatError`
    for a file that is neither an IMX477's nor carries a ColorMatrix."""
    notes = list(dng.notes)
    if tuning_given or is_imx477(dng):
        why = "the tuning file given" if tuning_given else "the IMX477 tuning (the file is from an IMX477)"
        wb = white_balance
        if wb == "frame" and dng.as_shot_neutral is None:
            notes.append("no AsShotNeutral: white balance estimated from the picture")
            wb = "auto"
        shading: bool | np.ndarray = lens_shading
        if lens_shading and dng.gain_map is not None:
            shading, why = dng.gain_map, why + ", the file's GainMap"
        model = file_noise(dng)
        return DngColour(wb, None, shading, exposure_ev, f"colour: {why}", tuple(notes), model)

    profile = dng.profile
    if profile is None:
        raise RawFormatError(
            f"{dng.path}: no ColorMatrix1 and not from an IMX477 ({_camera_name(dng)}): its "
            "colours are unknown; give the sensor's tuning with --tuning")
    if not isinstance(white_balance, str | int | float):
        raise ValueError(f"white_balance must be 'frame', 'auto' or kelvin, not {white_balance!r}")
    if white_balance == "frame" and dng.as_shot_neutral is not None:
        neutral, wb_source = np.asarray(dng.as_shot_neutral, np.float64), "AsShotNeutral"
    elif white_balance == "frame" and dng.as_shot_white_xy is not None:
        neutral, wb_source = profile.neutral(dng.as_shot_white_xy), "AsShotWhiteXY"
    elif isinstance(white_balance, int | float):
        neutral, wb_source = profile.neutral(kelvin_to_xy(float(white_balance))), f"{white_balance:g} K"
    else:
        if white_balance == "frame":
            notes.append("no AsShotNeutral or AsShotWhiteXY: white balance estimated from the picture")
        neutral, wb_source = auto_neutral(dng), "estimated from the picture"
    if not _usable(neutral):
        notes.append(f"the white balance ({wb_source}) gives no usable camera neutral: "
                     "estimated from the picture instead")
        neutral, wb_source = auto_neutral(dng), "estimated from the picture"
    neutral = neutral / neutral[1]
    kelvin = xy_to_kelvin(profile.white_xy(neutral))
    ccm = profile.balanced_to_srgb(neutral)
    names = ", ".join(c.name for c in profile.calibrations)
    forward = " with ForwardMatrix" if any(c.forward_matrix is not None for c in profile.calibrations) else ""
    parts = [f"colour: the file's ColorMatrix ({names}){forward} for {_camera_name(dng)}",
             f"white balance {wb_source} (about {kelvin:.0f} K)"]
    shading: bool | np.ndarray = False
    if lens_shading and dng.gain_map is not None:
        shading = dng.gain_map
        parts.append("lens shading from its GainMap")
    ev = exposure_ev + dng.baseline_exposure_ev
    if dng.baseline_exposure_ev:
        parts.append(f"BaselineExposure {dng.baseline_exposure_ev:+g} EV")
    if abs(ev) > MAX_EXPOSURE_EV:
        notes.append(f"exposure {ev:+g} EV (with BaselineExposure) held at ±{MAX_EXPOSURE_EV:g}")
        ev = float(np.clip(ev, -MAX_EXPOSURE_EV, MAX_EXPOSURE_EV))
    gains = (1.0 / float(neutral[0]), 1.0 / float(neutral[2]))
    model = file_noise(dng)
    if noise_reduction == "off":
        pass  # nothing to measure it for
    elif model is None:
        raw = dng.raw
        model = NoiseModel.measured(raw.data, raw.bayer_order, raw.black_level, raw.white_level)
        if model is None:
            notes.append("no NoiseProfile and too little flat area to measure the noise: "
                         "no noise reduction")
        else:
            parts.append("noise measured from the picture")
    else:
        parts.append("noise from its NoiseProfile")
    return DngColour(gains, ccm, shading, ev, "; ".join(parts), tuple(notes), model,
                     noise_reduction=model is not None and noise_reduction != "off")


def _usable(neutral: np.ndarray) -> bool:
    """A camera neutral the white balance stage can use: positive, gains within 1/64 to 64."""
    n = np.asarray(neutral, np.float64)
    if not (np.all(np.isfinite(n)) and np.all(n > 0)):
        return False
    ratios = n / n[1]
    return bool(np.all(ratios > 1 / 64) and np.all(ratios < 64))


def file_noise(dng: DngImage) -> NoiseModel | None:
    """The file's NoiseProfile (one pair for all planes, or the mean of one pair per plane)."""
    values = dng.noise_profile
    if not values or len(values) % 2 or not all(np.isfinite(values)):
        return None
    scales, offsets = values[0::2], values[1::2]
    if min(scales) < 0 or min(offsets) < 0 or max(scales) <= 0:
        return None
    return NoiseModel(float(np.mean(scales)), float(np.mean(offsets)))


def auto_neutral(dng: DngImage) -> np.ndarray:
    """The camera neutral (green 1) estimated from the raw, in the camera's own space: no
    colour-temperature curve constrains it, since the tuning's is another sensor's."""
    raw = dng.raw
    step = max(1, int(np.sqrt(raw.data.size / 4 / 250_000)))
    rgb = awb.binned_rgb(raw.data, raw.bayer_order, raw.black_level, raw.white_level, step)
    estimate = awb.estimate_neutral(rgb)
    if estimate is None:
        return np.ones(3)
    return np.clip(np.array([estimate[0], 1.0, estimate[1]]), 1 / 32, 32)
