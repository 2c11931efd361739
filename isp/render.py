"""``develop``: a raw frame to an 8-bit sRGB image, calibrated by the libcamera tuning.

This module chooses the parameters (white balance, colour temperature, CCM, shading tables,
tone curve, sharpening) from the frame and the tuning; :mod:`isp.pipeline` runs the stages.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from hal.camera import RawFrame
from isp import awb, forked, jpeg
from isp.black_level import BlackLevelParams
from isp.ccm import CcmParams
from isp.denoise import DenoiseParams, NoiseModel, imx477_noise
from isp.exc import RawFormatError
from isp.lens_shading import LensShadingParams
from isp.pipeline import STRIP_ROWS, TILE_COLS, PipelineParams, process_in_bands, process_in_strips
from isp.sharpen import SharpenParams
from isp.tone import INDEX_SCALE, ToneParams
from isp.tuning import Tuning, alsc_gains, default_tuning, gamma_curve, sharpen_settings
from isp.white_balance import WhiteBalanceParams

WhiteBalance = Literal["frame", "auto"] | float | tuple[float, float]
#: Exposure compensation allowed either way, in stops (4 down puts the sensor's white at a
#: sixteenth of white; 4 up lifts a 12-bit raw's shadows well into its noise).
MAX_EXPOSURE_EV = 4.0


def choose_white_balance(
    raw: RawFrame, white_balance: WhiteBalance, tuning: Tuning
) -> tuple[tuple[float, float], float]:
    """(red_gain, blue_gain) and colour temperature (K) for ``raw``.

    ``"frame"``: the frame's own colour gains (what the camera's AWB chose, or a DNG's
    AsShotNeutral). ``"auto"``: estimated from the raw (:func:`isp.awb.auto_white_balance`).
    A number: that colour temperature in kelvin, through the tuning's CT curve. A pair: those
    gains. The colour temperature (for the CCM and shading tables) follows from the gains.
    """
    if isinstance(white_balance, str):
        if white_balance == "auto":
            return awb.auto_white_balance(
                raw.data, raw.bayer_order, raw.black_level, raw.white_level, tuning
            )
        if white_balance != "frame":
            raise ValueError(f"white_balance must be 'frame', 'auto', a CT or gains, not {white_balance!r}")
        gains = tuple(float(g) for g in raw.metadata.colour_gains)
    elif isinstance(white_balance, int | float):
        if not 1000 <= white_balance <= 20000:
            raise ValueError(f"colour temperature {white_balance} K is outside 1000-20000 K")
        return tuning.colour_gains(float(white_balance)), float(white_balance)
    else:
        gains = tuple(float(g) for g in white_balance)
    if len(gains) != 2 or not all(0 < g < 64 for g in gains):
        raise ValueError(f"colour gains must be two numbers in (0, 64), got {gains}")
    return (gains[0], gains[1]), tuning.colour_temperature((gains[0], gains[1]))


def pipeline_params(
    raw: RawFrame,
    *,
    white_balance: WhiteBalance = "frame",
    tuning: Tuning | None = None,
    tone: Literal["srgb", "tuning"] = "srgb",
    lens_shading: bool | np.ndarray = True,
    sharpening: bool = True,
    ccm: np.ndarray | None = None,
    demosaic_method: str = "mlri",
    exposure_ev: float = 0.0,
    noise_reduction: str = "normal",
    noise_model: NoiseModel | None = None,
) -> PipelineParams:
    """The parameters :func:`develop` uses; see there."""
    if not -MAX_EXPOSURE_EV <= exposure_ev <= MAX_EXPOSURE_EV:  # NaN fails too
        raise ValueError(f"exposure_ev must be between -{MAX_EXPOSURE_EV:g} and {MAX_EXPOSURE_EV:g} "
                         f"(stops), got {exposure_ev}")
    t = tuning or default_tuning()
    gains, ct = choose_white_balance(raw, white_balance, t)
    if not raw.white_level > raw.black_level >= 0:
        raise RawFormatError(f"black level {raw.black_level} and white level {raw.white_level} make no sense")
    if isinstance(lens_shading, np.ndarray):
        shading = LensShadingParams(lens_shading, raw.data.shape)
    elif lens_shading:
        shading = LensShadingParams(alsc_gains(t, ct), raw.data.shape)
    else:
        shading = None
    if tone == "srgb":
        curve = ToneParams.srgb()
    elif tone == "tuning":
        curve = ToneParams.from_curve(*gamma_curve(t))
    else:
        raise ValueError(f"tone must be 'srgb' or 'tuning', not {tone!r}")
    matrix = (t.ccm(ct) if ccm is None else np.asarray(ccm, np.float64)) * 2.0**exposure_ev
    model = noise_model or imx477_noise(raw)
    white = WhiteBalanceParams(*gains)
    denoise = DenoiseParams.for_frame(model, white.applied(), matrix, INDEX_SCALE, noise_reduction)
    return PipelineParams(
        pattern=raw.bayer_order,
        black=BlackLevelParams(raw.black_level, raw.white_level),
        white_balance=white,
        # Exposure compensation rides on the matrix (it is linear, after the clip to the
        # sensor's range): no pass of its own, and the tone table follows its output range.
        ccm=CcmParams(matrix),
        denoise=denoise,
        tone=curve,
        lens_shading=shading,
        sharpen=SharpenParams.from_tuning(*sharpen_settings(t)) if sharpening else None,
        demosaic_method=demosaic_method,
    )


def develop(
    raw: RawFrame,
    *,
    white_balance: WhiteBalance = "frame",
    tuning: Tuning | None = None,
    tone: Literal["srgb", "tuning"] = "srgb",
    lens_shading: bool | np.ndarray = True,
    sharpening: bool = True,
    ccm: np.ndarray | None = None,
    demosaic_method: str = "mlri",
    exposure_ev: float = 0.0,
    noise_reduction: str = "normal",
    noise_model: NoiseModel | None = None,
    strip_rows: int = STRIP_ROWS,
    workers: int | None = None,
    tile_cols: int = TILE_COLS,
) -> np.ndarray:
    """Develop a raw frame to 8-bit sRGB.

    Parameters
    ----------
    raw : hal.camera.RawFrame
        uint16 Bayer data with its pattern, black and white level and metadata.
    white_balance : "frame", "auto", float or (float, float)
        Where the colour gains come from; see :func:`choose_white_balance`.
    tuning : Tuning, optional
        libcamera tuning; the IMX477 file (the Pi's own when installed) by default.
    tone : {"srgb", "tuning"}
        The sRGB curve (colour as measured) or the tuning's ``rpi.contrast`` curve (the Pi look).
    lens_shading : bool or ndarray
        Apply the tuning's ALSC tables (True), none (False), or this (3, rows, cols) gain grid
        over the sensor (a per-lens flat field). The grid is taken to span the frame.
    sharpening : bool
        Apply ``rpi.sharpen``'s unsharp mask.
    ccm : ndarray, optional
        A 3×3 camera-to-linear-sRGB matrix instead of the tuning's at the scene's colour
        temperature.
    demosaic_method : {"mlri", "bilinear"}
        See :func:`isp.demosaic`.
    exposure_ev : float
        Exposure compensation in stops, -4 to +4: the linear signal times ``2 ** exposure_ev``
        after demosaicing, as a raw developer's exposure slider. Highlights the sensor clipped
        hold no more detail: pushed they stay white, pulled they become an even grey.
    noise_reduction : {"off", "low", "normal", "high"}
        Luma and chroma noise reduction (:mod:`isp.denoise`), scaled to the frame's noise
        (stronger with gain); none when that is too small to see.
    noise_model : NoiseModel, optional
        The raw's noise; by default the IMX477's at the frame's analogue gain.
    strip_rows, tile_cols, workers : int
        Rows and columns per tile, and threads (default: one per CPU). Results do not depend
        on any of them.

    Returns
    -------
    ndarray, uint8, shape (H, W, 3)
        sRGB.

    Examples
    --------
    >>> import numpy as np
    >>> from hal.camera import FrameMetadata, RawFrame
    >>> meta = FrameMetadata(0, 0, 10_000, 1.0, (2.0, 1.5), 5000, 25_000)
    >>> raw = RawFrame(np.full((8, 8), 1000, np.uint16), "BGGR", 256, 4095, 12, meta)
    >>> develop(raw, lens_shading=False).shape
    (8, 8, 3)
    """
    params = pipeline_params(
        raw,
        white_balance=white_balance,
        tuning=tuning,
        tone=tone,
        lens_shading=lens_shading,
        sharpening=sharpening,
        ccm=ccm,
        demosaic_method=demosaic_method,
        exposure_ev=exposure_ev,
        noise_reduction=noise_reduction,
        noise_model=noise_model,
    )
    return process_in_strips(raw.data, params, strip_rows=strip_rows, workers=workers, tile_cols=tile_cols)


def develop_jpeg(
    raw: RawFrame,
    *,
    quality: int = 92,
    exif: bytes | None = None,
    strip_rows: int = STRIP_ROWS,
    workers: int | None = None,
    tile_cols: int = TILE_COLS,
    processes: bool = False,
    **options: object,
) -> bytes:
    """Develop a raw frame straight to a JPEG (4:4:4, ``quality``, ``exif`` in APP1).

    The same image as ``encode_jpeg(develop(raw, **options), quality, exif)``, but each band
    of ``strip_rows`` rows is encoded as soon as it is developed, on the worker that finished it,
    while the other workers develop the next tiles (the full-size 8-bit image never exists); the
    bands are joined with restart markers (:func:`isp.jpeg.join_bands`). ``options`` are
    :func:`develop`'s. With ``processes`` the workers are forked processes instead of threads
    (:mod:`isp.forked`: faster, as they do not share the GIL), where this process can fork
    safely (it runs no other thread: a command-line tool, not the camera server); the JPEG is
    the same byte for byte.
    """
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be 1-100, got {quality}")
    params = pipeline_params(raw, **options)  # type: ignore[arg-type]
    band_rows = strip_rows + strip_rows % 2
    h, w = raw.data.shape
    if not jpeg.band_encodable(w, band_rows):
        rgb = process_in_strips(raw.data, params, strip_rows=strip_rows, workers=workers, tile_cols=tile_cols)
        return jpeg.encode_jpeg(rgb, quality=quality, exif=exif)

    def encode(rows: np.ndarray) -> bytes:
        return jpeg.encode_band(rows, quality)

    if processes and forked.can_fork():
        encoded = forked.map_bands(raw.data, params, encode, band_rows, tile_cols, workers)
    else:
        bands: dict[int, bytes] = {}
        process_in_bands(raw.data, params, lambda y0, rows: bands.update({y0: encode(rows)}),
                         strip_rows=band_rows, workers=workers, tile_cols=tile_cols)
        encoded = [bands[y0] for y0 in sorted(bands)]
    return jpeg.join_bands(encoded, h, band_rows, exif)
