"""Read the Bayer image of a DNG file into a :class:`hal.camera.RawFrame`.

Reads uncompressed CFA DNGs: what PiDNG writes for picamera2 and ``RaspberryPiHqCamera``
(one IFD, 8/10/12/14-bit bit-packed samples in a tile), what ``rpicam-still`` writes (an RGB
thumbnail in IFD0, 16-bit raw in a SubIFD) and plain 16-bit strip DNGs such as mrig's own.
Lossless-JPEG compressed DNGs are refused with a clear message. Every error is an
:class:`isp.exc.RawFormatError` naming the file and the problem.

The raw is brought to the state the DNG specification's chapter 5 ("Mapping Raw Values to
Linear Reference Values") describes, so any camera's file develops by the same steps:

- cropped to its ActiveArea (the CFAPattern is that area's), then to DefaultCropOrigin/Size
  (an odd origin shifts the pattern, which is renamed to match: no resampling);
- mapped through its LinearizationTable;
- its BlackLevel per CFA site (BlackLevelRepeatDim) and per column and row (BlackLevelDeltaH/V)
  subtracted down to the lowest of them, which the frame then carries as its one black level;
- its WhiteLevel kept;
- OpcodeList2's GainMaps (lens shading measured by the camera) read into a gain grid over the
  cropped frame, applied with the pipeline's lens shading stage.

A tag that is missing gets the specification's default and a note in :attr:`DngImage.notes`
("BlackLevel missing: taken as 0"); a tag out of range is a note and its default, or a
:class:`RawFormatError` where no default makes sense (an ActiveArea outside the image).
The colour tags are read into an :class:`isp.dng_profile.Profile`.

References
----------
Adobe, "Digital Negative (DNG) Specification", version 1.4.0.0, 2012: chapters 4 (tags), 5
(raw values), 6 (colour) and 7 ("Opcode List Processing": GainMap, opcode 9).
"""

from __future__ import annotations

import dataclasses
import mmap
import struct
from pathlib import Path

import numpy as np

from hal.camera import FrameMetadata, RawFrame
from isp import tiff
from isp.dng_profile import Calibration, Profile
from isp.exc import RawFormatError

ORIENTATION = 274
DNG_VERSION = 50706
UNIQUE_CAMERA_MODEL = 50708
CFA_REPEAT_PATTERN_DIM = 33421
CFA_PATTERN = 33422
BLACK_LEVEL = 50714
WHITE_LEVEL = 50717
COLOR_MATRIX_1 = 50721
COLOR_MATRIX_2 = 50722
AS_SHOT_NEUTRAL = 50728
CALIBRATION_ILLUMINANT_1 = 50778
CALIBRATION_ILLUMINANT_2 = 50779
LINEARIZATION_TABLE = 50712
BLACK_LEVEL_REPEAT_DIM = 50713
BLACK_LEVEL_DELTA_H = 50715
BLACK_LEVEL_DELTA_V = 50716
DEFAULT_CROP_ORIGIN = 50719
DEFAULT_CROP_SIZE = 50720
CAMERA_CALIBRATION_1 = 50723
CAMERA_CALIBRATION_2 = 50724
ANALOG_BALANCE = 50727
AS_SHOT_WHITE_XY = 50729
BASELINE_EXPOSURE = 50730
ACTIVE_AREA = 50829
FORWARD_MATRIX_1 = 50964
FORWARD_MATRIX_2 = 50965
OPCODE_LIST_1 = 51008
OPCODE_LIST_2 = 51009
OPCODE_LIST_3 = 51022
NOISE_PROFILE = 51041
GAIN_MAP_OPCODE = 9
#: BaselineExposure beyond this many stops is taken as a broken tag (cameras write -1 to +2).
MAX_BASELINE_EV = 4.0
MAKE = 271
MODEL = 272
EXPOSURE_TIME = 33434
ISO_SPEED = 34855
PHOTOMETRIC_CFA = 32803
PHOTOMETRIC_LINEAR_RAW = 34892

_CFA_COLOURS = {0: "R", 1: "G", 2: "B"}


@dataclasses.dataclass(frozen=True, eq=False)
class DngImage:
    """The raw frame of a DNG and the colour metadata a developer needs.

    ``as_shot_neutral`` is the camera-space (r, g, b) of a neutral under the scene light
    (``None`` if the file has none).
    """

    path: str
    raw: RawFrame
    as_shot_neutral: tuple[float, float, float] | None
    profile: Profile | None
    """The file's colour calibrations; None without a usable ColorMatrix1."""
    make: str
    model: str
    unique_camera_model: str
    as_shot_white_xy: tuple[float, float] | None = None
    baseline_exposure_ev: float = 0.0
    orientation: int = 1
    gain_map: np.ndarray | None = None
    """(3, rows, cols) gains for R, G, B over the cropped frame (OpcodeList2's GainMaps)."""
    noise_profile: tuple[float, ...] | None = None
    """NoiseProfile: (scale, offset) per colour plane, variance = scale·x + offset for x in 0-1."""
    notes: tuple[str, ...] = ()
    """What was missing or out of range, and the default taken, in words."""

    @property
    def colour_gains(self) -> tuple[float, float] | None:
        """(red, blue) gains that make the as-shot neutral grey."""
        n = self.as_shot_neutral
        return None if n is None else (n[1] / n[0], n[1] / n[2])


def _raw_ifd(ifds: list[tiff.Ifd], name: str) -> tiff.Ifd:
    if not any(DNG_VERSION in i.tags for i in ifds):
        raise RawFormatError(f"{name}: not a DNG file (no DNGVersion tag)")
    cfa = [i for i in ifds if i.first(tiff.PHOTOMETRIC) == PHOTOMETRIC_CFA]
    if not cfa:
        if any(i.first(tiff.PHOTOMETRIC) == PHOTOMETRIC_LINEAR_RAW for i in ifds):
            raise RawFormatError(f"{name}: not a Bayer DNG (LinearRaw, already demosaiced)")
        raise RawFormatError(f"{name}: not a Bayer DNG (no colour filter array image)")
    main = [i for i in cfa if int(i.first(tiff.NEW_SUBFILE_TYPE, 0)) & 1 == 0]
    return (main or cfa)[0]


def _pattern(ifd: tiff.Ifd, name: str) -> str:
    dims = ifd.get(CFA_REPEAT_PATTERN_DIM, (2, 2))
    colours = ifd.get(CFA_PATTERN)
    if colours is None:
        raise RawFormatError(f"{name}: missing CFAPattern tag")
    if tuple(int(d) for d in dims) != (2, 2) or len(colours) != 4:
        raise RawFormatError(f"{name}: not a 2x2 Bayer pattern (CFARepeatPatternDim {tuple(dims)})")
    try:
        pattern = "".join(_CFA_COLOURS[int(c)] for c in colours)
    except KeyError:
        raise RawFormatError(f"{name}: CFAPattern {tuple(colours)} uses colours other than RGB") from None
    if pattern not in ("RGGB", "BGGR", "GRBG", "GBRG"):
        raise RawFormatError(f"{name}: CFAPattern {pattern} is not a Bayer pattern")
    return pattern


def _matrix(values: tuple | None, n: int = 9) -> np.ndarray | None:
    if values is None or len(values) != n:
        return None
    m = np.asarray(values, np.float64)
    return m.reshape(3, 3) if n == 9 else m


def _invertible(m: np.ndarray | None, tag: str, notes: list[str]) -> np.ndarray | None:
    if m is None or (np.all(np.isfinite(m)) and abs(np.linalg.det(m)) > 1e-9):
        return m
    notes.append(f"{tag} is not an invertible 3x3 matrix: not used")
    return None


def _profile(ifds: list[tiff.Ifd], ifd: tiff.Ifd, notes: list[str]) -> Profile | None:
    calibrations = []
    for cm_tag, fm_tag, cc_tag, illum_tag in (
        (COLOR_MATRIX_1, FORWARD_MATRIX_1, CAMERA_CALIBRATION_1, CALIBRATION_ILLUMINANT_1),
        (COLOR_MATRIX_2, FORWARD_MATRIX_2, CAMERA_CALIBRATION_2, CALIBRATION_ILLUMINANT_2),
    ):
        found = _find(ifds, ifd, cm_tag)
        cm = _matrix(found)
        if cm is None or not np.all(np.isfinite(cm)) or abs(np.linalg.det(cm)) < 1e-9:
            if found is not None:
                notes.append(f"ColorMatrix{len(calibrations) + 1} is not an invertible 3x3 "
                             "matrix: not used")
            continue
        illuminant = int((_find(ifds, ifd, illum_tag) or (0,))[0])
        n = len(calibrations) + 1
        fm = _invertible(_matrix(_find(ifds, ifd, fm_tag)), f"ForwardMatrix{n}", notes)
        cc = _invertible(_matrix(_find(ifds, ifd, cc_tag)), f"CameraCalibration{n}", notes)
        calibrations.append(Calibration(illuminant, cm, fm, cc))
    if not calibrations:
        return None
    if any(c.camera_calibration is not None for c in calibrations):
        # One calibration's CameraCalibration missing: the specification's default, identity.
        calibrations = [c if c.camera_calibration is not None else
                        Calibration(c.illuminant, c.colour_matrix, c.forward_matrix, np.eye(3))
                        for c in calibrations]
    balance = _matrix(_find(ifds, ifd, ANALOG_BALANCE), 3)
    if balance is not None and not np.all(balance > 0):
        notes.append(f"AnalogBalance {tuple(balance)} is not positive: taken as 1, 1, 1")
        balance = None
    return Profile(tuple(calibrations), np.ones(3) if balance is None else balance)


def _find(ifds: list[tiff.Ifd], ifd: tiff.Ifd, tag: int) -> tuple | None:
    """A tag from the raw IFD, else from any other IFD (DNG puts camera tags in IFD0)."""
    if tag in ifd.tags:
        return ifd.tags[tag]
    for other in ifds:
        if tag in other.tags:
            return other.tags[tag]
    return None


def _rectangle(values: tuple | None, name: str, what: str, height: int, width: int) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of an ActiveArea-style tag, checked against the image."""
    if values is None:
        return 0, 0, height, width
    top, left, bottom, right = (int(v) for v in values[:4])
    if len(values) != 4 or not (0 <= top < bottom <= height and 0 <= left < right <= width):
        raise RawFormatError(f"{name}: {what} {tuple(values)} does not fit the {width}x{height} image")
    return top, left, bottom, right


def _shifted(pattern: str, dy: int, dx: int) -> str:
    """The Bayer pattern seen from ``dy`` rows and ``dx`` columns further in."""
    grid = [[pattern[0], pattern[1]], [pattern[2], pattern[3]]]
    return "".join(grid[(y + dy) % 2][(x + dx) % 2] for y in (0, 1) for x in (0, 1))


def _black_levels(ifd: tiff.Ifd, height: int, width: int, name: str, notes: list[str]) -> np.ndarray | float:
    """The black level: one number when it is uniform, the (rows, cols) repeat pattern when it
    varies only by site, else one per pixel of the active area."""
    values = ifd.get(BLACK_LEVEL)
    if values is None:
        notes.append("BlackLevel missing: taken as 0 (the DNG default)")
        values = (0.0,)
    rows, cols = (int(v) for v in ifd.get(BLACK_LEVEL_REPEAT_DIM, (1, 1))[:2])
    if rows < 1 or cols < 1 or len(values) != rows * cols:
        if len(values) == 4 and (rows, cols) == (1, 1):  # a common writer's slip: one per site
            rows = cols = 2
        else:
            raise RawFormatError(f"{name}: {len(values)} BlackLevel values for a repeat of {rows}x{cols}")
    pattern = np.asarray(values, np.float64).reshape(rows, cols)
    delta_h = ifd.get(BLACK_LEVEL_DELTA_H)
    delta_v = ifd.get(BLACK_LEVEL_DELTA_V)
    for tag, delta, n in (("BlackLevelDeltaH", delta_h, width), ("BlackLevelDeltaV", delta_v, height)):
        if delta is not None and len(delta) != n:
            notes.append(f"{tag} has {len(delta)} values for {n} {'columns' if n == width else 'rows'}: not used")
    h_ok = delta_h is not None and len(delta_h) == width
    v_ok = delta_v is not None and len(delta_v) == height
    if np.all(pattern == pattern.flat[0]) and not h_ok and not v_ok:
        return float(pattern.flat[0])  # rpicam-still writes four equal values
    if not h_ok and not v_ok:
        return pattern  # per site only: subtracted plane by plane, no full-size arrays
    black = np.tile(pattern, (-(-height // rows), -(-width // cols)))[:height, :width]
    if h_ok:
        black = black + np.asarray(delta_h, np.float64)[None, :]
    if v_ok:
        black = black + np.asarray(delta_v, np.float64)[:, None]
    return black


def _subtract_excess(data: np.ndarray, black: np.ndarray, floor: float) -> np.ndarray:
    """``data`` less what each pixel's black exceeds ``floor`` by, held at 0: per repeat site
    in place on the uint16 samples when ``black`` is a small repeat pattern, else per pixel."""
    if black.shape != data.shape:  # the (rows, cols) repeat pattern
        rows, cols = black.shape
        for r in range(rows):
            for c in range(cols):
                excess = np.uint16(round(float(black[r, c]) - floor))
                if excess:
                    site = data[r::rows, c::cols]
                    np.subtract(site, np.minimum(site, excess), out=site)
        return data
    excess = np.round(black - floor).astype(np.int32)
    return np.clip(data.astype(np.int32) - excess, 0, None).astype(np.uint16)


def _gain_maps(ifd: tiff.Ifd, pattern: str, area: tuple[int, int, int, int],
               active: tuple[int, int], notes: list[str]) -> np.ndarray | None:
    """OpcodeList2's GainMaps as a (3, rows, cols) grid over ``area`` (top, left, bottom, right
    of the cropped frame in active-area pixels; ``active`` is the active area's height and
    width), sampled at the cell centres that :mod:`isp.lens_shading` interpolates between.
    As the DNG SDK reads a GainMap (``dng_gain_map.cpp``): its map points are placed relative to
    the whole active area (MapOrigin 0 its top, 1 its bottom) and its gains apply inside its
    Top/Left/Bottom/Right rectangle only. Other opcodes are named in a note."""
    for tag, when in ((OPCODE_LIST_1, "before linearisation"), (OPCODE_LIST_3, "after demosaicing")):
        if tag in ifd.tags:
            notes.append(f"OpcodeList{1 if tag == OPCODE_LIST_1 else 3} ({when}) not applied")
    raw = ifd.get(OPCODE_LIST_2)  # the raw IFD's own (DNG: opcodes belong to their image)
    if not raw:
        return None
    data = bytes(raw) if not isinstance(raw[0], str) else b""
    maps: list[tuple[int, int, int, int, np.ndarray, tuple]] = []
    try:
        (count,) = struct.unpack_from(">I", data, 0)
        at = 4
        for _ in range(count):
            opcode, _version, flags, size = struct.unpack_from(">IIII", data, at)
            at += 16
            body = data[at : at + size]
            at += size
            if opcode != GAIN_MAP_OPCODE:
                notes.append(f"opcode {opcode} in OpcodeList2 not applied"
                             + (" (marked optional)" if flags & 1 else ""))
                continue
            top, left, bottom, right, plane, planes, row_pitch, col_pitch, points_v, points_h = (
                struct.unpack_from(">10I", body, 0))
            spacing_v, spacing_h, origin_v, origin_h = struct.unpack_from(">4d", body, 40)
            (map_planes,) = struct.unpack_from(">I", body, 72)
            gains = np.frombuffer(body, ">f4", points_v * points_h * map_planes, 76)
            gains = gains.reshape(points_v, points_h, map_planes)[..., 0].astype(np.float64)
            if plane != 0 or planes != 1 or bottom <= top or right <= left or points_v < 1 or points_h < 1:
                notes.append("a GainMap for other planes or an empty area: not applied")
                continue
            maps.append((row_pitch, col_pitch, gains,
                         (top, left, bottom, right, spacing_v, spacing_h, origin_v, origin_h)))
    except (struct.error, ValueError):
        notes.append("OpcodeList2 is truncated: its GainMaps are not applied")
        return None
    if not maps:
        return None
    if not all(np.all(np.isfinite(m[2])) and np.all(m[2] > 0) for m in maps):
        notes.append("a GainMap has gains that are not positive: not applied")
        return None
    frame_top, frame_left, frame_bottom, frame_right = area
    points = max(max(m[2].shape) for m in maps)
    rows = cols = min(64, max(16, 2 * points))
    centre_y = frame_top + (np.arange(rows) + 0.5) * (frame_bottom - frame_top) / rows
    centre_x = frame_left + (np.arange(cols) + 0.5) * (frame_right - frame_left) / cols
    channel = {"R": 0, "G": 1, "B": 2}
    total = np.zeros((3, rows, cols))
    weight = np.zeros(3)
    active_h, active_w = active
    for row_pitch, col_pitch, gains, (top, left, bottom, right, sv, sh, ov, oh) in maps:
        # Map points sit at origin + k · spacing, in units of the active area (0 top, 1 bottom).
        v = (centre_y / active_h - ov) / sv if sv > 0 else np.zeros(rows)
        u = (centre_x / active_w - oh) / sh if sh > 0 else np.zeros(cols)
        sampled = _bilinear(gains, v, u)
        inside = ((centre_y >= top) & (centre_y < bottom))[:, None] & ((centre_x >= left) & (centre_x < right))[None, :]
        sampled = np.where(inside, sampled, 1.0)
        if row_pitch == 2 and col_pitch == 2:  # one CFA site's map
            colours = [channel[pattern[(top % 2) * 2 + left % 2]]]
        else:  # every site
            colours = [0, 1, 2]
        for c in colours:
            total[c] += sampled
            weight[c] += 1
    for c in range(3):
        total[c] = total[c] / weight[c] if weight[c] else 1.0
    return total


def _bilinear(grid: np.ndarray, v: np.ndarray, u: np.ndarray) -> np.ndarray:
    """``grid`` (rows, cols) at fractional indices ``v`` × ``u``, held beyond its edges."""
    def axis(pos: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pos = np.clip(pos, 0, n - 1)
        i = np.minimum(np.floor(pos).astype(int), max(n - 2, 0))
        return i, np.minimum(i + 1, n - 1), pos - i
    i0, i1, fy = axis(v, grid.shape[0])
    j0, j1, fx = axis(u, grid.shape[1])
    top = grid[i0][:, j0] * (1 - fx) + grid[i0][:, j1] * fx
    bottom = grid[i1][:, j0] * (1 - fx) + grid[i1][:, j1] * fx
    return top * (1 - fy)[:, None] + bottom * fy[:, None]


def parse_dng(buf: bytes | mmap.mmap, name: str = "<dng>") -> DngImage:
    """Parse DNG bytes (or a map of a file); ``name`` appears in error messages."""
    ifds = tiff.read_ifds(buf, name)
    ifd = _raw_ifd(ifds, name)
    notes: list[str] = []
    pattern = _pattern(ifd, name)
    if int(ifd.first(tiff.SAMPLES_PER_PIXEL, 1)) != 1:
        raise RawFormatError(f"{name}: CFA image with more than one sample per pixel")
    bits_tag = ifd.get(tiff.BITS_PER_SAMPLE)
    if bits_tag is None:
        raise RawFormatError(f"{name}: missing BitsPerSample tag")
    bits = int(bits_tag[0])
    if not 8 <= bits <= 16:
        raise RawFormatError(f"{name}: unsupported bit depth {bits} (need 8 to 16 bits per sample)")
    if int(ifd.first(tiff.SAMPLE_FORMAT, 1)) != 1:
        raise RawFormatError(f"{name}: samples are not unsigned integers")
    compression = int(ifd.first(tiff.COMPRESSION, 1))
    if compression != 1:
        raise RawFormatError(f"{name}: compressed raw data (Compression={compression}) is not supported")
    data = tiff.read_pixels(buf, ifd, name)
    if data.dtype != np.uint16:
        data = data.astype(np.uint16)

    # Chapter 5: the active area (whose origin the CFAPattern describes), linearisation, black.
    top, left, bottom, right = _rectangle(ifd.get(ACTIVE_AREA), name, "ActiveArea", *data.shape)
    data = data[top:bottom, left:right]
    table = ifd.get(LINEARIZATION_TABLE)
    if table is not None:
        lut = np.asarray(table, np.uint16)
        data = lut[np.minimum(data, np.uint16(len(lut) - 1))]
    # The linearised values' range: the table's (it may map 8-bit codes to 14-bit values).
    top_value = int(lut.max()) if table is not None else (1 << bits) - 1
    white_tag = ifd.get(WHITE_LEVEL)
    if white_tag is None:
        notes.append(f"WhiteLevel missing: taken as {top_value} (the DNG default)")
    white = int(white_tag[0]) if white_tag else top_value
    black = _black_levels(ifd, *data.shape, name, notes)
    floor = float(np.min(black))
    if not 0 <= floor < white <= (65535 if table is not None else (1 << bits) - 1):
        raise RawFormatError(f"{name}: black level {floor:g} / white level {white} do not fit "
                             f"{'the LinearizationTable' if table is not None else f'{bits}-bit data'}")
    if isinstance(black, np.ndarray):  # down to the lowest black: one black level from here on
        data = _subtract_excess(data, black, floor)
    if white < top_value:  # else no sample can be above it: skip a pass over the frame
        np.minimum(data, np.uint16(white), out=data)

    # The default crop, in active-area pixels; an odd origin renames the pattern.
    crop = (0, 0, data.shape[0], data.shape[1])
    origin, size = ifd.get(DEFAULT_CROP_ORIGIN), ifd.get(DEFAULT_CROP_SIZE)
    if origin is not None or size is not None:
        ox, oy = (round(float(v)) for v in (origin or (0, 0))[:2])
        cw, ch = (round(float(v)) for v in (size or (data.shape[1] - ox, data.shape[0] - oy))[:2])
        if 0 <= oy and 0 <= ox and ch >= 2 and cw >= 2 and oy + ch <= data.shape[0] and ox + cw <= data.shape[1]:
            crop = (oy, ox, oy + ch, ox + cw)
        else:
            notes.append(f"DefaultCropOrigin {origin} / DefaultCropSize {size} do not fit the "
                         f"active area {data.shape[1]}x{data.shape[0]}: not cropped")
    gain_map = _gain_maps(ifd, pattern, crop, data.shape, notes)
    data = data[crop[0] : crop[2], crop[1] : crop[3]]
    pattern = _shifted(pattern, crop[0], crop[1])
    depth = max(1, int(white).bit_length())

    # Chapter 6: the white balance as shot, and the colour calibrations.
    neutral_tag = _find(ifds, ifd, AS_SHOT_NEUTRAL)
    neutral = None
    if neutral_tag is not None:
        if len(neutral_tag) == 3 and all(0 < v < 1e6 for v in neutral_tag):
            neutral = (float(neutral_tag[0]), float(neutral_tag[1]), float(neutral_tag[2]))
        else:
            notes.append(f"AsShotNeutral {tuple(neutral_tag)} is not three positive numbers: not used")
    white_xy = None
    xy_tag = _find(ifds, ifd, AS_SHOT_WHITE_XY)
    if xy_tag is not None:
        if len(xy_tag) == 2 and 0 < xy_tag[0] < 1 and 0 < xy_tag[1] < 1 and sum(xy_tag) < 1:
            white_xy = (float(xy_tag[0]), float(xy_tag[1]))
        else:
            notes.append(f"AsShotWhiteXY {tuple(xy_tag)} is not a chromaticity: not used")
    baseline = float((_find(ifds, ifd, BASELINE_EXPOSURE) or (0.0,))[0])
    if not -MAX_BASELINE_EV <= baseline <= MAX_BASELINE_EV:
        notes.append(f"BaselineExposure {baseline:g} is beyond ±{MAX_BASELINE_EV:g} stops: taken as 0")
        baseline = 0.0
    orientation = int((_find(ifds, ifd, ORIENTATION) or (1,))[0])
    if not 1 <= orientation <= 8:
        notes.append(f"Orientation {orientation} is not 1-8: taken as 1 (upright)")
        orientation = 1
    noise = ifd.get(NOISE_PROFILE)  # the raw IFD's, where the specification puts it
    gains = (neutral[1] / neutral[0], neutral[1] / neutral[2]) if neutral else (1.0, 1.0)
    exposure = _find(ifds, ifd, EXPOSURE_TIME)
    iso = _find(ifds, ifd, ISO_SPEED)
    meta = FrameMetadata(
        sequence=0,
        sensor_timestamp_ns=0,
        exposure_time_us=round(float(exposure[0]) * 1e6) if exposure else 0,
        analogue_gain=float(iso[0]) / 100 if iso and iso[0] else 1.0,
        colour_gains=gains,
        colour_temperature=0,
        frame_duration_us=0,
    )
    raw = RawFrame(data, pattern, round(floor), white, depth, meta)  # type: ignore[arg-type]
    text = {t: (_find(ifds, ifd, t) or ("",))[0] for t in (MAKE, MODEL, UNIQUE_CAMERA_MODEL)}
    return DngImage(
        path=name,
        raw=raw,
        as_shot_neutral=neutral,
        profile=_profile(ifds, ifd, notes),
        make=str(text[MAKE]).strip(),
        model=str(text[MODEL]).strip(),
        unique_camera_model=str(text[UNIQUE_CAMERA_MODEL]).strip(),
        as_shot_white_xy=white_xy,
        baseline_exposure_ev=baseline,
        orientation=orientation,
        gain_map=gain_map,
        noise_profile=tuple(float(v) for v in noise) if noise else None,
        notes=tuple(notes),
    )


def read_dng(path: str | Path) -> DngImage:
    """Read a DNG file; the raw frame is ``read_dng(path).raw``.

    The file is mapped, not read: the samples are unpacked straight from the page cache,
    which spares copying the file into fresh memory first (14 of the 40 ms it takes to read a
    12 MP DNG here, before any worker can start). An empty file or one that cannot be mapped
    (a pipe) is read instead. The map goes when the last view of it does, after parsing.
    """
    p = Path(path)
    try:
        with p.open("rb") as f:
            try:
                buf: bytes | mmap.mmap = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except (ValueError, OSError):  # empty, or not a regular file
                buf = f.read()
    except OSError as e:
        raise RawFormatError(f"{p}: cannot read ({e.strerror})") from None
    return parse_dng(buf, str(p))
