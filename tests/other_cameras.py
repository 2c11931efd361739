"""DNGs of "other cameras": the virtual camera's test board (its ColorChecker, star and ramps,
``hal/virtual/scene.py``) recorded by sensors that are not an IMX477, written as DNGs with the
tags such cameras use.

A camera here is its ColorMatrix pair: camera RGB = ``CM(light) · XYZ`` of the board under the
light. The board's colours are linear sRGB reflectances seen under D65; under another light
they are adapted to it with Bradford, so a correct developer gives back the chart's published
sRGB whatever the light. The matrices are Adobe's ColorMatrix2 (D65) for two real cameras, as
published in dcraw's ``adobe_coeff`` table (so LibRaw knows them too), and a ColorMatrix1 for
Standard light A made from it by a fixed change, so that the interpolation between the two
matters.

:func:`write_dng` writes with mrig's own TIFF writer (any tag, any layout); :func:`write_pidng`
with PiDNG, the writer picamera2 uses.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import numpy as np

from firmware.capture.tiff import (
    ASCII,
    BYTE,
    LONG,
    RATIONAL,
    SHORT,
    SRATIONAL,
    UNDEFINED,
    Ifd,
    encode_tiff,
)
from hal.virtual import scene
from isp.dng_profile import SRGB_TO_XYZ, WHITE_D65, bradford, xy_to_xyz

WIDTH, HEIGHT = 640, 480
#: The board (400 × 300 mm) fills the frame.
MM_PER_PX = 2 * scene.BOARD_HALF_SIZE_MM[0] / WIDTH
XY_A = (0.44757, 0.40745)

#: Adobe's D65 ColorMatrix (XYZ → camera, ×10000), dcraw ``adobe_coeff``.
CANON_5D_MARK_II = np.array([4716, 603, -830, -7798, 15474, 2480, -1496, 1937, 6651]) / 10000
NIKON_D700 = np.array([8139, -2171, -663, -8747, 16541, 2295, -1925, 2008, 8093]) / 10000
#: How the synthetic cameras' response under light A differs from their D65 one.
A_CHANGE = np.array([[1.06, 0.03, -0.02], [0.0, 1.0, 0.0], [0.02, -0.04, 0.93]])


@dataclasses.dataclass(frozen=True)
class Camera:
    make: str
    model: str
    cm_d65: np.ndarray

    @property
    def cm_a(self) -> np.ndarray:
        return A_CHANGE @ self.cm_d65.reshape(3, 3)

    def colour_matrix(self, light: str) -> np.ndarray:
        return self.cm_d65.reshape(3, 3) if light == "D65" else self.cm_a


CANON = Camera("Canon", "Canon EOS 5D Mark II", CANON_5D_MARK_II)
NIKON = Camera("Nikon", "NIKON D700", NIKON_D700)


def board_linear(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """(H, W, 3) linear sRGB reflectance of the board, 2×2 supersampled."""
    ss = 2
    mm = 2 * scene.BOARD_HALF_SIZE_MM[0] / width
    x = (np.arange(width * ss) + 0.5) / ss * mm - scene.BOARD_HALF_SIZE_MM[0]
    y = (np.arange(height * ss) + 0.5) / ss * mm - scene.BOARD_HALF_SIZE_MM[1]
    xx, yy = np.meshgrid(x, y)
    return scene.radiance(xx, yy).reshape(height, ss, width, ss, 3).mean(axis=(1, 3))


def patch_boxes(width: int = WIDTH) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) of the middle half of each chart patch, in pixels."""
    mm = 2 * scene.BOARD_HALF_SIZE_MM[0] / width
    half = scene.CHART_PATCH_MM / 4 / mm
    out = []
    for i in range(24):
        cx, cy = scene.chart_patch_centre_mm(i)
        px = (cx + scene.BOARD_HALF_SIZE_MM[0]) / mm
        py = (cy + scene.BOARD_HALF_SIZE_MM[1]) / mm
        out.append((round(py - half), round(py + half), round(px - half), round(px + half)))
    return out


def patch_means(rgb: np.ndarray, boxes: list[tuple[int, int, int, int]] | None = None) -> np.ndarray:
    boxes = boxes or patch_boxes(rgb.shape[1])
    return np.array([rgb[y0:y1, x0:x1].reshape(-1, 3).mean(axis=0) for y0, y1, x0, x1 in boxes])


def to_mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """The Bayer mosaic of (H, W, 3) camera RGB: at each site the colour ``pattern`` names."""
    mosaic = np.empty(rgb.shape[:2])
    for k, (dy, dx) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        mosaic[dy::2, dx::2] = rgb[dy::2, dx::2, "RGB".index(pattern[k])]
    return mosaic


@dataclasses.dataclass
class Shot:
    """A mosaic in DN with what a DNG says of it."""

    mosaic: np.ndarray
    pattern: str
    black: int
    white: int
    bits: int
    neutral: np.ndarray
    white_xy: tuple[float, float]
    camera: Camera


#: Green of a white (reflectance 1) at half the range: one stop of headroom, given back by a
#: BaselineExposure of +1 (what a correct developer then shows as the chart's own white).
LEVEL = 0.5
BASELINE_EV = 1.0


def record(camera: Camera, light: str = "D65", *, pattern: str = "RGGB", bits: int = 14,
           black: int = 512, level: float = LEVEL, seed: int | None = None) -> Shot:
    """The board as ``camera`` records it under ``light`` ("D65" or "A"): a white's green at
    ``level`` of the range; photon and read noise with ``seed``."""
    white_xy = (0.31271, 0.32902) if light == "D65" else XY_A
    adapt = bradford(WHITE_D65, xy_to_xyz(white_xy))
    to_camera = camera.colour_matrix(light) @ adapt @ SRGB_TO_XYZ
    cam = board_linear() @ to_camera.T
    neutral = camera.colour_matrix(light) @ xy_to_xyz(white_xy)
    scale = level / neutral[1]
    cam = np.clip(cam * scale, 0, None)
    white = (1 << bits) - 1
    dn = to_mosaic(cam, pattern) * (white - black)
    if seed is not None:
        rng = np.random.default_rng(seed)
        electrons_per_dn = 2.0
        dn = rng.poisson(np.clip(dn, 0, None) * electrons_per_dn) / electrons_per_dn
        dn = dn + rng.normal(0, 2.0, dn.shape)
    data = np.clip(np.round(black + dn), 0, white).astype(np.uint16)
    return Shot(data, pattern, black, white, bits, neutral / neutral[1], white_xy, camera)


def _srationals(m: np.ndarray) -> list[tuple[int, int]]:
    return [(round(float(v) * 10000), 10000) for v in np.asarray(m).ravel()]


def gain_map_opcodes(maps: list[tuple[int, int, np.ndarray]], height: int, width: int) -> bytes:
    """OpcodeList bytes (always big-endian, DNG 1.4 chapter 7) with one GainMap (opcode 9) per
    entry ``(top, left, gains)``: ``gains`` (rows, cols) spanning the area, for the CFA site at
    (top, left) with pitch 2, or for every pixel when ``top`` is -1."""
    body = b""
    for top, left, gains in maps:
        rows, cols = gains.shape
        pitch = 1 if top < 0 else 2
        params = struct.pack(">10I", max(top, 0), max(left, 0), height, width, 0, 1, pitch, pitch, rows, cols)
        params += struct.pack(">4d", 1.0 / max(rows - 1, 1), 1.0 / max(cols - 1, 1), 0.0, 0.0)
        params += struct.pack(">I", 1) + gains.astype(">f4").tobytes()
        body += struct.pack(">IIII", 9, 0x01030000, 0, len(params)) + params
    return struct.pack(">I", len(maps)) + body


def write_dng(path: Path, shot: Shot, *, data: np.ndarray | None = None, extra: dict | None = None,
              neutral: bool = True, white_xy: bool = False, forward: bool = False,
              black_tags: dict | None = None, only_light_a: bool = False, bits: int = 16,
              white_level: bool = True) -> Path:
    """A DNG of ``shot`` by mrig's TIFF writer: one IFD, 16-bit strip, the camera's two
    calibrations; ``extra`` = {tag: (type, value)} adds or replaces tags."""
    mosaic = shot.mosaic if data is None else data
    h, w = mosaic.shape
    ifd = Ifd()
    ifd.set(254, LONG, 0)
    ifd.set(256, LONG, w)
    ifd.set(257, LONG, h)
    ifd.set(258, SHORT, bits)
    ifd.set(259, SHORT, 1)
    ifd.set(262, SHORT, 32803)
    ifd.set(271, ASCII, shot.camera.make)
    ifd.set(272, ASCII, shot.camera.model)
    ifd.set(274, SHORT, 1)
    ifd.set(277, SHORT, 1)
    ifd.set(278, LONG, h)
    ifd.set(284, SHORT, 1)
    ifd.set(33421, SHORT, [2, 2])
    ifd.set(33422, BYTE, bytes("RGB".index(c) for c in shot.pattern))
    ifd.set(50706, BYTE, bytes([1, 4, 0, 0]))
    ifd.set(50708, ASCII, shot.camera.model)
    for tag, (kind, value) in ({50714: (LONG, [shot.black])} if black_tags is None else black_tags).items():
        ifd.set(tag, kind, value)
    if white_level:
        ifd.set(50717, LONG, shot.white)
    ifd.set(50730, SRATIONAL, [(round(BASELINE_EV * 100), 100)])
    ifd.set(50721, SRATIONAL, _srationals(shot.camera.cm_a))
    ifd.set(50778, SHORT, 17)
    if not only_light_a:
        ifd.set(50722, SRATIONAL, _srationals(shot.camera.cm_d65))
        ifd.set(50779, SHORT, 21)
    if neutral:
        ifd.set(50728, RATIONAL, [(round(v * 1_000_000), 1_000_000) for v in shot.neutral])
    if white_xy:
        ifd.set(50729, RATIONAL, [(round(v * 1_000_000), 1_000_000) for v in shot.white_xy])
    if forward:  # a ForwardMatrix consistent with the ColorMatrix: CA(white → D50) · CM⁻¹ · diag(n)
        from isp.dng_profile import WHITE_D50
        for tag, light, xy in ((50964, "A", XY_A), (50965, "D65", (0.31271, 0.32902))):
            cm = shot.camera.colour_matrix(light)
            n = cm @ xy_to_xyz(xy)
            fm = bradford(xy_to_xyz(xy), WHITE_D50) @ np.linalg.inv(cm) @ np.diag(n / n[1])
            ifd.set(tag, SRATIONAL, _srationals(fm / (fm @ np.ones(3))[1]))
    for tag, (kind, value) in (extra or {}).items():
        ifd.set(tag, kind, value)
    ifd.data = np.ascontiguousarray(mosaic, "<u2" if bits == 16 else "u1").tobytes()
    path.write_bytes(bytes(encode_tiff(ifd)))
    return path


def write_pidng(path: Path, shot: Shot) -> Path:
    """A DNG of ``shot`` by PiDNG (the writer picamera2 uses), with the same colour tags."""
    from pidng.core import RAW2DNG
    from pidng.defs import CalibrationIlluminant, CFAPattern, DNGVersion, PhotometricInterpretation
    from pidng.dng import DNGTags, Tag

    h, w = shot.mosaic.shape
    t = DNGTags()
    t.set(Tag.ImageWidth, w)
    t.set(Tag.ImageLength, h)
    t.set(Tag.TileWidth, w)
    t.set(Tag.TileLength, h)
    t.set(Tag.BitsPerSample, 16)
    t.set(Tag.SamplesPerPixel, 1)
    t.set(Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array)
    t.set(Tag.CFARepeatPatternDim, [2, 2])
    t.set(Tag.CFAPattern, getattr(CFAPattern, shot.pattern))
    t.set(Tag.BlackLevel, shot.black)
    t.set(Tag.WhiteLevel, shot.white)
    t.set(Tag.ColorMatrix1, _srationals(shot.camera.cm_a))
    t.set(Tag.ColorMatrix2, _srationals(shot.camera.cm_d65))
    t.set(Tag.CalibrationIlluminant1, CalibrationIlluminant.Standard_Light_A)
    t.set(Tag.CalibrationIlluminant2, CalibrationIlluminant.D65)
    t.set(Tag.AsShotNeutral, [(round(v * 1_000_000), 1_000_000) for v in shot.neutral])
    t.set(Tag.BaselineExposure, [(round(BASELINE_EV * 100), 100)])
    t.set(Tag.Make, shot.camera.make)
    t.set(Tag.Model, shot.camera.model)
    t.set(Tag.UniqueCameraModel, shot.camera.model)
    t.set(Tag.DNGVersion, DNGVersion.V1_4)
    t.set(Tag.DNGBackwardVersion, DNGVersion.V1_2)
    r = RAW2DNG()
    r.options(t, path=str(path.parent), compress=False)
    r.convert(np.ascontiguousarray(shot.mosaic, np.uint16), filename=path.stem)
    return path


__all__ = ["CANON", "NIKON", "Camera", "Shot", "UNDEFINED", "board_linear", "gain_map_opcodes",
           "patch_boxes", "patch_means", "record", "to_mosaic", "write_dng", "write_pidng"]


def hq_frame(gain: float, *, noisy: bool, seed: int = 0, width: int = 1024, height: int = 768,
             colour_temperature: float = 5000.0):
    """The board as the HQ camera's IMX477 records it at analogue ``gain``, exposed so that a
    white fills 90 % of the range (as auto exposure would, in dim light at high ISO): the
    noise-free mean, or with the virtual sensor's noise (photon shot noise and read noise at
    the conversion gain of ``hal/imx477.py``, as ``hal/virtual/photons.py`` draws it)."""
    from hal import imx477
    from hal.camera import FrameMetadata, RawFrame
    from isp.tuning import default_tuning

    tuning = default_tuning()
    r, b = tuning.neutral_rb(colour_temperature)
    response = np.diag([r, 1.0, b]) @ np.linalg.inv(tuning.ccm(colour_temperature))
    cam = np.clip(board_linear(width, height) @ response.T, 0, None) * 0.9
    pattern = "BGGR"
    dn = to_mosaic(cam, pattern) * 3839
    if noisy:
        rng = np.random.default_rng(seed)
        dn_per_e = imx477.CONVERSION_GAIN_DN_PER_E * gain
        dn = rng.poisson(np.clip(dn / dn_per_e, 0, None)) * dn_per_e
        dn = dn + rng.normal(0, imx477.READ_NOISE_E * dn_per_e, dn.shape)
    data = np.clip(np.round(256 + dn), 0, 4095).astype(np.uint16)
    meta = FrameMetadata(0, 0, 10_000, gain, tuning.colour_gains(colour_temperature),
                         round(colour_temperature), 25_000)
    return RawFrame(data, pattern, 256, 4095, 12, meta)


def star_mtf50(rgb: np.ndarray) -> float:
    """MTF50 (cycles per pixel) of the board's Siemens star in an sRGB picture of the board:
    the modulation of the star's 36 cycles along circles, from the fundamental of the linear
    luma sampled around each, relative to the outer circles'; the frequency where it falls to
    half (ISO 12233:2017 annex on the sinusoidal star, simplified to a bar star's fundamental)."""
    from isp.tone import srgb_decode

    h, w = rgb.shape[:2]
    y = srgb_decode(rgb / 255.0) @ np.array([0.2126, 0.7152, 0.0722])
    mm = 2 * scene.BOARD_HALF_SIZE_MM[0] / w
    cx = (scene.STAR_CENTRE_MM[0] + scene.BOARD_HALF_SIZE_MM[0]) / mm - 0.5
    cy = (scene.STAR_CENTRE_MM[1] + scene.BOARD_HALF_SIZE_MM[1]) / mm - 0.5
    cycles = scene.STAR_SPOKES
    radii = np.arange(3.0, 0.9 * scene.STAR_RADIUS_MM / mm, 0.5)
    theta = np.linspace(0, 2 * np.pi, 2048, endpoint=False)
    modulation = []
    for rho in radii:
        xs, ys = cx + rho * np.cos(theta), cy + rho * np.sin(theta)
        x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
        fx, fy = xs - x0, ys - y0
        v = (y[y0, x0] * (1 - fx) * (1 - fy) + y[y0, x0 + 1] * fx * (1 - fy)
             + y[y0 + 1, x0] * (1 - fx) * fy + y[y0 + 1, x0 + 1] * fx * fy)
        modulation.append(np.abs(np.mean(v * np.exp(-1j * cycles * theta))) * 2 / v.mean())
    modulation = np.array(modulation) / np.median(modulation[-10:])
    frequency = cycles / (2 * np.pi * radii)
    low = np.nonzero(modulation < 0.5)[0]
    if not len(low):
        return float(frequency[0])
    i = int(low.max())  # the outermost circle below half; interpolate to the crossing
    if i + 1 >= len(radii):
        return float(frequency[i])
    t = (0.5 - modulation[i]) / (modulation[i + 1] - modulation[i])
    return float(frequency[i] + t * (frequency[i + 1] - frequency[i]))



def strokes_frame(width: int = 640, height: int = 480, seed: int = 0):
    """Dark pen strokes (1-2.5 px wide, 3 % reflectance, at every angle, crossing and ending in
    corners) on light paper (80 %), drawn 4× supersampled and blurred like the HQ camera's
    optical low-pass filter (σ 0.5 px), as the IMX477 records them under 5000 K: the detail
    where demosaicing leaves single-pixel colour "pops"."""
    from scipy import ndimage

    from hal.camera import FrameMetadata, RawFrame
    from isp.tuning import default_tuning

    ss = 4
    rng = np.random.default_rng(seed)
    big_h, big_w = height * ss, width * ss
    paper = np.full((big_h, big_w), 0.8, np.float32)
    yy, xx = np.mgrid[0:big_h, 0:big_w]
    for _ in range(120):
        x0, y0 = rng.uniform(0, big_w), rng.uniform(0, big_h)
        angle, length = rng.uniform(0, np.pi), rng.uniform(20, 60) * ss
        width_px = rng.uniform(1.0, 2.5) * ss
        dx, dy = np.cos(angle), np.sin(angle)
        x1, y1 = x0 + length * dx, y0 + length * dy
        bx0, bx1 = int(max(min(x0, x1) - width_px, 0)), int(min(max(x0, x1) + width_px + 1, big_w))
        by0, by1 = int(max(min(y0, y1) - width_px, 0)), int(min(max(y0, y1) + width_px + 1, big_h))
        sx, sy = xx[by0:by1, bx0:bx1] - x0, yy[by0:by1, bx0:bx1] - y0
        t = np.clip(sx * dx + sy * dy, 0, length)
        paper[by0:by1, bx0:bx1][np.hypot(sx - t * dx, sy - t * dy) < width_px / 2] = 0.03
    grey = ndimage.gaussian_filter(paper.reshape(height, ss, width, ss).mean(axis=(1, 3)), 0.5)
    tuning = default_tuning()
    r, b = tuning.neutral_rb(5000)
    cam = np.stack([grey * r, grey, grey * b], -1)
    pattern = "RGGB"
    data = np.round(256 + to_mosaic(cam, pattern) * 3839).astype(np.uint16)
    meta = FrameMetadata(0, 0, 10_000, 1.0, tuning.colour_gains(5000), 5000, 25_000)
    return RawFrame(data, pattern, 256, 4095, 12, meta)


#: Levels (8-bit) by which a pixel's colour difference must stand out from all eight
#: neighbours' to count as a pop.
POP_LEVELS = 24


def count_pops(rgb: np.ndarray, levels: int = POP_LEVELS) -> int:
    """Single-pixel colour pops in an 8-bit RGB picture: pixels whose R−G or B−G is more than
    ``levels`` above the highest, or below the lowest, of its eight neighbours' (an isolated
    spike of colour, which no real detail makes through an optical low-pass filter)."""
    c = rgb.astype(np.int32)
    count = 0
    for d in (c[..., 0] - c[..., 1], c[..., 2] - c[..., 1]):
        centre = d[1:-1, 1:-1]
        h, w = centre.shape
        around = np.stack([d[1 + oy : 1 + oy + h, 1 + ox : 1 + ox + w]
                           for oy in (-1, 0, 1) for ox in (-1, 0, 1) if oy or ox])
        count += int(((centre - around.max(0)) > levels).sum() + ((around.min(0) - centre) > levels).sum())
    return count
