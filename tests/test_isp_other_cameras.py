"""DNGs from cameras that are not an IMX477 develop with their own colour, by the DNG
specification, and agree with LibRaw.

The files are the virtual camera's board recorded by other sensors (tests/other_cameras.py),
written by mrig's writer and by PiDNG, with other matrices, illuminants, black levels,
linearisation, active areas, crops, lens shading maps and orientations. Each develop is
compared with LibRaw's (camera white balance, sRGB, the sRGB curve, no auto-brightening, its
exposure shift set to the file's BaselineExposure, which LibRaw does not read) and with the
chart's published colours; mean CIEDE2000 over the 24 patches.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from firmware.capture.tiff import LONG, RATIONAL, SHORT, SRATIONAL, UNDEFINED
from isp.colour import COLORCHECKER_SRGB, delta_e_2000, srgb8_to_lab
from isp.dng import read_dng
from isp.dng_develop import colour_for
from isp.exc import RawFormatError
from isp.render import develop
from isp.tuning import default_tuning
from tests.other_cameras import (
    BASELINE_EV,
    CANON,
    CANON_5D_MARK_II,
    NIKON,
    Camera,
    _srationals,
    patch_boxes,
    patch_means,
    record,
    write_dng,
    write_pidng,
)

rawpy = pytest.importorskip("rawpy")
TRUTH = srgb8_to_lab(COLORCHECKER_SRGB)


def ours(path, **options) -> tuple[np.ndarray, object]:
    dng = read_dng(path)
    colour = colour_for(dng, tuning=default_tuning(), **options)
    rgb = develop(dng.raw, sharpening=False, **colour.develop_options())
    return rgb, colour


def libraw(path) -> np.ndarray:
    with rawpy.imread(str(path)) as raw:
        return raw.postprocess(
            use_camera_wb=True, no_auto_bright=True, output_color=rawpy.ColorSpace.sRGB,
            gamma=(2.4, 12.92), output_bps=8, exp_shift=2.0**BASELINE_EV,
            demosaic_algorithm=rawpy.DemosaicAlgorithm.AHD)


def delta_e(a: np.ndarray, b: np.ndarray | None = None, boxes=None) -> float:
    lab_a = srgb8_to_lab(patch_means(a, boxes))
    lab_b = TRUTH if b is None else srgb8_to_lab(patch_means(b, boxes))
    return float(delta_e_2000(lab_a, lab_b).mean())


@pytest.mark.parametrize("camera", [CANON, NIKON], ids=["canon", "nikon"])
@pytest.mark.parametrize("writer", [write_dng, write_pidng], ids=["mrig-writer", "pidng"])
@pytest.mark.parametrize("pattern", ["RGGB", "GBRG"])
def test_another_camera_under_daylight_agrees_with_libraw(tmp_path, camera, writer, pattern):
    path = writer(tmp_path / "shot.dng", record(camera, "D65", pattern=pattern, seed=1))
    rgb, colour = ours(path)
    assert colour.ccm is not None and "ColorMatrix" in colour.source
    assert "BaselineExposure +1" in colour.source
    assert delta_e(rgb, libraw(path)) <= 3.0
    assert delta_e(rgb) <= 3.0


@pytest.mark.parametrize("camera", [CANON, NIKON], ids=["canon", "nikon"])
def test_tungsten_light_interpolates_the_two_calibrations(tmp_path, camera):
    """Under light A the file's ColorMatrix1 (A) is the right one. LibRaw takes a DNG's
    matrix as if it were for D65 and balances in camera space without adapting (dcraw's
    ``cam_xyz_coeff``), so here the reference is the chart, which LibRaw misses by more."""
    shot = record(camera, "A")
    path = write_dng(tmp_path / "a.dng", shot)
    rgb, colour = ours(path)
    assert "(about 28" in colour.source
    assert delta_e(rgb) <= 2.0 < delta_e(libraw(path))
    # Light A as the file's only calibration: used as such, not as a D65 one.
    only_a = write_dng(tmp_path / "only_a.dng", shot, only_light_a=True)
    rgb, colour = ours(only_a)
    assert "(Standard light A)" in colour.source
    assert delta_e(rgb) <= 2.0 < delta_e(libraw(only_a))


def test_forward_matrix_and_white_xy(tmp_path):
    shot = record(CANON, "A")
    path = write_dng(tmp_path / "fm.dng", shot, neutral=False, white_xy=True, forward=True)
    rgb, colour = ours(path)
    assert "with ForwardMatrix" in colour.source and "AsShotWhiteXY" in colour.source
    assert delta_e(rgb) <= 2.0


def test_the_forward_matrix_is_what_renders_the_colour(tmp_path):
    """With a ForwardMatrix the ColorMatrix only finds the light's temperature: a file whose
    ColorMatrix is another camera's but whose ForwardMatrix is the Canon's own still develops
    the Canon's colours; without the ForwardMatrix it does not."""
    shot = record(CANON, "D65")
    other = np.array([[0.9, 0.2, -0.2], [-0.5, 1.4, 0.1], [0.1, 0.1, 0.5]])
    wrong = {50721: (SRATIONAL, _srationals(other)), 50722: (SRATIONAL, _srationals(other))}
    right = write_dng(tmp_path / "fm.dng", shot, forward=True, extra=wrong)
    assert delta_e(ours(right)[0]) <= 0.5
    assert delta_e(ours(write_dng(tmp_path / "cm.dng", shot, extra=wrong))[0]) >= 1.5


def test_black_level_per_site_column_and_row(tmp_path):
    """BlackLevelRepeatDim 2×2 with four blacks, plus BlackLevelDeltaH/V (SRATIONAL)."""
    shot = record(NIKON, "D65", seed=2)
    h, w = shot.mosaic.shape
    site = np.array([[500, 520], [530, 510]])
    delta_h = np.round(8 * np.sin(np.arange(w) / 40)).astype(int)
    delta_v = np.round(6 * np.cos(np.arange(h) / 30)).astype(int)
    black = np.tile(site, (h // 2, w // 2)) + delta_h[None, :] + delta_v[:, None]
    data = np.clip(shot.mosaic.astype(int) - shot.black + black, 0, shot.white).astype(np.uint16)
    tags = {50713: (SHORT, [2, 2]), 50714: (LONG, site.ravel().tolist()),
            50715: (SRATIONAL, [(int(v), 1) for v in delta_h]),
            50716: (SRATIONAL, [(int(v), 1) for v in delta_v])}
    path = write_dng(tmp_path / "black.dng", shot, data=data, black_tags=tags)
    dng = read_dng(path)
    assert dng.notes == () and dng.raw.black_level == int(black.min())
    rgb, _ = ours(path)
    assert delta_e(rgb) <= 3.0
    assert delta_e(rgb, libraw(path)) <= 3.0


@pytest.mark.parametrize("bits", [16, 8])
def test_linearization_table(tmp_path, bits):
    """Samples stored through a square-root curve (12-bit codes in 16-bit samples, or 8-bit
    codes in 8-bit samples as old compressed raws were) and a LinearizationTable giving them
    back as 14-bit linear values; the 8-bit file has no WhiteLevel, which is then the table's."""
    shot = record(CANON, "D65", seed=3)
    top = (1 << (12 if bits == 16 else 8)) - 1
    table = np.round((np.arange(top + 1) / top) ** 2 * shot.white).astype(int)
    encoded = np.searchsorted(table, shot.mosaic).clip(0, top).astype(np.uint16)
    path = write_dng(tmp_path / "lin.dng", shot, data=encoded, bits=bits, white_level=bits == 16,
                     extra={50712: (SHORT, table.tolist())})
    dng = read_dng(path)
    assert dng.raw.white_level == shot.white
    rgb, _ = ours(path)
    assert delta_e(rgb) <= 3.5
    if bits == 16:  # LibRaw takes the 8-bit file's white as 255 and shows it black
        assert delta_e(rgb, libraw(path)) <= 3.0


def test_active_area_and_default_crop_with_odd_origins(tmp_path):
    """A masked border (ActiveArea starting on an odd row and column) and a default crop with
    an odd origin: the pattern is renamed, the chart still comes out in its colours."""
    shot = record(NIKON, "D65", pattern="RGGB")
    h, w = shot.mosaic.shape
    top, left = 3, 5
    framed = np.full((h + top + 4, w + left + 6), shot.black // 2, np.uint16)
    framed[top : top + h, left : left + w] = shot.mosaic
    path = write_dng(tmp_path / "area.dng", shot, data=framed, extra={
        50829: (LONG, [top, left, top + h, left + w])})
    rgb, _ = ours(path)
    assert rgb.shape[:2] == (h, w)
    assert delta_e(rgb) <= 3.0
    assert delta_e(rgb, libraw(path)) <= 3.0
    oy, ox = 7, 9
    cropped = write_dng(tmp_path / "crop.dng", shot, data=framed, extra={
        50829: (LONG, [top, left, top + h, left + w]),
        50719: (RATIONAL, [(ox, 1), (oy, 1)]), 50720: (RATIONAL, [(w - 20, 1), (h - 16, 1)])})
    dng = read_dng(cropped)
    assert dng.raw.data.shape == (h - 16, w - 20) and dng.raw.bayer_order == "BGGR"
    rgb, _ = ours(cropped)
    boxes = [(y0 - oy, y1 - oy, x0 - ox, x1 - ox) for y0, y1, x0, x1 in patch_boxes()]
    assert delta_e(rgb, boxes=boxes) <= 3.0


def test_the_files_own_lens_shading_map(tmp_path):
    """Vignetting in the raw and the GainMaps that undo it (OpcodeList2, one per CFA site, the
    red falling off faster): the plain board comes out even from centre to corner."""
    from tests.other_cameras import gain_map_opcodes

    shot = record(CANON, "D65")
    h, w = shot.mosaic.shape
    yy, xx = np.mgrid[0:h, 0:w]
    r2 = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / ((h / 2) ** 2 + (w / 2) ** 2)
    fall = {"R": 1 - 0.5 * r2, "G": 1 - 0.4 * r2, "B": 1 - 0.4 * r2}
    data = shot.mosaic.astype(float) - shot.black
    maps = []
    v, u = np.mgrid[0:9, 0:11]
    r2_map = ((v / 8 - 0.5) ** 2 * h**2 + (u / 10 - 0.5) ** 2 * w**2) / ((h / 2) ** 2 + (w / 2) ** 2)
    for k, (dy, dx) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        colour = shot.pattern[k]
        data[dy::2, dx::2] *= fall[colour][dy::2, dx::2]
        strength = 0.5 if colour == "R" else 0.4
        maps.append((dy, dx, 1 / (1 - strength * r2_map)))
    data = np.round(data + shot.black).astype(np.uint16)
    path = write_dng(tmp_path / "vignetted.dng", shot, data=data,
                     extra={51009: (UNDEFINED, gain_map_opcodes(maps, h, w))})
    rgb, colour = ours(path)
    assert "GainMap" in colour.source
    assert delta_e(rgb) <= 3.0
    # Plain board (18 % grey) near the middle (45 mm right of centre) and in the corner.
    middle = rgb[235:245, 387:397].mean(axis=(0, 1))
    corner = rgb[8:18, 8:18].mean(axis=(0, 1))
    assert np.abs(corner - middle).max() < 3, (corner, middle)
    uncorrected, _ = ours(path, lens_shading=False)
    assert (uncorrected[235:245, 387:397].mean() - uncorrected[8:18, 8:18].mean()) > 15


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_orientation_reaches_the_jpeg(tmp_path, orientation):
    """The JPEG carries the DNG's Orientation, so it shows the way LibRaw turns it."""
    import io

    from PIL import Image

    from firmware.capture.develop import DevelopOptions, jpeg_from_dng

    shot = record(NIKON, "D65")
    path = write_dng(tmp_path / "turned.dng", shot, extra={274: (SHORT, orientation)})
    image = Image.open(io.BytesIO(jpeg_from_dng(path, DevelopOptions(sharpening=False))))
    assert image.getexif().get(274) == orientation
    upright = np.asarray(image.transpose({3: Image.Transpose.ROTATE_180,
                                          6: Image.Transpose.ROTATE_270,
                                          8: Image.Transpose.ROTATE_90}[orientation]))
    reference = libraw(path)
    assert upright.shape == reference.shape
    boxes = _turned_boxes(orientation, *shot.mosaic.shape)
    assert delta_e(upright, reference, boxes) <= 3.0


def _turned_boxes(orientation: int, h: int, w: int):
    out = []
    for y0, y1, x0, x1 in patch_boxes():
        if orientation == 3:
            out.append((h - y1, h - y0, w - x1, w - x0))
        elif orientation == 6:  # the top row becomes the right column
            out.append((x0, x1, h - y1, h - y0))
        else:
            out.append((w - x1, w - x0, y0, y1))
    return out


def test_without_as_shot_white_the_picture_sets_it_in_the_cameras_own_space(tmp_path):
    """No AsShotNeutral: white balance from the picture, not along the IMX477's curve, so
    the greys come out grey (they came out magenta, a* +35 to +82)."""
    for camera, light in ((CANON, "D65"), (NIKON, "A")):
        path = write_dng(tmp_path / f"{camera.make}.dng", record(camera, light, seed=4), neutral=False)
        rgb, colour = ours(path)
        assert any("estimated from the picture" in n for n in colour.notes)
        lab = srgb8_to_lab(patch_means(rgb))[18:24]   # the grey row
        assert np.abs(lab[:, 1:]).max() < 6, lab.round(1)


def test_a_camera_redder_than_green_keeps_clipped_highlights_white(tmp_path):
    """A camera whose red is more sensitive than its green: its neutral's red is above 1, its
    red gain below 1. What it clipped in every channel must come out white (with a gain below
    1 the clip left red low: cyan), and the rest agree with LibRaw, which scales its gains so
    that none is below 1 as mrig does."""
    redder = Camera("Redder", "Redder R1", (np.diag([3.2, 1.0, 1.0]) @ CANON_5D_MARK_II.reshape(3, 3)).ravel())
    shot = record(redder, "D65", seed=2)
    assert shot.neutral[0] > 1.15
    path = write_dng(tmp_path / "shot.dng", shot)
    rgb, _ = ours(path)
    assert delta_e(rgb, libraw(path)) <= 3.0
    over = write_dng(tmp_path / "over.dng", record(redder, "D65", level=2.0, seed=2))
    white = patch_means(ours(over)[0])[18]  # the chart's white, two stops past the sensor's
    assert white.min() >= 250 and white.max() - white.min() <= 2, white


def test_missing_tags_are_named_and_defaulted(tmp_path):
    shot = record(CANON, "D65", black=0)
    path = write_dng(tmp_path / "noblack.dng", shot, black_tags={})
    dng = read_dng(path)
    assert "BlackLevel missing: taken as 0 (the DNG default)" in dng.notes
    _, colour = ours(path)
    assert "BlackLevel missing: taken as 0 (the DNG default)" in colour.notes


def test_a_camera_without_colour_matrix_is_refused_in_words(tmp_path):
    path = write_dng(tmp_path / "nocm.dng", record(CANON, "D65"),
                     extra={50721: (SHORT, [0]), 50722: (SHORT, [0])})
    with pytest.raises(RawFormatError, match="no ColorMatrix1 and not from an IMX477"):
        ours(path)
    done = subprocess.run([sys.executable, "-m", "firmware.cli", "develop", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--tuning" in done.stderr
    assert not path.with_suffix(".jpg").exists()


def test_the_command_line_says_which_colour_it_used(tmp_path):
    path = write_dng(tmp_path / "canon.dng", record(CANON, "D65"))
    done = subprocess.run([sys.executable, "-m", "firmware.cli", "develop", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "colour: the file's ColorMatrix (Standard light A, D65) for Canon EOS 5D Mark II" in done.stderr


@pytest.mark.parametrize("model", ["HQ Camera IMX477 (mrig)", "imx477", "Raspberry Pi High Quality Camera"])
def test_an_imx477s_file_develops_by_the_tuning(tmp_path, model):
    """mrig's, rpicam-still's and PiDNG's names for the HQ camera: the tuning, said so."""
    from tests.other_cameras import Camera

    hq = Camera("Raspberry Pi", model, CANON.cm_d65)
    _, colour = ours(write_dng(tmp_path / "hq.dng", record(hq, "D65")))
    assert colour.source.startswith("colour: the IMX477 tuning") and colour.ccm is None


def test_a_gain_map_applies_inside_its_rectangle_only(tmp_path):
    """As the DNG SDK reads a GainMap: its points are placed over the whole active area and its
    gains apply inside its Top/Left/Bottom/Right only (here the left half)."""
    import struct

    shot = record(NIKON, "D65")
    h, w = shot.mosaic.shape
    gains = np.array([[1.5, 2.5], [1.5, 2.5]])   # left to right across the whole active area
    params = struct.pack(">10I", 0, 0, h, w // 2, 0, 1, 1, 1, 2, 2)
    params += struct.pack(">4d", 1.0, 1.0, 0.0, 0.0) + struct.pack(">I", 1) + gains.astype(">f4").tobytes()
    opcodes = struct.pack(">I", 1) + struct.pack(">IIII", 9, 0x01030000, 0, len(params)) + params
    grid = read_dng(write_dng(tmp_path / "half.dng", shot, extra={51009: (UNDEFINED, opcodes)})).gain_map
    cols = grid.shape[2]
    left, right = grid[:, :, : cols // 2], grid[:, :, cols // 2 :]
    assert np.all(right == 1.0)
    # Inside, the gain runs from 1.5 at the frame's left edge towards 2.5 at its right edge.
    assert 1.5 <= left.min() < left.max() < 2.0


def test_an_absurd_as_shot_neutral_is_named_not_a_crash(tmp_path):
    shot = record(CANON, "D65")
    path = write_dng(tmp_path / "odd.dng", shot, neutral=False,
                     extra={50728: (RATIONAL, [(1, 1000), (1, 1), (1, 1)])})
    rgb, colour = ours(path)
    assert any("no usable camera neutral" in n for n in colour.notes)
    assert delta_e(rgb) <= 4.0
