"""DNG writer: the sensor's Bayer data, uncompressed 16-bit, with everything a raw editor needs.

Layout (DNG 1.4, section "File Structure"): IFD0 is a small 8-bit RGB preview
(NewSubFileType 1) carrying the camera-wide tags (make, model, colour calibration, white
balance, lens info), its SubIFD is the raw image (NewSubFileType 0, CFA), and an Exif IFD
holds exposure and lens tags. Colour matrices come from the libcamera tuning
(:mod:`firmware.capture.dng_colour`).

Why not PiDNG: it writes the raw as IFD0 with no preview SubIFD structure and needs its own
tag objects for the Exif IFD; our needs (a fixed tag set, one uncompressed strip) fit in a
~250-line TIFF writer we control, with no extra runtime dependency. PiDNG stays a dev
dependency only as an independent reader/writer for cross-checks.

References
----------
Adobe, "Digital Negative (DNG) Specification" 1.4.0.0, 2012: chapters 4 (tags), 6 (colour).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from firmware.capture import dng_colour
from firmware.capture.preview import fit_within
from firmware.capture.shot import ShotInfo, exif_ifd, ifd0_tags
from firmware.capture.tiff import (
    ASCII,
    BYTE,
    DOUBLE,
    EXIF_IFD,
    LONG,
    RATIONAL,
    SHORT,
    SRATIONAL,
    SUB_IFDS,
    Ifd,
    encode_tiff,
    matrix_srationals,
    rational,
    read_first_rgb,
)
from hal.camera import RawFrame
from isp.denoise import imx477_noise
from isp.tuning import Tuning

PREVIEW_MAX_SIDE = 256

NEW_SUBFILE_TYPE, IMAGE_WIDTH, IMAGE_LENGTH, BITS_PER_SAMPLE = 254, 256, 257, 258
COMPRESSION, PHOTOMETRIC, SAMPLES_PER_PIXEL, ROWS_PER_STRIP = 259, 262, 277, 278
PLANAR_CONFIGURATION = 284
CFA_REPEAT_PATTERN_DIM, CFA_PATTERN = 33421, 33422
DNG_VERSION, DNG_BACKWARD_VERSION, UNIQUE_CAMERA_MODEL = 50706, 50707, 50708
CFA_PLANE_COLOR, CFA_LAYOUT = 50710, 50711
BLACK_LEVEL_REPEAT_DIM, BLACK_LEVEL, WHITE_LEVEL = 50713, 50714, 50717
COLOR_MATRIX_1, COLOR_MATRIX_2 = 50721, 50722
AS_SHOT_NEUTRAL, LENS_INFO = 50728, 50736
CALIBRATION_ILLUMINANT_1, CALIBRATION_ILLUMINANT_2 = 50778, 50779
PROFILE_NAME = 50936
#: DNG 1.3: variance = S·x + O of the normalised raw, one (S, O) pair for all planes.
NOISE_PROFILE = 51041
FORWARD_MATRIX_1, FORWARD_MATRIX_2 = 50964, 50965

PHOTOMETRIC_RGB, PHOTOMETRIC_CFA = 2, 32803
_CFA_CODES = {"R": 0, "G": 1, "B": 2}


def cfa_pattern(bayer_order: str) -> bytes:
    """DNG CFAPattern bytes for a 2×2 Bayer order: 0 red, 1 green, 2 blue, row by row.

    >>> list(cfa_pattern("BGGR"))
    [2, 1, 1, 0]
    """
    return bytes(_CFA_CODES[c] for c in bayer_order)


def as_shot_neutral(colour_gains: tuple[float, float]) -> tuple[float, float, float]:
    """Camera neutral from the frame's red and blue gains: (1/r_gain, 1, 1/b_gain)."""
    red_gain, blue_gain = colour_gains
    return (1.0 / red_gain, 1.0, 1.0 / blue_gain)


def quick_preview(raw: RawFrame, tuning: Tuning, max_side: int = PREVIEW_MAX_SIDE) -> np.ndarray:
    """A small sRGB preview straight from the Bayer data: one RGB pixel per (subsampled)
    2×2 quad, black level removed, the frame's white balance and the tuning's CCM, sRGB
    gamma. Good for a thumbnail, not a development."""
    qh, qw = raw.data.shape[0] // 2, raw.data.shape[1] // 2
    step = max(1, max(qh, qw) // (2 * max_side))
    planes = [raw.channel(c)[:qh:step, :qw:step].astype(np.float32) for c in ("R", "G1", "G2", "B")]
    r, g1, g2, b = planes
    cam = np.stack([r, (g1 + g2) / 2, b], axis=-1)
    cam = (cam - raw.black_level) / float(raw.white_level - raw.black_level)
    m = dng_colour.camera_to_srgb(
        tuning, raw.metadata.colour_gains, raw.metadata.colour_temperature
    ).astype(np.float32)
    lin = np.clip(cam @ m.T, 0.0, 1.0)
    srgb = np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * np.power(lin, 1 / 2.4) - 0.055)
    rgb8 = np.round(srgb * 255).astype(np.uint8)
    return fit_within(rgb8, max_side, max_side)


def _preview_ifd(preview: np.ndarray) -> Ifd:
    h, w = preview.shape[:2]
    ifd = Ifd(data=np.ascontiguousarray(preview, dtype=np.uint8).tobytes())
    ifd.set(NEW_SUBFILE_TYPE, LONG, 1)
    ifd.set(IMAGE_WIDTH, LONG, w)
    ifd.set(IMAGE_LENGTH, LONG, h)
    ifd.set(BITS_PER_SAMPLE, SHORT, [8, 8, 8])
    ifd.set(COMPRESSION, SHORT, 1)
    ifd.set(PHOTOMETRIC, SHORT, PHOTOMETRIC_RGB)
    ifd.set(SAMPLES_PER_PIXEL, SHORT, 3)
    ifd.set(ROWS_PER_STRIP, LONG, h)
    ifd.set(PLANAR_CONFIGURATION, SHORT, 1)
    return ifd


def _raw_ifd(raw: RawFrame) -> Ifd:
    h, w = raw.data.shape
    ifd = Ifd(data=memoryview(np.ascontiguousarray(raw.data, dtype="<u2")).cast("B"))
    ifd.set(NEW_SUBFILE_TYPE, LONG, 0)
    ifd.set(IMAGE_WIDTH, LONG, w)
    ifd.set(IMAGE_LENGTH, LONG, h)
    ifd.set(BITS_PER_SAMPLE, SHORT, 16)
    ifd.set(COMPRESSION, SHORT, 1)
    ifd.set(PHOTOMETRIC, SHORT, PHOTOMETRIC_CFA)
    ifd.set(SAMPLES_PER_PIXEL, SHORT, 1)
    ifd.set(ROWS_PER_STRIP, LONG, h)
    ifd.set(PLANAR_CONFIGURATION, SHORT, 1)
    ifd.set(CFA_REPEAT_PATTERN_DIM, SHORT, [2, 2])
    ifd.set(CFA_PATTERN, BYTE, cfa_pattern(raw.bayer_order))
    ifd.set(CFA_PLANE_COLOR, BYTE, b"\x00\x01\x02")
    ifd.set(CFA_LAYOUT, SHORT, 1)
    ifd.set(BLACK_LEVEL_REPEAT_DIM, SHORT, [1, 1])
    ifd.set(BLACK_LEVEL, LONG, raw.black_level)
    ifd.set(WHITE_LEVEL, LONG, raw.white_level)
    # The sensor's noise at this frame's gain (shot and read noise, hal/imx477.py): raw
    # editors (darktable, Lightroom) and mrig develop scale their noise reduction by it.
    noise = imx477_noise(raw)
    ifd.set(NOISE_PROFILE, DOUBLE, [noise.scale, noise.offset])
    return ifd


def encode_dng(
    raw: RawFrame, shot: ShotInfo, tuning: Tuning, preview_rgb: np.ndarray | None = None
) -> bytearray:
    """The DNG file for ``raw`` as bytes.

    ``preview_rgb`` (uint8 ``(h, w, 3)`` sRGB, e.g. the developed JPEG's image) becomes the
    IFD0 preview, downscaled to 256 pixels a side; without it a quick preview is made from
    the raw data.
    """
    preview = quick_preview(raw, tuning) if preview_rgb is None else fit_within(
        preview_rgb, PREVIEW_MAX_SIDE, PREVIEW_MAX_SIDE
    )
    ifd0 = _preview_ifd(preview)
    ifd0_tags(ifd0, shot)
    ifd0.set(DNG_VERSION, BYTE, b"\x01\x04\x00\x00")
    ifd0.set(DNG_BACKWARD_VERSION, BYTE, b"\x01\x02\x00\x00")  # ForwardMatrix needs 1.2
    ifd0.set(UNIQUE_CAMERA_MODEL, ASCII, shot.model)
    cal_a, cal_d65 = dng_colour.calibrations(tuning)
    ifd0.set(CALIBRATION_ILLUMINANT_1, SHORT, cal_a.illuminant.exif_code)
    ifd0.set(CALIBRATION_ILLUMINANT_2, SHORT, cal_d65.illuminant.exif_code)
    ifd0.set(COLOR_MATRIX_1, SRATIONAL, matrix_srationals(cal_a.colour_matrix))
    ifd0.set(COLOR_MATRIX_2, SRATIONAL, matrix_srationals(cal_d65.colour_matrix))
    ifd0.set(FORWARD_MATRIX_1, SRATIONAL, matrix_srationals(cal_a.forward_matrix))
    ifd0.set(FORWARD_MATRIX_2, SRATIONAL, matrix_srationals(cal_d65.forward_matrix))
    neutral = as_shot_neutral(raw.metadata.colour_gains)
    ifd0.set(AS_SHOT_NEUTRAL, RATIONAL, [rational(v, 100_000) for v in neutral])
    ifd0.set(PROFILE_NAME, ASCII, f"mrig libcamera {tuning.target or 'imx477'} tuning")
    if shot.lens is not None:
        ifd0.set(LENS_INFO, RATIONAL, shot.lens.specification())
    ifd0.children[SUB_IFDS] = [_raw_ifd(raw)]
    ifd0.children[EXIF_IFD] = [exif_ifd(shot)]
    return encode_tiff(ifd0)


def read_preview(path: str | Path) -> np.ndarray:
    """The IFD0 preview of a DNG this module wrote, uint8 ``(h, w, 3)``."""
    p = Path(path)
    with p.open("rb") as f:
        head = f.read(1024 * 1024)
        try:
            return read_first_rgb(head)
        except ValueError:
            f.seek(0)
            return read_first_rgb(f.read())
